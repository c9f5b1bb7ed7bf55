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
 * The highest op-number held by a quorum: f+1 of the leader (which holds `leaderOp`, or only up to
 * `ownOp` of it: see Replica's durableVotes) and its followers. `acked[i]` is the highest op
 * follower i has acknowledged (acks are cumulative); the leader's own slot is ignored and acks
 * above `leaderOp` count as `leaderOp`. 0 when no op has a quorum. With `ownOp` = `leaderOp` (the
 * default) this is the f-th best follower's op: the leader plus f followers. Allocates nothing
 * (called per ack): n is at most replicasMax, so counting beats sorting a copy.
 */
export function quorumOp(acked: ArrayLike<number>, leader: number, leaderOp: number, f: number, ownOp = leaderOp): number {
  const own = Math.min(ownOp, leaderOp);
  let best = 0;
  for (let i = 0; i < acked.length; i++) {
    const candidate = i === leader ? own : Math.min(acked[i]!, leaderOp);
    if (candidate <= best) continue;
    let holders = 0; // replicas holding at least `candidate`
    for (let j = 0; j < acked.length; j++) if ((j === leader ? own : Math.min(acked[j]!, leaderOp)) >= candidate) holders++;
    if (holders >= f + 1) best = candidate;
  }
  return best;
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
