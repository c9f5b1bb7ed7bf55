// What durability costs, side by side in one run (root; namespace clusters): storage memory only,
// fsync off, interval and always, each with fast paths none and all, at 1 and 64 clients, 3
// replicas. Each run starts the replicas afresh on empty data directories (on the filesystem of
// --dir), benchmarks, stops them (SIGTERM: each writes its --stats-file) and reads from the leader's
// counters how many fsyncs it made per committed op: group commit makes one fsync cover every entry
// appended since the last, so under load it is far below 1. The table gives each row's throughput
// against memory only with the same fast paths and clients, in the same round.
//
// With fsync always the kernel cannot ack before the disk, so "all" runs tc-broadcast and quorum
// prune without fast reply (src/storage/store.ts): the row's opt says what really ran.
//
// Usage: bun run scripts/bench-storage.ts [--clients 1,64] [--duration 5] [--warmup 2]
//        [--modes memory,off,interval,always] [--opts none,all] [--interval-ms 100]
//        [--workload null|kv] [--dir DIR] [--json out.json] [--binary dist/electrode]

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { $ } from "bun";
import type { BenchJson } from "../src/bench/report.ts";
import { createCluster } from "../src/local/cluster.ts";
import { RunningCluster } from "../src/local/processes.ts";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "1,64" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "2" },
    modes: { type: "string", default: "memory,off,interval,always" },
    opts: { type: "string", default: "none,all" },
    "interval-ms": { type: "string", default: "100" },
    workload: { type: "string", default: "null" },
    dir: { type: "string", default: tmpdir() },
    json: { type: "string" },
    binary: { type: "string", default: new URL("../dist/electrode", import.meta.url).pathname },
  },
});

const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);
const clientCounts = list(values.clients!).map(Number);
const modes = list(values.modes!);
for (const m of modes) if (!["memory", "off", "interval", "always"].includes(m)) throw new Error(`--modes: unknown '${m}' (memory, off, interval, always)`);
const opts = list(values.opts!);
for (const o of opts) if (o !== "none" && o !== "all") throw new Error(`--opts: none or all, not '${o}'`);
if (process.getuid?.() !== 0) {
  console.error("bench-storage needs root (network namespaces, eBPF)");
  process.exit(1);
}

interface Row {
  storage: string;
  opt: string;
  clients: number;
  throughput_ops_s: number;
  p50_us: number;
  p99_us: number;
  leader_fsyncs: number;
  leader_committed_ops: number;
  fsyncs_per_op: number | null;
  x_memory: number | null;
}

const work = mkdtempSync(join(values.dir!, "electrode-bench-storage-"));
const fs = (await $`findmnt -n -o FSTYPE,SOURCE -T ${work}`.nothrow().text()).trim();
console.log(`data directories in ${work} (${fs || "filesystem unknown"}); workload ${values.workload}, ${values.duration}s per run after ${values.warmup}s warm-up`);
const local = await createCluster({ replicas: 3 });
const rows: Row[] = [];
try {
  let setUp = false;
  for (const clients of clientCounts) {
    for (const opt of opts) {
      for (const mode of modes) {
        const dir = join(work, `${mode}-${opt}-${clients}`);
        const storage = mode === "memory" ? {} : { storage: { fsync: mode, fsync_interval_ms: Number(values["interval-ms"]) } };
        const cluster = new RunningCluster(local, {
          dir,
          command: [values.binary!],
          extraConfig: storage,
          replicaArgs: (id) => ["--opt", opt, "--stats-file", join(dir, `stats-${id}.json`), ...(mode === "memory" ? [] : ["--data-dir", join(dir, `data-${id}`)])],
        });
        if (opt === "all" && !setUp) {
          await cluster.setupAll();
          setUp = true;
        }
        cluster.startAll();
        let json: BenchJson;
        try {
          await cluster.waitServing();
          const out = await cluster.client(["--bench", "--workload", values.workload!, "--clients", String(clients), "--duration", values.duration!, "--warmup", values.warmup!, "--json", "-", "--quiet"]);
          if (out.code !== 0) throw new Error(`${mode}/${opt}/${clients}: bench failed: ${out.stderr.trim()}`);
          json = JSON.parse(out.stdout) as BenchJson;
        } finally {
          await cluster.stopAll();
        }
        const leader = JSON.parse(readFileSync(join(dir, `stats-${json.leader_id ?? 1}.json`), "utf8")) as { committed_ops: number; storage?: { fsyncs: number } };
        const fsyncs = leader.storage?.fsyncs ?? 0;
        const row: Row = {
          storage: mode,
          opt: json.opt,
          clients,
          throughput_ops_s: Math.round(json.throughput_ops_s),
          p50_us: json.latency_us.p50,
          p99_us: json.latency_us.p99,
          leader_fsyncs: fsyncs,
          leader_committed_ops: leader.committed_ops,
          fsyncs_per_op: mode === "memory" ? null : fsyncs / Math.max(1, leader.committed_ops),
          x_memory: null,
        };
        const base = rows.find((r) => r.storage === "memory" && r.clients === clients && r.opt.startsWith(opt === "all" ? "all" : "none"));
        if (base) row.x_memory = row.throughput_ops_s / base.throughput_ops_s;
        rows.push(row);
        console.log(`${mode.padEnd(8)} ${row.opt.padEnd(26)} ${String(clients).padStart(3)} clients: ${String(row.throughput_ops_s).padStart(7)} ops/s, p50 ${row.p50_us} us, p99 ${row.p99_us} us${row.fsyncs_per_op === null ? "" : `, ${row.fsyncs_per_op.toFixed(3)} fsyncs/op`}`);
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  if (setUp) await new RunningCluster(local, { dir: join(work, "teardown"), command: [values.binary!] }).setupAll(true).catch(() => undefined);
} finally {
  await local.destroy();
  rmSync(work, { recursive: true, force: true });
}

const head = "| storage | fast paths (as run) | clients | ops/s | x memory | p50 us | p99 us | leader fsyncs per op |";
console.log(`\n${head}\n|---|---|---|---|---|---|---|---|`);
for (const r of rows) {
  console.log(`| ${r.storage} | ${r.opt} | ${r.clients} | ${r.throughput_ops_s} | ${r.x_memory === null ? "" : `${r.x_memory.toFixed(2)}x`} | ${r.p50_us} | ${r.p99_us} | ${r.fsyncs_per_op === null ? "" : r.fsyncs_per_op.toFixed(3)} |`);
}
const result = { filesystem: fs, workload: values.workload, duration_s: Number(values.duration), rows };
if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
