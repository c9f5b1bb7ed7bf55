// electrode's programs and maps found by their kernel ids, from what is attached to an interface:
// nothing has to be pinned. Ids are global to the kernel, so this works from any mount namespace
// (`ip netns exec`, a container, `unshare -m`), where a pin in a bpffs mounted by another process
// may not be visible, or may have vanished with the mount namespace that held it.

import { check, libbpf, ptr } from "../../ffi/libbpf.ts";
import { closeFd, readPerCpuCounters } from "./maps.ts";

/** struct bpf_prog_info (uapi): id@4, nr_map_ids@52, map_ids (u64 pointer)@56, name[16]@64. */
const progInfoLayout = { size: 232, id: 4, nrMapIds: 52, mapIds: 56, name: 64 } as const;
/** struct bpf_map_info (uapi): id@4, name[16]@24. */
const mapInfoLayout = { size: 88, id: 4, name: 24 } as const;
/** Maps one program may use: electrode's use at most 8 (the verifier allows 64). */
const programMapsMax = 64;

export interface ProgInfo {
  readonly id: number;
  readonly name: string;
  readonly mapIds: readonly number[];
}

function objName(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** Id, name and map ids of the program behind `fd`. */
export function progInfoOf(fd: number): ProgInfo {
  const info = new Uint8Array(new ArrayBuffer(progInfoLayout.size));
  const ids = new Uint32Array(new ArrayBuffer(4 * programMapsMax));
  const v = new DataView(info.buffer);
  v.setUint32(progInfoLayout.nrMapIds, programMapsMax, true);
  v.setBigUint64(progInfoLayout.mapIds, BigInt(ptr(ids)), true);
  const len = new Uint32Array([progInfoLayout.size]);
  check("bpf_obj_get_info_by_fd (program)", libbpf().bpf_obj_get_info_by_fd(fd, ptr(info), ptr(len)));
  const count = Math.min(v.getUint32(progInfoLayout.nrMapIds, true), programMapsMax);
  return {
    id: v.getUint32(progInfoLayout.id, true),
    name: objName(info.subarray(progInfoLayout.name, progInfoLayout.name + 16)),
    mapIds: Array.from(ids.subarray(0, count)),
  };
}

/** The program with kernel id `id`, or undefined when there is none (any more). */
export function progInfoById(id: number): ProgInfo | undefined {
  if (id === 0) return undefined;
  const fd = libbpf().bpf_prog_get_fd_by_id(id);
  if (fd < 0) return undefined;
  try {
    return progInfoOf(fd);
  } finally {
    closeFd(fd);
  }
}

function mapName(fd: number): string {
  const info = new Uint8Array(new ArrayBuffer(mapInfoLayout.size));
  const len = new Uint32Array([mapInfoLayout.size]);
  check("bpf_obj_get_info_by_fd (map)", libbpf().bpf_obj_get_info_by_fd(fd, ptr(info), ptr(len)));
  return objName(info.subarray(mapInfoLayout.name, mapInfoLayout.name + 16));
}

/** An fd of the map named `name` that program `progId` uses, or undefined. The caller closes it. */
export function openProgramMap(progId: number, name: string): number | undefined {
  const prog = progInfoById(progId);
  for (const mapId of prog?.mapIds ?? []) {
    const fd = libbpf().bpf_map_get_fd_by_id(mapId);
    if (fd < 0) continue;
    if (mapName(fd) === name) return fd;
    closeFd(fd);
  }
  return undefined;
}

/** The per-CPU counters in map `name` of program `progId`, summed; undefined without them. */
export function readProgramCounters(progId: number, name: string, count: number): number[] | undefined {
  const fd = openProgramMap(progId, name);
  if (fd === undefined) return undefined;
  try {
    return readPerCpuCounters(fd, count);
  } finally {
    closeFd(fd);
  }
}
