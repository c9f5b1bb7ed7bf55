// A mode's throughput against the ceiling (the bare echo with as many in flight): the ratio, its
// pairing by round, and where the demo's and the matrix's tables and report show it.

import { describe, expect, test } from "bun:test";
import { ceilingRatio, echoCpu, formatEcho, medianOf, pairedCeilingRatio } from "../../src/bench/ceiling.ts";
import type { FloorResult } from "../../src/bench/closed-loop.ts";
import { renderHtmlReport } from "../../src/bench/html-report.ts";
import { formatBenchTable, type BenchRow } from "../../src/bench/report.ts";

function echo(clients: number, roundTripsS: number, cpu?: FloorResult["cpu"]): FloorResult {
  return { clients, duration_s: 3, pings: roundTripsS * 3, lost: 0, throughput_round_trips_s: roundTripsS, latency_us: { p50: 150, p90: 200, p99: 300, max: 900 }, client_cpu_cores: 0.9, ...(cpu && { cpu }) };
}

function row(opt: string, throughput: number, x?: number): BenchRow {
  return {
    replicas: 3,
    f: 1,
    opt,
    storage: "memory",
    clients: 64,
    duration_s: 3,
    ops: throughput * 3,
    errors: 0,
    throughput_ops_s: throughput,
    latency_us: { p50: 600, p90: 800, p99: 1000, p999: 2000, max: 3000, mean: 650 },
    fast_path_counters: {},
    kernel: "test",
    version: "test",
    ...(x !== undefined && { throughput_x_ceiling: x }),
  };
}

describe("throughput against the ceiling", () => {
  test("the ratio of ops/s to the echo's round trips/s, to three decimals", () => {
    expect(ceilingRatio(86_000, echo(64, 187_000))).toBe(0.46);
    expect(ceilingRatio(75_000, echo(64, 187_000))).toBe(0.401);
    expect(ceilingRatio(200_000, echo(64, 187_000))).toBe(1.07); // a mode may beat a slow echo run
  });

  test("no ceiling, or one that measured nothing, gives no ratio rather than infinity", () => {
    expect(ceilingRatio(86_000, undefined)).toBeUndefined();
    expect(ceilingRatio(86_000, echo(64, 0))).toBeUndefined();
  });

  test("paired by round: each run against its own round's ceiling, then median and range", () => {
    // Round 2 ran on a slow machine: the mode and the echo both slower, the ratio steady.
    const r = pairedCeilingRatio([90_000, 60_000, 88_000], [200_000, 130_000, 180_000]);
    expect(r).toEqual({ median: 0.462, min: 0.45, max: 0.489 });
    // Against one ceiling for all rounds the same runs would spread from 0.3 to 0.45.
    expect(pairedCeilingRatio([90_000, 60_000], [200_000, 200_000])).toEqual({ median: 0.3, min: 0.3, max: 0.45 });
  });

  test("rounds without a ceiling are left out; none at all gives none; lengths must match", () => {
    expect(pairedCeilingRatio([90_000, 60_000, 88_000], [200_000, undefined, 176_000])).toEqual({ median: 0.45, min: 0.45, max: 0.5 });
    expect(pairedCeilingRatio([90_000], [undefined])).toBeUndefined();
    expect(() => pairedCeilingRatio([1, 2], [3])).toThrow("2 runs but 1 ceilings");
  });

  test("the echo's CPU: both processes' cores, and their CPU microseconds per round trip", () => {
    const cores = { leader: 0.95, followers: 0, client: 0.9, softirq: 0.8, other: 0.01, idle: 0.05 };
    // 1.85 cores for 187,000 round trips a second: 9.89 us of CPU each.
    expect(echoCpu(cores, 187_000)).toEqual({ server: 0.95, client: 0.9, softirq: 0.8, other: 0.01, idle: 0.05, us_per_round_trip: 9.89 });
    expect(echoCpu(cores, 0).us_per_round_trip).toBe(0);
  });

  test("median: the middle value, the lower middle of an even count", () => {
    expect(medianOf([3, 1, 2])).toBe(2);
    expect(medianOf([4, 1, 3, 2])).toBe(2);
    expect(() => medianOf([])).toThrow("median of nothing");
  });

  test("one line per echo run, with the CPU of both ends when measured", () => {
    expect(formatEcho(echo(64, 187_000))).toBe("64 in flight: 187,000 round trips/s, p50 150 us, p99 300 us, 0 lost; client 0.9 cores");
    expect(formatEcho(echo(64, 187_000, { server: 0.95, client: 0.9, softirq: 0.8, other: 0, idle: 0.05, us_per_round_trip: 9.89 }))).toBe(
      "64 in flight: 187,000 round trips/s, p50 150 us, p99 300 us, 0 lost; cores busy: echo 0.95, client 0.9, softirq 0.8, other 0, idle 0.05; 9.89 CPU us per round trip",
    );
    // Other processes taking CPU beside it: said, since the ceiling then is the machine's share.
    expect(formatEcho(echo(64, 120_000, { server: 0.6, client: 0.6, softirq: 0.5, other: 0.21, idle: 0, us_per_round_trip: 10 }))).toEndWith("other 0.21, idle 0; 10 CPU us per round trip (other processes were busy beside it: not a quiet machine)");
    expect(formatEcho(echo(64, 120_000, { server: 0.9, client: 0.9, softirq: 0.5, other: 0.2, idle: 0, us_per_round_trip: 15 }))).toEndWith("other 0.2, idle 0; 15 CPU us per round trip");
  });
});

describe("the ceiling in tables and the report", () => {
  test("the bench table gets an x ceiling column when rows carry the ratio, and only then", () => {
    const header = (text: string) => text.split("\n")[0]!.trim().split(/\s{2,}/);
    const withRatio = formatBenchTable([row("none", 75_000, 0.401), row("all", 86_000, 0.46)]);
    expect(header(withRatio)).toEqual(["replicas", "opt", "clients", "ops/s", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us", "errors", "tput x", "p50 x", "p99 x", "x ceiling"]);
    const lines = withRatio.split("\n");
    expect(lines[2]!.trim().endsWith("0.40")).toBe(true);
    expect(lines[3]!.trim().endsWith("0.46")).toBe(true);
    expect(header(formatBenchTable([row("none", 75_000), row("all", 86_000)]))).not.toContain("x ceiling");
    // A row without a ratio among rows with one gets an empty cell, not "undefined".
    expect(formatBenchTable([row("none", 75_000, 0.401), row("all", 86_000)])).not.toContain("undefined");
  });

  test("the HTML report names the ceiling and has a tput x ceiling column", () => {
    const html = renderHtmlReport([row("none", 75_000, 0.401), row("all", 86_000, 0.46)], undefined, "t", [echo(64, 187_000)]);
    expect(html).toContain("<th>tput x ceiling</th>");
    expect(html).toContain("<td>0.46</td>");
    expect(html).toContain("Ceiling (bare UDP echo");
    expect(html).toContain("187,000 round trips/s");
    const without = renderHtmlReport([row("none", 75_000)], undefined, "t");
    expect(without).not.toContain("ceiling");
  });
});
