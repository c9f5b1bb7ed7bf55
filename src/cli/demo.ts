import { defineCommand } from "citty";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatCpuTable } from "../bench/cpu.ts";
import { benchMode, defaultModes } from "../bench/modes.ts";
import { formatBenchTable } from "../bench/report.ts";
import { ceilingRatio, formatEcho } from "../bench/ceiling.ts";
import type { FloorResult } from "../bench/floor.ts";
import { renderHtmlReport } from "../bench/html-report.ts";
import { createCluster, type LocalCluster } from "../local/cluster.ts";
import { measureEcho } from "../local/floor-run.ts";
import { runMode, type ModeRun } from "../local/mode-run.ts";
import { RunningCluster, selfCommand } from "../local/processes.ts";
import { createLogger, intArg, numberArg, rejectUnknownFlags, RuntimeError } from "./common.ts";

/** Seconds each echo run measures, after its warm-up (a small loop: compiled within a fraction of
 * a second). */
const echoDurationS = 3;
const echoWarmupS = 1;

const args = {
  replicas: { type: "string", description: "Replicas (odd)", default: "3", valueHint: "N" },
  clients: { type: "string", description: "Closed-loop clients", default: "16", valueHint: "K" },
  duration: { type: "string", description: "Measured seconds per mode", default: "5", valueHint: "S" },
  warmup: { type: "string", description: "Unmeasured seconds before each measurement (fresh replicas compile their hot paths first)", default: "3", valueHint: "S" },
  json: { type: "string", description: "Write all results (and the floor and ceiling) as JSON to FILE", default: "electrode-demo.json", valueHint: "FILE" },
  html: { type: "string", description: "Write a self-contained HTML report with plots to FILE", default: "electrode-demo.html", valueHint: "FILE" },
  keep: { type: "boolean", description: "Keep the logs directory" },
  verbose: { type: "boolean", description: "Debug logs", alias: "v" },
  quiet: { type: "boolean", description: "Only warnings and errors" },
} as const;

/** The floor (one request in flight: the latency floor) and the ceiling (as many in flight as the
 * bench has clients: the throughput ceiling), from the client namespace to an echo in replica 1's,
 * before setup attaches anything there. One run when there is one client. */
async function measureFloor(local: LocalCluster, clients: number, log: { start(m: string): void; warn(m: string): void }): Promise<{ floor?: FloorResult; ceiling?: FloorResult }> {
  log.start(`measuring the floor and the ceiling: bare UDP echo between two namespaces, 1${clients > 1 ? ` and ${clients}` : ""} in flight`);
  try {
    const [floor, ceiling] = await measureEcho(local, { command: selfCommand(), server: local.replicas[0]!, clients: clients > 1 ? [1, clients] : [1], durationS: echoDurationS, warmupS: echoWarmupS });
    return { floor, ceiling: ceiling ?? floor };
  } catch (e) {
    log.warn(`floor and ceiling not measured: ${(e as Error).message}`);
    return {};
  }
}

export default defineCommand({
  meta: {
    name: "demo",
    description: "Throwaway cluster of network namespaces on this machine, benchmarked: electrode demo --replicas 5",
  },
  args,
  async run({ args: a }) {
    rejectUnknownFlags(a, args);
    const log = createLogger(a, "demo");
    const replicas = intArg(a.replicas, "replicas", 1, 31);
    if (replicas % 2 === 0) throw new RuntimeError(`--replicas must be odd (2f+1), got ${replicas}`);
    const clients = intArg(a.clients, "clients", 1, 4096);
    const duration = numberArg(a.duration, "duration", 0.5, 3600);
    const warmupS = numberArg(a.warmup, "warmup", 0, 600);
    if (process.getuid?.() !== 0) throw new RuntimeError("demo needs root (it creates network namespaces)");
    const dir = mkdtempSync(join(tmpdir(), "electrode-demo-"));
    log.start(`creating ${replicas} replica namespaces and a client namespace`);
    const local = await createCluster({ replicas });
    let running: RunningCluster | undefined;
    const interrupted = () => {
      log.warn("interrupted: tearing down");
      void (async () => {
        await running?.close();
        await local.destroy();
        process.exit(130);
      })();
    };
    process.once("SIGINT", interrupted);
    process.once("SIGTERM", interrupted);
    try {
      const rows: ModeRun[] = [];
      const { floor, ceiling } = await measureFloor(local, clients, log);
      // Setup attaches every fast path once; then, on the same namespaces, the replicas run
      // without eBPF and with one more of Electrode's optimizations each time.
      log.start("attaching the eBPF fast paths in every replica namespace (electrode setup)");
      await new RunningCluster(local, { dir }).setupAll();
      for (const mode of defaultModes.map(benchMode)) {
        running = new RunningCluster(local, { dir, replicaArgs: ["--opt", mode.opt] });
        log.start(`benchmark: ${mode.name} (--opt ${mode.opt}), ${clients} clients, ${duration}s`);
        try {
          const row = await runMode(running, { mode: mode.name, opt: mode.opt, clients, durationS: duration, warmupS });
          const x = ceilingRatio(row.throughput_ops_s, ceiling);
          rows.push(x === undefined ? row : { ...row, throughput_x_ceiling: x });
        } catch (e) {
          throw new RuntimeError((e as Error).message);
        }
        running = undefined; // stopped; setup's attachments and counters stay
      }
      console.log(formatBenchTable(rows));
      const storage = [...new Set(rows.map((r) => r.storage))].join(", ");
      console.log(`storage: ${storage === "memory" ? "memory only, as in the paper (a data directory per replica survives a whole-cluster crash: docs/storage.md)" : storage}`);
      const optWidth = Math.max(...rows.map((r) => r.opt.length)) + 1;
      if (floor) {
        console.log(`\nfloor (bare UDP ping-pong between two namespaces): p50 ${floor.latency_us.p50} us, p99 ${floor.latency_us.p99} us`);
        for (const row of rows) console.log(`  ${row.opt.padEnd(optWidth)} p50 = ${(row.latency_us.p50 / floor.latency_us.p50).toFixed(2)} x floor`);
      }
      if (ceiling) {
        console.log(`\nceiling (bare UDP echo between two namespaces, recvmmsg/sendmmsg), ${formatEcho(ceiling)}`);
        for (const row of rows) console.log(`  ${row.opt.padEnd(optWidth)} ops/s = ${row.throughput_x_ceiling?.toFixed(2) ?? "?"} x ceiling`);
      }
      console.log("\nfast-path counters per mode (all replicas, this run):");
      for (const row of rows) {
        const c = row.fast_path_counters;
        const shown = ["tc_broadcast_clones", "xdp_pass_quorum", "xdp_prune_early", "xdp_prune_late", "xdp_fast_acked"].map((k) => `${k} ${c[k] ?? 0}`);
        console.log(`  ${row.opt.padEnd(optWidth)} ${shown.join(", ")}`);
      }
      console.log("\nwhere the CPU goes (cores busy in the measured window, and CPU microseconds per op):");
      console.log(formatCpuTable(rows));
      await Bun.write(a.json, JSON.stringify({ floor, ceiling, runs: rows }, null, 2) + "\n");
      await Bun.write(a.html, renderHtmlReport(rows, floor, `electrode demo: ${replicas} replicas, ${clients} clients`, ceiling ? [ceiling] : []));
      log.success(`wrote ${a.json} and ${a.html}`);
    } finally {
      process.off("SIGINT", interrupted);
      process.off("SIGTERM", interrupted);
      await running?.close();
      await local.destroy();
      if (a.keep) log.info(`logs kept in ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
      log.success("torn down");
    }
  },
});
