// The lease's arithmetic against real time (src/core/lease.ts): whatever the clock rates within
// the drift bound, a follower that answered a round must not be free to vote while the leader
// still holds the lease that round gave it.
import { describe, expect, test } from "bun:test";
import { Lease } from "../../src/core/lease.ts";
import { Prng } from "../sim/prng.ts";

/** The latest real time (ms) at which the leader holds its lease while the follower may vote,
 * over one round; -1 when there is none. Clocks run at `leaderRate` and `followerRate`. */
function overlap(leaseMs: number, assumedPpm: number, leaderRate: number, followerRate: number, answerDelayMs: number): number {
  const leader = new Lease(leaseMs, assumedPpm);
  const follower = new Lease(leaseMs, assumedPpm);
  const sendAt = 1000;
  leader.clock(sendAt * leaderRate);
  leader.roundSent(1);
  follower.clock(0);
  follower.granted();
  follower.clock((sendAt + answerDelayMs) * followerRate); // its first reading after answering
  leader.roundConfirmed(1);
  let worst = -1;
  for (let t = sendAt + answerDelayMs; t < sendAt + 2 * leaseMs; t += 0.25) {
    leader.clock(t * leaderRate);
    follower.clock(t * followerRate);
    if (leader.holds && follower.mayVote) worst = t;
  }
  return worst;
}

describe("lease", () => {
  test("never held while a follower that granted it may vote, for clock rates within the bound", () => {
    const r = new Prng(7);
    for (let i = 0; i < 500; i++) {
      const ppm = r.pick([0, 100, 10_000, 100_000]);
      const drift = ppm / 1e6;
      const rate = () => (r.chance(0.5) ? r.pick([1 - drift, 1 + drift]) : 1 - drift + 2 * drift * r.next());
      expect(overlap(r.pick([10, 60, 150]), ppm, rate(), rate(), r.pick([0, 0.25, 3]))).toBe(-1);
    }
  });

  test("the check finds the overlap when the drift is left out of the arithmetic", () => {
    // Leader slow, follower fast by 10%: assuming no drift, the lease outlives the promise.
    expect(overlap(150, 0, 0.9, 1.1, 0)).toBeGreaterThan(0);
  });

  test("a replica starts with a grant pending: it may vote only a full lease after its first reading", () => {
    const lease = new Lease(100, 0);
    expect(lease.mayVote).toBe(false);
    lease.clock(5000);
    expect(lease.mayVote).toBe(false);
    lease.clock(5099);
    expect(lease.mayVote).toBe(false);
    lease.clock(5100);
    expect(lease.mayVote).toBe(true);
    expect(new Lease(0, 0).mayVote).toBe(true); // leases off: no promises
  });

  test("a round confirmed too late to know its send time extends nothing; a reset ends the lease", () => {
    const lease = new Lease(100, 0);
    lease.clock(0);
    for (let round = 1; round <= 20; round++) lease.roundSent(round);
    lease.roundConfirmed(3); // its slot now holds round 19
    expect(lease.holds).toBe(false);
    lease.roundConfirmed(20);
    expect(lease.holds).toBe(true);
    lease.reset();
    expect(lease.holds).toBe(false);
  });
});
