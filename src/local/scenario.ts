// One nemesis run from start to verdict, shared by the CI test (test/integration/nemesis.test.ts)
// and the soak (scripts/soak.ts): a fresh namespace cluster, a kv bench with a history, a schedule
// of faults run step by step, then heal, time to serve again, read-back and the checker.
//
// The bench runs in segments (a new bench process, with its own keys, every `segmentS`, changed
// between steps when no fault is in force) so that a long soak's histories stay small enough to
// check; the read-back at the end still catches a write lost after its segment ended.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ChaosCounters } from "./chaos.ts";
import { createCluster, type LocalCluster } from "./cluster.ts";
import { Nemesis, type PartitionMethod } from "./nemesis.ts";
import { RunningCluster } from "./processes.ts";
import { RssSampler, type RssSample } from "./rss.ts";
import { runStep, type Step, type StepReport } from "./schedule.ts";
import { BenchRun, checkFile, readBack, type BenchJson, type CheckResult } from "./workload.ts";

export interface ScenarioOptions {
  readonly replicas: number;
  /** Fast paths: "all" runs `electrode setup` (tc broadcast, quorum prune, fast reply, native XDP);
   * "none" runs the replicas with --opt none and no setup. */
  readonly opt: "all" | "none";
  readonly partition?: PartitionMethod;
  /** The steps, drawn one at a time until the iterator ends. */
  readonly steps: Iterable<Step>;
  /** Where the config, replica logs and histories go (kept by the caller or not). */
  readonly dir: string;
  /** The electrode command for replicas and clients (default: this executable). */
  readonly command?: readonly string[];
  readonly clients?: number;
  /** More flags for the kv bench: its mix (e.g. --read-ratio 0.9 --reads log, --cas-ratio 0.4 --delete-ratio 0.1), keys... */
  readonly benchArgs?: readonly string[];
  /** Seconds per bench segment (default: one segment for the whole run). */
  readonly segmentS?: number;
  readonly log?: (line: string) => void;
  /** Called after each step. */
  readonly onStep?: (report: StepReport) => void;
  /** Samples every replica's RSS this often (seconds; default: not at all), logging each. */
  readonly rssEveryS?: number;
}

export interface SegmentResult {
  readonly file: string;
  readonly bench: BenchJson;
  readonly readBackOk: number;
  readonly check: CheckResult;
}

export interface ScenarioResult {
  readonly steps: StepReport[];
  readonly segments: SegmentResult[];
  /** From the final heal to the first successful put. */
  readonly finalServeMs: number | undefined;
  /** Replica processes that ended without the nemesis killing them (crashes), described. */
  readonly crashed: string[];
  readonly linearizable: boolean;
  readonly ops: number;
  /** Frames the chaos program saw, dropped and duplicated, summed over the replicas (when used). */
  readonly chaos: ChaosCounters | undefined;
  /** Per restart, ms until recovered (undefined: not within the nemesis's recovery timeout). */
  readonly recoveries: { id: number; ms: number | undefined }[];
  /** With rssEveryS: the samples, from the cluster's start to the verdict. */
  readonly rss: RssSample[];
}

/** The client timeout of the run: requests caught in a fault end as unknown outcome soon. */
export const scenarioConfig = { client: { timeout_ms: 500 } };

function sumCounters(all: readonly ChaosCounters[]): ChaosCounters {
  const sum = (k: keyof ChaosCounters) => all.reduce((n, c) => n + c[k], 0);
  return { seen: sum("seen"), dropped: sum("dropped"), duplicated: sum("duplicated"), dupErrors: sum("dupErrors") };
}

/** The bench, one process per segment. */
class Segments {
  readonly finished: { file: string; bench: BenchJson }[] = [];
  private current: BenchRun | undefined;
  private count = 0;
  private startedAt = 0;

  constructor(
    private readonly cluster: RunningCluster,
    private readonly nemesis: Nemesis,
    private readonly opts: ScenarioOptions,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    const file = join(this.opts.dir, `history-${++this.count}.jsonl`);
    this.current = BenchRun.start(this.cluster, { historyFile: file, clients: this.opts.clients ?? 8, benchArgs: this.opts.benchArgs });
    this.startedAt = performance.now();
    this.log(`${this.nemesis.elapsed()} bench segment ${this.count} -> ${file}`);
  }

  async end(): Promise<void> {
    const run = this.current!;
    this.current = undefined;
    const result = await run.stop();
    this.finished.push({ file: run.historyFile, bench: result });
    this.log(`${this.nemesis.elapsed()} bench segment ${this.count}: ${result.ops} ops ok, ${result.errors} unknown outcome, ${result.throughput_ops_s} ops/s`);
  }

  /** A new segment when the current one is old enough (called between steps). */
  async rotateIfDue(): Promise<void> {
    if (this.opts.segmentS === undefined || performance.now() - this.startedAt < this.opts.segmentS * 1000) return;
    await this.end();
    this.start();
  }

  kill(): void {
    this.current?.kill();
  }
}

async function startCluster(local: LocalCluster, opts: ScenarioOptions): Promise<RunningCluster> {
  const cluster = new RunningCluster(local, {
    dir: opts.dir,
    command: opts.command,
    setup: opts.opt === "all",
    replicaArgs: opts.opt === "none" ? ["--opt", "none"] : [],
    extraConfig: scenarioConfig,
  });
  if (opts.opt === "all") await cluster.setupAll();
  cluster.startAll();
  await cluster.waitServing();
  return cluster;
}

/** Read-back and check of every segment, once the cluster is healed. */
async function judge(cluster: RunningCluster, segments: Segments, log: (line: string) => void): Promise<SegmentResult[]> {
  const results: SegmentResult[] = [];
  for (const s of segments.finished) {
    const readBackOk = await readBack(cluster, s.file);
    const check = checkFile(s.file);
    log(`${s.file}: ${check.text.split("\n")[0]} (read-back ${readBackOk} of its keys)`);
    results.push({ ...s, readBackOk, check });
  }
  return results;
}

export async function runScenario(opts: ScenarioOptions): Promise<ScenarioResult> {
  mkdirSync(opts.dir, { recursive: true });
  const log = opts.log ?? (() => {});
  let local: LocalCluster | undefined;
  let cluster: RunningCluster | undefined;
  let nemesis: Nemesis | undefined;
  let segments: Segments | undefined;
  let rss: RssSampler | undefined;
  try {
    local = await createCluster({ replicas: opts.replicas });
    cluster = await startCluster(local, opts);
    nemesis = new Nemesis(cluster, { partition: opts.partition, log });
    await nemesis.waitAllNormal();
    log(`${opts.replicas} replicas, fast paths ${opts.opt}, partitions by ${nemesis.method}, cluster ${local.name}, files in ${opts.dir}`);
    if (opts.rssEveryS !== undefined) {
      const mib = (kib: number | null) => (kib === null ? "down" : `${(kib / 1024).toFixed(1)} MiB`);
      rss = new RssSampler(cluster, opts.rssEveryS, (s) => log(`${nemesis!.elapsed()} rss: ${Object.entries(s.kib).map(([id, k]) => `r${id} ${mib(k)}`).join(", ")}`));
      rss.start();
    }
    segments = new Segments(cluster, nemesis, opts, log);
    segments.start();
    const reports: StepReport[] = [];
    for (const step of opts.steps) {
      await segments.rotateIfDue();
      const report = await runStep(nemesis, step, reports.length + 1);
      reports.push(report);
      opts.onStep?.(report);
    }
    await nemesis.healAll();
    const finalServeMs = await nemesis.timeToServe();
    log(`${nemesis.elapsed()} all healed; serving again after ${finalServeMs ?? "(not within 30 s)"} ms`);
    await segments.end();
    nemesis.checkAlive();
    const results = await judge(cluster, segments, log);
    const chaos = await nemesis.chaosCounters();
    return {
      steps: reports,
      segments: results,
      finalServeMs,
      crashed: [...nemesis.unexpectedExits],
      linearizable: results.every((s) => s.check.verdict.kind === "linearizable"),
      ops: results.reduce((sum, s) => sum + s.check.verdict.ops, 0),
      recoveries: [...nemesis.recoveries],
      chaos: chaos && sumCounters([...chaos.values()]),
      rss: rss?.samples ?? [],
    };
  } finally {
    rss?.stop();
    segments?.kill();
    await nemesis?.close().catch((e: Error) => log(`nemesis cleanup: ${e.message}`));
    await cluster?.close().catch((e: Error) => log(`cluster cleanup: ${e.message}`));
    await local?.destroy();
  }
}
