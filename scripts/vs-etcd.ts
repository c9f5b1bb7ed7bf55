// electrode against etcd, side by side, on this machine (root): a 3-member etcd cluster (Debian's
// etcd-server, with its default fsync and with --unsafe-no-fsync) and a 3-replica electrode cluster
// (fast paths none and all), each in a namespace cluster of src/local/cluster.ts (one member or
// replica per namespace, the load generator in the client namespace), driven by the same
// closed-loop kv workload: the same keys, values, per-client seeded mix and measurement. One
// table: throughput and p50 of each system, and electrode's ratios to etcd.
//
// Noise: the machine's speed drifts by tens of percent over minutes, so each round runs the four
// systems of one (mix, clients) back to back (in an order rotated every round), and the ratios
// are the median of the ratios of runs of the same round. Each system has a namespace cluster of
// its own (created once): etcd's traffic never crosses electrode's eBPF programs.
//
// Needs /usr/bin/etcd and installs nothing: `./scripts/setup.sh --with-etcd` (or
// `apt-get install -y etcd-server`) provides it. Not part of `npm test`.
//
// Usage: npm run vs-etcd -- [--clients 1,16,64] [--read-ratios 0,0.5,0.9] [--keys 16]
//        [--value-bytes 16] [--key-dist uniform|zipf] [--duration 3] [--warmup 3] [--repeat 3]
//        [--systems etcd-fsync,etcd-no-fsync,electrode-none,electrode-all] [--etcd-conns 1]
//        [--etcd-binary /usr/bin/etcd]
//        [--xdp-mode native|generic] [--binary dist/electrode] [--json vs-etcd.json] [--keep]

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { UsageError } from "../src/cli/common.ts";
import { parseKvWorkload } from "../src/cli/kv-args.ts";
import { createCluster, type LocalCluster } from "../src/local/cluster.ts";
import { RunningCluster } from "../src/local/processes.ts";
import { runElectrodeCell, runEtcdCell, type CellOptions } from "./etcd/cells.ts";
import { etcdBinaryDefault, etcdMissing, etcdVersion, type EtcdCluster } from "./etcd/cluster.ts";
import { cells, formatTable, systems, type Run, type System } from "./etcd/table.ts";

const options = {
    clients: { type: "string", default: "1,16,64" },
    "read-ratios": { type: "string", default: "0,0.5,0.9" },
    keys: { type: "string", default: "16" },
    "value-bytes": { type: "string", default: "16" },
    "key-dist": { type: "string", default: "uniform" },
    duration: { type: "string", default: "3" },
    warmup: { type: "string", default: "3" },
    repeat: { type: "string", default: "3" },
    systems: { type: "string", default: systems.join(",") },
    "etcd-conns": { type: "string", default: "1" },
    "etcd-binary": { type: "string", default: etcdBinaryDefault },
    "xdp-mode": { type: "string", default: "native" },
    binary: { type: "string", default: new URL("../dist/electrode", import.meta.url).pathname },
    json: { type: "string", default: "vs-etcd.json" },
    keep: { type: "boolean", default: false },
} as const;

function parseFlags() {
  try {
    return parseArgs({ options }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

let values: ReturnType<typeof parseFlags>;

function list(flag: string, text: string, parse: (word: string) => number): number[] {
  const out = text.split(",").map((w) => {
    const n = parse(w);
    if (!Number.isFinite(n)) throw new UsageError(`--${flag}: '${w}' is not a number`);
    return n;
  });
  if (out.length === 0) throw new UsageError(`--${flag}: empty`);
  return out;
}

interface Plan {
  readonly clientCounts: number[];
  readonly readRatios: number[];
  readonly systems: System[];
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly conns: number;
  readonly kvArgs: string[];
}

function plan(): Plan {
  const clientCounts = list("clients", values.clients!, Number);
  if (clientCounts.some((c) => !Number.isInteger(c) || c < 1 || c > 4096)) throw new UsageError("--clients: whole numbers in 1..4096");
  const readRatios = list("read-ratios", values["read-ratios"]!, Number);
  if (readRatios.some((r) => r < 0 || r > 1)) throw new UsageError("--read-ratios: fractions in 0..1");
  const chosen = values.systems!.split(",") as System[];
  for (const s of chosen) if (!systems.includes(s)) throw new UsageError(`--systems: '${s}' is not one of ${systems.join(", ")}`);
  const rounds = Number(values.repeat);
  if (!Number.isInteger(rounds) || rounds < 1) throw new UsageError(`--repeat: a whole number >= 1, got '${values.repeat}'`);
  const durationS = Number(values.duration);
  const warmupS = Number(values.warmup);
  if (!(durationS >= 1) || !(warmupS >= 0)) throw new UsageError("--duration: at least 1 s; --warmup: 0 s or more");
  const conns = Number(values["etcd-conns"]);
  if (!Number.isInteger(conns) || conns < 1) throw new UsageError("--etcd-conns: a whole number >= 1");
  // Checked as the benches will check them (same flags, same limits).
  const kvFlags = { keys: values.keys, "value-bytes": values["value-bytes"], "key-dist": values["key-dist"] };
  parseKvWorkload(kvFlags);
  const kvArgs = ["--keys", values.keys!, "--value-bytes", values["value-bytes"]!, "--key-dist", values["key-dist"]!];
  return { clientCounts, readRatios, systems: chosen, rounds, durationS, warmupS, conns, kvArgs };
}

/** What the run needs and lacks, as one sentence each. */
function missing(p: Plan): string[] {
  const out: string[] = [];
  if (process.getuid?.() !== 0) out.push("root (it creates network namespaces and attaches eBPF programs)");
  if (p.systems.some((s) => s.startsWith("etcd"))) {
    const etcd = etcdMissing(values["etcd-binary"]!);
    if (etcd) out.push(etcd);
  }
  if (p.systems.some((s) => s.startsWith("electrode")) && !existsSync(values.binary!)) out.push(`${values.binary} (build it: bun run scripts/build.ts, or use npm run vs-etcd)`);
  return out;
}

/** Each round's order of systems: rotated by the round, so no system always goes first. */
function order(chosen: readonly System[], round: number): System[] {
  const k = (round - 1) % chosen.length;
  return [...chosen.slice(k), ...chosen.slice(0, k)];
}

async function measure(p: Plan, dir: string, etcdLocal: LocalCluster | undefined, electrodeLocal: LocalCluster | undefined, live: Live): Promise<Run[]> {
  const runs: Run[] = [];
  for (let round = 1; round <= p.rounds; round++) {
    for (const readRatio of p.readRatios) {
      for (const clients of p.clientCounts) {
        // The same seed for every system in this (round, mix, clients): the same operations per client.
        const seed = (round * 1_000_003 + Math.round(readRatio * 1000) * 4099 + clients) >>> 0;
        const cell: CellOptions = { readRatio, clients, round, durationS: p.durationS, warmupS: p.warmupS, kvArgs: [...p.kvArgs, "--seed", String(seed)] };
        for (const system of order(p.systems, round)) {
          const run = system.startsWith("etcd")
            ? await runEtcdCell(etcdLocal!, { ...cell, dir, noFsync: system === "etcd-no-fsync", conns: p.conns, binary: values["etcd-binary"]! }, (c) => (live.etcd = c))
            : await runElectrodeCell(electrodeLocal!, { ...cell, dir, binary: values.binary!, mode: system === "electrode-none" ? "none" : "all" }, (c) => (live.electrode = c));
          runs.push(run);
          const split = readRatio > 0 && readRatio < 1 ? ` (reads p50 ${run.reads?.latency_us.p50} us, writes p50 ${run.writes?.latency_us.p50} us)` : "";
          console.error(`round ${round}/${p.rounds}, ${readRatio} reads, ${clients} clients, ${system}: ${run.throughput_ops_s} ops/s, p50 ${run.latency_us.p50} us${split}, ${run.errors} errors`);
        }
      }
    }
  }
  return runs;
}

interface Live {
  etcd?: EtcdCluster;
  electrode?: RunningCluster;
}

async function main(): Promise<void> {
  values = parseFlags();
  const p = plan();
  const lacking = missing(p);
  if (lacking.length > 0) {
    console.error(`vs-etcd needs ${lacking.join("; and ")}`);
    process.exit(1);
  }
  const dir = mkdtempSync(join(tmpdir(), "electrode-vs-etcd-"));
  const locals: LocalCluster[] = [];
  const live: Live = {};
  const teardown = async () => {
    await live.etcd?.stop().catch(() => {});
    await live.electrode?.stopAll().catch(() => {});
    for (const l of locals) await l.destroy();
    if (values.keep) console.error(`logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
  const interrupted = () => {
    console.error("interrupted: tearing down");
    void teardown().finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    const etcdLocal = p.systems.some((s) => s.startsWith("etcd")) ? await createCluster({ replicas: 3 }) : undefined;
    if (etcdLocal) locals.push(etcdLocal);
    const electrodeLocal = p.systems.some((s) => s.startsWith("electrode")) ? await createCluster({ replicas: 3 }) : undefined;
    if (electrodeLocal) {
      locals.push(electrodeLocal);
      // Setup attaches the fast paths once; each run's replicas pick theirs with --opt.
      await new RunningCluster(electrodeLocal, { dir, command: [values.binary!] }).setupAll(false, { xdpMode: values["xdp-mode"] as "native" | "generic" });
    }
    const runs = await measure(p, dir, etcdLocal, electrodeLocal, live);
    await report(p, runs);
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    await teardown();
  }
}

async function report(p: Plan, runs: Run[]): Promise<void> {
  const table = cells(runs, p.readRatios, p.clientCounts);
  const versions = { etcd: p.systems.some((s) => s.startsWith("etcd")) ? (etcdVersion(values["etcd-binary"]!) ?? "unknown") : null, electrode: electrodeVersion() };
  console.log(formatTable(table));
  console.log();
  console.log(
    `Closed loop, one Bun client process per system in the client namespace; ${p.kvArgs.join(" ")}; ${p.durationS} s measured after ${p.warmupS} s, ` +
      `${p.rounds} round(s); cells: the run with the median throughput; ratios: median over rounds of runs paired by round (range). ` +
      `etcd ${versions.etcd ?? "-"}: linearizable Range (its default) and Put to the leader over gRPC/HTTP2 (${p.conns} connection(s)). ` +
      `electrode ${versions.electrode}: gets as its bench does them by default (linearizable, answered by the leader under its read lease or after a read round, without a log write: docs/reads.md), puts through the log.`,
  );
  const file = values.json!;
  await Bun.write(file, JSON.stringify({ plan: { ...p }, versions, tmp_fs: tmpFs(), cells: table, runs }, null, 2) + "\n");
  console.error(`wrote ${file}`);
}

function electrodeVersion(): string {
  const out = Bun.spawnSync([values.binary!, "version", "--json"], { stdout: "pipe" });
  try {
    return (JSON.parse(out.stdout.toString()) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** The filesystem etcd's data directories live on (fsync costs what this disk makes it cost). */
function tmpFs(): string {
  return Bun.spawnSync(["findmnt", "-n", "-o", "FSTYPE,SOURCE", "--target", tmpdir()], { stdout: "pipe" }).stdout.toString().trim();
}

try {
  await main();
} catch (e) {
  console.error(`vs-etcd: ${(e as Error).message}`);
  process.exit(e instanceof UsageError ? 2 : 1);
}
