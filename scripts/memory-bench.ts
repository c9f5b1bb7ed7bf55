// Memory benchmark (not a timed test): a namespace cluster at full load for a long run, every
// replica's RSS sampled each --sample seconds and reported per --every seconds as the peak of the
// window, and the question issue 12 asks: does it stay flat once checkpoints and log compaction
// run? PASS when every replica's peak RSS grows by less than --limit (10%) from the window ending
// at minute --from (2) to the last one (ending at minute --minutes), measured along the
// least-squares line through those windows: at full load the JS heap swings by 10-20% between
// collections, so two single figures would judge the swing rather than a leak (both are printed).
// The JSON has every sample.
//
// Each sample also asks the replicas (`electrode client info --json`) for their commit, latest
// checkpoint, oldest log entry, log bytes and client sessions: the bounded log is visible beside
// the RSS.
//
// --restart-after 1000000,10000000 instead kills -9 a follower each time the leader has committed
// that many ops, starts it again at once and measures how long until it is a normal follower
// again (acking Prepares: VR recovery done, the checkpoint fetched) and until its commit reaches
// the leader's commit at the kill. With checkpoints that time must not grow with the history.
//
// Usage (root): bun run memory [--app null|kv] [--minutes 10] [--every 60] [--sample 5] [--clients 64]
//   [--keys 1000] [--replicas 3] [--opt all] [--from 2] [--limit 0.1] [--json FILE]
//   [--restart-after N,M,...] [--binary dist/electrode]
// `bun run memory` builds dist/electrode first. --keys bounds the kv workload's key space.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createCluster } from "../src/local/cluster.ts";
import { RunningCluster } from "../src/local/processes.ts";
import { formatGrowth, formatRssTable, RssSampler, rssFloors, rssGrowth, rssPeaks, type RssSample } from "../src/local/rss.ts";
import type { ReplicaInfo } from "../src/node/info.ts";

const root = new URL("..", import.meta.url).pathname;

function usage(message: string): never {
  console.error(`memory-bench: ${message}`);
  process.exit(2);
}

function flags() {
  try {
    return parseArgs({ options }).values;
  } catch (e) {
    usage((e as Error).message);
  }
}

const options = {
    app: { type: "string", default: "null" },
    minutes: { type: "string", default: "10" },
    every: { type: "string", default: "60" },
    sample: { type: "string", default: "5" },
    clients: { type: "string", default: "64" },
    keys: { type: "string", default: "1000" },
    replicas: { type: "string", default: "3" },
    opt: { type: "string", default: "all" },
    from: { type: "string", default: "2" },
    limit: { type: "string", default: "0.1" },
    json: { type: "string" },
    "restart-after": { type: "string" },
    binary: { type: "string", default: join(root, "dist/electrode") },
} as const;
const values = flags();
const app = values.app!;
if (app !== "null" && app !== "kv") usage(`--app: expected null or kv, got ${app}`);
const num = (flag: keyof typeof values, ok: (x: number) => boolean, what: string) => {
  const x = Number(values[flag]);
  if (!ok(x)) usage(`--${flag}: expected ${what}, got ${values[flag]}`);
  return x;
};
const minutes = num("minutes", (x) => x > 0, "a positive number");
const everyS = num("every", (x) => x > 0, "seconds > 0");
const sampleS = num("sample", (x) => x > 0 && x <= everyS, `seconds > 0, at most --every (${everyS})`);
const clients = num("clients", (x) => Number.isInteger(x) && x >= 1, "a whole number >= 1");
const keys = num("keys", (x) => Number.isInteger(x) && x >= 1, "a whole number >= 1");
const replicas = num("replicas", (x) => Number.isInteger(x) && x >= 3 && x % 2 === 1 && x <= 31, "an odd number 3..31");
const fromMin = num("from", (x) => x >= 0 && x < minutes, `minutes below --minutes (${minutes})`);
const limit = num("limit", (x) => x > 0, "a fraction > 0 (0.1 = 10%)");
const restartAfter = values["restart-after"]?.split(",").map((w) => {
  const n = Number(w.trim());
  if (!Number.isInteger(n) || n < 1) usage(`--restart-after: expected committed op counts, got '${w}'`);
  return n;
});
if (restartAfter && restartAfter.some((n, i) => i > 0 && n <= restartAfter[i - 1]!)) usage("--restart-after: counts must increase");
const binary = values.binary!;
if (!existsSync(binary)) usage(`${binary} missing: bun run build`);
if (process.getuid?.() !== 0) usage("needs root (network namespaces, eBPF)");

/** The replicas' answers (`electrode client info --json`); undefined entries did not answer. */
async function info(cluster: RunningCluster, timeoutMs = 300): Promise<(ReplicaInfo | undefined)[]> {
  const out = await cluster.client(["info", "--json", "--timeout", String(timeoutMs)]);
  try {
    const doc = JSON.parse(out.stdout) as { replicas: (Partial<ReplicaInfo> & { answered: boolean })[] };
    return doc.replicas.map((r) => (r.answered ? (r as ReplicaInfo) : undefined));
  } catch {
    return cluster.replicas.map(() => undefined);
  }
}

const leaderOf = (answers: readonly (ReplicaInfo | undefined)[]) => answers.find((a) => a?.leader);

/** Until every replica answers as normal under one leader. (RunningCluster.waitServing puts a
 * key, which the null app refuses.) */
async function waitNormal(cluster: RunningCluster, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const answers = await info(cluster);
    if (leaderOf(answers) && answers.every((a) => a?.status === "normal")) return;
    await Bun.sleep(200);
  }
  throw new Error(`the replicas are not all normal under a leader after ${timeoutMs} ms`);
}

/** A closed-loop bench from the client namespace that runs until killed (or `durationS`). */
function startBench(cluster: RunningCluster, durationS: number) {
  const workload = app === "kv" ? ["--workload", "kv", "--keys", String(keys)] : ["--workload", "null"];
  const args = ["client", "--bench", "--clients", String(clients), "--duration", String(durationS), "--warmup", "0", "--json", "-", "--quiet", ...workload, "--config", cluster.configPath];
  const proc = Bun.spawn(cluster.local.nsExec(cluster.local.clients[0]!.ns, [binary, ...args]), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const output = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { proc, output };
}

interface InfoRow {
  readonly atS: number;
  readonly leader: number | undefined;
  readonly view: number | undefined;
  readonly commit: number | undefined;
  readonly checkpoint_op: number | undefined;
  readonly log_first_op: number | undefined;
  readonly log_bytes: number | undefined;
  readonly sessions: number | undefined;
}

async function memoryRun(cluster: RunningCluster): Promise<{ samples: RssSample[]; info: InfoRow[]; bench: Record<string, unknown> }> {
  const infoRows: InfoRow[] = [];
  let windowEnd = 0;
  const sampler = new RssSampler(cluster, sampleS, (s) => {
    if (s.atS + sampleS / 2 < windowEnd) return;
    windowEnd += everyS;
    void info(cluster).then((answers) => {
      const l = leaderOf(answers);
      const row = { atS: s.atS, leader: l?.id, view: l?.view, commit: l?.commit, checkpoint_op: l?.checkpoint_op, log_first_op: l?.log_first_op, log_bytes: l?.log_bytes, sessions: l?.sessions };
      infoRows.push(row);
      const rss = Object.entries(s.kib).map(([id, k]) => `r${id} ${k === null ? "down" : `${(k / 1024).toFixed(1)} MiB`}`).join(", ");
      console.error(`${s.atS.toFixed(0)} s: rss ${rss}; leader ${row.leader ?? "?"} (view ${row.view ?? "?"}) commit ${row.commit ?? "?"}, checkpoint ${row.checkpoint_op ?? "?"}, log from ${row.log_first_op ?? "?"} (${row.log_bytes ?? "?"} B), ${row.sessions ?? "?"} sessions`);
    });
  });
  const bench = startBench(cluster, minutes * 60 + 30);
  sampler.start();
  await Bun.sleep(minutes * 60_000 + 500);
  sampler.stop();
  await Bun.sleep(400); // the last info answer
  bench.proc.kill("SIGTERM");
  const [stdout, stderr, code] = await bench.output;
  if (code !== 0) throw new Error(`bench exited ${code}: ${stderr.trim()}`);
  return { samples: sampler.samples, info: infoRows, bench: JSON.parse(stdout) as Record<string, unknown> };
}

interface Restart {
  readonly after_ops: number;
  readonly replica: number;
  /** The leader's commit when the follower was killed. */
  readonly leader_commit: number;
  /** From the restart until it answered as a normal follower (acking Prepares again). */
  readonly normal_ms: number | undefined;
  /** From the restart until its commit reached leader_commit. */
  readonly caught_up_ms: number | undefined;
  readonly checkpoint_op: number | undefined;
}

const restartTimeoutMs = 60_000;

async function restartOnce(cluster: RunningCluster, afterOps: number): Promise<Restart> {
  let answers = await info(cluster);
  while ((leaderOf(answers)?.commit ?? 0) < afterOps) {
    await Bun.sleep(500);
    answers = await info(cluster);
  }
  const leader = leaderOf(answers)!;
  const follower = cluster.replicas.map((r) => r.id).find((id) => id !== leader.id)!;
  await cluster.kill(follower);
  const leaderCommit = (leaderOf(await info(cluster)) ?? leader).commit;
  const t0 = performance.now();
  cluster.start(follower);
  let normalMs: number | undefined;
  let caughtUpMs: number | undefined;
  let checkpointOp: number | undefined;
  while (caughtUpMs === undefined && performance.now() - t0 < restartTimeoutMs) {
    const me = (await info(cluster, 100)).find((a) => a?.id === follower);
    const ms = Math.round(performance.now() - t0);
    if (me?.status === "normal" && normalMs === undefined) normalMs = ms;
    if (me?.status === "normal" && me.commit >= leaderCommit) {
      caughtUpMs = ms;
      checkpointOp = me.checkpoint_op;
    }
  }
  const r = { after_ops: afterOps, replica: follower, leader_commit: leaderCommit, normal_ms: normalMs, caught_up_ms: caughtUpMs, checkpoint_op: checkpointOp };
  console.error(`after ${afterOps} ops: follower ${follower} restarted at leader commit ${leaderCommit}: normal after ${normalMs ?? "never"} ms, caught up after ${caughtUpMs ?? "never"} ms (its checkpoint ${checkpointOp ?? "?"})`);
  return r;
}

async function restartRun(cluster: RunningCluster, counts: readonly number[]): Promise<Restart[]> {
  const bench = startBench(cluster, 3600);
  try {
    const results: Restart[] = [];
    for (const n of counts) results.push(await restartOnce(cluster, n));
    return results;
  } finally {
    bench.proc.kill("SIGKILL");
    await bench.proc.exited;
  }
}

function formatRestarts(rs: readonly Restart[]): string {
  const rows = rs.map((r) => `| ${r.after_ops.toLocaleString("en")} | ${r.replica} | ${r.leader_commit} | ${r.checkpoint_op ?? "-"} | ${r.normal_ms ?? "never"} | ${r.caught_up_ms ?? "never"} |`);
  return ["| restarted after (ops) | replica | leader commit at kill | its checkpoint | normal (ms) | caught up (ms) |", "| --- | --- | --- | --- | --- | --- |", ...rows].join("\n");
}

const dir = mkdtempSync(join(tmpdir(), "electrode-memory-"));
const local = await createCluster({ replicas, clients: 1 });
const cluster = new RunningCluster(local, { dir, command: [binary], setup: values.opt !== "none", replicaArgs: ["--app", app, "--opt", values.opt!] });
let failed = false;
try {
  if (values.opt !== "none") await cluster.setupAll();
  cluster.startAll();
  await waitNormal(cluster);
  const what = `${replicas} replicas, --opt ${values.opt}, app ${app}${app === "kv" ? ` (${keys} keys)` : ""}, ${clients} clients`;
  if (restartAfter) {
    console.error(`memory-bench: ${what}; restart a follower after ${restartAfter.join(", ")} committed ops`);
    const results = await restartRun(cluster, restartAfter);
    console.log(formatRestarts(results));
    failed = results.some((r) => r.caught_up_ms === undefined);
    if (values.json) await Bun.write(values.json, JSON.stringify({ replicas, app, clients, opt: values.opt, restarts: results }, null, 2) + "\n");
  } else {
    console.error(`memory-bench: ${what}, ${minutes} min, RSS every ${sampleS} s, peaks per ${everyS} s`);
    const run = await memoryRun(cluster);
    const peaks = rssPeaks(run.samples, everyS);
    const { growth, skipped } = rssGrowth(peaks, fromMin * 60, minutes * 60);
    failed = skipped.length > 0 || growth.length === 0 || growth.some((g) => g.trendGrowth >= limit);
    console.log(`Peak RSS of each ${everyS} s window (sampled every ${sampleS} s), by the window's end:`);
    console.log(formatRssTable(peaks));
    console.log();
    for (const g of growth) console.log(`${g.trendGrowth < limit ? "PASS" : "FAIL"} ${formatGrowth(g)}`);
    for (const id of skipped) console.log(`FAIL replica ${id}: not the same process from minute ${fromMin} to the end`);
    // The lower envelope: what is left right after collections, the live heap plus what the
    // allocator keeps; a leak raises it even when the peaks swing.
    const floors = rssGrowth(rssFloors(run.samples, everyS), fromMin * 60, minutes * 60).growth;
    for (const g of floors) console.log(`lowest sample per window, ${formatGrowth(g)}`);
    const views = run.info.map((r) => r.view).filter((v): v is number => v !== undefined);
    if (views.length > 0) console.log(`views: ${views[0]} at the start, ${views.at(-1)} at the end (a view change moves the leader's role, and its memory, to another replica)`);
    console.log(`${failed ? "FAIL" : "PASS"}: RSS growth from minute ${fromMin} to minute ${minutes} ${failed ? "is not" : "is"} below ${limit * 100}% for every replica; bench ${run.bench.throughput_ops_s} ops/s, ${run.bench.ops} ops`);
    const doc = { replicas, app, clients, opt: values.opt, keys: app === "kv" ? keys : undefined, minutes, every_s: everyS, sample_s: sampleS, from_min: fromMin, limit, pass: !failed, growth, rss_peaks: peaks, rss: run.samples, info: run.info, bench: run.bench };
    if (values.json) await Bun.write(values.json, JSON.stringify(doc, null, 2) + "\n");
  }
} finally {
  await cluster.close().catch((e: Error) => console.error(`cleanup: ${e.message}`));
  await local.destroy();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
