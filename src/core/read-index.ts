// Linearizable reads without a log write: the leader's read index (etcd-io/raft's ReadIndex, in
// VR's terms). A read that arrives at the leader of view v records
//   readIndex = max(commit, the log end at the start of view v)
// (a new leader may hold ops the previous view committed and acknowledged that its own commit
// does not show yet; every one of them lies within its start-of-view log), and it is answered once
//   (1) the leader knows it still led view v at some moment after the read arrived, and
//   (2) its commit reached readIndex (so it has executed everything acknowledged before).
// Why (1) makes the answer linearizable: a later view starts only after f+1 replicas left view v.
// If f followers said "normal in view v" after the read arrived, those f and the leader are f+1
// replicas of which at least one is among any f+1 that start a later view; that one left view v
// after the read arrived (or is the leader itself, which has not left). So no later view, and no
// write it commits, was acknowledged before the read was invoked: readIndex covers them all.
//
// What counts as "f followers said so after the read arrived", with the kernel fast paths in mind:
// - A read round: the leader sends ReadIndex(view, round) after the read arrived (rounds only
//   grow) and counts ReadIndexOk(view, round' >= round) from f followers. Neither fast path
//   touches these messages (XDP passes unknown types up), so every one counted comes from a
//   follower's user space, which answers only as a normal follower of that view.
// - A commit: once the leader commits an op it appended after the read arrived, f followers
//   acked that op in view v, necessarily after it existed, so after the read arrived. This holds
//   for acks the follower kernel sent (fast reply acks only in the view user space announced,
//   fenced before it leaves the view) and for the one ack quorum prune passes up (it counts acks
//   per op tagged with view and epoch). Under mixed load the writes' Prepares confirm reads at no
//   cost; rounds cover read-only stretches. An op appended before the read arrived does not count:
//   a follower may have fetched it (GetState serves the whole log) and acked it before then.
// At most one round is in flight: reads arriving meanwhile wait for the next, sent when it is
// confirmed (or on the next flush), so under load one round (n-1 messages each way) serves every
// read of a round trip. A round unanswered for `resendTicks` is replaced by a newer one (a round
// confirms every read of the rounds before it: it was sent after all of them arrived).

import { quorumOp } from "./quorum.ts";

export interface PendingRead {
  readonly clientId: number;
  readonly requestNum: number;
  readonly session: number;
  readonly op: Uint8Array;
  readonly readIndex: number;
  /** Committing this op confirms leadership for the read: the first op appended after it. */
  readonly confirmOp: number;
  /** The first round sent after it arrived (Infinity until one is). */
  round: number;
  /** Arrival number: reads below ReadIndex.leaseSeq were confirmed by the leader's lease. */
  seq: number;
}

/** Reads waiting at the leader, at most (more are dropped: the clients retry). */
export const readsPendingMax = 8192;
/** Answered reads kept at the queue's front before it is compacted. */
const compactAfterReads = 1024;

export class ReadIndex {
  /** Waiting reads in arrival order; `head` is the oldest not yet answered. */
  private reads: PendingRead[] = [];
  private head = 0;
  /** reads[unassigned..] have no round yet. */
  private unassigned = 0;
  private roundSent = 0;
  private roundConfirmed = 0;
  private ticksSinceRound = 0;
  /** Reads ever queued, and how many of them (the first ones) a lease confirmed (lease.ts). */
  private added = 0;
  private leaseSeq = 0;
  /** Highest round each follower acked in the current view. */
  private readonly roundAcked: number[];

  constructor(
    private readonly self: number,
    replicaCount: number,
    private readonly f: number,
  ) {
    this.roundAcked = new Array<number>(replicaCount).fill(0);
  }

  get pending(): number {
    return this.reads.length - this.head;
  }

  /** Queues a read; false when the queue is full (the read is dropped). */
  add(read: Omit<PendingRead, "round" | "seq">): boolean {
    if (this.pending >= readsPendingMax) return false;
    this.reads.push({ ...read, round: Infinity, seq: this.added++ });
    return true;
  }

  /** The leader holds its lease at a moment after every queued read arrived: all are confirmed,
   * and none needs a round any more. Returns how many waiting reads the lease newly covered. */
  confirmByLease(): number {
    const newly = this.added - Math.max(this.leaseSeq, this.reads[this.head]?.seq ?? this.added);
    this.leaseSeq = this.added;
    this.unassigned = this.reads.length;
    return newly;
  }

  /** A round to renew the lease (lease.ts) if none is in flight (0: one is); it also carries the
   * reads that wait for one. */
  renewalRound(): number {
    return this.roundConfirmed < this.roundSent ? 0 : this.startRound();
  }

  /** The highest round f followers acked in this view. */
  get confirmedRound(): number {
    return this.roundConfirmed;
  }

  /** A round to send now, if reads wait for one and none is in flight (0: none). */
  roundToSend(): number {
    if (this.unassigned >= this.reads.length || this.roundConfirmed < this.roundSent) return 0;
    return this.startRound();
  }

  /** Once per tick: a round in flight for `resendTicks` is lost or its acks are; a newer one. */
  roundToResend(resendTicks: number): number {
    if (this.roundConfirmed >= this.roundSent) return 0;
    this.ticksSinceRound += 1;
    return this.ticksSinceRound >= resendTicks ? this.startRound() : 0;
  }

  private startRound(): number {
    this.roundSent += 1;
    this.ticksSinceRound = 0;
    for (let i = this.unassigned; i < this.reads.length; i++) this.reads[i]!.round = this.roundSent;
    this.unassigned = this.reads.length;
    return this.roundSent;
  }

  /** ReadIndexOk of the current view from follower `sender`. */
  onAck(sender: number, round: number): void {
    if (sender === this.self || round > this.roundSent || round <= this.roundAcked[sender]!) return;
    this.roundAcked[sender] = round;
    this.roundConfirmed = Math.max(this.roundConfirmed, quorumOp(this.roundAcked, this.self, this.roundSent, this.f));
  }

  /** Takes the reads that can be answered at `commit`, oldest first. Reads arrive with growing
   * readIndex, confirmOp, round and seq, so the answerable ones are a prefix of the queue. */
  takeReady(commit: number, out: PendingRead[]): void {
    while (this.head < this.reads.length) {
      const read = this.reads[this.head]!;
      const confirmed = this.f === 0 || read.seq < this.leaseSeq || read.round <= this.roundConfirmed || commit >= read.confirmOp;
      if (!confirmed || commit < read.readIndex) break;
      out.push(read);
      this.head += 1;
    }
    if (this.head === this.reads.length) this.clearQueue();
    else if (this.head >= compactAfterReads) this.compact();
  }

  /** Drops the answered reads from the front (under steady load the queue never empties). */
  private compact(): void {
    this.reads = this.reads.slice(this.head);
    this.unassigned = Math.max(0, this.unassigned - this.head);
    this.head = 0;
  }

  /** Leaving the view (or starting one): pending reads are dropped (their clients retry at the
   * next leader) and acks of the old view no longer count. */
  reset(): void {
    this.clearQueue();
    this.roundAcked.fill(0);
    this.roundConfirmed = this.roundSent;
    this.ticksSinceRound = 0;
  }

  private clearQueue(): void {
    this.reads = [];
    this.head = 0;
    this.unassigned = 0;
  }
}
