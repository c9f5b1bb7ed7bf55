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
//
// Disk claims. A replica restarted with a data directory (src/storage) recovers like one without
// memory: while peers are normal it fetches from the leader (only what lies above the checkpoint
// on its disk, which is committed and so matches the leader's), and its disk changes nothing
// about who may vote. The disk matters only when EVERY other replica answers the current round
// that it is recovering too: the whole cluster went down at once. Then each answer carries its
// disk claim (the highest view it promised, the last view its log was normal in, its log's end,
// the highest commit-number it recorded), every replica sees the same n claims, and among the
// logs that reach the highest recorded commit the best one by the view-change rule (last normal
// view, then op-number, then lowest index) wins: with all n logs at hand, the one chosen holds
// every op that a quorum durably acknowledged (the same argument as a view change from f+1
// DoViewChanges, with n >= f+1 of them). The commit comes first because with fsync interval a
// disk of a later normal view may hold less than a disk of an earlier one: a checkpoint is
// fsynced at once, the entries and View records around it maybe not. The view-change rule alone
// chose a later view's log that lacked ops another disk's checkpoint held, and left that replica
// with state the restarted cluster no longer had (simulator, seed 80020). So no op any disk
// recorded as committed is lost; what may be lost was committed after every recorded commit.
// Its replica starts as the leader of the first view above every promised view that it leads
// ("disk start") and commits its whole log; the others then see the normal answers of its view
// (its leader's, and those of replicas that already followed it), with every other answer
// recovering, and fetch from it. With fsync always a claim holds everything its replica
// acknowledged; with interval, up to fsync_interval_ms of acknowledged ops may be missing from
// every disk, and the disk start says what it resumed from (src/storage/store.ts states the
// guarantee). A replica without a disk claims nothing (op 0), so a cluster without storage starts
// afresh exactly as before.
//
// Giving up a view change (Replica.giveUpViewChange). After a disk start of 5 or more, its leader
// and its first followers are normal while the rest still recover. Cut the leader off then, and
// its followers (fewer than f+1) start a view change that needs f+1 DoViewChanges, while the
// replicas still recovering answer no vote and recover only from normal replicas: nobody could
// ever move again (simulator, 5 replicas, fsync interval, seeds 80015, 80016, 80019). So a replica
// in a view change that has heard f+1 replicas recover during it (it can then never complete)
// recovers too, keeping its log, view and commit as its claim; once every replica recovers, the
// best claim of all n starts the cluster again as above. Safe whenever it happens, even when the
// f+1 were not recovering at once: it never votes or acks with that log, which it holds exactly;
// and a whole-cluster decision among claims of which at most f are lossy (VR's fault model:
// at most f replicas lost memory) holds every committed op: each was acknowledged by f+1, so by
// one replica with an exact claim in a view at least the op's, and the order (commit reached,
// last normal view, then op-number) ranks above it only logs of a later view, whose start held the
// op, or longer logs of the same view, which extend it. More than f lossy claims is the
// whole-cluster case with its documented window. Its claim keeps the view it promised, so the
// next disk start leads a view above it, and no replica follows a normal one below it
// (afterDiskStart). A leader cut off meanwhile may still be normal in an earlier view: a
// recovering replica answers its Prepares and Commits with the StartViewChange of its promise
// (Replica.onMessageWhileRecovering), the leader enters that view change, hears the f+1
// recovering ones and gives it up too (simulator, 7 replicas, seeds 80002, 80087).

import type { RecoveryResponse } from "../wire/messages.ts";
import { faultsTolerated, leaderOf } from "./quorum.ts";

/** Nonces are u64 on the wire but must stay exact in a double. */
const nonceSpace = 2 ** 53;

export interface RecoveryAnswer {
  readonly view: number;
  readonly opNum: number;
  readonly commit: number;
  readonly recovering: boolean;
  /** Recovering with a disk claim: its last normal view (0 otherwise). */
  readonly lastNormalView: number;
  readonly round: number;
}

/** What a recovering replica's data directory holds (op 0: nothing). */
export interface DiskClaim {
  /** Highest view promised. */
  readonly view: number;
  readonly lastNormalView: number;
  readonly opNum: number;
  /** The highest op the disk recorded as committed (its checkpoint's op at least). */
  readonly commit: number;
}

export const noClaim: DiskClaim = { view: 0, lastNormalView: 0, opNum: 0, commit: 0 };

export type RecoveryDecision =
  | { readonly kind: "wait" }
  | { readonly kind: "fresh" }
  | { readonly kind: "disk-start"; readonly view: number; readonly claims: number; readonly bestOtherOp: number; readonly commitMax: number }
  | { readonly kind: "fetch"; readonly view: number; readonly leader: number; readonly opNum: number; readonly commit: number };

/** The order of claims: a log that reaches `commitMax` (the highest commit any disk recorded)
 * first, then the view-change order: last normal view, then op-number, then the lower index. */
function better(a: DiskClaim, ai: number, b: DiskClaim, bi: number, commitMax: number): boolean {
  if (a.opNum >= commitMax !== b.opNum >= commitMax) return a.opNum >= commitMax;
  if (a.lastNormalView !== b.lastNormalView) return a.lastNormalView > b.lastNormalView;
  if (a.opNum !== b.opNum) return a.opNum > b.opNum;
  return ai < bi;
}

/** Every replica recovering at once (this round): start afresh, start from this replica's disk,
 * or wait for the replica whose disk is best to start (file comment). */
function wholeClusterDecision(answers: ReadonlyMap<number, RecoveryAnswer>, replicaCount: number, self: number, own: DiskClaim): RecoveryDecision {
  const claims = new Map<number, DiskClaim>([[self, own]]);
  for (const [i, a] of answers) claims.set(i, { view: a.view, lastNormalView: a.lastNormalView, opNum: a.opNum, commit: a.commit });
  let commitMax = 0;
  let maxView = 0;
  for (const c of claims.values()) {
    commitMax = Math.max(commitMax, c.commit);
    maxView = Math.max(maxView, c.view);
  }
  let best = own;
  let bestIndex = self;
  let bestOtherOp = 0;
  for (const [i, claim] of claims) {
    if (i !== self) bestOtherOp = Math.max(bestOtherOp, claim.opNum);
    if (better(claim, i, best, bestIndex, commitMax)) {
      best = claim;
      bestIndex = i;
    }
  }
  if (best.opNum === 0) return { kind: "fresh" };
  if (bestIndex !== self) return { kind: "wait" };
  let view = maxView + 1;
  while (leaderOf(view, replicaCount) !== self) view += 1;
  return { kind: "disk-start", view, claims: claims.size, bestOtherOp, commitMax };
}

/**
 * After a disk start: the normal replicas are its leader and those that already fetched from it,
 * all in its view, and every other replica recovers, having promised no view above it (one that
 * holds nothing in a later view says the normal ones are deposed). With every other replica's
 * answer of this round at hand, no replica is in a later view: fetch from that leader. Waiting
 * for f+1 normal answers instead never ended with 5 replicas: once the leader and one follower
 * were normal, the other three recovered and waited for each other (simulator, fsync interval).
 * With more than one normal replica it takes a disk claim among the recovering ones (this one's
 * or another's) to say a disk start happened: without disks, more than f replicas that lost their
 * memory are beyond the fault model, and the rules below wait then.
 */
function afterDiskStart(answers: ReadonlyMap<number, RecoveryAnswer>, round: number, replicaCount: number, self: number, own: DiskClaim): RecoveryDecision | undefined {
  let now = 0;
  let normal = 0;
  let view = -1;
  let recoveringViewMax = 0;
  let claims = own.opNum > 0;
  for (const a of answers.values()) {
    if (a.round !== round) continue;
    now += 1;
    if (a.recovering) {
      recoveringViewMax = Math.max(recoveringViewMax, a.view);
      claims ||= a.opNum > 0;
      continue;
    }
    normal += 1;
    if (view !== -1 && a.view !== view) return undefined;
    view = a.view;
  }
  if (now !== replicaCount - 1 || view < 0 || recoveringViewMax > view || (normal > 1 && !claims)) return undefined;
  const leader = leaderOf(view, replicaCount);
  const from = answers.get(leader);
  if (leader === self || !from || from.recovering || from.round !== round) return undefined;
  return { kind: "fetch", view, leader, opNum: from.opNum, commit: from.commit };
}

/** What the answers so far allow (pure; see the file comment). */
export function decideRecovery(answers: ReadonlyMap<number, RecoveryAnswer>, round: number, replicaCount: number, self: number, own: DiskClaim = noClaim): RecoveryDecision {
  if (replicaCount === 1) return own.opNum === 0 ? { kind: "fresh" } : wholeClusterDecision(answers, 1, self, own);
  let normal = 0;
  let view = -1;
  let recoveringNow = 0;
  let emptyNow = 0; // answers of this round from replicas holding nothing
  let view0Now = 0; // answers of this round from replicas (recovering or normal) in view 0
  let recoveringViewMax = 0; // the highest view a "recovering" answer of this round names
  for (const a of answers.values()) {
    const holdsNothing = a.recovering ? a.opNum === 0 : a.view === 0 && a.opNum === 0;
    if (a.round === round && holdsNothing) emptyNow += 1;
    if (a.round === round && a.view === 0 && (!a.recovering || a.opNum === 0)) view0Now += 1;
    if (a.recovering) {
      if (a.round === round) recoveringNow += 1;
      if (a.round === round) recoveringViewMax = Math.max(recoveringViewMax, a.view);
    } else {
      normal += 1;
      view = Math.max(view, a.view);
    }
  }
  if (normal === 0) {
    if (recoveringNow !== replicaCount - 1) return { kind: "wait" };
    const current = new Map([...answers].filter(([, a]) => a.round === round));
    return wholeClusterDecision(current, replicaCount, self, own);
  }
  const joined = afterDiskStart(answers, round, replicaCount, self, own);
  if (joined) return joined;
  // Replicas that all started together: the first to start afresh is normal in view 0 with an
  // empty log, and the others would wait forever for f+1 normal answers. It holds nothing either.
  // Neither applies to a replica whose disk holds a claim: no other replica held anything.
  if (own.opNum === 0 && emptyNow === replicaCount - 1) return { kind: "fresh" };
  const leader0 = answers.get(leaderOf(0, replicaCount));
  const uncommitted0 = leader0 !== undefined && leader0.round === round && !leader0.recovering && leader0.view === 0 && leader0.commit === 0;
  if (own.opNum === 0 && uncommitted0 && view0Now === replicaCount - 1) return { kind: "fresh" };
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
    this.answers.set(msg.sender, { view: msg.view, opNum: msg.opNum, commit: msg.commit, recovering: msg.recovering, lastNormalView: msg.lastNormalView, round });
    return true;
  }

  decide(replicaCount: number, self: number, own: DiskClaim = noClaim): RecoveryDecision {
    return decideRecovery(this.answers, this.round, replicaCount, self, own);
  }
}
