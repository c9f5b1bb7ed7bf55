// The floor and the ceiling alone (root): a namespace cluster with one replica namespace and a
// client namespace, no replica running and no program attached, and `electrode floor --clients K`
// from the client namespace to an echo in the replica's, for every K in each round. Prints each
// run with the CPU of both ends, then per K the median and range over rounds. The machine is
// shared: a run beside busy processes ("other" cores) measures their leftovers, not the machine.
//
// Usage: bun run scripts/ceiling.ts [--clients 1,16,64] [--repeat 3] [--duration 3] [--warmup 1]
//        [--binary dist/electrode] [--json out.json]

import { parseArgs } from "node:util";
import { formatEcho, medianOf } from "../src/bench/ceiling.ts";
import type { FloorResult } from "../src/bench/floor.ts";
import { createCluster } from "../src/local/cluster.ts";
import { measureEcho } from "../src/local/floor-run.ts";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "1,16,64" },
    repeat: { type: "string", default: "3" },
    duration: { type: "string", default: "3" },
    warmup: { type: "string", default: "1" },
    binary: { type: "string", default: new URL("../dist/electrode", import.meta.url).pathname },
    json: { type: "string" },
  },
});
const clients = values.clients!.split(",").map(Number);
if (clients.some((k) => !Number.isInteger(k) || k < 1)) throw new Error(`--clients wants whole numbers >= 1, got '${values.clients}'`);
const rounds = Number(values.repeat);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--repeat wants a whole number >= 1, got '${values.repeat}'`);

const runs: FloorResult[] = [];
const local = await createCluster({ replicas: 1 });
try {
  for (let round = 1; round <= rounds; round++) {
    const results = await measureEcho(local, { command: [values.binary!], server: local.replicas[0]!, clients, durationS: Number(values.duration), warmupS: Number(values.warmup) });
    for (const r of results) console.error(`round ${round}/${rounds}, ${formatEcho(r)}`);
    runs.push(...results);
  }
} finally {
  await local.destroy();
}

console.log("| in flight | round trips/s per round | median (range) | p50 us per round | CPU us per round trip per round | cores per round: echo / client / softirq / other / idle |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const k of clients) {
  const atK = runs.filter((r) => r.clients === k);
  const rate = atK.map((r) => r.throughput_round_trips_s);
  const cost = atK.map((r) => r.cpu?.us_per_round_trip ?? "-");
  const cores = atK.map((r) => (r.cpu ? `${r.cpu.server} / ${r.cpu.client} / ${r.cpu.softirq} / ${r.cpu.other} / ${r.cpu.idle}` : "-"));
  console.log(`| ${k} | ${rate.join(", ")} | ${medianOf(rate)} (${Math.min(...rate)}-${Math.max(...rate)}) | ${atK.map((r) => r.latency_us.p50).join(", ")} | ${cost.join(", ")} | ${cores.join("; ")} |`);
}
if (values.json) await Bun.write(values.json, JSON.stringify(runs, null, 2) + "\n");
