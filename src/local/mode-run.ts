// One benchmark run of a fast-path mode on a namespace cluster, as `electrode demo` and
// scripts/bench-modes.ts make it: the replicas start afresh (with the mode's --opt, from the
// RunningCluster's replicaArgs), a closed-loop bench runs from the client namespace, and the row
// gets the kernel counters the run moved and where the CPU went inside the measured window. The
// counters are read before the replicas stop: each replica process counts XDP verdicts in its own
// instance, which detaches when it exits. The replicas are stopped with SIGTERM afterwards (so
// each writes its --stats-file, if it has one).
//
// The row's opt is what the replicas answered the bench (src/node/info.ts); a run whose replicas
// do not run the mode's fast paths (one was unavailable) fails, rather than measure one mode under
// the name of another.

import { cpuSplit, cpuWindow, type CpuSplit, type Role } from "../bench/cpu.ts";
import { counterDelta } from "../bench/modes.ts";
import type { BenchJson, BenchRow } from "../bench/report.ts";
import { fastPathsLabel, parseFastPaths } from "../node/info.ts";
import type { RunningCluster } from "./processes.ts";

export interface ModeRunOptions {
  /** Name of the mode (the row's `mode`). */
  readonly mode: string;
  /** The fast paths the replicas were started with (their --opt: none, all, or a list). */
  readonly opt: string;
  readonly clients: number;
  readonly durationS: number;
  readonly warmupS: number;
  /** More `electrode client --bench` flags (the workload: --workload kv --read-ratio 0.9 ...). */
  readonly benchArgs?: readonly string[];
}

export type ModeRun = BenchRow & { mode: string; cpu?: CpuSplit };

/** CPU is sampled inside the measured window, this far in from either end. */
const cpuMarginS = 0.25;

export async function runMode(cluster: RunningCluster, opts: ModeRunOptions): Promise<ModeRun> {
  const bits = parseFastPaths(opts.opt);
  if (bits === undefined) throw new Error(`mode ${opts.mode}: '${opts.opt}' is not a list of fast paths`);
  const expected = fastPathsLabel(bits);
  const before = await cluster.fastPathCounters();
  cluster.startAll();
  let row: ModeRun;
  let after: Record<string, number>;
  try {
    await cluster.waitServing();
    const replicaPids = new Map(cluster.replicas.map((r) => [r.id, cluster.pid(r.id) ?? 0]));
    let clientPid = 0;
    const args = ["--bench", "--clients", String(opts.clients), "--duration", String(opts.durationS), "--warmup", String(opts.warmupS), "--opt", expected, "--json", "-", "--quiet", ...(opts.benchArgs ?? [])];
    const bench = cluster.client(args, 0, (pid) => (clientPid = pid));
    const windowS = opts.durationS - 2 * cpuMarginS;
    const cpu = windowS > 0.1 ? await cpuWindow(() => [clientPid, ...replicaPids.values()], opts.warmupS + cpuMarginS, windowS) : undefined;
    const out = await bench;
    if (out.code !== 0) throw new Error(`benchmark of ${opts.mode} failed: ${out.stderr.trim()}`);
    row = { mode: opts.mode, ...(JSON.parse(out.stdout) as BenchJson) };
    if (row.opt !== expected) {
      const each = Object.entries(row.opt_by_replica ?? {}).map(([id, opt]) => `${id}: ${opt ?? "no answer"}`).join(", ");
      throw new Error(`mode ${opts.mode}: the replicas run ${row.opt}${each ? ` (${each})` : ""}, not ${expected}; their logs say why`);
    }
    if (cpu) {
      const roles = new Map<number, Role>([[clientPid, "client"]]);
      for (const [id, pid] of replicaPids) roles.set(pid, id === row.leader_id ? "leader" : "followers");
      row.cpu = cpuSplit(cpu.before, cpu.after, roles, row.throughput_ops_s * ((cpu.after.atNs - cpu.before.atNs) / 1e9));
    }
    after = await cluster.fastPathCounters();
  } finally {
    await cluster.stopAll();
  }
  row.fast_path_counters = counterDelta(before, after);
  return row;
}
