// Quorum arithmetic and the view-change log choice, kept pure so they can be table-tested.

/** f for n = 2f+1 replicas. */
export function faultsTolerated(replicaCount: number): number {
  return (replicaCount - 1) >> 1;
}

/** Leader of a view: position v mod n in the config. */
export function leaderOf(view: number, replicaCount: number): number {
  return view % replicaCount;
}

/**
 * The highest op-number held by a quorum: the leader (which holds `leaderOp`) plus f followers.
 * `acked[i]` is the highest op follower i has acknowledged (acks are cumulative); the leader's own
 * slot is ignored and acks above `leaderOp` count as `leaderOp`. 0 when no op has a quorum.
 */
export function quorumOp(acked: ArrayLike<number>, leader: number, leaderOp: number, f: number): number {
  if (f === 0) return leaderOp;
  const followers: number[] = [];
  for (let i = 0; i < acked.length; i++) if (i !== leader) followers.push(Math.min(acked[i]!, leaderOp));
  followers.sort((a, b) => b - a);
  return followers[f - 1] ?? 0;
}

/** What a DoViewChange says about its sender's log. */
export interface LogClaim {
  readonly lastNormalView: number;
  readonly opNum: number;
  readonly commit: number;
}

/**
 * The log the new leader must adopt: highest lastNormalView, then highest opNum (a shorter log
 * from a later view beats a longer one from an earlier view: the later view's log already holds
 * everything committed before it). Ties go to `self` (no transfer needed), then to the lowest
 * index (deterministic). Also returns the highest commit-number among the claims.
 */
export function chooseLog(claims: ReadonlyMap<number, LogClaim>, self: number): { best: number; claim: LogClaim; commit: number } | undefined {
  let best: number | undefined;
  let commit = 0;
  for (const [sender, claim] of claims) {
    commit = Math.max(commit, claim.commit);
    if (best === undefined || better(claim, sender, claims.get(best)!, best, self)) best = sender;
  }
  return best === undefined ? undefined : { best, claim: claims.get(best)!, commit };
}

function better(a: LogClaim, aSender: number, b: LogClaim, bSender: number, self: number): boolean {
  if (a.lastNormalView !== b.lastNormalView) return a.lastNormalView > b.lastNormalView;
  if (a.opNum !== b.opNum) return a.opNum > b.opNum;
  if (aSender === self || bSender === self) return aSender === self;
  return aSender < bSender;
}
