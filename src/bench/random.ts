// Seeded randomness for load and fault schedules: the same seed gives the same sequence, so a
// schedule or a fuzz run replays exactly. Not for anything that needs unpredictability.

/** xorshift32: small, seeded, good enough to pick keys, faults and mutations. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}
