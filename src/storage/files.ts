// The file operations a data directory needs, behind an interface: the real file system here,
// and a simulated disk in test/sim (writes lost or torn at a crash, fsync as the barrier) that
// runs the same Store code.

import { closeSync, existsSync, fsyncSync, ftruncateSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";

export interface Files {
  /** Creates the directory (and its parents) if missing; false when `path` exists and is not one. */
  makeDir(path: string): boolean;
  exists(path: string): boolean;
  /** Names in a directory. */
  list(dir: string): string[];
  read(path: string): Uint8Array;
  /** Opens for reading and writing; `create` makes an empty file (or empties one). Returns a handle. */
  open(path: string, create: boolean): number;
  size(fd: number): number;
  /** Writes bytes[from, from+len) at file offset `at`; returns how many were written. */
  write(fd: number, bytes: Uint8Array, from: number, len: number, at: number): number;
  truncate(fd: number, len: number): void;
  /** Makes what was written to fd durable. */
  sync(fd: number): void;
  close(fd: number): void;
  rename(from: string, to: string): void;
  remove(path: string): void;
  /** Makes the directory's entries (creations, renames, removals) durable. */
  syncDir(dir: string): void;
}

export const realFiles: Files = {
  makeDir(path) {
    mkdirSync(path, { recursive: true });
    return statSync(path).isDirectory();
  },
  exists: (path) => existsSync(path),
  list: (dir) => readdirSync(dir),
  read: (path) => new Uint8Array(readFileSync(path)),
  open: (path, create) => openSync(path, create ? "w+" : "r+"),
  size: (fd) => fstatSync(fd).size,
  write: (fd, bytes, from, len, at) => writeSync(fd, bytes, from, len, at),
  truncate: (fd, len) => ftruncateSync(fd, len),
  sync: (fd) => fsyncSync(fd),
  close: (fd) => closeSync(fd),
  rename: (from, to) => renameSync(from, to),
  remove: (path) => unlinkSync(path),
  syncDir(dir) {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  },
};
