// Leader leases (VR Revisited 6.3.1): linearizable reads answered by the leader alone, without a
// read round each (read-index.ts), at the price of a bound on clock drift.
//
// The promise. A follower that answers a ReadIndex round promises not to help start a later view
// for `leaseMs` on its own clock: it sends no DoViewChange and, as a view's new leader, records no
// claim of its own until then. The leader, which sent that round at time s on its own clock, holds
// the lease while its clock reads below s + leaseMs·(1−ρ)/(1+ρ) once f followers answered it, ρ
// being the drift bound (every clock runs at a rate within 1±ρ of real time): the followers' waits
// last at least leaseMs/(1+ρ) of real time from a moment after s, and the leader's lease at most
// as long. A later view needs f+1 DoViewChanges (the new leader's own claim among them); any f+1
// replicas include the leader or one of those f followers, so no later view starts before the
// lease ends, and a read confirmed by the lease at a moment after it arrived is linearizable for
// the same reason as one confirmed by a round (read-index.ts has the argument).
//
// Time is an input: tick and flush events carry the driver's monotonic clock, which must keep
// running while the process is stopped (CLOCK_MONOTONIC does, through SIGSTOP). The readings are
// used so that their lateness never helps:
// - the leader stamps a round with the latest reading it has when it sends it: at or before the
//   send, so the lease it derives starts no later than the truth;
// - it confirms reads by the lease only at a tick or flush, whose reading was taken after every
//   read it confirms had arrived, and only while that reading lies inside the lease;
// - a follower stamps its answer with the first reading after the answer (at or after the moment
//   the round reached it, so after s); until that reading it counts as having granted just now;
// - a replica starts with a grant pending: it may have answered rounds before a crash it does not
//   remember (its first reading starts a full wait).

import { assert } from "./assert.ts";

/** Rounds whose send times are kept (a round confirmed later than that extends nothing). */
const roundsKept = 8;

export class Lease {
  /** How long the leader keeps a confirmed round's lease, on its own clock. */
  readonly holdMs: number;
  private nowMs = -Infinity;
  /** Leader: holds the lease while its clock reads below this. */
  private expiryMs = -Infinity;
  private readonly roundOf = new Float64Array(roundsKept);
  private readonly sentAtMs = new Float64Array(roundsKept);
  /** Follower: answered a round since the last reading (stamped at the next one). */
  private grantPending: boolean;
  private grantedAtMs = -Infinity;

  constructor(
    readonly leaseMs: number,
    driftPpm: number,
  ) {
    assert(Number.isFinite(leaseMs) && leaseMs >= 0, "leaseMs must be >= 0");
    assert(Number.isFinite(driftPpm) && driftPpm >= 0 && driftPpm < 1e6, "clock drift must be 0..1e6 ppm");
    const drift = driftPpm / 1e6;
    this.holdMs = (leaseMs * (1 - drift)) / (1 + drift);
    this.grantPending = leaseMs > 0;
  }

  get enabled(): boolean {
    return this.leaseMs > 0;
  }

  /** A reading of the driver's monotonic clock, in ms. */
  clock(nowMs: number): void {
    assert(nowMs >= this.nowMs, `clock went back from ${this.nowMs} to ${nowMs}`);
    this.nowMs = nowMs;
    if (this.grantPending) {
      this.grantPending = false;
      this.grantedAtMs = nowMs;
    }
  }

  // ---- Follower. ----

  /** Answered a read round (the answer is stamped at the next reading). */
  granted(): void {
    if (this.enabled) this.grantPending = true;
  }

  /** Whether this replica may help start a later view now: every promise it made has run out. */
  get mayVote(): boolean {
    return !this.enabled || (!this.grantPending && this.nowMs >= this.grantedAtMs + this.leaseMs);
  }

  /** When it may (for logs and tests): the clock reading its wait ends at. */
  get voteAtMs(): number {
    return this.grantPending ? Infinity : this.grantedAtMs + this.leaseMs;
  }

  // ---- Leader. ----

  roundSent(round: number): void {
    const slot = round % roundsKept;
    this.roundOf[slot] = round;
    this.sentAtMs[slot] = this.nowMs;
  }

  /** f followers answered `round` (or a later one): the lease runs from its send time. */
  roundConfirmed(round: number): void {
    if (!this.enabled) return;
    const slot = round % roundsKept;
    if (this.roundOf[slot] !== round) return; // too old to know its send time: extends nothing
    this.expiryMs = Math.max(this.expiryMs, this.sentAtMs[slot]! + this.holdMs);
  }

  /** The lease covers the latest reading. */
  get holds(): boolean {
    return this.nowMs < this.expiryMs;
  }

  /** Less than half the lease is left: time for a round that renews it. */
  get renewalDue(): boolean {
    return this.nowMs >= this.expiryMs - this.holdMs / 2;
  }

  /** Leaving or starting a view: a lease belongs to one view. */
  reset(): void {
    this.expiryMs = -Infinity;
    this.roundOf.fill(0);
  }
}
