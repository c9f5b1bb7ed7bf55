// Where the CPU goes: a 3-replica namespace cluster with the given fast paths, the leader's JS
// profiled with Bun's sampling profiler while a closed-loop bench runs, and (when `perf` exists)
// a system-wide perf profile split by process and by kernel/user. Root.
//
// Usage: bun run scripts/profile.ts [--opt all|none|...] [--clients 16] [--duration 5] [--out DIR]
//        [--bench-args="--workload kv --read-ratio 0.9 --keys 1000"]

import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createCluster } from "../src/local/cluster.ts";
import { RunningCluster } from "../src/local/processes.ts";

const { values } = parseArgs({
  options: {
    opt: { type: "string", default: "all" },
    clients: { type: "string", default: "16" },
    duration: { type: "string", default: "5" },
    out: { type: "string", default: "/tmp/electrode-profile" },
    "bench-args": { type: "string", default: "" },
  },
});
const root = new URL("..", import.meta.url).pathname;
const binary = join(root, "dist/electrode");
const out = values.out!;
mkdirSync(out, { recursive: true });

const local = await createCluster({ replicas: 3 });
// Replica 1 leads view 0: it runs from source under the profiler, the others as the binary.
const profiled = [process.execPath, "--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${out}`, "run", join(root, "src/cli/main.ts")];
try {
  await new RunningCluster(local, { dir: out, command: [binary] }).setupAll();
  const cluster = new RunningCluster(local, { dir: out, command: [binary], replicaArgs: ["--opt", values.opt!] });
  const leader = new RunningCluster(local, { dir: out, command: profiled, replicaArgs: ["--opt", values.opt!] });
  leader.start(1);
  cluster.start(2);
  cluster.start(3);
  await cluster.waitServing();
  // perf samples the second half of the run: the first half warms up (JIT compilation).
  const durationS = Number(values.duration);
  const bench = cluster.client(["--bench", "--clients", values.clients!, "--duration", String(durationS / 2), "--warmup", String(durationS / 2), "--json", "-", "--quiet", ...values["bench-args"]!.split(" ").filter(Boolean)]);
  await Bun.sleep((durationS / 2) * 1000);
  const perf = Bun.which("perf") ? Bun.spawn(["perf", "record", "-a", "-g", "-o", join(out, "perf.data"), "--", "sleep", String(durationS / 2 - 0.2)], { stdout: "ignore", stderr: "ignore" }) : undefined;
  await perf?.exited;
  const benchOut = await bench;
  await leader.stopAll();
  await cluster.stopAll();
  const result = JSON.parse(benchOut.stdout) as { throughput_ops_s: number; latency_us: { p50: number } };
  console.log(`opt ${values.opt}, ${values.clients} clients: ${result.throughput_ops_s} ops/s, p50 ${result.latency_us.p50} us`);
  const md = readdirSync(out).filter((f) => f.endsWith(".md")).sort().at(-1);
  if (md) {
    console.log(`\nleader JS profile (${join(out, md)}), top of it:`);
    console.log(readFileSync(join(out, md), "utf8").split("\n").slice(0, 60).join("\n"));
  }
  if (perf) {
    const report = Bun.spawnSync(["perf", "report", "-i", join(out, "perf.data"), "--no-children", "--sort", "comm,dso", "-g", "none", "--percent-limit", "1", "--stdio"], { stdout: "pipe", stderr: "ignore" });
    console.log("\nsystem-wide (perf), by process and object:");
    console.log(report.stdout.toString().split("\n").filter((l) => l && !l.startsWith("#")).slice(0, 25).join("\n"));
  }
} finally {
  await local.destroy();
}
