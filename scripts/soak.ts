// Soak: a namespace cluster under a random schedule of faults for a while, with a kv bench whose
// histories are checked for linearizability at the end. Prints each fault with its time, the ops
// done, the checker's verdict and how soon the cluster served again after each heal. A failing run
// keeps its histories, replica logs and schedule in a directory it names; exit code 1.
//
// Usage (root): bun run soak [--minutes 10] [--replicas 5] [--opt all|none] [--seed N]
//   [--partition bridge|iptables] [--kinds kill-leader,ring,...] [--segment 60] [--clients 8]
//   [--hold 1000-5000] [--gap 500-3000] [--overlap 0.3] [--keep] [--dir DIR] [--rss-every 60]
//   [--keys 16] [--cas-ratio 0] [--delete-ratio 0]   (the bench's kv mix: cas ops and deletes too)
// --rss-every S samples every replica's RSS each S seconds (0: not at all) and prints how the
// largest replica's RSS moved from minute 2 to the end (checkpoints keep it flat).
// `bun run soak` builds dist/electrode first. Replay a schedule with the seed it prints (the same
// faults in the same order; which replica leads at each moment depends on timing).

import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { PartitionMethod } from "../src/local/nemesis.ts";
import { parseKvWorkload } from "../src/cli/kv-args.ts";
import { formatGrowth, formatRssTable, rssGrowth, type RssSample } from "../src/local/rss.ts";
import { runScenario } from "../src/local/scenario.ts";
import { applicable, faultKinds, ScheduleGenerator, type FaultKind, type Step, type StepReport } from "../src/local/schedule.ts";

const serveLimitMs = 10_000;
const root = new URL("..", import.meta.url).pathname;

function usage(message: string): never {
  console.error(`soak: ${message}`);
  process.exit(2);
}

function range(text: string, flag: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) usage(`--${flag}: expected MS or MIN-MAX, got ${text}`);
  const lo = Number(m[1]);
  const hi = Number(m[2] ?? m[1]);
  if (hi < lo) usage(`--${flag}: ${lo} > ${hi}`);
  return [lo, hi];
}

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    replicas: { type: "string", default: "5" },
    opt: { type: "string", default: "all" },
    seed: { type: "string" },
    partition: { type: "string" },
    kinds: { type: "string" },
    segment: { type: "string", default: "60" },
    clients: { type: "string", default: "8" },
    hold: { type: "string", default: "1000-5000" },
    gap: { type: "string", default: "500-3000" },
    overlap: { type: "string", default: "0.3" },
    keep: { type: "boolean", default: false },
    dir: { type: "string" },
    keys: { type: "string" },
    "cas-ratio": { type: "string" },
    "delete-ratio": { type: "string" },
    "rss-every": { type: "string", default: "60" },
  },
});

/** The bench's kv mix flags as given (checked here, so a bad one stops the soak before it starts). */
const mixFlags = (["keys", "cas-ratio", "delete-ratio"] as const).filter((name) => values[name] !== undefined);
try {
  parseKvWorkload(Object.fromEntries(mixFlags.map((name) => [name, values[name]])));
} catch (e) {
  usage((e as Error).message);
}
const benchArgs = mixFlags.flatMap((name) => [`--${name}`, String(values[name])]);

if (process.getuid?.() !== 0) usage("needs root (network namespaces, eBPF, nftables)");
const minutes = Number(values.minutes);
const replicas = Number(values.replicas);
const opt = values.opt;
if (!(minutes > 0)) usage(`--minutes: expected a positive number, got ${values.minutes}`);
if (!Number.isInteger(replicas) || replicas < 3 || replicas % 2 === 0 || replicas > 31) usage(`--replicas: expected an odd number 3..31, got ${values.replicas}`);
if (opt !== "all" && opt !== "none") usage(`--opt: expected all or none, got ${opt}`);
const partition = (values.partition ?? "bridge") as PartitionMethod;
if (partition !== "bridge" && partition !== "iptables") usage(`--partition: expected bridge or iptables, got ${partition}`);
if (partition === "iptables" && opt === "all") console.warn("soak: warning: iptables partitions leak with the fast paths on (see src/local/nemesis.ts)");
const kinds = values.kinds ? (values.kinds.split(",").map((k) => k.trim()) as FaultKind[]) : [...faultKinds];
for (const k of kinds) if (!(faultKinds as readonly string[]).includes(k)) usage(`--kinds: unknown fault kind '${k}' (kinds: ${faultKinds.join(", ")})`);
if (!kinds.some((k) => applicable(k, replicas))) usage(`--kinds: none applies to ${replicas} replicas`);
const rssEveryS = Number(values["rss-every"]);
if (!(rssEveryS >= 0)) usage(`--rss-every: expected seconds >= 0, got ${values["rss-every"]}`);
const seed = values.seed !== undefined ? Number(values.seed) : crypto.getRandomValues(new Uint32Array(1))[0]!;
const binary = join(root, "dist/electrode");
if (!existsSync(binary)) usage(`${binary} missing: bun run build`);

const dir = values.dir ?? mkdtempSync(join(tmpdir(), "electrode-soak-"));
mkdirSync(dir, { recursive: true });
const started = new Date();
const logLines: string[] = [];
const say = (line: string) => {
  logLines.push(line);
  console.log(line);
};
say(`soak: ${minutes} min, ${replicas} replicas, --opt ${opt}, partitions by ${partition}, seed ${seed}, started ${started.toISOString()}`);
const replay = [`--minutes ${minutes}`, `--replicas ${replicas}`, `--opt ${opt}`, `--seed ${seed}`, `--partition ${partition}`, `--hold ${values.hold}`, `--gap ${values.gap}`, `--overlap ${values.overlap}`, `--segment ${values.segment}`, `--clients ${values.clients}`];
if (values.kinds) replay.push(`--kinds ${values.kinds}`);
for (let i = 0; i < benchArgs.length; i += 2) replay.push(`${benchArgs[i]} ${benchArgs[i + 1]}`);
say(`      replay: bun run soak ${replay.join(" ")}`);

const generator = new ScheduleGenerator({
  seed,
  replicas,
  kinds,
  holdMs: range(values.hold, "hold"),
  gapMs: range(values.gap, "gap"),
  overlap: Number(values.overlap),
});
let until = performance.now() + minutes * 60_000;
// Ctrl-C once: no new fault; heal, check and report as usual. Twice: quit at once (the next run,
// or `bun run src/local/cluster.ts cleanup`, removes the namespaces left behind).
process.on("SIGINT", () => {
  if (until === 0) process.exit(130);
  until = 0;
  say(`soak: interrupted: finishing the current step, then heal and check (Ctrl-C again to quit now)`);
});
const planned: Step[] = [];
function* steps(): Generator<Step> {
  while (performance.now() < until) {
    const step = generator.next();
    planned.push(step);
    yield step;
  }
}
const reports: StepReport[] = [];
let failed = false;
let summary = "";
try {
  const result = await runScenario({
    replicas,
    opt,
    partition,
    steps: steps(),
    dir,
    command: [binary],
    clients: Number(values.clients),
    benchArgs,
    segmentS: Number(values.segment),
    log: say,
    onStep: (r) => reports.push(r),
    ...(rssEveryS > 0 && { rssEveryS }),
  });
  const slow = result.steps.filter((s) => s.serveMs === undefined || s.serveMs > serveLimitMs);
  const serve = result.steps.map((s) => s.serveMs ?? Infinity);
  const bad = result.segments.filter((s) => s.check.verdict.kind !== "linearizable");
  failed = bad.length > 0 || result.crashed.length > 0 || slow.length > 0 || result.finalServeMs === undefined || result.finalServeMs > serveLimitMs;
  const okOps = result.segments.reduce((sum, s) => sum + s.bench.ops, 0);
  const unknown = result.segments.reduce((sum, s) => sum + s.bench.errors, 0);
  summary = [
    ``,
    `steps:      ${result.steps.length} (${result.steps.reduce((n, s) => n + s.injected.length, 0)} faults injected, ${result.steps.reduce((n, s) => n + s.skipped.length, 0)} skipped)`,
    `operations: ${okOps} ok, ${unknown} unknown outcome, ${result.ops} checked in ${result.segments.length} histories`,
    `serve again after a heal: median ${median(serve)} ms, max ${Math.max(...serve)} ms; after the last heal ${result.finalServeMs ?? "never (30 s)"} ms`,
    `recovery of a restarted replica: ${recoverySummary(result.recoveries)}`,
    ...rssSummary(result.rss),
    ...(result.chaos ? [`loss/dup (frames into replicas): ${result.chaos.dropped} dropped, ${result.chaos.duplicated} duplicated of ${result.chaos.seen} seen`] : []),
    ...result.crashed.map((c) => `CRASH: ${c}`),
    ...slow.map((s) => `SLOW: step ${s.index} (${s.kinds.join("+")}): serving ${s.serveMs ?? "never"} ms after the heal (limit ${serveLimitMs})`),
    ...bad.map((s) => `${s.file}:\n${s.check.text}`),
    `verdict:    ${failed ? "FAILED" : "ok"}: ${bad.length === 0 ? "every history linearizable" : `${bad.length} histories NOT linearizable`}`,
  ].join("\n");
} catch (e) {
  failed = true;
  summary = `\nsoak failed to run: ${(e as Error).stack ?? (e as Error).message}`;
}
say(summary);
writeFileSync(join(dir, "schedule.json"), JSON.stringify({ seed, replicas, opt, partition, minutes, kinds, started: started.toISOString(), planned, reports }, null, 2) + "\n");
writeFileSync(join(dir, "soak.log"), logLines.join("\n") + "\n");
if (failed || values.keep || values.dir) {
  const kept = values.dir ?? `${dir}${failed ? "-failed" : ""}`;
  if (kept !== dir) {
    cpSync(dir, kept, { recursive: true });
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`files (histories, replica logs, schedule.json, soak.log) kept in ${kept}`);
} else {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

function recoverySummary(recoveries: readonly { ms: number | undefined }[]): string {
  if (recoveries.length === 0) return "no restart";
  const done = recoveries.flatMap((r) => (r.ms === undefined ? [] : [r.ms]));
  const late = recoveries.length - done.length;
  const times = done.length > 0 ? `median ${median(done)} ms, max ${Math.max(...done)} ms` : "none finished in time";
  return `${recoveries.length} restarts, ${times}${late > 0 ? `; ${late} not within 20 s` : ""}`;
}

/** The RSS table, each replica's growth from minute 2 to the end (a restarted one has none: its
 * memory started over), and the largest replica's. */
function rssSummary(samples: readonly RssSample[]): string[] {
  if (samples.length === 0) return [];
  const end = samples.at(-1)!.atS;
  const { growth, skipped } = rssGrowth(samples, 120, end);
  const after2 = samples.filter((s) => s.atS >= 120);
  const largest = (s: RssSample) => Math.max(...Object.values(s.kib).map((k) => k ?? 0));
  const first = after2[0];
  const lines = [`rss per replica (MiB; * = restarted since the previous sample):`, formatRssTable(samples)];
  lines.push(...growth.map((g) => `rss growth, ${formatGrowth(g)}`));
  if (skipped.length > 0) lines.push(`rss growth: replicas ${skipped.join(", ")} restarted after minute 2 (no figure)`);
  if (first) {
    const peak = Math.max(...after2.map(largest));
    lines.push(`rss, largest replica: ${(largest(first) / 1024).toFixed(1)} MiB at ${first.atS.toFixed(0)} s, at most ${(peak / 1024).toFixed(1)} MiB after (${(((peak - largest(first)) / largest(first)) * 100).toFixed(1)}%)`);
  }
  return lines;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)]!;
}
