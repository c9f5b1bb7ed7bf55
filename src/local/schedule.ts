// Fault schedules for the nemesis (nemesis.ts): what to do in each step, a seeded random generator
// of steps, and the runner of one step (inject, hold, heal, measure the time to serve again).
//
// Targets are roles ("the leader", "a follower"), resolved when the step runs; the choices among
// candidates come from the seeded generator, so a seed replays the same kinds of faults in the
// same order (timing and so the actual leader may differ from run to run).

import { seededRandom } from "../bench/random.ts";
import type { Fault, Nemesis } from "./nemesis.ts";

export const faultKinds = [
  "kill-follower",
  "kill-leader",
  /** Kill the leader and restart it at once; when the next leader took over and the first
   * recovered, kill the new leader too. */
  "kill-leader-twice",
  /** Restart a follower (kill -9, started at once, recovering) and kill the leader right after:
   * the recovering replica must not vote or ack. Two replicas lose memory: needs f >= 2. */
  "restart-follower-kill-leader",
  "pause-follower",
  /** The leader is SIGSTOPped, the others elect another; on SIGCONT a stale leader wakes up. */
  "pause-leader",
  "isolate-leader",
  "isolate-follower",
  "split-leader-minority",
  "split-leader-majority",
  "one-way-from-leader",
  "one-way-to-leader",
  /** Needs 5 replicas or more. */
  "ring",
  "loss",
  "dup",
  "loss-dup",
] as const;

export type FaultKind = (typeof faultKinds)[number];

export interface Step {
  /** Faults injected together (one after the other, at once), held, then healed together. */
  readonly faults: readonly FaultKind[];
  readonly holdMs: number;
  /** Quiet time after the cluster serves again. */
  readonly gapMs: number;
  /** For loss / dup. */
  readonly dropPct?: number;
  readonly dupPct?: number;
  /** Seed of the choices among candidates (which follower...). */
  readonly pick?: number;
}

/** Replicas that lose their memory in a fault of this kind at the same time. */
export function memoryLoss(kind: FaultKind): number {
  if (kind === "restart-follower-kill-leader") return 2;
  return kind.startsWith("kill-") ? 1 : 0;
}

export function applicable(kind: FaultKind, replicas: number): boolean {
  const f = (replicas - 1) / 2;
  if (replicas === 1) return false;
  if (kind === "ring") return replicas >= 5;
  return memoryLoss(kind) <= f;
}


export interface GeneratorOptions {
  readonly seed: number;
  readonly replicas: number;
  readonly holdMs?: readonly [number, number];
  readonly gapMs?: readonly [number, number];
  /** Probability that a step carries two faults at once. */
  readonly overlap?: number;
  readonly kinds?: readonly FaultKind[];
}

/** An endless seeded stream of random steps for a cluster of `replicas`. */
export class ScheduleGenerator {
  private readonly random: () => number;
  private readonly kinds: FaultKind[];
  private readonly f: number;

  constructor(private readonly opts: GeneratorOptions) {
    this.random = seededRandom(opts.seed);
    this.kinds = (opts.kinds ?? faultKinds).filter((k) => applicable(k, opts.replicas));
    this.f = (opts.replicas - 1) / 2;
    if (this.kinds.length === 0) throw new Error(`no fault kind applies to ${opts.replicas} replicas`);
  }

  private between([lo, hi]: readonly [number, number]): number {
    return Math.round(lo + (hi - lo) * this.random());
  }

  private kind(): FaultKind {
    return this.kinds[Math.floor(this.random() * this.kinds.length)]!;
  }

  next(): Step {
    const faults = [this.kind()];
    if (this.random() < (this.opts.overlap ?? 0.3)) {
      const second = this.kind();
      // Two crashes at once only within the bound, and one partition at a time keeps each readable.
      const lost = memoryLoss(faults[0]!) + memoryLoss(second);
      if (second !== faults[0] && lost <= this.f) faults.push(second);
    }
    return {
      faults,
      holdMs: this.between(this.opts.holdMs ?? [1000, 5000]),
      gapMs: this.between(this.opts.gapMs ?? [500, 3000]),
      dropPct: this.between([5, 30]),
      dupPct: this.between([5, 30]),
      pick: Math.floor(this.random() * 2 ** 32),
    };
  }
}

export interface StepReport {
  readonly index: number;
  readonly kinds: readonly FaultKind[];
  /** What was done, as the nemesis logged it. */
  readonly injected: readonly string[];
  /** Faults that could not be injected, and why. */
  readonly skipped: readonly string[];
  /** Seconds (nemesis clock) when the step began and when its faults were healed. */
  readonly startS: number;
  readonly healedS: number;
  /** From the heal to the first put that succeeded; undefined: not within the limit. */
  readonly serveMs: number | undefined;
}

export interface RunStepOptions {
  /** How long to wait for the cluster to serve after the heal. */
  readonly serveTimeoutMs?: number;
}

/** Runs one step: injects its faults, holds them, heals them, and measures the time to serve. */
export async function runStep(nemesis: Nemesis, step: Step, index: number, opts: RunStepOptions = {}): Promise<StepReport> {
  const startS = nemesis.seconds();
  const random = seededRandom(step.pick ?? index + 1);
  const faults: Fault[] = [];
  const skipped: string[] = [];
  for (const kind of step.faults) {
    try {
      const made = await inject(nemesis, kind, step, random);
      if (typeof made === "string") {
        skipped.push(`${kind}: ${made}`);
        nemesis.log(`skip:   ${kind}: ${made}`);
      } else faults.push(...made);
    } catch (e) {
      skipped.push(`${kind}: ${(e as Error).message}`);
      nemesis.log(`skip:   ${kind}: ${(e as Error).message}`);
    }
  }
  if (faults.length > 0) await Bun.sleep(step.holdMs);
  // The network and pauses first (restarted replicas need them to recover), then the restarts,
  // which wait for recovery meanwhile the cluster is probed.
  for (const f of faults.filter((x) => x.crashed.length === 0)) await f.heal();
  const restarts = faults.filter((x) => x.crashed.length > 0).map((f) => f.heal());
  const healedS = nemesis.seconds();
  const serveMs = await nemesis.timeToServe(opts.serveTimeoutMs ?? 30_000);
  await Promise.all(restarts);
  nemesis.checkAlive();
  nemesis.log(serveMs === undefined ? `NOT serving ${opts.serveTimeoutMs ?? 30_000} ms after the heal` : `serving ${serveMs} ms after the heal`);
  await Bun.sleep(step.gapMs);
  return { index, kinds: step.faults, injected: faults.map((f) => f.description), skipped, startS, healedS, serveMs };
}

function pickOne<T>(items: readonly T[], random: () => number): T | undefined {
  return items.length === 0 ? undefined : items[Math.floor(random() * items.length)];
}

function pickSome<T>(items: readonly T[], count: number, random: () => number): T[] {
  const pool = [...items];
  const out: T[] = [];
  while (out.length < count && pool.length > 0) out.push(pool.splice(Math.floor(random() * pool.length), 1)[0]!);
  return out;
}

/** Injects one fault of `kind`; returns the faults in force, or why it was skipped. */
async function inject(nemesis: Nemesis, kind: FaultKind, step: Step, random: () => number): Promise<Fault[] | string> {
  if (!applicable(kind, nemesis.ids.length)) return `not applicable to ${nemesis.ids.length} replicas`;
  if (memoryLoss(kind) > nemesis.crashBudget()) return `would exceed f = ${nemesis.f} replicas without memory`;
  if (kind === "ring") return [await nemesis.ring()];
  if (kind === "loss" || kind === "dup" || kind === "loss-dup") {
    const dropPct = kind === "dup" ? 0 : (step.dropPct ?? 10);
    const dupPct = kind === "loss" ? 0 : (step.dupPct ?? 10);
    return [await nemesis.lossy(nemesis.ids, { dropPct, dupPct })];
  }
  const leader = await nemesis.waitLeader({ timeoutMs: 5000 });
  if (leader === undefined) return "no leader within 5 s";
  const follower = pickOne(nemesis.followers(), random);
  const needsFollower = kind.includes("follower") || kind.startsWith("one-way") || kind === "split-leader-majority";
  if (needsFollower && follower === undefined) return "no live follower";
  switch (kind) {
    case "kill-follower":
      return [await nemesis.kill(follower!, "at-heal", "a follower")];
    case "kill-leader":
      return [await nemesis.kill(leader, "at-heal", "the leader")];
    case "kill-leader-twice": {
      const first = await nemesis.kill(leader, "now", "the leader");
      const next = await nemesis.waitLeader({ not: [leader], timeoutMs: 10_000 });
      if (next === undefined) return [first];
      if (!(await nemesis.waitRecovered(leader, 10_000)) || nemesis.crashBudget() < 1) return [first];
      return [first, await nemesis.kill(next, "now", "the next leader")];
    }
    case "restart-follower-kill-leader": {
      const restarted = await nemesis.kill(follower!, "now", "a follower");
      return [restarted, await nemesis.kill(leader, "at-heal", "the leader, right after")];
    }
    case "pause-follower":
      return [nemesis.pause(follower!, "a follower")];
    case "pause-leader":
      return [nemesis.pause(leader, "the leader")];
    case "isolate-leader":
      return [await nemesis.isolate(leader, "the leader")];
    case "isolate-follower":
      return [await nemesis.isolate(follower!, "a follower")];
    case "split-leader-minority": {
      const others = pickSome(nemesis.ids.filter((x) => x !== leader), nemesis.f - 1, random);
      return [await nemesis.split([leader, ...others], "the leader in the minority")];
    }
    case "split-leader-majority":
      return [await nemesis.split(pickSome(nemesis.ids.filter((x) => x !== leader), nemesis.f, random), "the leader in the majority")];
    case "one-way-from-leader":
      return [await nemesis.oneWay(leader, follower!, "leader to a follower")];
    case "one-way-to-leader":
      return [await nemesis.oneWay(follower!, leader, "a follower to the leader")];
  }
}
