import { defineCommand } from "citty";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatBenchTable, type BenchJson } from "../bench/report.ts";
import { createCluster } from "../local/cluster.ts";
import { RunningCluster } from "../local/processes.ts";
import { createLogger, intArg, numberArg, rejectUnknownFlags, RuntimeError } from "./common.ts";

const args = {
  replicas: { type: "string", description: "Replicas (odd)", default: "3", valueHint: "N" },
  clients: { type: "string", description: "Closed-loop clients", default: "16", valueHint: "K" },
  duration: { type: "string", description: "Measured seconds per mode", default: "5", valueHint: "S" },
  json: { type: "string", description: "Write all results as JSON to FILE", valueHint: "FILE" },
  keep: { type: "boolean", description: "Keep the logs directory" },
  verbose: { type: "boolean", description: "Debug logs", alias: "v" },
  quiet: { type: "boolean", description: "Only warnings and errors" },
} as const;

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
      const rows: BenchJson[] = [];
      // Without eBPF, then with the fast paths that setup attaches, on the same namespaces.
      for (const mode of [{ opt: "none", setup: false }, { opt: "tc-broadcast", setup: true }]) {
        running = new RunningCluster(local, { dir, setup: mode.setup, replicaArgs: ["--opt", mode.opt] });
        if (mode.setup) await running.setupAll();
        running.startAll();
        await running.waitServing();
        log.start(`benchmark: opt ${mode.opt}, ${clients} clients, ${duration}s`);
        const jsonFile = join(dir, `bench-${mode.opt}.json`);
        const out = await running.client(["--bench", "--clients", String(clients), "--duration", String(duration), "--warmup", "1", "--opt", mode.opt, "--json", jsonFile, "--quiet"]);
        if (out.code !== 0) throw new RuntimeError(`benchmark failed: ${out.stderr.trim()}`);
        rows.push(JSON.parse(readFileSync(jsonFile, "utf8")) as BenchJson);
        await running.close();
        running = undefined;
      }
      console.log(formatBenchTable(rows));
      if (a.json) await Bun.write(a.json, JSON.stringify(rows, null, 2) + "\n");
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
