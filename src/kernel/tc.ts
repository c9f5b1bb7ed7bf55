// tc (clsact) attach, detach and query through libbpf, with the struct layouts of ffi/libbpf.ts.

import { check, libbpf, LibbpfError, ptr, tcFlagReplace, tcHookLayout, tcOptsLayout, TcAttachPoint } from "../../ffi/libbpf.ts";

/** electrode's filters use this handle and priority, so it removes exactly what it attached. */
export const tcHandle = 0xe1ec;
export const tcPriority = 0xe1;

/** Which filter on the hook: electrode's by default; tests attach their own beside it. */
export interface TcFilterId {
  readonly handle: number;
  readonly priority: number;
}
const electrodeFilter: TcFilterId = { handle: tcHandle, priority: tcPriority };

function hook(ifindex: number, point: number): Uint8Array {
  const buf = new Uint8Array(new ArrayBuffer(tcHookLayout.size));
  const v = new DataView(buf.buffer);
  v.setBigUint64(tcHookLayout.sz, BigInt(tcHookLayout.size), true);
  v.setInt32(tcHookLayout.ifindex, ifindex, true);
  v.setUint32(tcHookLayout.attachPoint, point, true);
  return buf;
}

function opts(progFd: number, flags: number, id: TcFilterId = electrodeFilter): Uint8Array {
  const buf = new Uint8Array(new ArrayBuffer(tcOptsLayout.size));
  const v = new DataView(buf.buffer);
  v.setBigUint64(tcOptsLayout.sz, BigInt(tcOptsLayout.size), true);
  v.setInt32(tcOptsLayout.progFd, progFd, true);
  v.setUint32(tcOptsLayout.flags, flags, true);
  v.setUint32(tcOptsLayout.handle, id.handle, true);
  v.setUint32(tcOptsLayout.priority, id.priority, true);
  return buf;
}

/** Creates the clsact qdisc if needed; returns whether this call created it. */
export function ensureClsact(ifindex: number): boolean {
  const ret = libbpf().bpf_tc_hook_create(ptr(hook(ifindex, TcAttachPoint.Egress)));
  if (ret === -17) return false; // EEXIST: someone (maybe an earlier run) made it already
  check("bpf_tc_hook_create (clsact qdisc)", ret);
  return true;
}

/** Attaches `progFd` on egress, replacing an earlier electrode filter. Returns the program id. */
export function attachEgress(ifindex: number, progFd: number, id?: TcFilterId): number {
  const o = opts(progFd, tcFlagReplace, id);
  check("bpf_tc_attach (egress)", libbpf().bpf_tc_attach(ptr(hook(ifindex, TcAttachPoint.Egress)), ptr(o)));
  return new DataView(o.buffer).getUint32(tcOptsLayout.progId, true);
}

/** The id of the program electrode attached on egress, or undefined. */
export function queryEgress(ifindex: number, id?: TcFilterId): number | undefined {
  const o = opts(0, 0, id);
  const ret = libbpf().bpf_tc_query(ptr(hook(ifindex, TcAttachPoint.Egress)), ptr(o));
  if (ret === -2 || ret === -22 || ret === -19) return undefined; // no filter, no qdisc, no device
  check("bpf_tc_query (egress)", ret);
  return new DataView(o.buffer).getUint32(tcOptsLayout.progId, true);
}

/** Removes electrode's egress filter; true when there was one. */
export function detachEgress(ifindex: number, id?: TcFilterId): boolean {
  const ret = libbpf().bpf_tc_detach(ptr(hook(ifindex, TcAttachPoint.Egress)), ptr(opts(0, 0, id)));
  if (ret === -2 || ret === -22 || ret === -19) return false;
  check("bpf_tc_detach (egress)", ret);
  return true;
}

/** Removes the clsact qdisc (and every filter on it): only for a qdisc electrode created. */
export function destroyClsact(ifindex: number): void {
  const h = hook(ifindex, TcAttachPoint.Egress | TcAttachPoint.Ingress);
  const ret = libbpf().bpf_tc_hook_destroy(ptr(h));
  if (ret < 0 && ret !== -2 && ret !== -22 && ret !== -19) throw new LibbpfError("bpf_tc_hook_destroy", -ret);
}

interface TcFilterRow {
  pref?: number;
  options?: { handle?: string };
}

/**
 * Filters on `ifname`'s clsact (ingress and egress) other than electrode's own, read through tc's
 * JSON output; -1 when tc cannot tell (then nothing may be assumed to be electrode's).
 */
export function foreignFilterCount(ifname: string): number {
  let count = 0;
  for (const direction of ["ingress", "egress"] as const) {
    const out = Bun.spawnSync(["tc", "-j", "filter", "show", "dev", ifname, direction], { stdout: "pipe", stderr: "pipe" });
    if (out.exitCode !== 0) return -1;
    let rows: TcFilterRow[];
    try {
      rows = JSON.parse(out.stdout.toString().trim() || "[]") as TcFilterRow[];
    } catch {
      return -1;
    }
    // tc lists a header row per priority and one row with `options` per filter.
    const ours = (r: TcFilterRow) => direction === "egress" && r.pref === tcPriority && Number(r.options?.handle) === tcHandle;
    count += rows.filter((r) => r.options && !ours(r)).length;
  }
  return count;
}
