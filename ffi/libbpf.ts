// bun:ffi bindings to libbpf.so.1: object open from memory, load, programs and maps, tc and XDP
// attach/detach, map access, pins. libbpf 1.x returns -errno from int functions and NULL + errno
// from pointer functions; `check` turns both into a LibbpfError naming the errno and the call.

import { CString, dlopen, ptr, toArrayBuffer, type Pointer } from "bun:ffi";

/** struct bpf_tc_hook (libbpf 1.1, x86_64): 24 bytes. */
export const tcHookLayout = { size: 24, sz: 0, ifindex: 8, attachPoint: 12, parent: 16 } as const;
/** struct bpf_tc_opts (libbpf 1.1, x86_64): 32 bytes. */
export const tcOptsLayout = { size: 32, sz: 0, progFd: 8, flags: 12, progId: 16, handle: 20, priority: 24 } as const;

export const TcAttachPoint = { Ingress: 1, Egress: 2 } as const;
export const tcFlagReplace = 1;
/** bpf_map_update_elem / lookup flag: copy the value under its bpf_spin_lock. */
export const BPF_F_LOCK = 4;

/** enum bpf_attach_type: BPF_XDP. */
export const BPF_XDP = 37;
/** struct bpf_link_create_opts (libbpf 1.x): sz@0, flags@8 (the XDP mode for BPF_XDP). */
export const linkCreateOptsLayout = { size: 16, sz: 0, flags: 8 } as const;

export const XdpFlags = {
  UpdateIfNoExist: 1 << 0,
  Skb: 1 << 1,
  Drv: 1 << 2,
  Hw: 1 << 3,
  Replace: 1 << 4,
} as const;


let lib: ReturnType<typeof open> | undefined;

function open() {
  return dlopen("libbpf.so.1", {
    libbpf_set_print: { args: ["ptr"], returns: "ptr" },
    libbpf_major_version: { args: [], returns: "u32" },
    libbpf_minor_version: { args: [], returns: "u32" },
    bpf_object__open_mem: { args: ["ptr", "u64", "ptr"], returns: "ptr" },
    bpf_object__load: { args: ["ptr"], returns: "i32" },
    bpf_object__close: { args: ["ptr"], returns: "void" },
    bpf_object__find_program_by_name: { args: ["ptr", "ptr"], returns: "ptr" },
    bpf_object__find_map_by_name: { args: ["ptr", "ptr"], returns: "ptr" },
    bpf_object__next_map: { args: ["ptr", "ptr"], returns: "ptr" },
    bpf_map__name: { args: ["ptr"], returns: "ptr" },
    bpf_map__fd: { args: ["ptr"], returns: "i32" },
    bpf_map__initial_value: { args: ["ptr", "ptr"], returns: "ptr" },
    bpf_map__set_max_entries: { args: ["ptr", "u32"], returns: "i32" },
    bpf_map__pin: { args: ["ptr", "ptr"], returns: "i32" },
    bpf_program__fd: { args: ["ptr"], returns: "i32" },
    bpf_program__set_log_buf: { args: ["ptr", "ptr", "u64"], returns: "i32" },
    bpf_program__set_log_level: { args: ["ptr", "u32"], returns: "i32" },
    bpf_program__pin: { args: ["ptr", "ptr"], returns: "i32" },
    bpf_tc_hook_create: { args: ["ptr"], returns: "i32" },
    bpf_tc_hook_destroy: { args: ["ptr"], returns: "i32" },
    bpf_tc_attach: { args: ["ptr", "ptr"], returns: "i32" },
    bpf_tc_detach: { args: ["ptr", "ptr"], returns: "i32" },
    bpf_tc_query: { args: ["ptr", "ptr"], returns: "i32" },
    bpf_xdp_attach: { args: ["i32", "i32", "u32", "ptr"], returns: "i32" },
    bpf_link_create: { args: ["i32", "i32", "u32", "ptr"], returns: "i32" },
    bpf_xdp_detach: { args: ["i32", "u32", "ptr"], returns: "i32" },
    bpf_xdp_query_id: { args: ["i32", "i32", "ptr"], returns: "i32" },
    bpf_map_update_elem: { args: ["i32", "ptr", "ptr", "u64"], returns: "i32" },
    bpf_map_lookup_elem: { args: ["i32", "ptr", "ptr"], returns: "i32" },
    bpf_map_lookup_elem_flags: { args: ["i32", "ptr", "ptr", "u64"], returns: "i32" },
    bpf_obj_pin: { args: ["i32", "ptr"], returns: "i32" },
    bpf_obj_get: { args: ["ptr"], returns: "i32" },
    bpf_prog_get_fd_by_id: { args: ["u32"], returns: "i32" },
    bpf_map_get_fd_by_id: { args: ["u32"], returns: "i32" },
    bpf_obj_get_info_by_fd: { args: ["i32", "ptr", "ptr"], returns: "i32" },
    libbpf_strerror: { args: ["i32", "ptr", "u64"], returns: "i32" },
    libbpf_num_possible_cpus: { args: [], returns: "i32" },
  });
}

/** The libbpf symbols; dlopen happens on first use so commands that need no eBPF never load it. */
export function libbpf() {
  if (!lib) {
    try {
      lib = open();
    } catch (e) {
      throw new LibbpfError("dlopen", 0, `libbpf.so.1 not found (install libbpf1: apt-get install libbpf1): ${(e as Error).message}`);
    }
    // Silence libbpf's own stderr printing: errors come back as values, verifier logs via log bufs.
    lib.symbols.libbpf_set_print(null);
  }
  return lib.symbols;
}

export function libbpfVersion(): string {
  const s = libbpf();
  return `${s.libbpf_major_version()}.${s.libbpf_minor_version()}`;
}

const errnoNames: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  7: "E2BIG",
  9: "EBADF",
  12: "ENOMEM",
  13: "EACCES",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  22: "EINVAL",
  28: "ENOSPC",
  38: "ENOSYS",
  95: "EOPNOTSUPP",
  524: "ENOTSUPP",
};

/** What to check, per errno, for the errors eBPF users actually hit. */
const errnoHints: Record<number, string> = {
  1: "needs root or CAP_BPF + CAP_NET_ADMIN",
  13: "permission denied by the kernel or the verifier (see the verifier log), or missing CAP_BPF",
  2: "no such object, pin or interface",
  17: "already exists (a stale pin or attachment from an earlier run: electrode setup --teardown)",
  19: "no such network interface",
  95: "not supported by this kernel or driver",
  524: "not supported by this kernel or driver",
  16: "busy: another program is attached there",
  7: "too big for the kernel's limits",
};

export function errnoName(errno: number): string {
  return errnoNames[errno] ?? `errno ${errno}`;
}

export class LibbpfError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
    message?: string,
  ) {
    super(message ?? `${call} failed: ${errnoName(errno)}${errnoHints[errno] ? ` (${errnoHints[errno]})` : ""}`);
  }
}

/** Throws for a negative libbpf return value. */
export function check(call: string, ret: number): number {
  if (ret < 0) throw new LibbpfError(call, -ret);
  return ret;
}

// Errno for pointer-returning calls: read through libc's __errno_location.
const libc = dlopen("libc.so.6", { __errno_location: { args: [], returns: "ptr" } });
export function lastErrno(): number {
  const at = libc.symbols.__errno_location();
  return at ? new Int32Array(toArrayBuffer(at, 0, 4))[0]! : 0;
}

export function cstr(text: string): Buffer {
  return Buffer.from(`${text}\0`, "utf8");
}

export function readCString(p: Pointer | null): string {
  return p ? new CString(p).toString() : "";
}

export { ptr, toArrayBuffer, type Pointer };
