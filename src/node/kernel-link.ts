// The replica node's side of the XDP fast paths, in one place: when to write the kernel state,
// how fast-acked Prepares come back from the ring (in op order), and the fence the core calls
// before a follower leaves its view. The simulator's model (test/sim/fast-model.ts) mirrors it.

import { assert } from "../core/assert.ts";
import { Status, type KernelState } from "../core/types.ts";
import type { Codec } from "../wire/codec.ts";
import { MessageType } from "../wire/layout.ts";
import type { Prepare } from "../wire/messages.ts";

/** The kernel side as the link uses it: src/kernel/fast-path.ts on a node, a model in the simulator. */
export interface FastPathPort {
  readonly prune: boolean;
  readonly fastReply: boolean;
  writeState(state: Pick<KernelState, "status" | "view" | "leader" | "lastOp">): void;
  /** Hands each record (a Prepare datagram) to onRecord; with fence, waits for reserved ones too. */
  drain(onRecord: (datagram: Uint8Array) => void, fence?: boolean): number;
  close(): void;
}

/** Where the link counts (the node's stats). */
export interface KernelLinkCounters {
  /** Prepares the kernel acked and handed over. */
  fastReplied: number;
  /** Kernel state writes (bpf syscalls). */
  kernelWrites: number;
  /** "fast-record": ring records user space could not read (the kernel acked them: takeRecord
   * stops the replica right after counting one). */
  dropped: { "fast-record": number };
}

/** What the link needs to know of the core to hand over Prepares in order. */
export interface CorePosition {
  readonly status: Status;
  readonly view: number;
  readonly opNum: number;
}

function firstOp(p: Prepare): number {
  return p.opNum - p.entries.count + 1;
}

export class KernelLink {
  /** What the kernel was last told, and the highest op it acked since (fast reply) in that view. */
  private written: KernelState | undefined;
  private fastHeldOp = 0;
  /** Drained but not yet given to the core: several CPUs may submit records out of op order. */
  private pending: Prepare[] = [];
  private readonly onRecord = (datagram: Uint8Array) => this.takeRecord(datagram);

  constructor(
    readonly fast: FastPathPort,
    private readonly selfIndex: number,
    private readonly codec: Codec,
    private readonly counters: KernelLinkCounters,
  ) {}

  get prune(): boolean {
    return this.fast.prune;
  }
  get fastReply(): boolean {
    return this.fast.fastReply;
  }

  private takeRecord(datagram: Uint8Array): void {
    const decoded = this.codec.decode(datagram);
    if (!decoded.ok || decoded.msg.type !== MessageType.Prepare) {
      // The kernel acked what user space cannot read. The XDP program validates a Prepare the way
      // the codec does before it acks, so this is a bug in one of them; and the ack may already
      // count towards a quorum for entries this replica will never hold. Going on would let a
      // committed op be lost: stop, as the core does on any broken invariant.
      this.counters.dropped["fast-record"] += 1;
      const what = decoded.ok ? `a ${MessageType[decoded.msg.type]}` : `a datagram the codec rejects (${decoded.error})`;
      assert(false, `fast reply acked ${what} of ${datagram.length} bytes: the kernel's checks and the codec disagree`);
    }
    this.pending.push(decoded.msg);
  }

  /** Drains the ring; returns the fast-acked Prepares the core can take now, in op order. A gap
   * waits: another CPU's record for the ops before it is not submitted yet. */
  takeReady(core: CorePosition): Prepare[] {
    this.fast.drain(this.onRecord);
    if (this.pending.length === 0) return [];
    this.pending.sort((a, b) => a.opNum - b.opNum);
    let end = core.opNum;
    let ready = 0;
    for (const p of this.pending) {
      if (core.status === Status.Normal && p.view === core.view && firstOp(p) > end + 1) break;
      end = Math.max(end, p.opNum);
      if (p.view === this.written?.view) this.fastHeldOp = Math.max(this.fastHeldOp, p.opNum);
      ready++;
    }
    const out = this.pending.splice(0, ready);
    this.counters.fastReplied += out.length;
    return out;
  }

  /** ReplicaOptions.fence: tell the kernel first, then take everything it acked before. Throws
   * FenceStalled (src/kernel/ring.ts) when that cannot be established: nothing here catches it. */
  fence(next: KernelState): readonly Prepare[] {
    this.write(next);
    this.fast.drain(this.onRecord, true);
    const acked = this.pending.sort((a, b) => a.opNum - b.opNum);
    this.pending = [];
    this.counters.fastReplied += acked.length;
    return acked;
  }

  private write(state: KernelState): void {
    const before = this.written;
    this.fast.writeState(state);
    this.written = state;
    this.counters.kernelWrites += 1;
    if (!before || before.view !== state.view || before.status !== state.status) this.fastHeldOp = 0;
  }

  /** A kernelState effect: writes on every status, view or leader change, and when a follower's
   * log grew beyond what the kernel knows (not when it grew by what the kernel itself acked, nor
   * on the leader, whose log end the kernel does not use: that would be a syscall per op). */
  sync(state: KernelState): void {
    const w = this.written;
    if (w && w.status === state.status && w.view === state.view && w.leader === state.leader) {
      if (state.leader === this.selfIndex || state.lastOp <= Math.max(w.lastOp, this.fastHeldOp)) return;
    }
    this.write(state);
  }

  close(): void {
    this.fast.close();
  }
}
