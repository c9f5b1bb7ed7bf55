// The kv bench's workload: which key each operation touches, whether it reads or writes, and what
// a write stores. The same definition drives `electrode client --bench --workload kv` and the etcd
// load generator of scripts/vs-etcd.ts, so both systems see the same operations.
//
// Deterministic from a seed: each session draws from its own seeded generator (src/bench/random.ts),
// so a session's sequence of operations does not depend on how replies interleave.
//
// Key distributions: uniform, or zipf over key ranks with YCSB's skew s = 0.99 (P(rank k) is
// proportional to 1 / (k+1)^s; rank 0, key "k0", is the hottest). It is sampled exactly, by
// binary search in the cumulative distribution, not with YCSB's approximation (which is only
// close for many keys): the distribution test can then compare with the formula. Ranks are not
// scrambled as in YCSB's ScrambledZipfian: both stores hash their keys, so which keys are hot
// does not matter, only how hot.
//
// Values: every put writes a value no other put of the run writes to that key (the checker
// assumes it; keys carry the run's id, so values need to be unique only within a run). By default
// the value is "<run>.<session>.<request>", as before these options existed; with `valueBytes` it
// is exactly that many bytes: a fixed-width tag (session and request number in base 36, unique
// for a session's first 36^8 requests) followed by filler.

import { seededRandom } from "./random.ts";

export type KeyDist = "uniform" | "zipf";

export const keyDists: readonly KeyDist[] = ["uniform", "zipf"];

/** YCSB's zipfian constant (core workloads' requestdistribution=zipfian). */
export const zipfSkew = 0.99;

/** More keys than this would make the zipf table large (8 bytes a key) for no benchmark's gain. */
export const kvKeysMax = 1_000_000;

const sessionTagChars = 3; // base 36: sessions 0..46655 (the bench allows 4096)
const requestTagChars = 8; // base 36: 2.8e12 requests per session
/** Length of the unique tag at the start of a sized value: the smallest `valueBytes`. */
export const valueTagBytes = sessionTagChars + requestTagChars;

export interface KvWorkload {
  /** Fraction of operations that are gets, 0..1. */
  readonly readRatio: number;
  /** Fractions of operations that are deletes and compare-and-swaps (absent: none); the rest of
   * the writes are puts. A cas expects the value its client last saw for the key (absent when it
   * saw none), so most swap when few clients share a key. */
  readonly deleteRatio?: number;
  readonly casRatio?: number;
  readonly keys: number;
  /** Exact size of each put's value; undefined: the unsized tag of before. */
  readonly valueBytes?: number;
  readonly keyDist: KeyDist;
  readonly seed: number;
}

export const kvWorkloadDefaults = { readRatio: 0.5, keys: 16, keyDist: "uniform" } as const satisfies Partial<KvWorkload>;

export type KvOpKind = "get" | "put" | "delete" | "cas";

/** The kind of operation a draw `u` in [0, 1) picks: gets below readRatio (as before deletes and
 * cas ops existed, so a seed picks the same gets), then deletes, then cas ops, then puts. */
export function opKindOf(workload: Pick<KvWorkload, "readRatio" | "deleteRatio" | "casRatio">, u: number): KvOpKind {
  if (u < workload.readRatio) return "get";
  const deletes = workload.readRatio + (workload.deleteRatio ?? 0);
  if (u < deletes) return "delete";
  return u < deletes + (workload.casRatio ?? 0) ? "cas" : "put";
}

/** Cumulative zipf distribution over ranks 0..n-1: cdf[k] = P(rank <= k), cdf[n-1] = 1. */
export function zipfCdf(n: number, s: number): Float64Array {
  if (!Number.isInteger(n) || n < 1) throw new Error(`zipf: need at least one key, got ${n}`);
  if (!(s > 0)) throw new Error(`zipf: skew must be positive, got ${s}`);
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    sum += 1 / (k + 1) ** s;
    cdf[k] = sum;
  }
  for (let k = 0; k < n; k++) cdf[k]! /= sum;
  cdf[n - 1] = 1; // exactly, whatever the rounding
  return cdf;
}

/** The first rank whose cumulative probability exceeds u (u in [0, 1)). */
export function rankOf(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (u < cdf[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Picks key indices 0..keys-1 from `random` (one draw per pick). The zipf table is built once
 * per workload and shared by every session (each passes its own generator). */
export function keyPicker(workload: Pick<KvWorkload, "keys" | "keyDist">): (random: () => number) => number {
  const n = workload.keys;
  if (workload.keyDist === "uniform") return (random) => Math.floor(random() * n);
  const table = zipfCdf(n, zipfSkew);
  return (random) => rankOf(table, random());
}

/** A seeded generator of session `index`'s own (seeds spread by a golden-ratio step; a few draws
 * are thrown away because xorshift's first outputs still resemble its seed). */
export function sessionRandom(seed: number, index: number): () => number {
  const random = seededRandom((seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0);
  for (let i = 0; i < 8; i++) random();
  return random;
}

/** What put number `requestNum` of session `session` writes (see the file comment). */
export function putValue(runId: string, session: number, requestNum: number, valueBytes?: number): string {
  if (valueBytes === undefined) return `${runId}.${session}.${requestNum}`;
  const tag = session.toString(36).padStart(sessionTagChars, "0") + requestNum.toString(36).padStart(requestTagChars, "0");
  if (tag.length !== valueTagBytes) throw new Error(`value tag overflow: session ${session}, request ${requestNum}`);
  if (valueBytes < valueTagBytes) throw new Error(`values of ${valueBytes} bytes cannot hold the ${valueTagBytes}-byte unique tag`);
  return tag + "x".repeat(valueBytes - valueTagBytes);
}
