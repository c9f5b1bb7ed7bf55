// Reads without a log write against reads through the log and against writes alone, side by side
// in one run on a namespace cluster (root), with fast paths off and on. For each mode and round it
// runs, back to back: the kv workload with writes only, with `--read-ratio` gets through the log
// (what every get cost before the read index), and with the same gets by the leader's read index.
// The machine is noisy: compare within one run; the table gives ratios. Beside throughput it
// gives what an op costs the replicas in datagrams (sent plus received, over all replicas, per
// reply the leader sent, from each replica's --stats-file), which the noise does not move.
//
// Usage: bun run scripts/bench-reads.ts [--replicas 3] [--clients 64] [--read-ratio 0.9]
//        [--duration 5] [--warmup 3] [--repeat 3] [--modes none,all] [--json out.json]
//        [--binary dist/electrode]
// Each cell is the run with the median throughput over the rounds.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { medianOf } from "../src/bench/ceiling.ts";
import { createCluster } from "../src/local/cluster.ts";
import { runMode, type ModeRun } from "../src/local/mode-run.ts";
import { RunningCluster } from "../src/local/processes.ts";

const { values } = parseArgs({
  options: {
    replicas: { type: "string", default: "3" },
    clients: { type: "string", default: "64" },
    "read-ratio": { type: "string", default: "0.9" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "3" },
    repeat: { type: "string", default: "3" },
    modes: { type: "string", default: "none,all" },
    json: { type: "string" },
    binary: { type: "string", default: new URL("../dist/electrode", import.meta.url).pathname },
  },
});

// "index" is the default config (leases on); "index, no lease" sets timing.lease_ms: 0, so every
// read waits for a read round or a commit, as before leases.
const kinds: readonly { name: string; args: string[]; extraConfig?: Record<string, unknown> }[] = [
  { name: "writes only", args: ["--read-ratio", "0"] },
  { name: "reads via log", args: ["--read-ratio", values["read-ratio"]!, "--reads", "log"] },
  { name: "reads via index, no lease", args: ["--read-ratio", values["read-ratio"]!, "--reads", "index"], extraConfig: { timing: { lease_ms: 0 } } },
  { name: "reads via index", args: ["--read-ratio", values["read-ratio"]!, "--reads", "index"] },
];

const n = Number(values.replicas);
const clients = Number(values.clients);
const rounds = Number(values.repeat);
type Run = ModeRun & { datagrams_per_op?: number };
const runs = new Map<string, Run[]>();

/** What `electrode replica --stats-file` writes (the fields used here). */
interface ReplicaCounters {
  datagrams_sent: number;
  datagrams_received: number;
  leader: boolean;
  messages: { replies: number };
}

/** Datagrams all replicas sent and received per reply the leader sent (over their lifetime). */
function datagramsPerOp(files: readonly string[]): number | undefined {
  const counters = files.map((f) => JSON.parse(readFileSync(f, "utf8")) as ReplicaCounters);
  const replies = counters.reduce((sum, c) => sum + c.messages.replies, 0);
  const datagrams = counters.reduce((sum, c) => sum + c.datagrams_sent + c.datagrams_received, 0);
  return replies > 0 ? Math.round((datagrams / replies) * 100) / 100 : undefined;
}
const dir = mkdtempSync(join(tmpdir(), "electrode-bench-reads-"));
const local = await createCluster({ replicas: n, clients: 1 });
try {
  let setupDone = false;
  for (let round = 1; round <= rounds; round++) {
    for (const opt of values.modes!.split(",")) {
      for (const kind of kinds) {
        const statsFile = (id: number) => join(dir, `stats-${round}-${opt}-${kinds.indexOf(kind)}-r${id}.json`);
        const replicaArgs = (id: number) => ["--opt", opt, "--stats-file", statsFile(id)];
        const cluster = new RunningCluster(local, { dir, command: [values.binary!], replicaArgs, extraConfig: kind.extraConfig });
        try {
          if (!setupDone) await cluster.setupAll(false);
          setupDone = true;
          const benchArgs = ["--workload", "kv", "--keys", "1000", "--value-bytes", "16", "--seed", String(round), ...kind.args];
          const row: Run = await runMode(cluster, { mode: `${opt} ${kind.name}`, opt, clients, durationS: Number(values.duration), warmupS: Number(values.warmup), benchArgs });
          row.datagrams_per_op = datagramsPerOp(local.replicas.map((r) => statsFile(r.id)));
          const key = `${opt}|${kind.name}`;
          runs.set(key, [...(runs.get(key) ?? []), row]);
          console.error(`${opt}, ${kind.name} (round ${round}/${rounds}): ${row.throughput_ops_s} ops/s, reads ${row.reads?.throughput_ops_s ?? 0}/s p50 ${row.reads?.latency_us.p50 ?? "-"} us, writes ${row.writes?.throughput_ops_s ?? 0}/s p50 ${row.writes?.latency_us.p50 ?? "-"} us, ${row.datagrams_per_op} datagrams per op`);
        } finally {
          await cluster.close();
        }
      }
    }
  }
} finally {
  await local.destroy();
  rmSync(dir, { recursive: true, force: true });
}

/** The run with the median throughput of a cell. */
function medianRun(list: Run[]): Run {
  const sorted = [...list].sort((a, b) => a.throughput_ops_s - b.throughput_ops_s);
  return sorted[(sorted.length - 1) >> 1]!;
}

const lines = [
  `${n} replicas, ${clients} clients, kv (1000 keys, 16-byte values), ${values["read-ratio"]} reads; median of ${rounds} rounds`,
  "| fast paths | workload | ops/s | reads/s | read p50 us | writes/s | write p50 us | ops/s vs writes only | read p50 vs write p50 | user-space datagrams per op | vs writes only |",
  "|---|---|---|---|---|---|---|---|---|---|---|",
];
const table: Record<string, unknown>[] = [];
for (const opt of values.modes!.split(",")) {
  const base = medianRun(runs.get(`${opt}|writes only`)!);
  for (const kind of kinds) {
    const list = runs.get(`${opt}|${kind.name}`)!;
    const row = medianRun(list);
    // Paired by round: each round's ratio to the writes-only run made seconds before it.
    const paired = list.map((r, i) => r.throughput_ops_s / runs.get(`${opt}|writes only`)![i]!.throughput_ops_s);
    const ratio = medianOf(paired);
    const readP50 = row.reads?.latency_us.p50;
    const writeP50 = row.writes?.latency_us.p50;
    const latencyRatio = readP50 !== undefined && writeP50 !== undefined && row.reads!.ops > 0 && row.writes!.ops > 0 ? (readP50 / writeP50).toFixed(2) : "-";
    const cell = (v: number | undefined) => (v === undefined ? "-" : String(Math.round(v)));
    const datagrams = medianOf(list.map((r) => r.datagrams_per_op ?? NaN));
    const datagramsRatio = datagrams / medianOf(runs.get(`${opt}|writes only`)!.map((r) => r.datagrams_per_op ?? NaN));
    lines.push(`| ${opt} | ${kind.name} | ${cell(row.throughput_ops_s)} | ${row.reads?.ops ? cell(row.reads.throughput_ops_s) : "-"} | ${row.reads?.ops ? cell(readP50) : "-"} | ${cell(row.writes?.throughput_ops_s)} | ${cell(writeP50)} | ${ratio.toFixed(2)} | ${latencyRatio} | ${datagrams} | ${datagramsRatio.toFixed(2)} |`);
    table.push({ opt, workload: kind.name, median: row, runs: list.map((r) => r.throughput_ops_s), throughput_vs_writes_only: ratio, writes_only_ops_s: base.throughput_ops_s });
  }
}
console.log(lines.join("\n"));
if (values.json) writeFileSync(values.json, JSON.stringify(table, null, 2) + "\n");
