// A model of the kernel fast paths for the simulator: the decisions of bpf/xdp_fast.bpf.c (quorum
// prune on the leader, fast reply on followers), behind the same port the replica node uses
// (src/node/kernel-link.ts), so the node's side (when kernel state is written, the ring handed over
// in op order, the fence) is the real code. Keep the decisions in step with the C program. One model
// per replica incarnation: a restart draws a new epoch and the attachment dies with the process, as
// the BPF link does.

import { Status, type KernelState } from "../../src/core/types.ts";
import { KernelLink } from "../../src/node/kernel-link.ts";
import { Codec } from "../../src/wire/codec.ts";
import { datagramBytesMax, entryHead, header, MessageType, prepareBody, prepareEntriesMax, u64ValueMax } from "../../src/wire/layout.ts";
import type { Prepare, PrepareOk } from "../../src/wire/messages.ts";

/** "repeat": a repeated ack after the quorum, passed up marked Quorum again (as "quorum" is). */
export type PruneVerdict = "early" | "late" | "duplicate" | "quorum" | "repeat" | "evicted" | "state";

const highWordMax = Math.floor(u64ValueMax / 2 ** 32);

/**
 * Whether fast reply may ack this Prepare datagram (the UDP payload, `datagram.length` bytes), as
 * bpf/xdp_fast.bpf.c decides it: its length checks, prepare_header_valid and prepare_entries_valid,
 * in the same order. Every datagram it accepts decodes as a Prepare (src/wire/codec.ts); the tests
 * hold both this and the C program to that.
 */
export function fastReplyAccepts(datagram: Uint8Array): boolean {
  const v = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  const len = datagram.length;
  const h = header.fields;
  if (len < header.size + prepareBody.size || len > datagramBytesMax) return false;
  const high = (at: number) => v.getUint32(at + 4, true);
  if (v.getUint16(h.body_len.offset, true) !== len - header.size) return false;
  if (high(h.op.offset) > highWordMax || high(h.commit.offset) > highWordMax) return false;
  const count = v.getUint16(header.size + prepareBody.fields.count.offset, true);
  const op = Number(v.getBigUint64(h.op.offset, true));
  if (count === 0 || count > op || count > prepareEntriesMax) return false;
  let pos = header.size + prepareBody.size;
  let i = 0;
  for (; i < prepareEntriesMax; i++) {
    if (i === count) break;
    if (pos + entryHead.size > len) return false;
    if (high(pos + entryHead.fields.client_id.offset) > highWordMax || high(pos + entryHead.fields.request_num.offset) > highWordMax) return false;
    pos += entryHead.size + v.getUint16(pos + entryHead.fields.len.offset, true);
    if (pos > len) return false;
  }
  return i === count && pos === len;
}

interface Slot {
  epoch: number;
  view: number;
  op: number;
  acked: number;
  done: boolean;
}

function popcount(x: number): number {
  let c = 0;
  for (let v = x >>> 0; v; v &= v - 1) c++;
  return c;
}

const codec = new Codec(0x5eed);

export class FastPathModel {
  /** The kernel state map as the node last wrote it. */
  private written: Pick<KernelState, "status" | "view" | "leader" | "lastOp"> | undefined;
  private cursor = { epoch: -1, view: 0, op: 0 };
  private readonly slots: (Slot | undefined)[];
  /** Ring records: Prepares acked in the kernel, as datagrams. */
  private records: Uint8Array[] = [];
  readonly counters = { fastAcked: 0, fastPassed: 0, fastInvalid: 0, pruned: 0, quorum: 0, quorumRepeat: 0, passed: 0 };
  /** The replica node's side, the real one. */
  readonly link: KernelLink;
  readonly nodeStats = { fastReplied: 0, kernelWrites: 0, dropped: { "fast-record": 0 } };
  /** Scenario knobs: the node does not get to drain the ring (it stays busy elsewhere); and, to
   * prove the simulator notices, a fence that forgets what the kernel acked. */
  holdRing = false;
  brokenFence = false;
  readonly prune = true;

  constructor(
    readonly index: number,
    readonly f: number,
    readonly epoch: number,
    /** Quorum table size; small in the simulator so that slot reuse (eviction) happens. */
    readonly slotCount: number,
    /** Off as the node turns it off with fsync always: the kernel cannot ack after a write. */
    readonly fastReply = true,
  ) {
    this.slots = new Array<Slot | undefined>(slotCount);
    this.link = new KernelLink(this, index, codec, this.nodeStats);
  }

  get state(): Pick<KernelState, "status" | "view" | "leader" | "lastOp"> | undefined {
    return this.written;
  }

  get ringLength(): number {
    return this.records.length;
  }

  // ---- FastPathPort (what the node's KernelLink calls). ----

  writeState(state: Pick<KernelState, "status" | "view" | "leader" | "lastOp">): void {
    this.written = { status: state.status, view: state.view, leader: state.leader, lastOp: state.lastOp };
  }

  drain(onRecord: (datagram: Uint8Array) => void, fence = false): number {
    const out = this.records;
    this.records = [];
    if (fence && this.brokenFence) return 0;
    for (const r of out) onRecord(r);
    return out.length;
  }

  close(): void {}

  // ---- The XDP program. ----

  /** Fast reply: returns the PrepareOk sent from XDP, or undefined when the Prepare goes up. */
  onPrepare(msg: Prepare): PrepareOk | undefined {
    const buf = new Uint8Array(datagramBytesMax);
    return this.onPrepareDatagram(buf.slice(0, codec.encode(msg, buf)));
  }

  /** Fast reply of a Prepare as the bytes the XDP program sees (header checked by parse() and
   * from_peer() already: magic, version, cluster, type, a configured sender). */
  onPrepareDatagram(datagram: Uint8Array): PrepareOk | undefined {
    if (!fastReplyAccepts(datagram)) {
      this.counters.fastInvalid += 1;
      return this.passUp();
    }
    const v = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
    const h = header.fields;
    const sender = v.getUint8(h.sender.offset);
    const view = v.getUint32(h.view.offset, true);
    const opNum = Number(v.getBigUint64(h.op.offset, true));
    const count = v.getUint16(header.size + prepareBody.fields.count.offset, true);
    const st = this.written;
    if (!st || st.status !== Status.Normal || st.leader === this.index || sender !== st.leader || view !== st.view) return this.passUp();
    const c = this.cursor;
    const held = c.epoch === this.epoch && c.view === st.view && c.op > st.lastOp ? c.op : st.lastOp;
    if (opNum - count + 1 !== held + 1) return this.passUp();
    this.cursor = { epoch: this.epoch, view: st.view, op: opNum };
    this.records.push(datagram);
    this.counters.fastAcked += 1;
    return { type: MessageType.PrepareOk, view, sender: this.index, opNum };
  }

  private passUp(): undefined {
    this.counters.fastPassed += 1;
    return undefined;
  }

  /** Quorum prune of one PrepareOk arriving at this replica. */
  onPrepareOk(msg: PrepareOk): PruneVerdict {
    const st = this.written;
    if (!st || st.status !== Status.Normal || st.leader !== this.index || msg.view !== st.view) return this.count("state");
    const key = msg.opNum % this.slotCount;
    let slot = this.slots[key];
    if (!slot || slot.epoch !== this.epoch || slot.view !== st.view || slot.op !== msg.opNum) {
      if (slot && slot.epoch === this.epoch && slot.view === st.view && slot.op > msg.opNum) return this.count("evicted");
      slot = { epoch: this.epoch, view: st.view, op: msg.opNum, acked: 0, done: false };
      this.slots[key] = slot;
    }
    const bit = 1 << msg.sender;
    // After the quorum a repeat is a re-ack: the marked ack may never have reached user space.
    if (slot.acked & bit) return this.count(slot.done ? "repeat" : "duplicate");
    slot.acked |= bit;
    if (slot.done) return this.count("late");
    if (popcount(slot.acked) >= this.f) {
      slot.done = true;
      return this.count("quorum");
    }
    return this.count("early");
  }

  private count(verdict: PruneVerdict): PruneVerdict {
    if (verdict === "quorum") this.counters.quorum += 1;
    else if (verdict === "repeat") this.counters.quorumRepeat += 1;
    else if (verdict === "early" || verdict === "late" || verdict === "duplicate") this.counters.pruned += 1;
    else this.counters.passed += 1;
    return verdict;
  }
}
