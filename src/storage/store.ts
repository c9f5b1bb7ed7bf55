// A replica's data directory: a write-ahead log of its log and view, and its latest checkpoint.
//
// What each fsync mode guarantees (config `storage.fsync`):
// - always: every datagram this replica sends leaves only after everything the core did before it
//   is on disk (UdpSocket.beforeFlush; one fsync covers all appended since the last: group
//   commit). So a PrepareOk, a DoViewChange and a StartView all follow the disk. One exception:
//   when only a normal leader's own Entries and Commit records wait (onlyAppended), its Prepares
//   leave first and it fsyncs right after; its core counts its own vote only as far as syncedOp
//   (the `durable` event; src/node/replica-node.ts), so its commits and Replies still follow its
//   entry's durability on f+1 replicas. A crash of every replica at any moment loses no
//   acknowledged write. The kernel's fast reply acks before user space sees the
//   entry, so it cannot follow the disk: it is off with `always` (src/cli/replica-storage.ts).
// - interval: written within writeDelayMs or at the next tick, whichever is later (the page cache
//   survives a kill -9 of the process),
//   fsynced every fsync_interval_ms. Losing power in the whole cluster may lose the acknowledged
//   ops of the last interval plus writeDelayMs (while the process runs: a stopped one writes
//   nothing), never one a disk recorded as committed (Commit records; core/recovery.ts); the disk
//   start then says what it resumed from. test/sim/loss-window.ts checks exactly this.
// - off: written likewise, never fsynced: survives process crashes, not power loss.
// Neither holds a datagram back for the disk, and neither writes per datagram: a write() per send
// cost about 10x the throughput (measured: 4.3k instead of 52k ops/s at 64 clients), one per
// writeDelayMs costs little.
//
// How a restarted replica may use its disk (core: Replica.loadDurable). With `always` and a disk
// that passed its checks, it holds everything it ever acknowledged or promised (nothing left
// before its disk had it), so it is a replica that was cut off for a while, not one that lost its
// memory: it rejoins its view (VR with persistent state; VR Revisited section 8). With
// `interval` or `off`, or a damaged disk, it may lack what it acknowledged, so it may not vote: it
// recovers like a replica without memory, and its disk counts only when every replica recovers at
// once (core/recovery.ts: disk claims).
//
// Files: `electrode-data.json` (format, cluster id, replica id: a directory belongs to one replica
// of one cluster), `checkpoint` (the core's checkpoint bytes, CRC-checked; replaced atomically:
// write a temporary, fsync, rename, fsync the directory) and WAL segments `wal-NNNNNNNN.log`.
// A segment is a magic and records: u32 payload length, u32 CRC-32 of the payload, payload
// (u8 type, then fields little-endian):
//   View     u32 view, u32 lastNormalView     (first record of every segment, and on change)
//   Entries  u64 first op, u32 count, entries in wire form
//   Truncate u64 op                           (a view change cut the log back)
//   Reset    u64 op                           (the log continues after checkpoint op)
//   Commit   u64 op                           (the commit-number rose to op: a whole-cluster
//                                              restart then knows which ops were committed)
// Replay keeps the log above the checkpoint; a segment goes once the checkpoint covers its ops.
//
// Faults of the disk: a record cut short at the end of the last segment (a crash mid-write) is
// dropped with a note and the rest loads. A record whose checksum fails, or that does not follow
// from the ones before, is never loaded: replay stops there, the files are cut back to what
// loaded, and the replica fetches the rest from its peers (it claims only what loaded). A
// checkpoint whose checksum fails is never loaded either: the replica claims nothing and fetches
// everything. A write that fails (a full disk) stalls the replica: nothing it sends leaves until
// the write succeeds, so it never acknowledges what it could not write, and it says why.

import { join } from "node:path";
import { realFiles, type Files } from "./files.ts";
import { CheckpointError, parseCheckpoint, type Checkpoint, type ParsedCheckpoint } from "../core/checkpoint.ts";
import type { FsyncMode } from "../config/config.ts";
import type { DurableState } from "../core/types.ts";
import { EntryCursor } from "../wire/entries.ts";
import { entryHead } from "../wire/layout.ts";
import type { Entries } from "../wire/messages.ts";

/** The data directory's format; another one is refused. 2 added the commit record: a build that
 * reads only format 1 would take one for damage and cut the log back, so it must refuse instead. */
export const dataFormat = 2;
/** Older formats this one reads as they are (and marks as its own before it writes anything). */
const upgradableFormats: readonly unknown[] = [1];
const identityFile = "electrode-data.json";
const checkpointFile = "checkpoint";
const segmentMagic = new TextEncoder().encode("ELWAL001");
/** A new segment starts once the current one holds this much. */
export const segmentBytesMax = 64 << 20;
/** Without fsync always, captured records are written at most this long after, or once this many
 * bytes wait. */
export const writeDelayMs = 2;
const writeBytesMin = 256 << 10;
/** Entries per Entries record, at most this many bytes (a record is read whole). */
const recordBytesMax = 1 << 20;
const recordHead = 8;

const enum Rec {
  View = 1,
  Entries = 2,
  Truncate = 3,
  Reset = 4,
  Commit = 5,
}

/** Refused data directory: exit 2 with this line. */
export class DataDirError extends Error {}

export interface Identity {
  readonly clusterId: number;
  readonly replicaId: number;
}

/** What the replica's core offers the store (a subset of core/replica.ts's Replica). */
export interface Journaled {
  readonly view: number;
  readonly lastNormalView: number;
  readonly opNum: number;
  /** The first op the log in memory holds (everything below it is compacted). */
  readonly logFirstOp: number;
  readonly commit: number;
  takeLogCut(): number;
  logBatch(from: number, to: number, bytesMax: number): Entries;
}

export interface StoreMetrics {
  fsyncs: number;
  /** fsync latencies: counts per bucket (upper bounds fsyncBucketsS, the last +Inf) and the sum. */
  readonly fsyncBuckets: number[];
  fsyncSumS: number;
  bytesWritten: number;
  records: number;
  checkpointsWritten: number;
  segmentsRemoved: number;
  /** Seconds load() took. */
  recoveryS: number;
  /** Writes that failed (the store stalls until one succeeds). */
  writeErrors: number;
}

export const fsyncBucketsS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

interface Segment {
  readonly seq: number;
  readonly path: string;
  /** Highest op of an Entries record in it (0: none). */
  maxOp: number;
  /** Its size once it is no longer the one written to. */
  bytes: number;
}

export interface Loaded {
  /** Undefined: no history on disk (a new directory, or a damaged checkpoint set aside). */
  readonly state: DurableState | undefined;
  /** What the replica should say about the load (torn tails, corruption). */
  readonly notes: string[];
  /** Something on disk failed its checks (not merely a torn tail): what loaded may lack what this
   * replica acknowledged, so it must not vote with it (core: loadDurable's `rejoin`). */
  readonly damaged: boolean;
}

export class Store {
  readonly metrics: StoreMetrics = { fsyncs: 0, fsyncBuckets: new Array<number>(fsyncBucketsS.length + 1).fill(0), fsyncSumS: 0, bytesWritten: 0, records: 0, checkpointsWritten: 0, segmentsRemoved: 0, recoveryS: 0, writeErrors: 0 };
  private segments: Segment[] = [];
  private fd = -1;
  /** Bytes of the current segment on disk; pending records go at this offset. */
  private fileBytes = 0;
  private pending = new Uint8Array(1 << 16);
  private pendingBytes = 0;
  /** Something was written since the last fsync. */
  private dirty = false;
  private lastFsync: number;
  private lastWrite: number;
  /** The log on disk (with pending): ops up to `written`, this view. */
  private written = 0;
  private view = -1;
  private lastNormalView = -1;
  /** The highest commit-number recorded. */
  private commit = 0;
  /** How far the fsynced files hold the log as it is now (cut back by a pending Truncate or Reset:
   * below the cut the old log and the current one agree). */
  private synced = 0;
  /** Everything captured since the last fsync is Entries and Commit records: the fsynced files
   * hold a prefix of the log as it is now, and nothing else changed (no view, no cut). */
  private appendedOnly = true;
  /** Why the last write failed (undefined: not stalled). */
  stalled: string | undefined;

  private constructor(
    readonly dir: string,
    readonly mode: FsyncMode,
    readonly intervalMs: number,
    private readonly files: Files,
    /** The directory was made now (no identity file): nothing on it, not even an empty history. */
    readonly isNew: boolean,
    /** Milliseconds, for when to write and fsync (the simulator's ticks there). */
    private readonly clock: () => number,
  ) {
    this.lastFsync = this.lastWrite = clock();
  }

  /** Opens (creating it if needed) the data directory of `identity`, refusing another's. */
  static open(dir: string, identity: Identity, mode: FsyncMode, intervalMs: number, files: Files = realFiles, clock: () => number = () => performance.now()): Store {
    let isDir: boolean;
    try {
      isDir = files.makeDir(dir);
    } catch (e) {
      throw new DataDirError(`data directory ${dir}: cannot create it: ${(e as Error).message}`);
    }
    if (!isDir) throw new DataDirError(`data directory ${dir} is not a directory`);
    const isNew = checkIdentity(files, dir, identity);
    return new Store(dir, mode, intervalMs, files, isNew, clock);
  }

  /** Reads the checkpoint and the log; cuts the files back to what loaded. */
  load(): Loaded {
    const start = performance.now();
    const notes: string[] = [];
    let damaged = false;
    let checkpoint: ParsedCheckpoint | undefined;
    const cpPath = join(this.dir, checkpointFile);
    let usable = true;
    const files = this.files;
    if (files.exists(cpPath)) {
      try {
        checkpoint = parseCheckpoint(files.read(cpPath));
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw e;
        notes.push(`checkpoint file ${cpPath} not loaded: ${e.message}; moved to ${cpPath}.corrupt, the state comes from peers`);
        files.rename(cpPath, `${cpPath}.corrupt`);
        usable = false;
        damaged = true;
      }
    }
    const seqs = files
      .list(this.dir)
      .map((f) => /^wal-(\d{8})\.log$/.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    const replay = new Replay(checkpoint?.op ?? 0);
    let cutAt: number | undefined; // valid bytes of the last segment kept, when it is cut back
    for (const seq of usable ? seqs : []) {
      const path = segmentPath(this.dir, seq);
      const result = replay.segment(files.read(path), seq === seqs[seqs.length - 1]);
      this.segments.push({ seq, path, maxOp: result.maxOp, bytes: result.validBytes });
      if (result.problem) {
        notes.push(`${path}: ${result.problem}`);
        cutAt = result.validBytes;
        damaged ||= !result.torn;
        break;
      }
    }
    // The files end where the load did: later segments go (all of them when the checkpoint they
    // continue is unusable), the segment with the problem is cut back to its valid prefix.
    for (const seq of seqs.slice(this.segments.length)) files.remove(segmentPath(this.dir, seq));
    if (cutAt !== undefined) {
      const fd = files.open(this.current!.path, false);
      files.truncate(fd, Math.max(cutAt, segmentMagic.length));
      files.sync(fd);
      files.close(fd);
    }
    files.syncDir(this.dir);
    const state = usable ? replay.state(checkpoint) : undefined;
    // A directory that existed holds a history, even an empty one (it acknowledged nothing); a
    // new one holds none (a first start, or a lost disk: the same as no memory).
    const claim = this.isNew ? undefined : state;
    this.written = claim ? (claim.checkpoint?.op ?? 0) + claim.entries.reduce((n, e) => n + e.count, 0) : 0;
    this.view = claim?.view ?? 0;
    this.lastNormalView = claim?.lastNormalView ?? 0;
    this.commit = claim?.commit ?? 0;
    this.openCurrent();
    // What loaded may have been written and never fsynced (a leader sends before its fsync, and a
    // killed process leaves its writes in the page cache): with `always` it counts as held, so
    // make it durable before this replica claims it in a view change.
    if (this.mode === "always") this.files.sync(this.fd);
    this.synced = this.written;
    this.metrics.recoveryS = (performance.now() - start) / 1000;
    return { state: claim, notes, damaged };
  }

  /** Bytes of every WAL segment. */
  get walBytes(): number {
    let n = 0;
    for (const s of this.segments) n += s === this.current ? this.fileBytes : s.bytes;
    return n + this.pendingBytes;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** The op the fsynced log reaches (the log the core has as of the last capture). */
  get syncedOp(): number {
    return this.synced;
  }

  /** What waits for an fsync is only appended log (Entries) and commit-numbers (Commit records),
   * and no write failed: a normal leader may then send before it fsyncs, counting its own vote
   * only once the fsync is done (core: ReplicaOptions.durableVotes). Anything else (a View,
   * Truncate or Reset record, a new segment) must be fsynced before anything leaves. */
  get onlyAppended(): boolean {
    return this.appendedOnly && this.stalled === undefined;
  }

  /** Appends, as records, what changed in `core` since the last call (nothing is written yet).
   * False when entries were compacted before they were captured and no checkpoint on disk covers
   * them (its write failed): the replica must not send. */
  capture(core: Journaled): boolean {
    const compacted = core.logFirstOp - 1;
    if (this.written < compacted) {
      this.stalled ??= `ops ${this.written + 1}..${compacted} are neither in the log on disk nor in a checkpoint written there`;
      return false;
    }
    const cut = Math.max(core.takeLogCut(), compacted);
    if (cut < this.written) {
      this.appendedOnly = false;
      this.record(Rec.Truncate, 8, (v, at) => writeU64(v, at, cut));
      this.written = cut;
      this.synced = Math.min(this.synced, cut);
    }
    if (core.view !== this.view || core.lastNormalView !== this.lastNormalView) this.recordView(core.view, core.lastNormalView);
    while (this.written < core.opNum) {
      const first = this.written + 1;
      const entries = core.logBatch(first, core.opNum, recordBytesMax);
      this.record(Rec.Entries, 12 + entries.bytes.length, (v, at, b) => {
        writeU64(v, at, first);
        v.setUint32(at + 8, entries.count, true);
        b.set(entries.bytes, at + 12);
      });
      this.written += entries.count;
      this.current!.maxOp = this.written;
    }
    // After the entries: a disk never records a commit above the log it holds.
    if (core.commit > this.commit) {
      const commit = core.commit;
      this.record(Rec.Commit, 8, (v, at) => writeU64(v, at, commit));
      this.commit = commit;
    }
    return true;
  }

  /**
   * Writes what was captured, and fsyncs as the mode says. Returns false when the write failed
   * (the replica must send nothing: with `always` nothing since the last fsync is durable, and in
   * every mode a replica whose disk refuses writes stops acknowledging).
   */
  sync(force = false): boolean {
    const now = this.clock();
    const due = force || this.mode === "always" || this.pendingBytes >= writeBytesMin || now - this.lastWrite >= writeDelayMs;
    if (this.pendingBytes > 0 && due && !this.writePending(now)) return false;
    if (this.dirty && (force || this.mode === "always" || (this.mode === "interval" && now - this.lastFsync >= this.intervalMs))) {
      if (!this.fsync(this.fd)) return false;
      this.dirty = false;
    }
    if (!this.dirty && this.pendingBytes === 0) {
      this.synced = this.written;
      this.appendedOnly = true;
    }
    if (this.fileBytes >= segmentBytesMax) this.rotate();
    return this.stalled === undefined;
  }

  /** Writes what was captured without an fsync, when only appended log waits (onlyAppended): a
   * leader sending before its fsync may write before or after the send; sync() fsyncs. False when
   * the write failed, or an earlier one did (then only sync() may go on). */
  write(): boolean {
    if (this.stalled !== undefined) return false;
    return this.pendingBytes === 0 || this.writePending(this.clock());
  }

  private writePending(now: number): boolean {
    this.lastWrite = now;
    try {
      let done = 0;
      while (done < this.pendingBytes) done += this.files.write(this.fd, this.pending, done, this.pendingBytes - done, this.fileBytes + done);
    } catch (e) {
      this.metrics.writeErrors += 1;
      this.stalled = (e as Error).message;
      return false;
    }
    this.fileBytes += this.pendingBytes;
    this.metrics.bytesWritten += this.pendingBytes;
    this.pendingBytes = 0;
    this.dirty = true;
    this.stalled = undefined;
    return true;
  }

  /** A checkpoint taken or installed: on disk atomically; the log continues after it; segments it
   * covers go. */
  checkpoint(cp: Checkpoint, installed: boolean, core: Journaled): boolean {
    const tmp = join(this.dir, `${checkpointFile}.tmp`);
    const files = this.files;
    try {
      const fd = files.open(tmp, true);
      try {
        let done = 0;
        while (done < cp.bytes.length) done += files.write(fd, cp.bytes, done, cp.bytes.length - done, done);
        if (this.mode !== "off" && !this.fsync(fd)) return false;
      } finally {
        files.close(fd);
      }
      files.rename(tmp, join(this.dir, checkpointFile));
      if (this.mode !== "off") files.syncDir(this.dir);
    } catch (e) {
      this.metrics.writeErrors += 1;
      this.stalled = `checkpoint ${cp.op}: ${(e as Error).message}`;
      return false;
    }
    this.metrics.checkpointsWritten += 1;
    // Installed: the log now continues after cp.op. Taken: when compaction dropped entries not
    // yet captured (a tiny log_retain_ops), the checkpoint covers them.
    if (installed || this.written < core.logFirstOp - 1) {
      this.appendedOnly = false;
      this.record(Rec.Reset, 8, (v, at) => writeU64(v, at, cp.op));
      this.written = cp.op;
      this.synced = Math.min(this.synced, cp.op);
      if (installed) core.takeLogCut(); // the Reset record says it
      this.stalled = undefined;
    }
    const current = this.current;
    const gone = new Set<Segment>();
    for (const seg of this.segments) {
      if (seg === current || seg.maxOp > cp.op) break;
      files.remove(seg.path);
      gone.add(seg);
      this.metrics.segmentsRemoved += 1;
    }
    this.segments = this.segments.filter((s) => !gone.has(s));
    return true;
  }

  close(): void {
    if (this.fd >= 0) {
      this.sync(true);
      this.files.close(this.fd);
      this.fd = -1;
    }
  }

  private get current(): Segment | undefined {
    return this.segments[this.segments.length - 1];
  }

  private openCurrent(): void {
    const seg = this.current;
    if (!seg) return this.startSegment(1);
    this.fd = this.files.open(seg.path, false);
    this.fileBytes = this.files.size(this.fd);
    if (this.fileBytes < segmentMagic.length) {
      this.files.write(this.fd, segmentMagic, 0, segmentMagic.length, 0);
      this.fileBytes = segmentMagic.length;
    }
  }

  private startSegment(seq: number): void {
    const path = segmentPath(this.dir, seq);
    this.fd = this.files.open(path, true);
    this.files.write(this.fd, segmentMagic, 0, segmentMagic.length, 0);
    this.fileBytes = segmentMagic.length;
    this.segments.push({ seq, path, maxOp: 0, bytes: 0 });
    if (this.mode !== "off") this.files.syncDir(this.dir);
    this.recordView(Math.max(this.view, 0), Math.max(this.lastNormalView, 0));
  }

  private rotate(): void {
    this.fsync(this.fd);
    this.files.close(this.fd);
    this.current!.bytes = this.fileBytes;
    this.startSegment(this.current!.seq + 1);
  }

  private recordView(view: number, lastNormalView: number): void {
    this.appendedOnly = false;
    this.record(Rec.View, 8, (v, at) => {
      v.setUint32(at, view, true);
      v.setUint32(at + 4, lastNormalView, true);
    });
    this.view = view;
    this.lastNormalView = lastNormalView;
  }

  private record(type: Rec, bodyBytes: number, fill: (v: DataView, at: number, b: Uint8Array) => void): void {
    const size = recordHead + 1 + bodyBytes;
    if (this.pendingBytes + size > this.pending.length) {
      const grown = new Uint8Array(Math.max(this.pending.length * 2, this.pendingBytes + size));
      grown.set(this.pending.subarray(0, this.pendingBytes));
      this.pending = grown;
    }
    const at = this.pendingBytes;
    const v = new DataView(this.pending.buffer);
    v.setUint32(at, 1 + bodyBytes, true);
    this.pending[at + recordHead] = type;
    fill(v, at + recordHead + 1, this.pending);
    v.setUint32(at + 4, Bun.hash.crc32(this.pending.subarray(at + recordHead, at + size)), true);
    this.pendingBytes += size;
    this.metrics.records += 1;
  }

  private fsync(fd: number): boolean {
    const start = performance.now();
    try {
      this.files.sync(fd);
    } catch (e) {
      this.metrics.writeErrors += 1;
      this.stalled = `fsync: ${(e as Error).message}`;
      return false;
    }
    const s = (performance.now() - start) / 1000;
    const m = this.metrics;
    m.fsyncs += 1;
    m.fsyncSumS += s;
    let i = 0;
    while (i < fsyncBucketsS.length && s > fsyncBucketsS[i]!) i++;
    m.fsyncBuckets[i]! += 1;
    this.lastFsync = this.clock();
    return true;
  }
}

/** The log as the records rebuild it, above the checkpoint's op. */
class Replay {
  private readonly batches: Entries[] = [];
  /** Ops held: base+1 .. length. */
  private length: number;
  view = 0;
  lastNormalView = 0;
  commit = 0;

  constructor(private readonly base: number) {
    this.length = base;
  }

  /** Applies one segment's records. `last`: a record cut short at its end is a torn tail. */
  segment(bytes: Uint8Array, last: boolean): { maxOp: number; validBytes: number; problem?: string; torn?: boolean } {
    let maxOp = 0;
    if (bytes.length < segmentMagic.length || !segmentMagic.every((b, i) => bytes[i] === b)) {
      if (last && bytes.length < segmentMagic.length) return { maxOp, validBytes: 0, problem: "segment header cut short (crash while creating it): dropped", torn: true };
      return { maxOp, validBytes: 0, problem: "not a WAL segment (bad magic): not loaded" };
    }
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = segmentMagic.length;
    let index = 0;
    while (at < bytes.length) {
      if (at + recordHead > bytes.length) return { maxOp, validBytes: at, ...tornOr(last, at, bytes.length, index) };
      const len = v.getUint32(at, true);
      if (len === 0 || at + recordHead + len > bytes.length) return { maxOp, validBytes: at, ...tornOr(last, at, bytes.length, index) };
      const payload = bytes.subarray(at + recordHead, at + recordHead + len);
      if (Bun.hash.crc32(payload) !== v.getUint32(at + 4, true)) {
        // The last record failing its checksum is a torn write; one with records after it is not.
        const end = at + recordHead + len === bytes.length;
        if (last && end) return { maxOp, validBytes: at, problem: `dropped a torn record (${len} bytes, checksum mismatch) at the end, offset ${at}: a crash mid-write`, torn: true };
        return { maxOp, validBytes: at, problem: `record ${index} at offset ${at} fails its checksum: not loaded, nor anything after it; the log above op ${this.length} comes from peers` };
      }
      const problem = this.apply(payload);
      if (problem) return { maxOp, validBytes: at, problem: `record ${index} at offset ${at}: ${problem}: not loaded, nor anything after it` };
      maxOp = Math.max(maxOp, this.maxOpOf(payload));
      at += recordHead + len;
      index += 1;
    }
    return { maxOp, validBytes: at };
  }

  state(checkpoint: ParsedCheckpoint | undefined): DurableState {
    return { checkpoint, entries: this.batches, view: this.view, lastNormalView: Math.min(this.lastNormalView, this.view), commit: Math.max(this.commit, this.base) };
  }

  private maxOpOf(p: Uint8Array): number {
    if (p[0] !== Rec.Entries) return 0;
    const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
    return readU64(v, 1) + v.getUint32(9, true) - 1;
  }

  /** One record; a reason when it does not follow from the ones before. */
  private apply(p: Uint8Array): string | undefined {
    const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
    switch (p[0]) {
      case Rec.View:
        if (p.length !== 9) return "View record of the wrong size";
        this.view = v.getUint32(1, true);
        this.lastNormalView = v.getUint32(5, true);
        return this.lastNormalView > this.view ? "last normal view above the view" : undefined;
      case Rec.Commit:
        if (p.length !== 9) return "Commit record of the wrong size";
        this.commit = Math.max(this.commit, readU64(v, 1));
        return undefined;
      case Rec.Truncate:
        if (p.length !== 9) return "Truncate record of the wrong size";
        this.cut(readU64(v, 1));
        return undefined;
      case Rec.Reset: {
        if (p.length !== 9) return "Reset record of the wrong size";
        const op = readU64(v, 1);
        if (op > this.length) return `the log continues after checkpoint ${op}, but the checkpoint on disk is ${this.base}`;
        this.cut(op);
        return undefined;
      }
      case Rec.Entries: {
        if (p.length < 13) return "Entries record cut short";
        const first = readU64(v, 1);
        const count = v.getUint32(9, true);
        const entries: Entries = { count, bytes: p.slice(13) };
        if (!entriesWellFormed(entries)) return "Entries record whose entries do not parse";
        if (first < 1 || first > this.length + 1) return `entries from op ${first} leave a gap after op ${this.length}`;
        this.cut(first - 1);
        const skip = Math.max(0, this.base + 1 - first);
        if (skip >= count) return undefined;
        this.batches.push(skip === 0 ? entries : dropFirst(entries, skip));
        this.length = first + count - 1;
        return undefined;
      }
      default:
        return `unknown record type ${p[0]}`;
    }
  }

  /** The log ends at `op` (never below the checkpoint). */
  private cut(op: number): void {
    const to = Math.max(op, this.base);
    if (to >= this.length) return;
    let have = this.length;
    while (have > to) {
      const last = this.batches[this.batches.length - 1]!;
      const lastFirst = have - last.count + 1;
      if (lastFirst > to) {
        this.batches.pop();
        have = lastFirst - 1;
      } else {
        this.batches[this.batches.length - 1] = keepFirst(last, to - lastFirst + 1);
        have = to;
      }
    }
    this.length = to;
  }
}

function tornOr(last: boolean, at: number, size: number, index: number): { problem: string; torn?: boolean } {
  if (last) return { problem: `dropped a torn record at the end (offset ${at}, ${size - at} bytes): a crash mid-write`, torn: true };
  return { problem: `record ${index} at offset ${at} is cut short in a segment that is not the last: not loaded, nor anything after it` };
}

function entriesWellFormed(entries: Entries): boolean {
  const c = new EntryCursor(entries);
  const size = entries.bytes.length;
  for (let n = 0; n < entries.count; n++) {
    if (c.end + entryHead.size > size) return false; // the next entry's head must fit
    c.next();
    if (c.end > size) return false;
  }
  return c.end === size;
}

function dropFirst(entries: Entries, skip: number): Entries {
  const c = new EntryCursor(entries);
  for (let i = 0; i < skip; i++) c.next();
  return { count: entries.count - skip, bytes: entries.bytes.subarray(c.end) };
}

function keepFirst(entries: Entries, keep: number): Entries {
  const c = new EntryCursor(entries);
  for (let i = 0; i < keep; i++) c.next();
  return { count: keep, bytes: entries.bytes.subarray(0, keep === 0 ? 0 : c.end) };
}

/** Refuses another's directory; makes a new one ours. Returns whether it was new. */
function checkIdentity(files: Files, dir: string, id: Identity): boolean {
  const path = join(dir, identityFile);
  const expected = { format: dataFormat, cluster_id: id.clusterId, replica_id: id.replicaId };
  if (!files.exists(path)) {
    const others = files.list(dir).filter((f) => !f.startsWith("."));
    if (others.length > 0) throw new DataDirError(`data directory ${dir} holds files but no ${identityFile} (${others.slice(0, 3).join(", ")}${others.length > 3 ? ", ..." : ""}): not an electrode data directory; refusing to use it`);
    writeIdentity(files, dir, expected);
    return true;
  }
  let found: { format?: unknown; cluster_id?: unknown; replica_id?: unknown };
  try {
    found = JSON.parse(new TextDecoder().decode(files.read(path)));
  } catch (e) {
    throw new DataDirError(`data directory ${dir}: ${identityFile} is not valid JSON (${(e as Error).message}); refusing to use it`);
  }
  const upgrade = upgradableFormats.includes(found.format);
  if (found.format !== dataFormat && !upgrade) throw new DataDirError(`data directory ${dir} was written by an incompatible version (format ${String(found.format)}; this electrode reads format ${dataFormat}${upgradableFormats.map((f) => ` and ${String(f)}`).join("")})`);
  if (found.cluster_id !== id.clusterId || found.replica_id !== id.replicaId) {
    const hex = (c: unknown) => (typeof c === "number" ? `0x${c.toString(16).padStart(8, "0")}` : String(c));
    throw new DataDirError(`data directory ${dir} belongs to cluster ${hex(found.cluster_id)} replica ${String(found.replica_id)}, not to cluster ${hex(id.clusterId)} replica ${id.replicaId}; give each replica its own directory`);
  }
  if (upgrade) writeIdentity(files, dir, expected); // from now on an older build refuses it
  return false;
}

/** Writes the identity file atomically: a temporary file, fsynced, renamed, the directory fsynced. */
function writeIdentity(files: Files, dir: string, identity: { format: number; cluster_id: number; replica_id: number }): void {
  const path = join(dir, identityFile);
  const bytes = new TextEncoder().encode(`${JSON.stringify(identity)}\n`);
  const fd = files.open(`${path}.tmp`, true);
  try {
    files.write(fd, bytes, 0, bytes.length, 0);
    files.sync(fd);
  } finally {
    files.close(fd);
  }
  files.rename(`${path}.tmp`, path);
  files.syncDir(dir);
}

function segmentPath(dir: string, seq: number): string {
  return join(dir, `wal-${String(seq).padStart(8, "0")}.log`);
}

function writeU64(v: DataView, at: number, value: number): void {
  v.setUint32(at, value % 2 ** 32, true);
  v.setUint32(at + 4, Math.floor(value / 2 ** 32), true);
}

function readU64(v: DataView, at: number): number {
  return v.getUint32(at, true) + v.getUint32(at + 4, true) * 2 ** 32;
}
