// scripts/vs-etcd.ts's results: runs grouped into cells (read ratio, clients, system), the median
// run of each cell, electrode's ratios to etcd paired by round (runs made within seconds of each
// other, so the machine's drift over minutes cancels), and the table for people.

import type { CpuSplit } from "../../src/bench/cpu.ts";
import type { LatencyUs } from "../../src/bench/bench.ts";
import type { OpStatsJson } from "../../src/bench/report.ts";

export const systems = ["etcd-fsync", "etcd-no-fsync", "electrode-none", "electrode-all"] as const;
export type System = (typeof systems)[number];

/** One measured run of one system. */
export interface Run {
  readonly system: System;
  readonly read_ratio: number;
  readonly clients: number;
  readonly round: number;
  readonly throughput_ops_s: number;
  readonly ops: number;
  readonly errors: number;
  readonly latency_us: LatencyUs;
  readonly reads?: OpStatsJson;
  readonly writes?: OpStatsJson;
  readonly cpu?: CpuSplit;
  /** etcd: WAL fsyncs of all members in the run. */
  readonly wal_fsyncs?: number;
  /** electrode: what the replicas reported they run. */
  readonly opt?: string;
}

export interface Ratio {
  /** Median over rounds of electrode's throughput divided by etcd's in the same round. */
  readonly throughput: number;
  readonly throughput_min: number;
  readonly throughput_max: number;
  /** Median over rounds of electrode's p50 divided by etcd's. */
  readonly p50: number;
}

export interface Cell {
  readonly read_ratio: number;
  readonly clients: number;
  /** Per system: the run with the median throughput, and every run's throughput. */
  readonly median: Partial<Record<System, Run>>;
  readonly runs: Partial<Record<System, number[]>>;
  readonly ratios: Record<string, Ratio>;
}

/** The ratios the table shows: electrode mode / etcd variant. */
export const ratioPairs: readonly [System, System][] = [
  ["electrode-none", "etcd-no-fsync"],
  ["electrode-all", "etcd-no-fsync"],
  ["electrode-all", "etcd-fsync"],
];

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error("median of nothing");
  return [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

function pairedRatio(a: readonly Run[], b: readonly Run[]): Ratio | undefined {
  const pairs = a.flatMap((x) => {
    const y = b.find((r) => r.round === x.round);
    return y && y.throughput_ops_s > 0 && y.latency_us.p50 > 0 ? [{ tput: x.throughput_ops_s / y.throughput_ops_s, p50: x.latency_us.p50 / y.latency_us.p50 }] : [];
  });
  if (pairs.length === 0) return undefined;
  const t = pairs.map((p) => p.tput);
  return { throughput: round3(median(t)), throughput_min: round3(Math.min(...t)), throughput_max: round3(Math.max(...t)), p50: round3(median(pairs.map((p) => p.p50))) };
}

/** Groups runs into cells, in the order of `readRatios` and `clientCounts`. */
export function cells(runs: readonly Run[], readRatios: readonly number[], clientCounts: readonly number[]): Cell[] {
  const out: Cell[] = [];
  for (const read_ratio of readRatios) {
    for (const clients of clientCounts) {
      const mine = runs.filter((r) => r.read_ratio === read_ratio && r.clients === clients);
      if (mine.length === 0) continue;
      const median_: Partial<Record<System, Run>> = {};
      const all: Partial<Record<System, number[]>> = {};
      for (const s of systems) {
        const of = mine.filter((r) => r.system === s).sort((a, b) => a.round - b.round);
        if (of.length === 0) continue;
        const m = median(of.map((r) => r.throughput_ops_s));
        median_[s] = of.find((r) => r.throughput_ops_s === m);
        all[s] = of.map((r) => r.throughput_ops_s);
      }
      const ratios: Record<string, Ratio> = {};
      for (const [a, b] of ratioPairs) {
        const r = pairedRatio(mine.filter((x) => x.system === a), mine.filter((x) => x.system === b));
        if (r) ratios[`${a}/${b}`] = r;
      }
      out.push({ read_ratio, clients, median: median_, runs: all, ratios });
    }
  }
  return out;
}

/** 7612 -> "7.6k", 612 -> "612". */
export function formatOps(opsS: number): string {
  return opsS >= 1000 ? `${(opsS / 1000).toFixed(1)}k` : String(Math.round(opsS));
}

/** 665.3 -> "665 us", 7412 -> "7.4 ms". */
export function formatUs(us: number): string {
  return us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${Math.round(us)} us`;
}

function mix(readRatio: number): string {
  return readRatio === 0 ? "writes only" : `${Math.round(readRatio * 100)}% reads`;
}

/** The markdown table: one row per (mix, clients), a column per system (throughput, p50) and
 * the ratios (median of rounds, range in brackets when there are several). */
export function formatTable(all: readonly Cell[]): string {
  const header = ["workload", "clients", "etcd fsync", "etcd --unsafe-no-fsync", "electrode none", "electrode all", ...ratioPairs.map(([a, b]) => `${a.replace("electrode-", "")} ÷ ${b.replace("etcd-", "etcd ")}`)];
  const body = all.map((c) => {
    const cellOf = (s: System) => {
      const r = c.median[s];
      return r ? `${formatOps(r.throughput_ops_s)}, p50 ${formatUs(r.latency_us.p50)}` : "";
    };
    const ratioOf = ([a, b]: [System, System]) => {
      const r = c.ratios[`${a}/${b}`];
      if (!r) return "";
      const range = r.throughput_min !== r.throughput_max ? ` (${r.throughput_min.toFixed(1)}-${r.throughput_max.toFixed(1)})` : "";
      return `${r.throughput.toFixed(1)}x${range}, p50 ${r.p50.toFixed(2)}x`;
    };
    return [mix(c.read_ratio), String(c.clients), ...systems.map(cellOf), ...ratioPairs.map(ratioOf)];
  });
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...body.map(line)].join("\n");
}
