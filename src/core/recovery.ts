// Bookkeeping of a recovering replica (VR recovery): which replicas answered, and what to do.
//
// The recovering replica broadcasts Recovery once per round (every resendTicks). Round r uses
// nonce base+r, so every answer names the round it answers. Answers collected since the current
// collection began all post-date the restart, which is all the normal path needs: it waits for
// f+1 answers from normal replicas, including one from the leader of the highest view among them,
// then fetches that leader's log.
//
// Fresh start: a cluster whose replicas ALL lost their memory (first start, or everything crashed
// at once) has nothing to preserve, and no normal replica would ever answer. When every other
// replica answers the CURRENT round that it is recovering too, and no answer of this collection
// came from a normal replica, the replica starts afresh with an empty log in view 0. Counting only
// the current round keeps delayed answers from older rounds out: all n-1 others must have been
// recovering within one round (a few tens of milliseconds), which with at most f replicas down
// or recovering at a time cannot happen for n >= 3 unless every replica really restarted.
// A normal replica in view 0 with an empty log (one that just started afresh) holds nothing too,
// so answers of the current round that are all "recovering" or "normal, view 0, empty" also mean
// a fresh start: otherwise replicas started together would wait for each other forever.
// Likewise when the leader of view 0 is among them, normal with commit 0 and every other answer is
// "recovering" or "normal in view 0": a fresh leader may already have put a client's request in
// its log, but nothing was ever committed (only the leader commits first, and no view change
// happened), so joining it with an empty log loses nothing; without this rule the rest of a
// 5-replica cluster waited forever for f+1 normal answers when two had started afresh. "No view
// change happened" is checked with the views of the "recovering" answers too: a replica holding
// nothing answers "recovering" in any status, but with its view, and one in a view above 0 says
// that view 0 is over (a quorum may have moved on, and view 0's leader could then commit with the
// joiner in a deposed view: simulator seed 3155, 3 replicas).

import type { RecoveryResponse } from "../wire/messages.ts";
import { faultsTolerated, leaderOf } from "./quorum.ts";

/** Nonces are u64 on the wire but must stay exact in a double. */
const nonceSpace = 2 ** 53;

export interface RecoveryAnswer {
  readonly view: number;
  readonly opNum: number;
  readonly commit: number;
  readonly recovering: boolean;
  readonly round: number;
}

export type RecoveryDecision =
  | { readonly kind: "wait" }
  | { readonly kind: "fresh" }
  | { readonly kind: "fetch"; readonly view: number; readonly leader: number; readonly opNum: number; readonly commit: number };

/** What the answers so far allow (pure; see the file comment). */
export function decideRecovery(answers: ReadonlyMap<number, RecoveryAnswer>, round: number, replicaCount: number, self: number): RecoveryDecision {
  if (replicaCount === 1) return { kind: "fresh" };
  let normal = 0;
  let view = -1;
  let recoveringNow = 0;
  let emptyNow = 0; // answers of this round from replicas holding nothing
  let view0Now = 0; // answers of this round from replicas (recovering or normal) in view 0
  for (const a of answers.values()) {
    if (a.round === round && (a.recovering || (a.view === 0 && a.opNum === 0))) emptyNow += 1;
    if (a.round === round && a.view === 0) view0Now += 1;
    if (a.recovering) {
      if (a.round === round) recoveringNow += 1;
    } else {
      normal += 1;
      view = Math.max(view, a.view);
    }
  }
  if (normal === 0) return recoveringNow === replicaCount - 1 ? { kind: "fresh" } : { kind: "wait" };
  // Replicas that all started together: the first to start afresh is normal in view 0 with an
  // empty log, and the others would wait forever for f+1 normal answers. It holds nothing either.
  if (emptyNow === replicaCount - 1) return { kind: "fresh" };
  const leader0 = answers.get(leaderOf(0, replicaCount));
  const uncommitted0 = leader0 !== undefined && leader0.round === round && !leader0.recovering && leader0.view === 0 && leader0.commit === 0;
  if (uncommitted0 && view0Now === replicaCount - 1) return { kind: "fresh" };
  if (normal < faultsTolerated(replicaCount) + 1) return { kind: "wait" };
  const leader = leaderOf(view, replicaCount);
  const fromLeader = answers.get(leader);
  if (leader === self || !fromLeader || fromLeader.recovering || fromLeader.view !== view) return { kind: "wait" };
  return { kind: "fetch", view, leader, opNum: fromLeader.opNum, commit: fromLeader.commit };
}

export class RecoveryRounds {
  /** Current round; -1 before the first broadcast. */
  round = -1;
  private firstRound = 0;
  private readonly answers = new Map<number, RecoveryAnswer>();

  private readonly baseNonce: number;

  constructor(baseNonce: number) {
    this.baseNonce = baseNonce % nonceSpace;
  }

  /** base+round modulo 2^53, without ever forming a sum that a double cannot hold exactly. */
  nonce(round = this.round): number {
    const room = nonceSpace - this.baseNonce;
    return round < room ? this.baseNonce + round : round - room;
  }

  /** Starts the next round; returns its nonce. */
  nextRound(): number {
    this.round += 1;
    return this.nonce();
  }

  /** Forgets every answer: the next round starts a new collection. */
  restart(): void {
    this.answers.clear();
    this.firstRound = this.round + 1;
  }

  /** Records an answer if it belongs to this collection; returns whether it did. */
  record(msg: RecoveryResponse): boolean {
    const diff = msg.nonce - this.baseNonce;
    const round = diff < 0 ? diff + nonceSpace : diff;
    if (round < this.firstRound || round > this.round) return false;
    const before = this.answers.get(msg.sender);
    if (before && before.round > round) return false;
    this.answers.set(msg.sender, { view: msg.view, opNum: msg.opNum, commit: msg.commit, recovering: msg.recovering, round });
    return true;
  }

  decide(replicaCount: number, self: number): RecoveryDecision {
    return decideRecovery(this.answers, this.round, replicaCount, self);
  }
}
