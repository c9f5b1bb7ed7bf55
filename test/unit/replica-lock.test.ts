// The one-process-per-replica lock (src/node/replica-lock.ts): flock semantics across open files
// and processes, the pid in the file, a dead holder's file taken over, the fallback directory.

import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { libc, LOCK_EX, LOCK_NB } from "../../ffi/libc.ts";
import { parseConfig, replicaById } from "../../src/config/config.ts";
import { acquireReplicaLock, lockDirs, lockRoot, type LockHeld, type ReplicaLock } from "../../src/node/replica-lock.ts";

const config = parseConfig(`name: lock-test\nf: 1\nreplicas:\n  - { id: 1, addr: 127.0.0.1:1 }\n  - { id: 2, addr: 127.0.0.1:2 }\n  - { id: 3, addr: 127.0.0.1:3 }\n`);
const one = replicaById(config, 1);
const two = replicaById(config, 2);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "electrode-lock-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function take(dirs: string[], self = one): ReplicaLock {
  const got = acquireReplicaLock(self, dirs);
  if ("heldBy" in got) throw new Error(`held by ${got.heldBy}`);
  cleanups.push(() => got.lock.release());
  return got.lock;
}

describe("replica lock", () => {
  test("the first taker writes its pid; a second open of the same lock is refused with that pid and path", () => {
    const dir = join(tempDir(), "cluster");
    const lock = take([dir]);
    expect(lock.path).toBe(join(dir, "1.lock"));
    expect(readFileSync(lock.path, "utf8")).toBe(`${process.pid}\n`);
    // flock belongs to the open file: another open, even in this process, conflicts.
    expect(acquireReplicaLock(one, [dir])).toEqual({ heldBy: process.pid, path: lock.path } satisfies LockHeld);
  });

  test("different replica ids take different locks", () => {
    const dir = tempDir();
    expect(take([dir], one).path).not.toBe(take([dir], two).path);
  });

  test("release removes the file and the directories it left empty, and frees the lock", () => {
    const root = tempDir();
    const dir = join(root, "electrode", "cluster");
    const lock = take([dir]);
    lock.release();
    expect(existsSync(lock.path)).toBe(false);
    expect(existsSync(join(root, "electrode"))).toBe(false);
    lock.release(); // idempotent
    expect(take([dir]).path).toBe(lock.path);
  });

  test("release keeps a directory that holds something else (setup's state, another id's lock)", () => {
    const dir = join(tempDir(), "cluster");
    const lock = take([dir], one);
    take([dir], two);
    lock.release();
    expect(existsSync(lock.path)).toBe(false);
    expect(existsSync(join(dir, "2.lock"))).toBe(true);
  });

  test("the file a killed holder left is free: the next taker writes its own pid", async () => {
    const dir = tempDir();
    const module = new URL("../../src/node/replica-lock.ts", import.meta.url).pathname;
    const script = `import { acquireReplicaLock } from ${JSON.stringify(module)};
const got = acquireReplicaLock({ id: 1 } as never, [${JSON.stringify(dir)}]);
console.log("heldBy" in got ? "held" : "locked");
setInterval(() => {}, 1000);`;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
    cleanups.push(() => child.kill("SIGKILL"));
    const reader = child.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("locked\n");
    expect(acquireReplicaLock(one, [dir])).toEqual({ heldBy: child.pid, path: join(dir, "1.lock") });
    child.kill("SIGKILL");
    await child.exited;
    expect(readFileSync(join(dir, "1.lock"), "utf8")).toBe(`${child.pid}\n`); // the file stays
    const lock = take([dir]);
    expect(readFileSync(lock.path, "utf8")).toBe(`${process.pid}\n`);
  });

  test("a holder that has not written its pid yet is named as such", () => {
    const dir = tempDir();
    const path = join(dir, "1.lock");
    writeFileSync(path, "");
    const fd = openSync(path, "r");
    cleanups.push(() => closeSync(fd));
    expect(libc.flock(fd, LOCK_EX | LOCK_NB)).toBe(0);
    expect(acquireReplicaLock(one, [dir])).toEqual({ heldBy: undefined, path });
  });

  test("a directory that cannot be written is skipped for the next one, and said so", () => {
    const dir = tempDir();
    const got = acquireReplicaLock(one, ["/sys/electrode-lock-test", dir]); // sysfs: EPERM, also for root
    if ("heldBy" in got) throw new Error("held");
    cleanups.push(() => got.lock.release());
    expect(got.skipped).toEqual(["/sys/electrode-lock-test"]);
    expect(got.lock.path).toBe(join(dir, "1.lock"));
  });

  test("candidates: /run/electrode/<cluster>, then $XDG_RUNTIME_DIR, then the temp directory", () => {
    const saved = process.env.XDG_RUNTIME_DIR;
    cleanups.push(() => {
      if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
      else process.env.XDG_RUNTIME_DIR = saved;
    });
    process.env.XDG_RUNTIME_DIR = "/run/user/1000";
    expect(lockDirs(config)).toEqual([`${lockRoot}/lock-test`, "/run/user/1000/electrode/lock-test", `${tmpdir()}/electrode-${process.getuid!()}/lock-test`]);
    delete process.env.XDG_RUNTIME_DIR;
    expect(lockDirs(config)).toHaveLength(2);
  });
});
