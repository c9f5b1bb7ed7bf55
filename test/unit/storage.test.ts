// The data directory (src/storage/store.ts) on its own: what a restart reads back, and the faults
// of the disk: a torn last record, a flipped byte in a record and in the checkpoint, another
// replica's directory, a format it does not read.

import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Log } from "../../src/core/log.ts";
import { takeCheckpoint } from "../../src/core/checkpoint.ts";
import { ClientTable } from "../../src/core/client-table.ts";
import { Digest } from "../../src/core/digest.ts";
import { DataDirError, Store, type Journaled } from "../../src/storage/store.ts";
import { entryList } from "../../src/wire/entries.ts";
import { createApp } from "../../src/app/index.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "electrode-store-"));
  dirs.push(d);
  return d;
}

/** A core as the store sees it: a log, a view, a commit-number. */
class FakeCore implements Journaled {
  readonly log = new Log();
  view = 0;
  lastNormalView = 0;
  commit = 0;
  get opNum() {
    return this.log.length;
  }
  get logFirstOp() {
    return this.log.firstOp;
  }
  takeLogCut() {
    return this.log.takeCut();
  }
  logBatch(from: number, to: number, bytesMax: number) {
    return this.log.batch(from, to, Number.MAX_SAFE_INTEGER, bytesMax);
  }
  append(n: number, tag = "v") {
    for (let i = 0; i < n; i++) this.log.append(7, this.log.length + 1, new TextEncoder().encode(`${tag}${this.log.length + 1}`));
  }
}

const id = { clusterId: 42, replicaId: 1 };
const ops = (state: ReturnType<Store["load"]>["state"]) => state!.entries.flatMap((e) => entryList(e).map((x) => new TextDecoder().decode(x.op)));

/** A new data directory with its store open, a core journaled into it, and `write(n)`: n more
 * entries, captured and synced (false: the store refused). */
function freshStore() {
  const dir = tempDir();
  const core = new FakeCore();
  const store = Store.open(dir, id, "always", 100);
  store.load();
  const write = (n: number, tag = "v") => {
    core.append(n, tag);
    return store.capture(core) && store.sync();
  };
  return { dir, core, store, write };
}

const reload = (dir: string) => Store.open(dir, id, "always", 100).load();
const walOf = (dir: string) => join(dir, readdirSync(dir).find((f) => f.startsWith("wal-"))!);

describe("a data directory", () => {
  test("what was synced comes back: entries, truncation, view; one fsync per sync (group commit)", () => {
    const { dir, core, store, write } = freshStore();
    expect(write(5)).toBe(true);
    core.view = 2;
    core.lastNormalView = 2;
    core.log.truncate(3); // a view change replaced ops 4..5
    write(3, "w");
    expect(store.metrics.fsyncs).toBe(2);
    store.close();
    const back = reload(dir);
    expect(back.notes).toEqual([]);
    expect(back.state!.view).toBe(2);
    expect(back.state!.lastNormalView).toBe(2);
    expect(ops(back.state)).toEqual(["v1", "v2", "v3", "w4", "w5", "w6"]);
  });

  test("the highest commit-number recorded comes back (a checkpoint's op counts as committed)", () => {
    const { dir, core, store, write } = freshStore();
    core.commit = 3;
    write(5);
    core.commit = 2; // never lower: a record only when it rises
    write(1);
    expect(store.checkpoint(takeCheckpoint(6, new Digest(), new ClientTable(16), createApp("kv")), false, core)).toBe(true);
    store.close();
    expect(reload(dir).state!.commit).toBe(6);
    const { dir: dir2, core: core2, store: store2, write: write2 } = freshStore();
    core2.commit = 4;
    write2(5);
    store2.close();
    expect(reload(dir2).state!.commit).toBe(4);
  });

  test("after a checkpoint the log continues above it and covered segments go", () => {
    const { dir, core, store, write } = freshStore();
    write(10);
    const cp = takeCheckpoint(6, new Digest(), new ClientTable(16), createApp("kv"));
    expect(store.checkpoint(cp, false, core)).toBe(true);
    core.log.compact(6);
    write(2);
    store.close();
    const back = reload(dir);
    expect(back.state!.checkpoint!.op).toBe(6);
    expect(ops(back.state)).toEqual(["v7", "v8", "v9", "v10", "v11", "v12"]);
  });

  test("a torn last record is dropped with a note; the rest loads and the file is cut back", () => {
    const { dir, store, write } = freshStore();
    write(4);
    write(4, "t");
    store.close();
    const wal = walOf(dir);
    const size = statSync(wal).size;
    writeFileSync(wal, readFileSync(wal).subarray(0, size - 5)); // the crash cut the last write
    const back = reload(dir);
    expect(back.notes.join("\n")).toContain("torn record");
    expect(ops(back.state)).toEqual(["v1", "v2", "v3", "v4"]);
    expect(statSync(wal).size).toBeLessThan(size - 5);
    // And it appends after what loaded.
    expect(reload(dir).notes).toEqual([]);
  });

  test("a flipped byte in a record with records after it: not loaded, nor anything after; said so", () => {
    const { dir, store, write } = freshStore();
    for (let i = 0; i < 3; i++) write(3);
    store.close();
    const wal = walOf(dir);
    const bytes = readFileSync(wal);
    // The second Entries record: find "v4" and flip a byte of it.
    const at = bytes.indexOf("v4");
    bytes[at] = bytes[at]! ^ 0x01;
    writeFileSync(wal, bytes);
    const back = reload(dir);
    expect(back.notes.join("\n")).toContain("fails its checksum: not loaded");
    expect(ops(back.state)).toEqual(["v1", "v2", "v3"]);
  });

  test("a flipped byte in the checkpoint: never loaded, set aside; the replica claims nothing", () => {
    const { dir, core, store, write } = freshStore();
    write(8);
    store.checkpoint(takeCheckpoint(8, new Digest(), new ClientTable(16), createApp("kv")), false, core);
    store.close();
    const file = join(dir, "checkpoint");
    const bytes = readFileSync(file);
    bytes[10] = bytes[10]! ^ 0x40;
    writeFileSync(file, bytes);
    const back = reload(dir);
    expect(back.notes.join("\n")).toContain("checkpoint file");
    expect(back.notes.join("\n")).toContain("checksum mismatch");
    expect(back.state).toBeUndefined();
    expect(readdirSync(dir)).toContain("checkpoint.corrupt");
  });

  test("another replica's directory, another cluster's, a foreign one, a newer format: refused, nothing touched", () => {
    const dir = tempDir();
    Store.open(dir, id, "always", 100).load();
    expect(() => Store.open(dir, { clusterId: 42, replicaId: 2 }, "always", 100)).toThrow(/belongs to cluster 0x0000002a replica 1, not to cluster 0x0000002a replica 2/);
    expect(() => Store.open(dir, { clusterId: 7, replicaId: 1 }, "always", 100)).toThrow(DataDirError);
    const foreign = tempDir();
    writeFileSync(join(foreign, "notes.txt"), "mine");
    expect(() => Store.open(foreign, id, "always", 100)).toThrow(/not an electrode data directory/);
    expect(readdirSync(foreign)).toEqual(["notes.txt"]);
    writeFileSync(join(dir, "electrode-data.json"), JSON.stringify({ format: 99, cluster_id: 42, replica_id: 1 }));
    expect(() => Store.open(dir, id, "always", 100)).toThrow(/incompatible version \(format 99; this electrode reads format 2 and 1\)/);
    expect(JSON.parse(readFileSync(join(dir, "electrode-data.json"), "utf8")).format).toBe(99); // untouched
  });

  test("a format 1 directory (before commit records) is read as it is and marked format 2, so older builds refuse it", () => {
    const { dir, store, write } = freshStore();
    expect(write(5)).toBe(true);
    store.close();
    writeFileSync(join(dir, "electrode-data.json"), JSON.stringify({ format: 1, cluster_id: 42, replica_id: 1 }));
    const loaded = Store.open(dir, id, "always", 100).load();
    expect(loaded.damaged).toBe(false);
    expect(loaded.state?.entries.length).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(dir, "electrode-data.json"), "utf8"))).toEqual({ format: 2, cluster_id: 42, replica_id: 1 });
    expect(readdirSync(dir)).not.toContain("electrode-data.json.tmp");
  });
});
