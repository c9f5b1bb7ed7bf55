// Bench results as the contract's JSON and as a table for people.

import type { Config } from "../config/config.ts";
import { versionInfo } from "../cli/version.ts";
import type { BenchResult, LatencyUs, OpStats } from "./bench.ts";
import { zipfSkew } from "./kv-workload.ts";

/** One kind of operation in the JSON (the kv workload's reads, and its writes). */
export interface OpStatsJson {
  ops: number;
  errors: number;
  throughput_ops_s: number;
  latency_us: LatencyUs;
}

/** The kv workload that ran: enough to run it again (same seed, same operations per client). */
export interface KvWorkloadJson {
  read_ratio: number;
  keys: number;
  /** null: the unsized default values. */
  value_bytes: number | null;
  key_dist: string;
  /** The zipf skew when key_dist is zipf. */
  zipf_s?: number;
  seed: number;
  /** Fractions of deletes and cas ops, when the mix has them. */
  delete_ratio?: number;
  cas_ratio?: number;
}

/** The cas ops alone: how many swapped and how many did not, besides the usual. */
export interface CasStatsJson extends OpStatsJson {
  swapped: number;
  not_swapped: number;
}

export interface BenchJson {
  replicas: number;
  f: number;
  /** The fast paths the replicas run, as they answered the bench's Info before the run (src/bench/
   * bench-opt.ts): "none", "all", a list, "mixed", or (no answer) the --opt given or "unknown". */
  opt: string;
  /** Each replica's answer by id (null: none in time); absent when no replica answered. */
  opt_by_replica?: Record<string, string | null>;
  /** Where the replicas keep their log, as they answered: "memory", "off", "interval", "always",
   * "mixed" when they differ, "unknown" when none answered. */
  storage: string;
  clients: number;
  duration_s: number;
  ops: number;
  errors: number;
  throughput_ops_s: number;
  latency_us: LatencyUs;
  /** kv workload: gets alone and puts alone (the fields above count both). */
  reads?: OpStatsJson;
  writes?: OpStatsJson;
  /** kv workload with deletes or cas ops in the mix: those alone (also counted in writes). */
  deletes?: OpStatsJson;
  cas?: CasStatsJson;
  kv?: KvWorkloadJson;
  /** kv workload: how gets were served: index (the leader's read index), log, or stale. */
  reads_via?: string;
  fast_path_counters: Record<string, number>;
  /** Id of the replica that led when the run ended. */
  leader_id?: number;
  kernel: string;
  version: string;
  /** Latency distribution for plots: [microseconds, fraction of requests at or below]. */
  latency_cdf?: [number, number][];
}

/** At most `points` CDF points of a histogram, evenly spread over the fraction axis, as
 * [microseconds, fraction] (the histogram holds nanoseconds). */
export function cdfPoints(result: Pick<BenchResult, "latency">, points = 200): [number, number][] {
  const all = result.latency.cdf();
  const out: [number, number][] = [];
  let next = 0;
  for (const p of all) {
    if (p.fraction < next && p !== all[all.length - 1]) continue;
    out.push([Math.round(p.value / 10) / 100, Math.round(p.fraction * 1e5) / 1e5]);
    next = p.fraction + 1 / points;
  }
  return out;
}

export function opStatsJson(s: OpStats): OpStatsJson {
  return { ops: s.ops, errors: s.errors, throughput_ops_s: s.throughputOpsS, latency_us: s.latencyUs };
}

export function kvWorkloadJson(kv: NonNullable<BenchResult["kv"]>): KvWorkloadJson {
  return {
    read_ratio: kv.readRatio,
    keys: kv.keys,
    value_bytes: kv.valueBytes ?? null,
    key_dist: kv.keyDist,
    ...(kv.keyDist === "zipf" && { zipf_s: zipfSkew }),
    seed: kv.seed,
    ...(kv.deleteRatio !== undefined && { delete_ratio: kv.deleteRatio }),
    ...(kv.casRatio !== undefined && { cas_ratio: kv.casRatio }),
  };
}

export async function benchJson(
  config: Config,
  run: { opt: string; optByReplica?: Record<string, string | null>; storage?: string; clients: number; result: BenchResult; counters?: Record<string, number> },
): Promise<BenchJson> {
  const info = versionInfo();
  return {
    replicas: config.replicas.length,
    f: config.f,
    opt: run.opt,
    ...(run.optByReplica && { opt_by_replica: run.optByReplica }),
    storage: run.storage ?? "unknown",
    clients: run.clients,
    duration_s: run.result.durationS,
    ops: run.result.ops,
    errors: run.result.errors,
    throughput_ops_s: run.result.throughputOpsS,
    latency_us: run.result.latencyUs,
    ...(run.result.reads && { reads: opStatsJson(run.result.reads) }),
    ...(run.result.writes && { writes: opStatsJson(run.result.writes) }),
    ...(run.result.deletes && { deletes: opStatsJson(run.result.deletes) }),
    ...(run.result.cas && { cas: { ...opStatsJson(run.result.cas), swapped: run.result.cas.swapped, not_swapped: run.result.cas.notSwapped } }),
    ...(run.result.kv && { kv: kvWorkloadJson(run.result.kv) }),
    ...(run.result.readsVia && { reads_via: run.result.readsVia }),
    fast_path_counters: run.counters ?? {},
    leader_id: config.replicas[run.result.leaderIndex]?.id,
    kernel: info.kernel,
    version: info.version,
    latency_cdf: cdfPoints(run.result),
  };
}

/** The kv workload's reads and writes apart, one line each (and deletes and cas ops, when run). */
export function formatOpSplit(reads: OpStatsJson, writes: OpStatsJson, deletes?: OpStatsJson, cas?: CasStatsJson): string {
  const line = (name: string, s: OpStatsJson) =>
    `${name}: ${s.throughput_ops_s} ops/s (${s.ops} ops, ${s.errors} errors), p50 ${s.latency_us.p50.toFixed(1)} us, p99 ${s.latency_us.p99.toFixed(1)} us`;
  const lines = [line("reads ", reads), line("writes", writes)];
  if (deletes) lines.push(line("  deletes", deletes));
  if (cas) lines.push(`${line("  cas", cas)}, ${cas.swapped} swapped, ${cas.not_swapped} not`);
  return lines.join("\n");
}

function pad(text: string, width: number, right = true): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

/** A row as the demo and the matrix print it: with its throughput against the ceiling (the bare
 * echo with as many in flight, src/bench/ceiling.ts) when one was measured. */
export type BenchRow = BenchJson & { throughput_x_ceiling?: number };

/** One row per result; ratios against the first row with opt "none" when there is one, and
 * against the ceiling when the rows carry it. */
export function formatBenchTable(rows: readonly BenchRow[]): string {
  const base = rows.find((r) => r.opt === "none");
  const header = ["replicas", "opt", "clients", "ops/s", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us", "errors"];
  if (base && rows.length > 1) header.push("tput x", "p50 x", "p99 x");
  const withCeiling = rows.some((r) => r.throughput_x_ceiling !== undefined);
  if (withCeiling) header.push("x ceiling");
  const body = rows.map((r) => {
    const cells = [
      String(r.replicas),
      r.opt,
      String(r.clients),
      String(r.throughput_ops_s),
      r.latency_us.p50.toFixed(1),
      r.latency_us.p90.toFixed(1),
      r.latency_us.p99.toFixed(1),
      r.latency_us.p999.toFixed(1),
      r.latency_us.max.toFixed(1),
      String(r.errors),
    ];
    if (base && rows.length > 1) {
      const same = rows.find((b) => b.opt === "none" && b.replicas === r.replicas && b.clients === r.clients) ?? base;
      const ratio = (a: number, b: number) => (a / Math.max(0.001, b)).toFixed(2);
      cells.push(ratio(r.throughput_ops_s, Math.max(1, same.throughput_ops_s)), ratio(r.latency_us.p50, same.latency_us.p50), ratio(r.latency_us.p99, same.latency_us.p99));
    }
    if (withCeiling) cells.push(r.throughput_x_ceiling?.toFixed(2) ?? "");
    return cells;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i]!, i !== 1)).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}
