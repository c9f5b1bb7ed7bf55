import { describe, expect, test } from "bun:test";
import { rssFloors, rssGrowth, rssKib, rssPeaks, formatRssTable, type RssSample } from "../../src/local/rss.ts";

const sample = (atS: number, kib: Record<number, number | null>, pid: Record<number, number | null> = { 1: 100, 2: 200 }): RssSample => ({ atS, kib, pid });

describe("RSS over a long run", () => {
  test("reads this process's VmRSS, and nothing for a pid that does not exist", () => {
    expect(rssKib(process.pid)).toBeGreaterThan(1024);
    expect(rssKib(2 ** 22 + 1)).toBeUndefined();
  });

  test("a swing without a trend: the line stays flat where the end points differ by 30%", () => {
    const kibs = [100, 130, 100, 130, 100, 130, 100, 130];
    const samples = kibs.map((k, i) => sample(60 * (i + 1), { 1: k, 2: 100 }));
    const g = rssGrowth(samples, 60, 480).growth.find((x) => x.id === 1)!;
    expect(g.growth).toBeCloseTo(0.3);
    expect(Math.abs(g.trendGrowth)).toBeLessThan(0.1);
  });

  test("peaks per window: each replica's largest sample, late timer ticks in the window they end", () => {
    const samples = [
      sample(0, { 1: 10, 2: 10 }),
      sample(30, { 1: 50, 2: 20 }),
      sample(60.4, { 1: 40, 2: 30 }), // drifted past 60 s: still the first window
      sample(90, { 1: 45, 2: null }),
      sample(120, { 1: 44, 2: 25 }),
    ];
    const peaks = rssPeaks(samples, 60);
    expect(peaks.map((p) => p.atS)).toEqual([0, 60.4, 120]);
    expect(peaks.map((p) => p.kib)).toEqual([{ 1: 10, 2: 10 }, { 1: 50, 2: 30 }, { 1: 45, 2: 25 }]);
    expect(rssFloors(samples, 60).map((p) => p.kib)).toEqual([{ 1: 10, 2: 10 }, { 1: 40, 2: 20 }, { 1: 44, 2: 25 }]);
  });

  test("growth from the window nearest `from` to the last; a restarted replica has no figure", () => {
    const samples = [sample(0, { 1: 10, 2: 10 }), sample(60, { 1: 100, 2: 100 }), sample(120, { 1: 100, 2: 100 }), sample(180, { 1: 120, 2: 90 }, { 1: 100, 2: 201 })];
    const { growth, skipped } = rssGrowth(samples, 60, 180);
    expect(skipped).toEqual([2]);
    expect(growth).toHaveLength(1);
    expect(growth[0]!.growth).toBeCloseTo(0.2);
    expect(growth[0]!.peakGrowth).toBeCloseTo(0.2);
    expect(growth[0]!.fromS).toBe(60);
    // The line through 100, 100, 120 at 60, 120, 180 s: 96.67 -> 116.67.
    expect(growth[0]!.trendGrowth).toBeCloseTo(20 / 96.667, 3);
    // The table marks the new process.
    expect(formatRssTable(samples).split("\n").at(-1)).toBe("| 180 | 0.1 | 0.1* |");
  });
});
