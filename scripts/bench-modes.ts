// Compares fast-path modes side by side in one run on namespace clusters (root), printing a table
// with ratios to `none` and writing JSON. The machine is noisy: compare within one run.
//
// Usage: bun run scripts/bench-modes.ts [--replicas 3,5,7] [--clients 1,16] [--duration 3] [--json out.json]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { formatBenchTable, type BenchJson } from "../src/bench/report.ts";
import { createCluster } from "../src/local/cluster.ts";
import { RunningCluster } from "../src/local/processes.ts";

const { values } = parseArgs({
  options: {
    replicas: { type: "string", default: "3,5,7" },
    clients: { type: "string", default: "1,16" },
    duration: { type: "string", default: "3" },
    json: { type: "string" },
  },
});
const binary = new URL("../dist/electrode", import.meta.url).pathname;
const modes = [
  { opt: "none", setup: false },
  { opt: "tc-broadcast", setup: true },
];
const rows: BenchJson[] = [];
const dir = mkdtempSync(join(tmpdir(), "electrode-bench-"));

for (const n of values.replicas!.split(",").map(Number)) {
  const local = await createCluster({ replicas: n });
  try {
    for (const mode of modes) {
      const cluster = new RunningCluster(local, { dir, command: [binary], setup: mode.setup, replicaArgs: ["--opt", mode.setup ? mode.opt : "none"] });
      try {
        if (mode.setup) await cluster.setupAll();
        cluster.startAll();
        await cluster.waitServing();
        for (const clients of values.clients!.split(",")) {
          const out = await cluster.client(["--bench", "--clients", clients, "--duration", values.duration!, "--warmup", "1", "--opt", mode.opt, "--json", "-", "--quiet"]);
          if (out.code !== 0) throw new Error(`bench failed: ${out.stderr}`);
          const row = JSON.parse(out.stdout) as BenchJson;
          rows.push(row);
          console.error(`${n} replicas, ${mode.opt}, ${clients} clients: ${row.throughput_ops_s} ops/s, p50 ${row.latency_us.p50} us`);
        }
      } finally {
        await cluster.close();
      }
    }
  } finally {
    await local.destroy();
  }
}
rmSync(dir, { recursive: true, force: true });
console.log(formatBenchTable(rows));
if (values.json) await Bun.write(values.json, JSON.stringify(rows, null, 2) + "\n");
