// A BPF object opened from bytes embedded in the executable: set load-time config, load (with the
// verifier's log captured on failure), and hand out program and map fds.

import { check, errnoName, libbpf, LibbpfError, lastErrno, cstr, ptr, readCString, toArrayBuffer, type Pointer } from "../../ffi/libbpf.ts";

const verifierLogBytes = 1 << 20;

export class BpfObject {
  private closed = false;
  private readonly logBufs: Uint8Array[] = [];

  private constructor(
    readonly name: string,
    private readonly obj: Pointer,
    // libbpf keeps pointers into the ELF bytes until load returns: hold them for the object's life.
    private readonly bytes: Uint8Array,
  ) {}

  static open(name: string, bytes: Uint8Array): BpfObject {
    const s = libbpf();
    const obj = s.bpf_object__open_mem(ptr(bytes), bytes.byteLength, null) as Pointer | null;
    if (!obj) throw new LibbpfError("bpf_object__open_mem", lastErrno(), `cannot open BPF object ${name}: errno ${lastErrno()} (corrupt or built for another libbpf?)`);
    return new BpfObject(name, obj, bytes);
  }

  private map(name: string): Pointer {
    const map = libbpf().bpf_object__find_map_by_name(this.obj, cstr(name)) as Pointer | null;
    if (!map) throw new LibbpfError("bpf_object__find_map_by_name", 2, `BPF object ${this.name} has no map '${name}'`);
    return map;
  }

  private program(name: string): Pointer {
    const prog = libbpf().bpf_object__find_program_by_name(this.obj, cstr(name)) as Pointer | null;
    if (!prog) throw new LibbpfError("bpf_object__find_program_by_name", 2, `BPF object ${this.name} has no program '${name}'`);
    return prog;
  }

  /** Writes the initial value of a data section map (e.g. ".rodata.cfg") before load. */
  setSection(section: string, value: Uint8Array): void {
    const s = libbpf();
    const next = (after: Pointer | null) => s.bpf_object__next_map(this.obj, after) as Pointer | null;
    for (let map = next(null); map; map = next(map)) {
      if (!readCString(s.bpf_map__name(map) as Pointer | null).endsWith(section)) continue;
      const size = new BigUint64Array(1);
      const data = s.bpf_map__initial_value(map, ptr(size)) as Pointer | null;
      if (!data || Number(size[0]) < value.byteLength) {
        throw new LibbpfError("bpf_map__initial_value", 22, `section ${section} of ${this.name} is ${size[0]} bytes, need ${value.byteLength}`);
      }
      new Uint8Array(toArrayBuffer(data, 0, Number(size[0]))).set(value);
      return;
    }
    throw new LibbpfError("bpf_object__next_map", 2, `BPF object ${this.name} has no section ${section}`);
  }

  /** Loads every program; on verifier rejection the error carries the tail of the verifier log. */
  load(programs: readonly string[]): void {
    const s = libbpf();
    for (const name of programs) {
      const buf = new Uint8Array(verifierLogBytes);
      this.logBufs.push(buf);
      check("bpf_program__set_log_buf", s.bpf_program__set_log_buf(this.program(name), ptr(buf), buf.byteLength));
    }
    const ret = s.bpf_object__load(this.obj);
    if (ret < 0) {
      const log = this.logBufs.map((b) => new TextDecoder().decode(b.subarray(0, Math.max(0, b.indexOf(0))))).join("\n").trim();
      const tail = log.split("\n").slice(-12).join("\n");
      const hint = -ret === 1 || -ret === 13 ? " (needs root or CAP_BPF + CAP_NET_ADMIN; a verifier rejection also shows as EACCES)" : "";
      throw new LibbpfError("bpf_object__load", -ret, `loading ${this.name} failed: ${errnoName(-ret)}${hint}${tail ? `\nverifier log (tail):\n${tail}` : ""}`);
    }
  }

  programFd(name: string): number {
    return check(`bpf_program__fd(${name})`, libbpf().bpf_program__fd(this.program(name)));
  }

  mapFd(name: string): number {
    return check(`bpf_map__fd(${name})`, libbpf().bpf_map__fd(this.map(name)));
  }

  pinProgram(name: string, path: string): void {
    check(`pin ${path}`, libbpf().bpf_program__pin(this.program(name), cstr(path)));
  }

  pinMap(name: string, path: string): void {
    check(`pin ${path}`, libbpf().bpf_map__pin(this.map(name), cstr(path)));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libbpf().bpf_object__close(this.obj);
    void this.bytes;
  }
}
