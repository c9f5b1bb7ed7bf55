// Prepares whose header is valid but whose framing lies, for the tests of fast reply's validation
// (bpf/xdp_fast.bpf.c prepare_header_valid / prepare_entries_valid, and its model in
// test/sim/fast-model.ts): the kernel must never ack one of them, since user space cannot decode
// it (src/wire/codec.ts is the reference). Each named case is a Prepare from `sender` in `view` for
// ops starting at `first` (the op the receiver expects next), so only the lie keeps it from being
// acked. mutatedPrepare() draws random near-valid ones for property tests.

import { Codec } from "../src/wire/codec.ts";
import { entriesOf } from "../src/wire/entries.ts";
import { datagramBytesMax, entryHead, header, MessageType, prepareBody } from "../src/wire/layout.ts";
import type { Entry, Prepare } from "../src/wire/messages.ts";

export interface PrepareTarget {
  readonly clusterId: number;
  readonly view: number;
  readonly sender: number;
  /** The first op of the Prepare: the receiver's log end + 1. */
  readonly first: number;
}

export interface LyingPrepare {
  readonly name: string;
  readonly datagram: Uint8Array;
}

const entriesAt = header.size + prepareBody.size;

function entry(i: number, opBytes: number): Entry {
  return { clientId: 7000 + i, requestNum: 1 + i, op: new Uint8Array(opBytes).fill(0x61 + i) };
}

/** A well-formed Prepare of `count` entries for ops first..first+count-1, as the leader sends it. */
export function wellFormedPrepare(t: PrepareTarget, count = 1, opBytes = 16): Uint8Array {
  const entries = Array.from({ length: count }, (_, i) => entry(i, opBytes));
  const msg: Prepare = { type: MessageType.Prepare, view: t.view, sender: t.sender, opNum: t.first + count - 1, commit: Math.max(0, t.first - 1), entries: entriesOf(entries) };
  const buf = new Uint8Array(datagramBytesMax);
  return buf.slice(0, new Codec(t.clusterId).encode(msg, buf));
}

function view(d: Uint8Array): DataView {
  return new DataView(d.buffer, d.byteOffset, d.byteLength);
}

function withBodyLen(d: Uint8Array): Uint8Array {
  view(d).setUint16(header.fields.body_len.offset, d.length - header.size, true);
  return d;
}

/** Offset of entry `i`'s head in a Prepare whose entries' ops are `opBytes` long each. */
function entryAt(i: number, opBytes: number): number {
  return entriesAt + i * (entryHead.size + opBytes);
}

/**
 * The lies, each one a datagram the codec rejects while its header (magic, version, cluster, type,
 * sender, view, op) is what the receiver's fast path would ack. One per way to lie about framing.
 */
export function lyingPrepares(t: PrepareTarget): LyingPrepare[] {
  const cases: LyingPrepare[] = [];
  const add = (name: string, make: () => Uint8Array) => cases.push({ name, datagram: make() });
  const count = prepareBody.fields.count.offset + header.size;
  const h = header.fields;
  add("count says 2, one entry follows", () => {
    // The header's op covers first..first+1, so the count agrees with op: only the entries lie.
    const d = wellFormedPrepare(t, 1);
    view(d).setUint16(count, 2, true);
    view(d).setBigUint64(h.op.offset, BigInt(t.first + 1), true);
    return d;
  });
  add("count says 1, two entries follow", () => {
    const d = wellFormedPrepare(t, 2);
    view(d).setUint16(count, 1, true);
    view(d).setBigUint64(h.op.offset, BigInt(t.first), true);
    return d;
  });
  add("an entry's length runs past the datagram", () => {
    const d = wellFormedPrepare(t, 1);
    view(d).setUint16(entryAt(0, 16) + entryHead.fields.len.offset, 16 + 5, true);
    return d;
  });
  add("an entry's length stops short of the datagram's end", () => {
    const d = wellFormedPrepare(t, 2);
    view(d).setUint16(entryAt(1, 16) + entryHead.fields.len.offset, 16 - 3, true);
    return d;
  });
  add("the first entry's length swallows the second entry", () => {
    const d = wellFormedPrepare(t, 2);
    view(d).setUint16(entryAt(0, 16) + entryHead.fields.len.offset, 16 + entryHead.size + 16, true);
    return d;
  });
  add("body_len is shorter than the datagram", () => {
    const d = wellFormedPrepare(t, 1);
    view(d).setUint16(h.body_len.offset, d.length - header.size - 4, true);
    return d;
  });
  add("body_len is longer than the datagram", () => {
    const d = wellFormedPrepare(t, 1);
    view(d).setUint16(h.body_len.offset, d.length - header.size + 4, true);
    return d;
  });
  add("trailing bytes after the last entry", () => {
    const wf = wellFormedPrepare(t, 1);
    const d = new Uint8Array(wf.length + 3);
    d.set(wf);
    return withBodyLen(d);
  });
  add("the datagram ends inside an entry head", () => {
    const wf = wellFormedPrepare(t, 1);
    return withBodyLen(wf.slice(0, entriesAt + entryHead.size - 2));
  });
  add("count is 0", () => {
    const d = wellFormedPrepare(t, 1);
    view(d).setUint16(count, 0, true);
    return d;
  });
  add("an entry's client id is beyond 2^53", () => {
    const d = wellFormedPrepare(t, 1);
    view(d).setUint32(entryAt(0, 16) + entryHead.fields.client_id.offset + 4, 0x00200000, true);
    return d;
  });
  add("an entry's request number is beyond 2^53", () => {
    const d = wellFormedPrepare(t, 2);
    view(d).setUint32(entryAt(1, 16) + entryHead.fields.request_num.offset + 4, 0xffffffff, true);
    return d;
  });
  add("the commit number is beyond 2^53", () => {
    const d = wellFormedPrepare(t, 1);
    view(d).setUint32(h.commit.offset + 4, 0x00200000, true);
    return d;
  });
  return cases;
}

/** Decodes as a Prepare in user space: the reference every fast-path ack is held to. */
export function decodesAsPrepare(d: Uint8Array, clusterId: number): boolean {
  const decoded = new Codec(clusterId).decode(d);
  return decoded.ok && decoded.msg.type === MessageType.Prepare;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function int(random: () => number, below: number): number {
  return Math.floor(random() * below);
}

/**
 * A random Prepare for ops from `t.first`, well-formed or with 1..3 of the lies a hostile or broken
 * sender could tell (count, an entry's length, body_len, the datagram's length, u64 high words at
 * the 2^53 boundary, a flipped byte past the header's fixed fields). Some mutations happen to keep
 * it valid (a length set to what it was): the property tests compare with the codec, not a label.
 */
export function mutatedPrepare(t: PrepareTarget, random: () => number): Uint8Array {
  const count = 1 + int(random, random() < 0.1 ? 60 : 4);
  const opBytes = pick(random, [0, 1, 7, 16, 40]);
  const fits = Math.floor((datagramBytesMax - entriesAt) / (entryHead.size + opBytes));
  let d = wellFormedPrepare(t, Math.min(count, fits), opBytes);
  const entries = Math.min(count, fits);
  const mutations = random() < 0.25 ? 0 : 1 + int(random, 3);
  for (let m = 0; m < mutations; m++) {
    const v = view(d);
    // Writes only inside the datagram (an earlier mutation may have cut it short).
    const set16 = (at: number, value: number) => at + 2 <= d.length && v.setUint16(at, value, true);
    const e = int(random, entries);
    switch (int(random, 8)) {
      case 0:
        set16(header.size + prepareBody.fields.count.offset, Math.max(0, entries + int(random, 5) - 2));
        break;
      case 1:
        set16(entryAt(e, opBytes) + entryHead.fields.len.offset, Math.max(0, opBytes + int(random, 7) - 3));
        break;
      case 2:
        set16(header.fields.body_len.offset, Math.max(0, d.length - header.size + int(random, 5) - 2));
        break;
      case 3: {
        // Shorter or longer datagram, body_len following it (or not).
        const len = Math.max(header.size, Math.min(datagramBytesMax, d.length + int(random, 41) - 20));
        const next = new Uint8Array(len);
        next.set(d.subarray(0, Math.min(len, d.length)));
        d = random() < 0.7 ? withBodyLen(next) : next;
        break;
      }
      case 4: {
        const at = pick(random, [header.fields.op.offset, header.fields.commit.offset, entryAt(e, opBytes) + entryHead.fields.client_id.offset, entryAt(e, opBytes) + entryHead.fields.request_num.offset]);
        if (at + 8 <= d.length) v.setUint32(at + 4, pick(random, [0x001fffff, 0x00200000, 0xffffffff]), true);
        break;
      }
      case 5:
        if (d.length > entriesAt) d[entriesAt + int(random, d.length - entriesAt)]! ^= 1 << int(random, 8);
        break;
      case 6:
        // op moved so that count no longer ends at it (or count beyond op).
        v.setBigUint64(header.fields.op.offset, BigInt(Math.max(0, t.first + entries - 1 + int(random, 5) - 2)), true);
        break;
      case 7:
        if (entriesAt <= d.length) d[header.size + prepareBody.fields.count.offset + 1] = pick(random, [0, 1, 0xff]);
        break;
    }
  }
  return d;
}
