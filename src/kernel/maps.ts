// Small helpers over pinned BPF objects shared by the fast paths: pins, per-CPU counters, fds.

import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { check, libbpf, ptr } from "../../ffi/libbpf.ts";
import { libc } from "../../ffi/libc.ts";

export const bpffsRoot = "/sys/fs/bpf";

/** Where electrode before 0.2 pinned a replica's programs and maps. Nothing is pinned any more
 * (programs are found by id from their interface: ids.ts); teardown still removes these. */
export function legacyPinDir(cluster: string, id: number): string {
  return `${bpffsRoot}/electrode/${cluster}/${id}`;
}

/** Removes `dir` and then each parent up to (not including) `stop` that is left empty. */
export function removeEmptyUpTo(dir: string, stop: string): void {
  for (let d = dir; d.startsWith(`${stop}/`); d = d.slice(0, d.lastIndexOf("/"))) {
    if (!existsSync(d) || readdirSync(d).length > 0) return;
    rmdirSync(d);
  }
}

/** Unpins the named pins in `dir` (others, e.g. another fast path's, stay), then empty dirs. */
export function removePins(dir: string, names: readonly string[]): string[] {
  const removed: string[] = [];
  for (const name of names) {
    const path = `${dir}/${name}`;
    if (!existsSync(path)) continue;
    unlinkSync(path);
    removed.push(path);
  }
  removeEmptyUpTo(dir, bpffsRoot);
  return removed;
}

/** A state file setup writes under /run/electrode (what it attached where, for status and
 * teardown); undefined when there is none or it does not parse. */
export function readStateFile<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

export function writeStateFile(file: string, state: object): void {
  mkdirSync(file.slice(0, file.lastIndexOf("/")), { recursive: true });
  writeFileSync(file, JSON.stringify(state, null, 2) + "\n");
}

/** Removes a state file and then its directories left empty, up to /run. */
export function removeStateFile(file: string): void {
  if (existsSync(file)) rmSync(file);
  removeEmptyUpTo(file.slice(0, file.lastIndexOf("/")), "/run");
}

export function closeFd(fd: number): void {
  libc.close(fd);
}

/** Sums each of the first `count` entries of a per-CPU u64 array map over all CPUs. */
export function readPerCpuCounters(fd: number, count: number): number[] {
  const cpus = check("libbpf_num_possible_cpus", libbpf().libbpf_num_possible_cpus());
  const values = new BigUint64Array(new ArrayBuffer(8 * cpus));
  const key = new Uint32Array(new ArrayBuffer(4));
  const sums: number[] = [];
  for (let i = 0; i < count; i++) {
    key[0] = i;
    check("bpf_map_lookup_elem (counters)", libbpf().bpf_map_lookup_elem(fd, ptr(key), ptr(values)));
    sums.push(values.reduce((a, b) => a + Number(b), 0));
  }
  return sums;
}

/** "PassQuorum" -> "pass_quorum". */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c, at: number) => (at ? "_" : "") + c.toLowerCase());
}
