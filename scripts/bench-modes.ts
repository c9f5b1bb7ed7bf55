// Compares fast-path modes side by side in one run on namespace clusters (root), printing a table
// with ratios to `none` and writing JSON. The machine is noisy: compare within one run. Modes:
// none (user space), tc-broadcast, + quorum-prune, + fast-reply (all three). Setup attaches every
// fast path once per cluster; each run's replicas choose theirs with --opt. The kernel counters
// each run moved (from `electrode status --json` in every replica namespace) go in the JSON's
// fast_path_counters.
//
// Every run starts the replicas afresh and stops them afterwards (SIGTERM), so each replica writes
// its counters (--stats-file); a second table shows what the leader's user space paid in sends:
// syscalls and datagrams per committed op, and per broadcast (Prepare or Commit). Without eBPF a
// broadcast costs n-1 datagrams; with tc-broadcast one, the kernel making the other copies.
//
// Usage: bun run scripts/bench-modes.ts [--replicas 3,5,7] [--clients 1,16] [--duration 3]
//        [--modes none,tc-broadcast,+quorum-prune,all] [--xdp-mode native|generic] [--json out.json]
//        [--html report.html] [--batch-max N]   (the matrix of issue 6: --replicas 3,5,7 --clients 1,4,16,64;
//        --batch-max 1 turns adaptive batching off, so every request costs a Prepare and its acks)
//        [--binary dist/electrode] [--warmup S] (unmeasured seconds before each run's measurement,
//        default 5: a fresh replica spends its first seconds compiling its hot paths, and with
//        2 s of warm-up a 7-replica cluster measured half its warm throughput)
//        [--repeat N] (N rounds; in each, the modes of one client count run back to back; each
//        cell reports the run with the median throughput, every run, and the median of its ratios
//        to none's run of the same round)
//        [--no-ceiling] (skip the ceiling: in every round, before the modes of a client count, a
//        bare UDP echo with as many requests in flight, `electrode floor --clients K`, in a spare
//        namespace with no program attached; each row's "x ceiling" is its throughput against the
//        ceiling of its own round, the median over rounds with --repeat)

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { renderHtmlReport } from "../src/bench/html-report.ts";
import { formatBenchTable, type BenchJson } from "../src/bench/report.ts";
import { createCluster } from "../src/local/cluster.ts";
import { RunningCluster } from "../src/local/processes.ts";
import { benchMode, defaultModes, type BenchMode } from "../src/bench/modes.ts";
import { formatCpuTable, formatLeaderThreadsTable, type CpuSplit } from "../src/bench/cpu.ts";
import { runMode } from "../src/local/mode-run.ts";
import { ceilingRatio, formatEcho, medianOf, pairedCeilingRatio } from "../src/bench/ceiling.ts";
import type { FloorResult } from "../src/bench/floor.ts";
import { measureEcho } from "../src/local/floor-run.ts";

const { values } = parseArgs({
  options: {
    replicas: { type: "string", default: "3,5,7" },
    clients: { type: "string", default: "1,16" },
    duration: { type: "string", default: "3" },
    modes: { type: "string", default: defaultModes.join(",") },
    json: { type: "string" },
    html: { type: "string" },
    "xdp-mode": { type: "string", default: "native" },
    "batch-max": { type: "string" },
    repeat: { type: "string", default: "1" },
    warmup: { type: "string", default: "5" },
    binary: { type: "string", default: new URL("../dist/electrode", import.meta.url).pathname },
    "no-ceiling": { type: "boolean", default: false },
  },
});
/** Unmeasured seconds before the echo's measurement (a small loop, compiled within a fraction of
 * a second); it measures as long as the modes do. */
const ceilingWarmupS = 1;
const binary = values.binary!;
const modes = values.modes!.split(",").map(benchMode);

/** What `electrode replica --stats-file` writes (the fields used here). */
interface ReplicaCounters {
  sends_syscalls: number;
  datagrams_sent: number;
  datagrams_received: number;
  committed_ops: number;
  leader: boolean;
  messages: { sent: number; replies: number; byType: Record<string, number> };
}

interface LeaderSends {
  committed_ops: number;
  broadcasts: number;
  sends_syscalls: number;
  datagrams_sent: number;
  datagrams_to_replicas: number;
  syscalls_per_op: number;
  datagrams_per_op: number;
  replica_datagrams_per_op: number;
  ops_per_prepare: number;
  syscalls_per_broadcast: number;
  replica_datagrams_per_broadcast: number;
}

type Row = BenchJson & {
  /** The mode's name (its --modes word); `opt` is what the replicas said they run. */
  mode: string;
  /** The echo's round trips per second with as many in flight, measured in the run's round (the
   * median of the cell's rounds with --repeat), and the row's throughput against it (the median of
   * the ratios of runs to their own round's ceiling). */
  ceiling_round_trips_s?: number;
  throughput_x_ceiling?: number;
  leader_sends?: LeaderSends;
  cpu?: CpuSplit;
  /** With --repeat: every run of the cell, in round order. */
  runs?: { throughput_ops_s: number; p50_us: number; ceiling_round_trips_s?: number }[];
  /** With --repeat and a ceiling: the range of the runs' ratios to their round's ceiling. */
  ceiling_ratio_range?: { min: number; max: number };
  /** With --repeat, against none: the median (and range) of this mode's ratio to none's run of the same round. */
  paired_ratio?: { throughput: number; throughput_min: number; throughput_max: number; p50: number };
};

const round = (x: number) => Math.round(x * 1000) / 1000;

/** The leader's sends from every replica's counters. Broadcasts (Prepare and Commit) are counted
 * where they arrive: the follower that saw the most (user space does not count its broadcasts). */
function leaderSends(all: readonly ReplicaCounters[]): LeaderSends | undefined {
  const leader = all.find((c) => c.leader);
  if (!leader) return undefined;
  const followers = all.filter((c) => c !== leader);
  const arrived = (type: string) => Math.max(0, ...followers.map((c) => c.messages.byType[type] ?? 0));
  const prepares = arrived("Prepare");
  const broadcasts = prepares + arrived("Commit");
  const toReplicas = leader.messages.sent - leader.messages.replies;
  const ops = leader.committed_ops;
  return {
    committed_ops: ops,
    broadcasts,
    sends_syscalls: leader.sends_syscalls,
    datagrams_sent: leader.datagrams_sent,
    datagrams_to_replicas: toReplicas,
    syscalls_per_op: round(leader.sends_syscalls / ops),
    datagrams_per_op: round(leader.datagrams_sent / ops),
    replica_datagrams_per_op: round(toReplicas / ops),
    ops_per_prepare: round(ops / prepares),
    syscalls_per_broadcast: round(leader.sends_syscalls / broadcasts),
    replica_datagrams_per_broadcast: round(toReplicas / broadcasts),
  };
}

function formatSendsTable(rows: readonly Row[]): string {
  const header = ["replicas", "opt", "clients", "committed", "send syscalls/op", "datagrams/op", "to replicas/op", "ops/Prepare", "syscalls/broadcast", "replica datagrams/broadcast"];
  const body = rows.map((r) => {
    const s = r.leader_sends;
    if (!s) return [String(r.replicas), r.opt, String(r.clients), "no leader counters", ...header.slice(4).map(() => "")];
    const cells = [s.committed_ops, s.syscalls_per_op, s.datagrams_per_op, s.replica_datagrams_per_op, s.ops_per_prepare, s.syscalls_per_broadcast, s.replica_datagrams_per_broadcast];
    return [String(r.replicas), r.opt, String(r.clients), ...cells.map(String)];
  });
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...body.map(line)].join("\n");
}

async function runOnce(cluster: RunningCluster, statsFile: (id: number) => string, mode: BenchMode, clients: string): Promise<Row> {
  const row: Row = await runMode(cluster, { mode: mode.name, opt: mode.opt, clients: Number(clients), durationS: Number(values.duration), warmupS });
  const counters = cluster.replicas.flatMap((r) => {
    try {
      return [JSON.parse(readFileSync(statsFile(r.id), "utf8")) as ReplicaCounters];
    } catch {
      console.error(`replica ${r.id} wrote no counters (killed?)`);
      return [];
    }
  });
  row.leader_sends = leaderSends(counters);
  return row;
}

const warmupS = Number(values.warmup);
const dir = mkdtempSync(join(tmpdir(), "electrode-bench-"));

const rounds = Number(values.repeat);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--repeat wants a whole number >= 1, got '${values.repeat}'`);
/** Every run of a cell (replicas, mode, clients), in the order they ran. */
const runs = new Map<string, Row[]>();
/** The ceiling of each round (undefined: not measured) by replicas and clients. */
const ceilings = new Map<string, (FloorResult | undefined)[]>();

/** The echo with `clients` in flight in the cluster's spare namespace; undefined (and a warning)
 * when it fails: the modes are still worth measuring. */
async function measureCeiling(local: Awaited<ReturnType<typeof createCluster>>, clients: number): Promise<FloorResult | undefined> {
  try {
    const [result] = await measureEcho(local, { command: [binary], server: local.clients[1]!, clients: [clients], durationS: Number(values.duration), warmupS: ceilingWarmupS });
    return result;
  } catch (e) {
    console.error(`ceiling with ${clients} in flight not measured: ${(e as Error).message}`);
    return undefined;
  }
}

for (const n of values.replicas!.split(",").map(Number)) {
  // A second client namespace holds the echo: setup attaches programs to the replicas' links.
  const local = await createCluster({ replicas: n, clients: 2 });
  try {
    let setupDone = false;
    // Each round sweeps every client count and mode, so a cell's runs are spread over the whole
    // measurement (the machine's speed drifts by tens of percent over minutes).
    for (let round = 1; round <= rounds; round++) {
      for (const clients of values.clients!.split(",")) {
        // The modes of one client count run back to back, so each round pairs runs made within
        // seconds of each other; the ceiling runs just before them.
        const ceiling = values["no-ceiling"] ? undefined : await measureCeiling(local, Number(clients));
        const ceilingKey = `${n}|${clients}`;
        ceilings.set(ceilingKey, [...(ceilings.get(ceilingKey) ?? []), ceiling]);
        if (ceiling) console.error(`${n} replicas, ceiling (bare UDP echo), ${formatEcho(ceiling)}`);
        for (const mode of modes) {
          const run = `${n}-${mode.name}-${clients}-${round}`;
          const statsFile = (id: number) => join(dir, `stats-${run}-r${id}.json`);
          const replicaArgs = (id: number) => ["--opt", mode.opt, "--stats-file", statsFile(id)];
          const extraConfig = values["batch-max"] ? { batch_max: Number(values["batch-max"]) } : undefined;
          const cluster = new RunningCluster(local, { dir, command: [binary], replicaArgs, extraConfig });
          try {
            if (!setupDone) await cluster.setupAll(false, { xdpMode: values["xdp-mode"] as "native" | "generic" });
            setupDone = true;
            const row = await runOnce(cluster, statsFile, mode, clients);
            const x = ceilingRatio(row.throughput_ops_s, ceiling);
            if (x !== undefined) Object.assign(row, { ceiling_round_trips_s: ceiling!.throughput_round_trips_s, throughput_x_ceiling: x });
            const key = `${n}|${mode.name}|${clients}`;
            runs.set(key, [...(runs.get(key) ?? []), row]);
            const s = row.leader_sends;
            const sends = s ? `, leader ${s.syscalls_per_op} send syscalls and ${s.datagrams_per_op} datagrams per op, ${s.replica_datagrams_per_broadcast} datagrams per broadcast` : "";
            const of = rounds > 1 ? ` (round ${round}/${rounds})` : "";
            const xc = x !== undefined ? ` (${x.toFixed(2)} x ceiling)` : "";
            const lt = row.cpu?.leader_threads;
            const heap = lt ? `; leader threads: main ${lt.cores.main}, heap ${lt.cores.heap}, JIT ${lt.cores.jit} cores (heap ${Math.round(lt.heap_share * 100)}% of its CPU)` : "";
            console.error(`${n} replicas, ${mode.name}, ${clients} clients${of}: ${row.throughput_ops_s} ops/s${xc}, p50 ${row.latency_us.p50} us${sends}${heap}`);
          } finally {
            await cluster.close();
          }
        }
      }
    }
  } finally {
    await local.destroy();
  }
}
// One row per cell, in replicas, mode, clients order: the run with the median throughput (its
// latencies and counters stay together), with every run beside it, and against none the median
// of the ratios of runs paired by round.
const median = medianOf;
const clientCounts = values.clients!.split(",").map(Number);
const rows: Row[] = [...runs.values()]
  .map((all) => {
    const middleOps = median(all.map((x) => x.throughput_ops_s));
    const middle = all.find((r) => r.throughput_ops_s === middleOps)!;
    if (rounds === 1) return middle;
    const none = runs.get(`${middle.replicas}|none|${middle.clients}`);
    const paired = none && middle.mode !== "none" ? all.map((r, i) => ({ tput: r.throughput_ops_s / Math.max(1, none[i]!.throughput_ops_s), p50: r.latency_us.p50 / none[i]!.latency_us.p50 })) : undefined;
    const roundCeilings = all.map((r) => r.ceiling_round_trips_s);
    const measured = roundCeilings.filter((c): c is number => c !== undefined);
    const xCeiling = pairedCeilingRatio(all.map((r) => r.throughput_ops_s), roundCeilings);
    return {
      ...middle,
      ...(xCeiling && { ceiling_round_trips_s: medianOf(measured), throughput_x_ceiling: xCeiling.median, ceiling_ratio_range: { min: xCeiling.min, max: xCeiling.max } }),
      runs: all.map((r) => ({ throughput_ops_s: r.throughput_ops_s, p50_us: r.latency_us.p50, ...(r.ceiling_round_trips_s !== undefined && { ceiling_round_trips_s: r.ceiling_round_trips_s }) })),
      ...(paired && { paired_ratio: { throughput: round(median(paired.map((p) => p.tput))), throughput_min: round(Math.min(...paired.map((p) => p.tput))), throughput_max: round(Math.max(...paired.map((p) => p.tput))), p50: round(median(paired.map((p) => p.p50))) } }),
    };
  })
  .sort((a, b) => a.replicas - b.replicas || modes.findIndex((m) => m.name === a.mode) - modes.findIndex((m) => m.name === b.mode) || clientCounts.indexOf(a.clients) - clientCounts.indexOf(b.clients));
rmSync(dir, { recursive: true, force: true });
console.log(formatBenchTable(rows));
if (rounds > 1) {
  console.log();
  console.log(`Every run, ${rounds} rounds (ops/s), and against none the median of the ratios of runs paired by round:`);
  console.log("| replicas | mode | clients | ops/s per round | tput x none (min-max) | p50 x none | ceiling per round | x ceiling (min-max) |");
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    const p = r.paired_ratio;
    const ratio = p ? [`${p.throughput.toFixed(2)} (${p.throughput_min.toFixed(2)}-${p.throughput_max.toFixed(2)})`, p.p50.toFixed(2)] : ["", ""];
    const c = r.ceiling_ratio_range;
    const ceiling = [r.runs!.map((x) => x.ceiling_round_trips_s ?? "-").join(", "), c ? `${r.throughput_x_ceiling!.toFixed(2)} (${c.min.toFixed(2)}-${c.max.toFixed(2)})` : ""];
    console.log(`| ${r.replicas} | ${r.opt} | ${r.clients} | ${r.runs!.map((x) => x.throughput_ops_s).join(", ")} | ${ratio.join(" | ")} | ${ceiling.join(" | ")} |`);
  }
}
const allCeilings = [...ceilings.values()].flat().filter((c): c is FloorResult => c !== undefined);
if (allCeilings.length > 0) {
  console.log();
  console.log("Ceiling (bare UDP echo, recvmmsg/sendmmsg, from the client namespace to a spare one; round trips/s per round):");
  for (const [key, each] of ceilings) {
    const [n, k] = key.split("|");
    console.log(`  ${n} replicas' cluster, ${k} in flight: ${each.map((c) => c?.throughput_round_trips_s ?? "not measured").join(", ")}`);
  }
}
console.log();
console.log("Leader's sends (user space), whole run including warmup and idle heartbeats:");
console.log(formatSendsTable(rows));
console.log();
console.log("Where the CPU goes (measured window; cores busy, and CPU microseconds per committed op):");
console.log(formatCpuTable(rows));
console.log();
console.log("The leader's threads (measured window; cores busy by thread group: JS main thread, JSC's GC and heap threads, JIT, other):");
console.log(formatLeaderThreadsTable(rows));
if (values.json) await Bun.write(values.json, JSON.stringify(rows, null, 2) + "\n");
// The report names one ceiling per client count: the run with the median throughput.
const ceilingPerClients = clientCounts.flatMap((k) => {
  const atK = allCeilings.filter((c) => c.clients === k);
  if (atK.length === 0) return [];
  const middle = medianOf(atK.map((c) => c.throughput_round_trips_s));
  return [atK.find((c) => c.throughput_round_trips_s === middle)!];
});
if (values.html) await Bun.write(values.html, renderHtmlReport(rows, undefined, `electrode modes: ${values.replicas} replicas, ${values.clients} clients`, ceilingPerClients));
