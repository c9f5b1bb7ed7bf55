// scripts/vs-etcd.ts's table: the median run of each cell, ratios paired by round, formatting.

import { describe, expect, test } from "bun:test";
import { leaderOf, type MemberStatus } from "../../scripts/etcd/kv-client.ts";
import { cells, formatOps, formatTable, formatUs, median, type Run, type System } from "../../scripts/etcd/table.ts";

const latency = (p50: number) => ({ p50, p90: p50, p99: p50, p999: p50, max: p50, mean: p50 });

function run(system: System, round: number, tput: number, p50: number, read_ratio = 0.5, clients = 16): Run {
  return { system, read_ratio, clients, round, throughput_ops_s: tput, ops: tput * 3, errors: 0, latency_us: latency(p50) };
}

describe("vs-etcd table", () => {
  test("median: the middle value, the lower middle of an even count", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2);
    expect(() => median([])).toThrow();
  });

  test("each cell shows the median run; ratios are the median of ratios paired by round", () => {
    const runs = [
      run("etcd-no-fsync", 1, 1000, 2000),
      run("etcd-no-fsync", 2, 2000, 1000),
      run("etcd-no-fsync", 3, 1500, 1500),
      run("electrode-all", 1, 10_000, 200),
      run("electrode-all", 2, 12_000, 100),
      run("electrode-all", 3, 30_000, 50),
      run("etcd-fsync", 1, 500, 4000),
    ];
    const [cell] = cells(runs, [0.5], [16]);
    expect(cell!.median["etcd-no-fsync"]!.round).toBe(3);
    expect(cell!.median["electrode-all"]!.throughput_ops_s).toBe(12_000);
    expect(cell!.runs["electrode-all"]).toEqual([10_000, 12_000, 30_000]);
    // Rounds 1, 2, 3: 10x, 6x, 20x -> median 10; the ratio of medians would say 8.
    expect(cell!.ratios["electrode-all/etcd-no-fsync"]).toEqual({ throughput: 10, throughput_min: 6, throughput_max: 20, p50: 0.1 });
    // Only round 1 has both.
    expect(cell!.ratios["electrode-all/etcd-fsync"]!.throughput).toBe(20);
    expect(cell!.ratios["electrode-none/etcd-no-fsync"]).toBeUndefined();
    const table = formatTable([cell!]);
    expect(table).toContain("| 50% reads | 16 | 500, p50 4.0 ms | 1.5k, p50 1.5 ms |  | 12.0k, p50 100 us |  | 10.0x (6.0-20.0), p50 0.10x | 20.0x, p50 0.05x |");
  });

  test("cells follow the asked order and leave out what did not run", () => {
    const runs = [run("etcd-fsync", 1, 1, 1, 0, 64), run("etcd-fsync", 1, 1, 1, 0.9, 1), run("etcd-fsync", 1, 1, 1, 0, 1)];
    expect(cells(runs, [0, 0.9], [1, 16, 64]).map((c) => [c.read_ratio, c.clients])).toEqual([[0, 1], [0, 64], [0.9, 1]]);
    expect(formatTable(cells(runs, [0], [1]))).toContain("| writes only | 1 |");
  });

  test("numbers for people", () => {
    expect(formatOps(612)).toBe("612");
    expect(formatOps(7612)).toBe("7.6k");
    expect(formatUs(665.3)).toBe("665 us");
    expect(formatUs(7412)).toBe("7.4 ms");
  });
});

describe("etcd leader from Status", () => {
  const status = (endpoint: string, memberId: bigint, leader: bigint): MemberStatus => ({
    endpoint,
    status: { header: { clusterId: 1n, memberId, revision: 1, raftTerm: 2 }, version: "3.4.23", leader, raftIndex: 5, raftTerm: 2 },
  });

  test("the member all agree on; none while they disagree or know no leader", () => {
    expect(leaderOf([status("a", 1n, 2n), status("b", 2n, 2n), status("c", 3n, 2n)])).toBe("b");
    expect(leaderOf([status("a", 1n, 2n), status("b", 2n, 3n), status("c", 3n, 3n)])).toBeUndefined();
    expect(leaderOf([status("a", 1n, 0n), status("b", 2n, 0n)])).toBeUndefined();
    expect(leaderOf([status("a", 1n, 9n)])).toBeUndefined();
  });
});
