// A simulated disk for the simulator (the Files of src/storage/files.ts): what a crash leaves is
// what was made durable (fsync for contents, a directory sync for names) plus, of what was written
// after, a random prefix (a torn write) or nothing. Deterministic: the crash draws from a Prng.

import type { Files } from "../../src/storage/files.ts";
import type { Prng } from "./prng.ts";

interface Inode {
  data: Uint8Array;
  size: number;
  /** Contents as of the last sync. */
  durable: Uint8Array;
}

export class MemFiles implements Files {
  private inodes: Inode[] = [];
  private names = new Map<string, number>();
  private durableNames = new Map<string, number>();
  private dirs = new Set<string>();
  private readonly handles = new Map<number, number>();
  private nextHandle = 3;
  /** Bytes written and syncs, for tests. */
  readonly counts = { writes: 0, syncs: 0, crashes: 0, torn: 0 };
  /** When set, writes fail with this message (a full disk). */
  full: string | undefined;

  makeDir(path: string): boolean {
    if (this.names.has(path)) return false;
    this.dirs.add(path);
    return true;
  }
  exists(path: string): boolean {
    return this.names.has(path) || this.dirs.has(path);
  }
  list(dir: string): string[] {
    const prefix = `${dir}/`;
    return [...this.names.keys()].filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes("/")).map((p) => p.slice(prefix.length));
  }
  read(path: string): Uint8Array {
    const inode = this.inode(path);
    return inode.data.slice(0, inode.size);
  }
  open(path: string, create: boolean): number {
    let ino = this.names.get(path);
    if (ino === undefined) {
      if (!create) throw new Error(`ENOENT: ${path}`);
      ino = this.inodes.push({ data: new Uint8Array(256), size: 0, durable: new Uint8Array(0) }) - 1;
      this.names.set(path, ino);
    } else if (create) this.inodes[ino]!.size = 0;
    const fd = this.nextHandle++;
    this.handles.set(fd, ino);
    return fd;
  }
  size(fd: number): number {
    return this.byHandle(fd).size;
  }
  write(fd: number, bytes: Uint8Array, from: number, len: number, at: number): number {
    if (this.full) throw new Error(this.full);
    const inode = this.byHandle(fd);
    if (at + len > inode.data.length) {
      const grown = new Uint8Array(Math.max(inode.data.length * 2, at + len));
      grown.set(inode.data.subarray(0, inode.size));
      inode.data = grown;
    }
    inode.data.set(bytes.subarray(from, from + len), at);
    inode.size = Math.max(inode.size, at + len);
    this.counts.writes += 1;
    return len;
  }
  truncate(fd: number, len: number): void {
    const inode = this.byHandle(fd);
    inode.size = Math.min(inode.size, len);
  }
  sync(fd: number): void {
    const inode = this.byHandle(fd);
    inode.durable = inode.data.slice(0, inode.size);
    this.counts.syncs += 1;
  }
  close(fd: number): void {
    this.handles.delete(fd);
  }
  rename(from: string, to: string): void {
    const ino = this.names.get(from);
    if (ino === undefined) throw new Error(`ENOENT: ${from}`);
    this.names.delete(from);
    this.names.set(to, ino);
  }
  remove(path: string): void {
    if (!this.names.delete(path)) throw new Error(`ENOENT: ${path}`);
  }
  syncDir(dir: string): void {
    const prefix = `${dir}/`;
    for (const p of [...this.durableNames.keys()]) if (p.startsWith(prefix)) this.durableNames.delete(p);
    for (const [p, ino] of this.names) if (p.startsWith(prefix)) this.durableNames.set(p, ino);
  }

  /** Power cut: names as of the last directory sync; each file its durable contents plus maybe a
   * torn piece of what was written after (when it only appended). Open handles are gone. */
  crash(rand: Prng): void {
    this.counts.crashes += 1;
    this.handles.clear();
    this.names = new Map(this.durableNames);
    for (const inode of this.inodes) {
      const durable = inode.durable;
      const appended = inode.size > durable.length && inode.data.subarray(0, durable.length).every((b, i) => b === durable[i]);
      let keep = 0;
      if (appended && rand.chance(0.5)) {
        keep = rand.int(0, inode.size - durable.length);
        if (keep > 0) this.counts.torn += 1;
      }
      const data = new Uint8Array(Math.max(256, durable.length + keep));
      data.set(durable);
      data.set(inode.data.subarray(durable.length, durable.length + keep), durable.length);
      inode.data = data;
      inode.size = durable.length + keep;
    }
  }

  private inode(path: string): Inode {
    const ino = this.names.get(path);
    if (ino === undefined) throw new Error(`ENOENT: ${path}`);
    return this.inodes[ino]!;
  }
  private byHandle(fd: number): Inode {
    const ino = this.handles.get(fd);
    if (ino === undefined) throw new Error(`EBADF: ${fd}`);
    return this.inodes[ino]!;
  }
}
