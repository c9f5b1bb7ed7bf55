// One measured run ("cell") of each system for scripts/vs-etcd.ts. Both load generators run in the
// client namespace of their namespace cluster, as one Bun process with all closed-loop clients:
// electrode's own bench (`electrode client --bench --workload kv`, through src/local/mode-run.ts, as
// the demo runs it) and scripts/etcd/bench.ts for etcd. Every run starts its cluster afresh (new
// etcd data directories, new electrode replica processes) and stops it afterwards; CPU is sampled
// inside the measured window the same way for both (src/bench/cpu.ts).

import { cpuSplit, cpuWindow, type Role } from "../../src/bench/cpu.ts";
import type { LocalCluster } from "../../src/local/cluster.ts";
import { runMode } from "../../src/local/mode-run.ts";
import { RunningCluster } from "../../src/local/processes.ts";
import { clockStartedLine } from "./bench.ts";
import { EtcdCluster } from "./cluster.ts";
import type { Run, System } from "./table.ts";

export interface CellOptions {
  readonly readRatio: number;
  readonly clients: number;
  readonly round: number;
  readonly durationS: number;
  readonly warmupS: number;
  /** The kv flags both benches get (keys, values, distribution, seed). */
  readonly kvArgs: readonly string[];
}

const etcdBench = new URL("./bench.ts", import.meta.url).pathname;
/** CPU is sampled inside the measured window, this far in from either end (as src/local/mode-run.ts). */
const cpuMarginS = 0.25;
/** More WAL fsyncs than this share of the writes under --unsafe-no-fsync means the flag did nothing. */
const noFsyncShareMax = 0.01;

async function inNamespace(local: LocalCluster, argv: readonly string[]): Promise<string> {
  const proc = Bun.spawn(local.nsExec(local.clients[0]!.ns, argv), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(err.trim() || `${argv.join(" ")}: exit ${code}`);
  return out;
}

/** Runs the etcd bench; `started` resolves when it starts its clock (its marker line on stderr),
 * so the CPU window sits inside its measured window however long it took to connect. */
function startBench(local: LocalCluster, argv: readonly string[]): { pid: number; started: Promise<void>; output: Promise<string> } {
  const proc = Bun.spawn(local.nsExec(local.clients[0]!.ns, argv), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  let onStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => (onStarted = resolve));
  const stderr = (async () => {
    let text = "";
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) {
      text += decoder.decode(chunk);
      if (text.includes(clockStartedLine)) onStarted();
    }
    return text.replace(clockStartedLine, "");
  })();
  const output = (async () => {
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), stderr, proc.exited]);
    onStarted(); // a bench that failed early never prints the marker
    if (code !== 0) throw new Error(err.trim() || `${argv.join(" ")}: exit ${code}`);
    return out;
  })();
  return { pid: proc.pid, started, output };
}

interface EtcdBenchJson {
  leader: string;
  throughput_ops_s: number;
  ops: number;
  errors: number;
  latency_us: Run["latency_us"];
  reads: NonNullable<Run["reads"]>;
  writes: NonNullable<Run["writes"]>;
  wal_fsyncs: number;
}

export interface EtcdCellOptions extends CellOptions {
  readonly dir: string;
  readonly noFsync: boolean;
  readonly conns: number;
  readonly binary: string;
}

export async function runEtcdCell(local: LocalCluster, opts: EtcdCellOptions, track: (c: EtcdCluster | undefined) => void): Promise<Run> {
  const system: System = opts.noFsync ? "etcd-no-fsync" : "etcd-fsync";
  const etcd = new EtcdCluster(local, opts.dir, opts.noFsync, `${system}-${opts.readRatio}-${opts.clients}-${opts.round}`, opts.binary);
  track(etcd);
  etcd.start();
  try {
    const endpoints = etcd.endpoints.join(",");
    await inNamespace(local, [process.execPath, "run", etcdBench, "--endpoints", endpoints, "--wait-leader", "20000"]).catch((e: Error) => {
      throw new Error(`${e.message}; member logs: ${etcd.members.map((m) => `${m.name}: ${etcd.tail(m, 1)}`).join("; ")}`);
    });
    etcd.check();
    const args = ["--endpoints", endpoints, "--clients", String(opts.clients), "--duration", String(opts.durationS), "--warmup", String(opts.warmupS), "--conns", String(opts.conns), "--read-ratio", String(opts.readRatio), ...opts.kvArgs];
    const bench = startBench(local, [process.execPath, "run", etcdBench, ...args]);
    const memberPids = etcd.members.map((m) => m.proc?.pid ?? 0);
    await bench.started;
    const cpu = await cpuWindow(() => [bench.pid, ...memberPids], opts.warmupS + cpuMarginS, opts.durationS - 2 * cpuMarginS);
    const result = JSON.parse(await bench.output) as EtcdBenchJson;
    etcd.check();
    if (opts.noFsync && result.wal_fsyncs > noFsyncShareMax * result.writes.ops + 3) {
      throw new Error(`etcd --unsafe-no-fsync made ${result.wal_fsyncs} WAL fsyncs for ${result.writes.ops} writes: the flag did not take`);
    }
    if (!opts.noFsync && result.writes.ops > 0 && result.wal_fsyncs === 0) throw new Error("etcd with fsync made no WAL fsync: the metric is not what this script thinks");
    const roles = new Map<number, Role>([[bench.pid, "client"]]);
    etcd.members.forEach((m, i) => roles.set(memberPids[i]!, m.clientUrl === result.leader ? "leader" : "followers"));
    const split = cpuSplit(cpu.before, cpu.after, roles, result.throughput_ops_s * ((cpu.after.atNs - cpu.before.atNs) / 1e9));
    return { system, read_ratio: opts.readRatio, clients: opts.clients, round: opts.round, ...pick(result), wal_fsyncs: result.wal_fsyncs, cpu: split };
  } finally {
    await etcd.stop();
    track(undefined);
  }
}

function pick(r: Pick<Run, "throughput_ops_s" | "ops" | "errors" | "latency_us" | "reads" | "writes">) {
  return { throughput_ops_s: r.throughput_ops_s, ops: r.ops, errors: r.errors, latency_us: r.latency_us, reads: r.reads, writes: r.writes };
}

export interface ElectrodeCellOptions extends CellOptions {
  readonly dir: string;
  readonly binary: string;
  readonly mode: "none" | "all";
}

export async function runElectrodeCell(local: LocalCluster, opts: ElectrodeCellOptions, track: (c: RunningCluster | undefined) => void): Promise<Run> {
  const opt = opts.mode === "none" ? "none" : "tc-broadcast,quorum-prune,fast-reply";
  const cluster = new RunningCluster(local, { dir: opts.dir, command: [opts.binary], replicaArgs: ["--opt", opt] });
  track(cluster);
  try {
    const benchArgs = ["--workload", "kv", "--read-ratio", String(opts.readRatio), ...opts.kvArgs];
    const row = await runMode(cluster, { mode: opts.mode, opt, clients: opts.clients, durationS: opts.durationS, warmupS: opts.warmupS, benchArgs });
    return { system: `electrode-${opts.mode}`, read_ratio: opts.readRatio, clients: opts.clients, round: opts.round, ...pick(row), opt: row.opt, ...(row.cpu && { cpu: row.cpu }) };
  } finally {
    await cluster.stopAll();
    track(undefined);
  }
}
