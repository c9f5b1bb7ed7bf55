// Log entries in their wire form (messages.ts Entries): building them from Entry values and
// reading them back, for the codec, the log and the tests. Each entry is layout.ts entryHead
// (client id u64, request number u64, op length u16, little-endian) followed by the op bytes.

import { entryHead } from "./layout.ts";
import type { Entries, Entry } from "./messages.ts";

const two32 = 2 ** 32;
const head = entryHead.fields;

/** Bytes one entry takes on the wire. */
export function entryBytes(entry: Entry): number {
  return entryHead.size + entry.op.length;
}

/** Bytes of an entry whose op is `opLength` bytes. */
export function entryBytesOf(opLength: number): number {
  return entryHead.size + opLength;
}

/** Writes one entry at `at`; returns where the next one starts. */
export function writeEntry(view: DataView, bytes: Uint8Array, at: number, clientId: number, requestNum: number, op: Uint8Array): number {
  writeU64(view, at + head.client_id.offset, clientId);
  writeU64(view, at + head.request_num.offset, requestNum);
  view.setUint16(at + head.len.offset, op.length, true);
  bytes.set(op, at + entryHead.size);
  return at + entryHead.size + op.length;
}

export function writeU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value % two32, true);
  view.setUint32(at + 4, Math.floor(value / two32), true);
}

export function readU64(view: DataView, at: number): number {
  return view.getUint32(at + 4, true) * two32 + view.getUint32(at, true);
}

/** The wire form of `list` (tests, tools, the simulator's clients). */
export function entriesOf(list: readonly Entry[]): Entries {
  const bytes = new Uint8Array(list.reduce((n, e) => n + entryBytes(e), 0));
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (const e of list) at = writeEntry(view, bytes, at, e.clientId, e.requestNum, e.op);
  return { count: list.length, bytes };
}

/** Reads entries one by one without allocating per entry: `next()` moves to the next entry and
 * says whether there is one; the fields then describe it. The bytes must be well framed (the codec
 * checked them, or the log wrote them). */
export class EntryCursor {
  private readonly view: DataView;
  private at = 0;
  private nextAt = 0;
  private left: number;
  clientId = 0;
  requestNum = 0;
  /** The op's position and length within `bytes`. */
  opStart = 0;
  opLength = 0;

  constructor(readonly entries: Entries) {
    const b = entries.bytes;
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.left = entries.count;
  }

  next(): boolean {
    if (this.left === 0) return false;
    this.left -= 1;
    this.at = this.nextAt;
    this.clientId = readU64(this.view, this.at + head.client_id.offset);
    this.requestNum = readU64(this.view, this.at + head.request_num.offset);
    this.opLength = this.view.getUint16(this.at + head.len.offset, true);
    this.opStart = this.at + entryHead.size;
    this.nextAt = this.opStart + this.opLength;
    return true;
  }

  /** Where the current entry starts in `bytes`, and where it ends. */
  get start(): number {
    return this.at;
  }
  get end(): number {
    return this.nextAt;
  }

  /** A view of the current entry's op (valid while `bytes` is). */
  op(): Uint8Array {
    return this.entries.bytes.subarray(this.opStart, this.opStart + this.opLength);
  }
}

/** Every entry as a value, ops copied (tests and tools). */
export function entryList(entries: Entries): Entry[] {
  const out: Entry[] = [];
  const c = new EntryCursor(entries);
  while (c.next()) out.push({ clientId: c.clientId, requestNum: c.requestNum, op: c.op().slice() });
  return out;
}

export const noEntries: Entries = { count: 0, bytes: new Uint8Array(0) };
