// The seeded fault simulator: one seed decides everything (network conditions, timing, op sizes,
// which faults strike when), so a failing seed replays exactly:
//   SIM_SEED=<seed> SIM_REPLICAS=<n> bun test test/sim/replay.test.ts
//
// A run: a fault phase (loss, duplication, reordering, partitions, pauses, crashes and restarts;
// never more than f replicas down or recovering at once), then everything heals and a liveness
// phase follows: every pending request must complete within a bound, then, with clients stopped,
// every replica must converge (normal, same view, everything committed). The Checker (checker.ts)
// checks safety after every single step.

import { encodeCas, encodeDelete, encodeGet, encodePut } from "../../src/app/kv.ts";
import { requestOpBytesMax } from "../../src/core/replica.ts";
import { ReadMode } from "../../src/wire/layout.ts";
import { SimFailure } from "./checker.ts";
import { Cluster, type SimClient, type Timing } from "./cluster.ts";
import { Prng } from "./prng.ts";

export interface SimPlan {
  readonly seed: number;
  readonly replicas: number;
  readonly clients: number;
  readonly faultTicks: number;
  readonly loss: number;
  readonly duplication: number;
  readonly delayMax: number;
  readonly faultRate: number;
  readonly timing: Partial<Timing>;
  /** Probability that a client's op carries a large value (exercises batching and chunking). */
  readonly bigOps: number;
  readonly codec: boolean;
  /** Model the kernel fast paths (quorum prune, fast reply) on every replica. */
  readonly fastPaths: boolean;
  /** With fast paths: loss of what the kernel passed up, before the process reads it (until the
   * healing, like the other faults). */
  readonly socketLoss: number;
  /** Data directories on simulated disks (cluster.ts), with whole-cluster power cuts among the
   * faults. Not drawn: storage.test.ts sets it. */
  readonly storage?: "always" | "interval" | "off";
  /** fsync interval in ticks (storage "interval"), and what the check allows (cluster.ts). */
  readonly fsyncIntervalTicks?: number;
  readonly lossWindowTicks?: number;
  /** Tests only (storage "always"): the leader's vote counts before its fsync (cluster.ts). */
  readonly leaderVoteBeforeSync?: boolean;
  /** Probability that a get is a read without a log write (the leader's read index) rather than
   * an op through the log. */
  readonly indexReads: number;
  /** Leader leases (the lease and the drift bound; absent: none). */
  readonly leases: { readonly leaseMs: number; readonly driftPpm: number } | undefined;
}

/** Ticks every client's pending request gets to complete once everything healed. */
export const livenessTicks = 2000;
/** Ticks the replicas get to converge once clients stop. */
export const convergeTicks = 3000;

/** Draws a run's conditions from its seed (a separate stream from the run's own randomness). */
export function planFor(seed: number, replicas: number, faultTicks = 3000): SimPlan {
  const r = new Prng(seed ^ 0x5bd1e995);
  const plan = {
    seed,
    replicas,
    clients: r.int(2, 10),
    faultTicks,
    loss: r.pick([0, 0.01, 0.05, 0.1, 0.2]),
    duplication: r.pick([0, 0.02, 0.05]),
    delayMax: r.int(1, 8),
    faultRate: r.pick([0.005, 0.01, 0.02]),
    timing: {
      batchMax: r.pick([1, 4, 8, 64]),
      pipelineMax: r.pick([2, 8, 64]),
      resendTicks: r.pick([5, 10]),
      // 20 is barely above a heartbeat plus the slowest delivery: many spurious view changes.
      viewChangeTimeoutTicks: r.pick([20, 40, 40, 80]),
    },
    bigOps: r.pick([0, 0, 0.1, 0.5]),
    codec: r.chance(0.25),
    fastPaths: r.chance(0.5),
    socketLoss: r.pick([0, 0.02, 0.1]), // drawn after the rest: the fields above stay what they were for a seed
  };
  // Compaction and client-table bounds, drawn last for the same reason. Small checkpoint intervals
  // and retained suffixes make view changes, recoveries and catch-ups cross compaction points
  // (state transfer by snapshot); a table smaller than the clients makes them evict each other.
  const limits = {
    checkpointOps: r.pick([3, 8, 32, 1000]),
    logRetainOps: r.pick([0, 1, 6, 50]),
    clientsMax: r.chance(0.2) ? r.int(Math.max(1, plan.clients - 3), plan.clients - 1) : 64,
  };
  const indexReads = r.pick([0, 0.5, 1, 1]); // drawn last: the fields above stay what they were for a seed
  // Leases, drawn after that: up to the view-change timeout (the config's bound), drift up to 10%.
  const leaseMs = r.pick([0, 0.25, 0.5, 1]) * plan.timing.viewChangeTimeoutTicks;
  const leases = leaseMs > 0 ? { leaseMs, driftPpm: r.pick([0, 10_000, 100_000]) } : undefined;
  return { ...plan, timing: { ...plan.timing, ...limits }, indexReads, leases };
}

export function replayCommand(plan: SimPlan): string {
  return `SIM_SEED=${plan.seed} SIM_REPLICAS=${plan.replicas} bun test test/sim/replay.test.ts`;
}

export class Simulation {
  readonly cluster: Cluster;
  private readonly restartAt: (number | undefined)[];
  private healPartitionAt: number | undefined;
  /** Per key, the small values submitted for it (puts and cas ops), for cas ops to expect. */
  private readonly written = new Map<string, string[]>();
  private readonly readRand: Prng;

  constructor(readonly plan: SimPlan) {
    this.cluster = new Cluster({
      replicas: plan.replicas,
      seed: plan.seed,
      timing: plan.timing,
      net: { loss: plan.loss, duplication: plan.duplication, delayMax: plan.delayMax, socketLoss: plan.socketLoss },
      codec: plan.codec,
      fastPaths: plan.fastPaths,
      storage: plan.storage,
      leases: plan.leases,
      fsyncIntervalTicks: plan.fsyncIntervalTicks,
      lossWindowTicks: plan.lossWindowTicks,
      leaderVoteBeforeSync: plan.leaderVoteBeforeSync,
    });
    for (let c = 0; c < plan.clients; c++) this.cluster.addClient();
    this.readRand = new Prng(plan.seed ^ 0x4ead);
    this.restartAt = new Array<number | undefined>(plan.replicas).fill(undefined);
  }

  /** Runs the whole simulation; throws SimFailure (with the replay command) on any violation. */
  run(): void {
    try {
      this.faultPhase();
      this.healAll();
      this.livenessPhase();
    } catch (e) {
      // Checker failures and the core's own assertions alike: name the seed and how to replay it.
      if (e instanceof Error) {
        const where = e instanceof SimFailure ? "" : ` (at tick ${this.cluster.now}; last events:\n    ${this.cluster.trace.slice(-20).join("\n    ")})`;
        e.message = `seed ${this.plan.seed}, ${this.plan.replicas} replicas: ${e.message}${where}\n  replay: ${replayCommand(this.plan)}\n  plan: ${JSON.stringify(this.plan)}`;
      }
      throw e;
    }
  }

  private faultPhase(): void {
    const c = this.cluster;
    while (c.now < this.plan.faultTicks) {
      this.scheduledFaults();
      if (c.rand.chance(this.plan.faultRate)) this.injectFault();
      this.submitFromIdleClients(0.7);
      c.tick();
    }
  }

  private healAll(): void {
    const c = this.cluster;
    c.heal();
    c.net.loss = 0;
    c.net.duplication = 0;
    c.net.socketLoss = 0;
    c.net.delayMax = Math.min(c.net.delayMax, 3);
    for (let i = 0; i < c.n; i++) {
      c.pausedUntil[i] = 0;
      if (!c.replicas[i]) c.restart(i);
    }
  }

  private livenessPhase(): void {
    const c = this.cluster;
    const allDone = () => c.clients.every((cl) => !cl.pending);
    c.runUntil(allDone, livenessTicks, "liveness: requests pending at healing complete");
    // Serve a while under load (a tiny pipeline may starve single clients then: it drops requests
    // beyond it and they retry), then a burst of one request per client: all must complete.
    const before = c.stats.replies;
    c.run(300, () => this.submitFromIdleClients(0.5));
    if (c.stats.replies === before) c.fail("liveness: nothing completed in 300 healed ticks");
    c.runUntil(allDone, livenessTicks, "liveness: requests pending after the load complete");
    for (const client of c.clients) this.submitRandom(client);
    c.runUntil(allDone, livenessTicks, "liveness: one request from every client completes");
    c.runUntil(() => c.converged(), convergeTicks, "convergence: every replica normal in one view with everything committed");
    c.checker.recheckAll(c.replicas);
  }

  private submitFromIdleClients(p: number): void {
    const c = this.cluster;
    for (const client of c.clients) if (!client.pending && c.rand.chance(p)) this.submitRandom(client);
  }

  private submitRandom(client: SimClient): void {
    const op = this.randomOp(client);
    // The read mode comes from its own stream, so a seed's network and faults stay the same.
    const indexRead = op[0] === encodeGet("")[0] && this.readRand.chance(this.plan.indexReads);
    this.cluster.submit(client, op, indexRead ? ReadMode.Index : undefined);
  }

  /** Gets, puts (some large), deletes, and cas ops expecting a value submitted for the key
   * (mostly the latest, so that many swap) or absence. */
  private randomOp(client: SimClient): Uint8Array {
    const r = this.cluster.rand;
    const key = `k${r.int(0, 3)}`;
    if (r.chance(0.4)) return encodeGet(key);
    const tag = `${client.clientId}.${client.requestNum + 1}`;
    const kind = r.next();
    if (kind < 0.1) return encodeDelete(key);
    const written = this.written.get(key) ?? [];
    if (written.length === 0) this.written.set(key, written);
    written.push(tag);
    if (written.length > 8) written.shift();
    if (kind < 0.35) {
      const expected = written.length < 2 || r.chance(0.2) ? null : r.chance(0.6) ? written[written.length - 2]! : r.pick(written);
      return encodeCas(key, expected, tag);
    }
    if (!r.chance(this.plan.bigOps)) return encodePut(key, tag);
    const room = requestOpBytesMax - 3 - key.length - tag.length;
    return encodePut(key, tag + "x".repeat(r.int(room - 200, room)));
  }

  // ---- Faults. ----

  private scheduledFaults(): void {
    const c = this.cluster;
    for (let i = 0; i < c.n; i++) {
      if (this.restartAt[i] !== undefined && c.now >= this.restartAt[i]!) {
        this.restartAt[i] = undefined;
        c.restart(i);
      }
    }
    if (this.healPartitionAt !== undefined && c.now >= this.healPartitionAt) {
      this.healPartitionAt = undefined;
      c.heal();
    }
  }

  private injectFault(): void {
    const c = this.cluster;
    if (c.n === 1) return;
    const kind = c.rand.next();
    if (this.plan.storage && kind < 0.15) this.powerCut();
    else if (kind < 0.4) this.partition();
    else if (kind < 0.6) this.pause();
    else this.crash();
  }

  /** Every replica at once, each restarted a little later (all n must come back). */
  private powerCut(): void {
    const c = this.cluster;
    if (c.unavailable() > 0) return;
    c.powerCut();
    for (let i = 0; i < c.n; i++) this.restartAt[i] = c.now + c.rand.int(5, 200);
    this.powerCuts += 1;
  }

  powerCuts = 0;

  /** Victim: the current leader half of the time (that is where faults hurt most). */
  private victim(): number {
    const c = this.cluster;
    const leader = c.leader();
    return leader !== undefined && c.rand.chance(0.5) ? leader : c.rand.int(0, c.n - 1);
  }

  private partition(): void {
    const c = this.cluster;
    if (this.healPartitionAt !== undefined) return;
    const groupCount = c.rand.chance(0.2) ? 3 : 2;
    const groups: number[][] = Array.from({ length: groupCount }, () => []);
    const isolated = c.rand.chance(0.3) ? this.victim() : -1;
    for (let i = 0; i < c.n; i++) groups[i === isolated ? 0 : c.rand.int(isolated >= 0 ? 1 : 0, groupCount - 1)]!.push(i);
    c.partition(groups.filter((g) => g.length > 0));
    this.healPartitionAt = c.now + c.rand.int(20, 300);
  }

  private pause(): void {
    const c = this.cluster;
    const i = this.victim();
    if (c.replicas[i] && c.pausedUntil[i]! <= c.now) c.pause(i, c.rand.int(10, 150));
  }

  private crash(): void {
    const c = this.cluster;
    if (c.unavailable() >= c.f) return; // down (awaiting restart) or recovering
    const i = this.victim();
    if (!c.replicas[i] || this.restartAt[i] !== undefined) return;
    c.crash(i);
    this.restartAt[i] = c.now + c.rand.int(5, 200);
  }
}

/** Runs `count` seeds from `first` (SIM_SEEDS scales count up for a soak). */
export function runSeeds(replicas: number, first: number, count: number, override: Partial<SimPlan> = {}, after?: (sim: Simulation) => void) {
  const total = { replies: 0, crashes: 0, viewChanges: 0, indexReads: 0, leaseReads: 0, powerCuts: 0, deletes: 0, casSwapped: 0, casNotSwapped: 0 };
  for (let seed = first; seed < first + count; seed++) {
    const sim = new Simulation({ ...planFor(seed, replicas), ...override });
    sim.run();
    total.replies += sim.cluster.stats.replies;
    total.crashes += sim.cluster.stats.crashes;
    total.viewChanges += sim.cluster.stats.viewChanges;
    total.powerCuts += sim.powerCuts;
    total.indexReads += sim.cluster.stats.indexReads;
    total.leaseReads += sim.cluster.stats.leaseReads;
    const checked = sim.cluster.checker.checkedOps;
    total.deletes += checked.deletes;
    total.casSwapped += checked.casSwapped;
    total.casNotSwapped += checked.casNotSwapped;
    after?.(sim);
  }
  return total;
}
