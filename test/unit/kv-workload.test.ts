// The kv bench's workload: zipf against its formula, determinism from the seed, the read mix,
// and values of the asked size that stay unique.

import { describe, expect, test } from "bun:test";
import { keyPicker, opKindOf, putValue, rankOf, sessionRandom, valueTagBytes, zipfCdf, zipfSkew } from "../../src/bench/kv-workload.ts";

/** P(rank k) for zipf(n, s), straight from the definition. */
function zipfP(n: number, s: number): number[] {
  const w = Array.from({ length: n }, (_, k) => 1 / (k + 1) ** s);
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / sum);
}

function histogram(pick: () => number, n: number, draws: number): number[] {
  const counts = new Array<number>(n).fill(0);
  for (let i = 0; i < draws; i++) counts[pick()]! += 1;
  return counts;
}

describe("zipf key distribution", () => {
  test("cdf: increasing, ends at exactly 1, steps are the formula's probabilities", () => {
    const cdf = zipfCdf(16, zipfSkew);
    const p = zipfP(16, zipfSkew);
    expect(cdf[15]).toBe(1);
    for (let k = 0; k < 16; k++) expect(cdf[k]! - (k === 0 ? 0 : cdf[k - 1]!)).toBeCloseTo(p[k]!, 12);
  });

  test("rankOf: boundaries go to the next rank, u below the first step to rank 0", () => {
    const cdf = new Float64Array([0.5, 0.75, 1]);
    expect(rankOf(cdf, 0)).toBe(0);
    expect(rankOf(cdf, 0.4999)).toBe(0);
    expect(rankOf(cdf, 0.5)).toBe(1);
    expect(rankOf(cdf, 0.75)).toBe(2);
    expect(rankOf(cdf, 0.999999)).toBe(2);
  });

  test("16 keys, seed 1: frequencies match P(k) ~ 1/(k+1)^0.99 (chi-square), hottest key about 30%", () => {
    const n = 16;
    const draws = 200_000;
    const random = sessionRandom(1, 0);
    const pick = keyPicker({ keys: n, keyDist: "zipf" });
    const counts = histogram(() => pick(random), n, draws);
    const p = zipfP(n, zipfSkew);
    const chi2 = counts.reduce((sum, c, k) => sum + (c - draws * p[k]!) ** 2 / (draws * p[k]!), 0);
    // 15 degrees of freedom: P(chi2 > 37.7) = 0.001. Uniform draws would give about 120,000.
    expect(chi2).toBeLessThan(37.7);
    expect(counts[0]! / draws).toBeCloseTo(p[0]!, 2);
    expect(p[0]!).toBeGreaterThan(0.29);
    expect(p[0]!).toBeLessThan(0.31);
    // Monotone in rank for the hot head (the tail's differences are within noise).
    for (let k = 0; k < 5; k++) expect(counts[k]!).toBeGreaterThan(counts[k + 1]!);
  });

  test("10,000 keys: the 10 hottest take the formula's share (about 30%), every rank in range", () => {
    const n = 10_000;
    const draws = 100_000;
    const random = sessionRandom(42, 3);
    const pick = keyPicker({ keys: n, keyDist: "zipf" });
    const counts = histogram(() => pick(random), n, draws);
    const p = zipfP(n, zipfSkew);
    const top10 = counts.slice(0, 10).reduce((a, b) => a + b, 0) / draws;
    expect(top10).toBeCloseTo(p.slice(0, 10).reduce((a, b) => a + b, 0), 2);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(draws);
  });

  test("uniform: every key about 1/n", () => {
    const n = 16;
    const draws = 160_000;
    const random = sessionRandom(5, 0);
    const pick = keyPicker({ keys: n, keyDist: "uniform" });
    const counts = histogram(() => pick(random), n, draws);
    for (const c of counts) expect(Math.abs(c / draws - 1 / n)).toBeLessThan(0.005);
  });
});

describe("seeded sessions", () => {
  test("same seed and session: same sequence; another session or seed: another", () => {
    const draw = (seed: number, index: number) => {
      const r = sessionRandom(seed, index);
      return Array.from({ length: 20 }, () => r());
    };
    expect(draw(7, 2)).toEqual(draw(7, 2));
    expect(draw(7, 2)).not.toEqual(draw(7, 3));
    expect(draw(7, 2)).not.toEqual(draw(8, 2));
    for (const x of draw(0, 0)) expect(x >= 0 && x < 1).toBe(true);
  });

  test("a read ratio of 0.9 gives about 90% reads (the bench's draw: read when random() < ratio)", () => {
    const random = sessionRandom(11, 0);
    let reads = 0;
    for (let i = 0; i < 100_000; i++) if (!(random() >= 0.9)) reads++;
    expect(reads / 100_000).toBeCloseTo(0.9, 2);
  });
});

describe("op kinds", () => {
  test("gets below the read ratio (as before), then deletes, then cas ops, then puts", () => {
    const w = { readRatio: 0.5, deleteRatio: 0.1, casRatio: 0.2 };
    expect([0, 0.49, 0.5, 0.59, 0.6, 0.79, 0.8, 0.99].map((u) => opKindOf(w, u))).toEqual(["get", "get", "delete", "delete", "cas", "cas", "put", "put"]);
    expect([0.49, 0.5, 0.99].map((u) => opKindOf({ readRatio: 0.5 }, u))).toEqual(["get", "put", "put"]);
  });
});

describe("put values", () => {
  test("unsized: the run, session and request, as before the options existed", () => {
    expect(putValue("abcdefgh", 3, 17)).toBe("abcdefgh.3.17");
  });

  test("sized: exactly the asked bytes, unique over sessions and requests", () => {
    const seen = new Set<string>();
    for (const session of [0, 1, 35, 36, 4095]) {
      for (const request of [1, 2, 36, 1295, 1296, 2 ** 31]) {
        for (const bytes of [valueTagBytes, 16, 100]) {
          const v = putValue("run", session, request, bytes);
          expect(v.length).toBe(bytes);
          seen.add(v.slice(0, valueTagBytes));
        }
      }
    }
    expect(seen.size).toBe(5 * 6);
  });

  test("sized below the tag, or a request number past the tag: an error, not a silent collision", () => {
    expect(() => putValue("run", 0, 1, valueTagBytes - 1)).toThrow(/cannot hold/);
    expect(() => putValue("run", 0, 36 ** 8, 16)).toThrow(/overflow/);
  });
});
