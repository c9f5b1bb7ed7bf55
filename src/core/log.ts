// The replicated log, 1-based: entry k is op-number k, and `length` (opNum) is the op-number of the
// last entry. Only the core's rules decide what may be appended, truncated or compacted; this
// class keeps the entries.
//
// Entries live in their wire form (entryHead + op bytes) in slabs: fixed-size byte arrays filled
// one after the other, with an index from op-number to position. Nothing per entry is a JS object,
// so the garbage collector's work does not grow with the log, and moving entries between a
// datagram and the log is a copy of bytes. Compaction drops the entries at or below an op (they
// are covered by a checkpoint) and hands whole slabs back to a small pool; truncation (a view
// change replacing an uncommitted suffix) moves the write position back. Memory follows the
// entries held, not the history.

import { entryHead } from "../wire/layout.ts";
import { entryBytes, newStateEntriesBytesMax, prepareEntriesBytesMax } from "../wire/codec.ts";
import { EntryCursor, readU64, writeEntry } from "../wire/entries.ts";
import type { Entries, Entry } from "../wire/messages.ts";
import { assert } from "./assert.ts";

/** Largest operation the leader accepts: one entry of it must fit a Prepare AND a NewState, or
 * state transfer could never move it (a NewState has 8 bytes less room than a Prepare, so this is
 * at or below layout.ts's opBytesMax, which accounts for the Prepare and the Request only). */
export const requestOpBytesMax = Math.min(prepareEntriesBytesMax, newStateEntriesBytesMax) - entryHead.size;

/** Bytes of one slab: many entries (an entry is at most a datagram, about 1.4 KiB). */
export const slabBytes = 1 << 20;
/** Emptied slabs kept for reuse instead of left to the collector. */
const spareSlabsMax = 4;
/** Initial capacity of the op index (doubles as needed). */
const indexSlotsInitial = 1 << 12;

const head = entryHead.fields;

export class Log {
  /** Slabs in use, oldest first: slabs[i] is slab number firstSlab + i of the log's history (a
   * position is slab number * slabBytes + offset, so it stays valid as old slabs go). */
  private slabs: Uint8Array[] = [];
  private views: DataView[] = [];
  private firstSlab = 0;
  private readonly spare: Uint8Array[] = [];
  /** Write position in the last slab. */
  private writeAt = 0;
  /** index[op & mask] = slab * slabBytes + offset of entry `op`, for firstOp <= op <= length. */
  private index = new Float64Array(indexSlotsInitial);
  private mask = indexSlotsInitial - 1;
  private first = 1;
  private last = 0;
  private bytes = 0;
  /** Lowest op-number the log was cut back to (truncate, resetTo) since takeCut(); Infinity when
   * it only grew. A journal of the log (src/storage) rewrites from there. */
  private cut = Infinity;

  /** Op-number of the last entry (0 when nothing was ever appended). */
  get length(): number {
    return this.last;
  }

  /** Op-number of the oldest entry held; length + 1 when none is (all compacted, or empty). */
  get firstOp(): number {
    return this.first;
  }

  /** Entries held in memory, and their bytes. */
  get entriesHeld(): number {
    return this.last - this.first + 1;
  }
  get bytesHeld(): number {
    return this.bytes;
  }
  get slabsHeld(): number {
    return this.slabs.length;
  }

  has(op: number): boolean {
    return op >= this.first && op <= this.last;
  }

  private position(op: number): number {
    assert(this.has(op), `op ${op} not held (log holds ${this.first}..${this.last})`);
    return this.index[op & this.mask]!;
  }

  private slabOf(pos: number): number {
    return Math.floor(pos / slabBytes) - this.firstSlab;
  }

  /** The entry at op-number `op` as a value (its op copied): for tests and tools, not hot paths. */
  at(op: number): Entry | undefined {
    if (!this.has(op)) return undefined;
    return { clientId: this.clientIdAt(op), requestNum: this.requestNumAt(op), op: this.opAt(op).slice() };
  }

  clientIdAt(op: number): number {
    const pos = this.position(op);
    return readU64(this.views[this.slabOf(pos)]!, (pos % slabBytes) + head.client_id.offset);
  }

  requestNumAt(op: number): number {
    const pos = this.position(op);
    return readU64(this.views[this.slabOf(pos)]!, (pos % slabBytes) + head.request_num.offset);
  }

  /** A view of the op bytes of entry `op`: valid until the log changes (the caller copies what it keeps). */
  opAt(op: number): Uint8Array {
    const pos = this.position(op);
    const s = this.slabOf(pos);
    const at = pos % slabBytes;
    const len = this.views[s]!.getUint16(at + head.len.offset, true);
    return this.slabs[s]!.subarray(at + entryHead.size, at + entryHead.size + len);
  }

  /** Bytes entry `op` takes on the wire. */
  entryBytesAt(op: number): number {
    const pos = this.position(op);
    return entryHead.size + this.views[this.slabOf(pos)]!.getUint16((pos % slabBytes) + head.len.offset, true);
  }

  /** Room for `bytes` at the write position, starting a new slab when the last one is full. */
  private reserve(bytes: number): { slab: number; at: number } {
    assert(bytes <= slabBytes, `entry of ${bytes} bytes exceeds a slab`);
    if (this.slabs.length === 0 || this.writeAt + bytes > slabBytes) {
      const slab = this.spare.pop() ?? new Uint8Array(slabBytes);
      this.slabs.push(slab);
      this.views.push(new DataView(slab.buffer));
      this.writeAt = 0;
    }
    return { slab: this.slabs.length - 1, at: this.writeAt };
  }

  private indexNext(slab: number, at: number, bytes: number): void {
    if (this.last + 1 - this.first >= this.index.length) this.growIndex();
    this.last += 1;
    this.index[this.last & this.mask] = (this.firstSlab + slab) * slabBytes + at;
    this.writeAt = at + bytes;
    this.bytes += bytes;
  }

  private growIndex(): void {
    const next = new Float64Array(this.index.length * 2);
    const mask = next.length - 1;
    for (let op = this.first; op <= this.last; op++) next[op & mask] = this.index[op & this.mask]!;
    this.index = next;
    this.mask = mask;
  }

  /** Appends one entry (a copy of `op`). */
  append(clientId: number, requestNum: number, op: Uint8Array): void {
    const bytes = entryHead.size + op.length;
    const { slab, at } = this.reserve(bytes);
    writeEntry(this.views[slab]!, this.slabs[slab]!, at, clientId, requestNum, op);
    this.indexNext(slab, at, bytes);
  }

  /** Appends an entry value (tests and tools). */
  appendEntry(entry: Entry): void {
    this.append(entry.clientId, entry.requestNum, entry.op);
  }

  /** Appends entries `skip`, skip+1, ... of `entries` (copies of their bytes), `count` of them. */
  appendFrom(entries: Entries, skip = 0, count = entries.count - skip): void {
    const cursor = new EntryCursor(entries);
    for (let i = 0; i < skip + count && cursor.next(); i++) {
      if (i < skip) continue;
      const bytes = cursor.end - cursor.start;
      const { slab, at } = this.reserve(bytes);
      this.slabs[slab]!.set(entries.bytes.subarray(cursor.start, cursor.end), at);
      this.indexNext(slab, at, bytes);
    }
  }

  /** The lowest op the log was cut back to since the last call (Infinity: none), and forgets it. */
  takeCut(): number {
    const cut = this.cut;
    this.cut = Infinity;
    return cut;
  }

  /** Drops every entry above op-number `op` (an uncommitted suffix a view change replaces). */
  truncate(op: number): void {
    if (op >= this.last) return;
    this.cut = Math.min(this.cut, op);
    assert(op >= this.first - 1, `truncate to ${op} below the compacted prefix (first ${this.first})`);
    for (let k = this.last; k > op; k--) this.bytes -= this.entryBytesAt(k);
    if (op >= this.first) {
      const pos = this.position(op);
      const keep = this.slabOf(pos) + 1;
      this.releaseTail(keep);
      this.writeAt = (pos % slabBytes) + this.entryBytesAt(op);
    } else {
      this.releaseTail(0);
    }
    this.last = op;
  }

  private releaseTail(keep: number): void {
    while (this.slabs.length > keep) {
      this.recycle(this.slabs.pop()!);
      this.views.pop();
    }
    if (this.slabs.length === 0) this.writeAt = 0;
  }

  private recycle(slab: Uint8Array): void {
    if (this.spare.length < spareSlabsMax) this.spare.push(slab);
  }

  /**
   * Drops the entries at or below `op` (a checkpoint covers them); the log's length stays. Whole
   * slabs before the first entry kept go back to the pool.
   */
  compact(op: number): void {
    const upTo = Math.min(op, this.last);
    if (upTo < this.first) return;
    for (let k = this.first; k <= upTo; k++) this.bytes -= this.entryBytesAt(k);
    this.first = upTo + 1;
    if (this.first > this.last) {
      this.releaseTail(0);
      this.firstSlab = 0;
      return;
    }
    const keepFrom = this.slabOf(this.position(this.first));
    for (let i = 0; i < keepFrom; i++) this.recycle(this.slabs[i]!);
    this.slabs = this.slabs.slice(keepFrom);
    this.views = this.views.slice(keepFrom);
    this.firstSlab += keepFrom;
  }

  /** Forgets everything and continues after op `op` (a checkpoint at `op` was installed). */
  resetTo(op: number): void {
    this.cut = Math.min(this.cut, op, this.last);
    this.releaseTail(0);
    this.firstSlab = 0;
    this.first = op + 1;
    this.last = op;
    this.bytes = 0;
  }

  /** Entries from op `from` up to `to`, at most `countMax` of them and `bytesMax` bytes on the
   * wire, in their wire form (a copy: the message outlives later changes of the log). Never empty
   * when from <= to: every entry fits alone (see requestOpBytesMax). */
  batch(from: number, to: number, countMax: number, bytesMax: number): Entries {
    let count = 0;
    let bytes = 0;
    for (let op = from; op <= to && count < countMax; op++) {
      const size = this.entryBytesAt(op);
      if (count > 0 && bytes + size > bytesMax) break;
      count += 1;
      bytes += size;
    }
    const out = new Uint8Array(bytes);
    let at = 0;
    let op = from;
    while (op < from + count) {
      // A run of entries within one slab is one copy.
      const pos = this.position(op);
      const s = this.slabOf(pos);
      const start = pos % slabBytes;
      let end = start;
      while (op < from + count && this.slabOf(this.position(op)) === s) {
        end = (this.position(op) % slabBytes) + this.entryBytesAt(op);
        op++;
      }
      out.set(this.slabs[s]!.subarray(start, end), at);
      at += end - start;
    }
    return { count, bytes: out };
  }
}

export { entryBytes };
