// One `electrode replica` process per replica id and node. A second process for an id that runs
// would write Recovering with a fresh epoch into the shared XDP state and drain the running
// process's ring (Prepares its kernel acked) before failing to bind its socket. So the replica
// takes an exclusive flock on /run/electrode/<cluster>/<id>.lock before it touches either, and
// holds it (the fd stays open) for as long as it lives. The kernel releases a flock when its
// process dies, however it dies: a lock file left by a dead process is free, and the next replica
// takes it over. The file holds the holder's pid, for the second process's message.
//
// Where /run/electrode cannot be written (a non-root run with --opt none), the lock falls back to
// $XDG_RUNTIME_DIR/electrode, else the temp directory. Such a process cannot touch kernel state
// (that needs root), so it cannot conflict with a root replica's lock in /run; two of them take
// the same fallback path and exclude each other.

import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmdirSync, statSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { errno, errnoName, EWOULDBLOCK, libc, LOCK_EX, LOCK_NB } from "../../ffi/libc.ts";
import type { Config, ReplicaConfig } from "../config/config.ts";

export const lockRoot = "/run/electrode";
/** Opening a lock file whose file or directory was removed meanwhile (see lockFile) is tried this often. */
const lockAttemptsMax = 5;
/** How long to give a holder that has the lock but has not written its pid yet. */
const holderWriteMs = 50;

export interface ReplicaLock {
  readonly path: string;
  /** Removes the file and drops the lock (normal exit). */
  release(): void;
}

/** Another process holds the lock: its pid (undefined when it has not written it yet). */
export interface LockHeld {
  readonly heldBy: number | undefined;
  readonly path: string;
}

/** Candidate directories for the lock of `config`'s replicas on this node, in order. */
export function lockDirs(config: Config): string[] {
  const dirs = [`${lockRoot}/${config.name}`];
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg) dirs.push(`${xdg}/electrode/${config.name}`);
  dirs.push(`${tmpdir()}/electrode-${process.getuid?.() ?? "user"}/${config.name}`);
  return dirs;
}

function unwritable(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "EACCES" || code === "EPERM" || code === "EROFS";
}

function inode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pid in a held lock file; a holder that has just taken the lock may not have written it. */
function holderPid(path: string): number | undefined {
  const pid = readPid(path);
  if (pid !== undefined) return pid;
  Bun.sleepSync(holderWriteMs);
  return readPid(path);
}

/**
 * Takes the lock of replica `self` in the first of `dirs` this process can write (`skipped` lists
 * the ones it could not, so the caller can say where the lock went), or says who holds it.
 */
export function acquireReplicaLock(self: ReplicaConfig, dirs: readonly string[]): { lock: ReplicaLock; skipped: string[] } | LockHeld {
  const skipped: string[] = [];
  for (const dir of dirs) {
    const path = `${dir}/${self.id}.lock`;
    let fd: number;
    try {
      fd = openLockFile(path);
    } catch (e) {
      if (!unwritable(e)) throw new Error(`cannot open the replica lock ${path}: ${(e as Error).message}`);
      skipped.push(dir);
      continue;
    }
    const taken = lockFile(fd, path);
    return "heldBy" in taken ? taken : { lock: taken, skipped };
  }
  throw new Error(`no writable directory for the replica lock (tried ${dirs.join(", ")})`);
}

/** Opens (creating) the lock file and its directory; again when a replica of another id exiting
 * removed the directory, left empty, in between. */
function openLockFile(path: string): number {
  const dir = path.slice(0, path.lastIndexOf("/"));
  for (let attempt = 1; ; attempt++) {
    mkdirSync(dir, { recursive: true });
    try {
      return openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= lockAttemptsMax) throw e;
    }
  }
}

/** Removes `dir` and its parent when empty (what the lock created; a busy directory stays). */
function removeEmptyDirs(dir: string): void {
  for (const d of [dir, dir.slice(0, dir.lastIndexOf("/"))]) {
    try {
      rmdirSync(d);
    } catch {
      return; // not empty (another replica's lock, setup's state), or gone
    }
  }
}

/** flock on the open `fd` of `path`; re-opens when the file was replaced meanwhile. */
function lockFile(first: number, path: string): ReplicaLock | LockHeld {
  let fd = first;
  for (let attempt = 1; ; attempt++) {
    if (libc.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
      const e = errno();
      closeSync(fd);
      if (e !== EWOULDBLOCK) throw new Error(`flock ${path}: ${errnoName(e)}`);
      return { heldBy: holderPid(path), path };
    }
    // A holder that exits cleanly unlinks the file while it still holds the lock; one that opened
    // it just before then locks a file no longer at `path`, beside a new one someone else may
    // lock. Holding the lock on what `path` names right now is what counts.
    if (fstatSync(fd).ino === inode(path)) break;
    closeSync(fd);
    if (attempt >= lockAttemptsMax) throw new Error(`the replica lock ${path} keeps being replaced`);
    fd = openLockFile(path);
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      try {
        unlinkSync(path); // before the close: see above
      } catch {
        // already gone (a cleanup that removed the directory)
      }
      closeSync(fd);
      removeEmptyDirs(path.slice(0, path.lastIndexOf("/")));
    },
  };
}
