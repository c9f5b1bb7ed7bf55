// Quorum arithmetic, kept apart so it can be table-tested.

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
 * `acked[i]` is the highest op follower i has acknowledged (cumulative); the leader's own entry is
 * ignored. Returns 0 when no op has a quorum.
 */
export function quorumOp(acked: ArrayLike<number>, leader: number, leaderOp: number, f: number): number {
  if (f === 0) return leaderOp;
  const followers: number[] = [];
  for (let i = 0; i < acked.length; i++) if (i !== leader) followers.push(Math.min(acked[i]!, leaderOp));
  followers.sort((a, b) => b - a);
  return followers[f - 1] ?? 0;
}
