import { describe, expect, test } from "bun:test";
import { Histogram } from "../../src/bench/histogram.ts";

describe("Histogram", () => {
  test("empty histogram reports zeros", () => {
    const h = new Histogram();
    expect([h.count, h.quantile(0.5), h.max, h.mean]).toEqual([0, 0, 0, 0]);
  });

  test("small values are exact", () => {
    const h = new Histogram();
    for (let v = 1; v <= 100; v++) h.record(v);
    expect(h.quantile(0.5)).toBe(50);
    expect(h.quantile(0.99)).toBe(99);
    expect(h.quantile(1)).toBe(100);
    expect(h.mean).toBe(50.5);
  });

  test("large values stay within 1/64 relative error", () => {
    for (const value of [129, 1000, 33_333, 1_234_567, 98_765_432_1, 2 ** 40 + 12345]) {
      const h = new Histogram();
      h.record(value);
      h.record(value * 4); // so the quantile is not capped by max
      const got = h.quantile(0.5);
      expect(got).toBeGreaterThanOrEqual(value);
      expect((got - value) / value).toBeLessThanOrEqual(1 / 64);
    }
  });

  test("percentiles of a uniform spread", () => {
    const h = new Histogram();
    for (let i = 1; i <= 100_000; i++) h.record(i * 10);
    for (const [q, expected] of [[0.5, 500_000], [0.9, 900_000], [0.99, 990_000], [0.999, 999_000]] as const) {
      const got = h.quantile(q);
      expect(Math.abs(got - expected) / expected).toBeLessThan(1 / 64);
    }
    expect(h.max).toBe(1_000_000);
    expect(h.min).toBe(10);
  });

  test("merge adds counts", () => {
    const a = new Histogram();
    const b = new Histogram();
    a.record(10);
    b.record(1000);
    b.record(2000);
    a.merge(b);
    expect(a.count).toBe(3);
    expect(a.max).toBe(2000);
    expect(a.min).toBe(10);
    const cdf = a.cdf();
    expect(cdf[cdf.length - 1]!.fraction).toBe(1);
  });
});
