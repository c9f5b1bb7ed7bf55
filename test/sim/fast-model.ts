// A model of the kernel fast paths for the simulator: the decisions of bpf/xdp_fast.bpf.c (quorum
// prune on the leader, fast reply on followers) and of the replica node's side of them
// (src/node/replica-node.ts: when kernel state is written, the ring drained, the fence). Keep it in
// step with both. One model per replica incarnation: a restart draws a new epoch and the kernel
// attachment dies with the process, as the BPF link does.

import { Status, type KernelState } from "../../src/core/types.ts";
import { MessageType } from "../../src/wire/layout.ts";
import type { Prepare, PrepareOk } from "../../src/wire/messages.ts";

export type PruneVerdict = "early" | "late" | "duplicate" | "quorum" | "evicted" | "state";

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

export class FastPathModel {
  /** What the node last wrote (el_xdp_state), and the ops the kernel acked since in that view. */
  private written: KernelState | undefined;
  private fastHeldOp = 0;
  private cursor = { epoch: -1, view: 0, op: 0 };
  private readonly slots: (Slot | undefined)[];
  /** Prepares acked in the kernel, not yet given to the core. */
  ring: Prepare[] = [];
  readonly counters = { fastAcked: 0, fastPassed: 0, pruned: 0, quorum: 0, passed: 0, fenced: 0 };
  /** Scenario knobs: the node does not get to drain the ring (it stays busy elsewhere); and, to
   * prove the simulator notices, a fence that forgets what the kernel acked. */
  holdRing = false;
  brokenFence = false;

  constructor(
    readonly index: number,
    readonly f: number,
    readonly epoch: number,
    /** Quorum table size; small in the simulator so that slot reuse (eviction) happens. */
    readonly slotCount: number,
  ) {
    this.slots = new Array<Slot | undefined>(slotCount);
  }

  get state(): KernelState | undefined {
    return this.written;
  }

  // ---- The node's side. ----

  private write(state: KernelState): void {
    const before = this.written;
    this.written = state;
    if (!before || before.view !== state.view || before.status !== state.status) this.fastHeldOp = 0;
  }

  /** A kernelState effect (ReplicaNode.syncKernelState). */
  sync(state: KernelState): void {
    const w = this.written;
    if (w && w.status === state.status && w.view === state.view && w.leader === state.leader) {
      if (state.leader === this.index || state.lastOp <= Math.max(w.lastOp, this.fastHeldOp)) return;
    }
    this.write(state);
  }

  /** ReplicaOptions.fence: write first, then everything the ring holds, in op order. */
  fence(next: KernelState): Prepare[] {
    this.write(next);
    const acked = this.ring.sort((a, b) => a.opNum - b.opNum);
    this.ring = [];
    if (this.brokenFence) return [];
    this.counters.fenced += acked.length;
    return acked;
  }

  /** Takes the ring's Prepares for the core (ReplicaNode.drainFast), noting what the kernel held. */
  drain(): Prepare[] {
    const out = this.ring;
    this.ring = [];
    for (const p of out) if (p.view === this.written?.view) this.fastHeldOp = Math.max(this.fastHeldOp, p.opNum);
    return out;
  }

  // ---- The XDP program. ----

  /** Fast reply: returns the PrepareOk sent from XDP, or undefined when the Prepare goes up. */
  fastReply(msg: Prepare): PrepareOk | undefined {
    const st = this.written;
    const count = msg.entries.length;
    if (count === 0 || count > msg.opNum) return this.passUp();
    if (!st || st.status !== Status.Normal || st.leader === this.index || msg.sender !== st.leader || msg.view !== st.view) return this.passUp();
    const c = this.cursor;
    const held = c.epoch === this.epoch && c.view === st.view && c.op > st.lastOp ? c.op : st.lastOp;
    if (msg.opNum - count + 1 !== held + 1) return this.passUp();
    this.cursor = { epoch: this.epoch, view: st.view, op: msg.opNum };
    this.ring.push(msg);
    this.counters.fastAcked += 1;
    return { type: MessageType.PrepareOk, view: msg.view, sender: this.index, opNum: msg.opNum };
  }

  private passUp(): undefined {
    this.counters.fastPassed += 1;
    return undefined;
  }

  /** Quorum prune of one PrepareOk arriving at this replica. */
  prune(msg: PrepareOk): PruneVerdict {
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
    if (slot.acked & bit) return this.count("duplicate");
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
    else if (verdict === "early" || verdict === "late" || verdict === "duplicate") this.counters.pruned += 1;
    else this.counters.passed += 1;
    return verdict;
  }
}
