// Closed-loop benchmark: K sessions, each with one request in flight, a warm-up that is not
// measured, then `durationS` of measurement into a histogram. Optionally writes the history
// (one JSON object a line, ../shared/DESIGN.md) for the linearizability checker.
//
// The kv workload's keys carry a random id of the run ("<run>.k3"), and so do its default values
// ("<run>.<session>.<n>"): the checker takes every key to start absent and every value to be
// written once, which then holds for a history written against a cluster that served earlier runs
// too (soak segments, reruns). The mix, the keys and the values are src/bench/kv-workload.ts's;
// reads (gets) and writes (puts, deletes and cas ops) are measured apart as well as together, and
// deletes and cas ops also on their own when the mix has them. A cas expects the value its
// client last saw for the key (from its own replies: what it read, wrote, or a failed cas found).
// Gets are served as `readMode` says: by the leader's read index (default: linearizable, no log
// write), through the log like a write, or stale at any replica (recorded with "stale": true: the
// checker does not hold them to linearizability); deletes and cas ops always go through the log.

import type { Config } from "../config/config.ts";
import { decodeKvResult, encodeCas, encodeDelete, encodeGet, encodePut, KvStatus } from "../app/kv.ts";
import { ClusterClient, type Completion, type Session } from "../node/client.ts";
import { ReadMode } from "../wire/layout.ts";
import { Histogram } from "./histogram.ts";
import { keyPicker, kvWorkloadDefaults, opKindOf, putValue, sessionRandom, type KvOpKind, type KvWorkload } from "./kv-workload.ts";

export type Workload = "null" | "kv";

export interface BenchOptions {
  readonly clients: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly workload: Workload;
  /** The kv workload's mix, keys and values (default: kvWorkloadDefaults, seeded by the clock). */
  readonly kv?: KvWorkload;
  readonly historyFile?: string;
  /** How the kv workload's gets are served (default ReadMode.Index). */
  readonly readMode?: ReadMode;
  /** Prefix of the kv workload's keys and values (default: random per run). */
  readonly runId?: string;
  readonly bindHost?: string;
  /** Ends the run early (no new requests; those in flight complete or time out). Checked about
   * once a second. */
  readonly signal?: AbortSignal;
  /** Called about once a second while running. */
  readonly onProgress?: (elapsedS: number, ops: number) => void;
}

export type LatencyUs = { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };

/** Operations of one kind (or all) in the measured window. */
export interface OpStats {
  readonly ops: number;
  readonly errors: number;
  readonly throughputOpsS: number;
  readonly latency: Histogram;
  readonly latencyUs: LatencyUs;
}

export interface BenchResult extends OpStats {
  readonly durationS: number;
  /** Index of the replica that led when the run ended (learned from the views in replies). */
  readonly leaderIndex: number;
  /** kv workload: gets, and all writes, apart (their sums are the totals). */
  readonly reads?: OpStats;
  readonly writes?: OpStats;
  /** kv workload with deletes or cas ops in its mix: those alone (also counted in `writes`). */
  readonly deletes?: OpStats;
  readonly cas?: CasStats;
  /** kv workload: what ran (seed included, so a run can be repeated). */
  readonly kv?: KvWorkload;
  /** kv workload: how its gets were served. */
  readonly readsVia?: ReadsVia;
}

export interface CasStats extends OpStats {
  /** Of the ops: how many swapped, and how many compared and did not. */
  readonly swapped: number;
  readonly notSwapped: number;
}

export type ReadsVia = "index" | "log" | "stale";
export const readsVia: Record<ReadMode, ReadsVia> = { [ReadMode.Index]: "index", [ReadMode.Log]: "log", [ReadMode.Stale]: "stale" };

/** Ops, errors and latency of one kind of operation, counted while measuring. */
export class OpCounter {
  ops = 0;
  errors = 0;
  readonly latency = new Histogram();

  ok(latencyNs: number): void {
    this.ops += 1;
    this.latency.record(latencyNs);
  }

  stats(measuredS: number): OpStats {
    return { ops: this.ops, errors: this.errors, throughputOpsS: measuredS > 0 ? Math.round(this.ops / measuredS) : 0, latency: this.latency, latencyUs: latencyUs(this.latency) };
  }
}

/** The contract's latency summary of a histogram of nanoseconds, in microseconds (2 decimals). */
export function latencyUs(h: Histogram): LatencyUs {
  const micro = (ns: number) => Math.round(ns / 10) / 100;
  return {
    p50: micro(h.quantile(0.5)),
    p90: micro(h.quantile(0.9)),
    p99: micro(h.quantile(0.99)),
    p999: micro(h.quantile(0.999)),
    max: micro(h.max),
    mean: micro(h.mean),
  };
}

interface Pending {
  readonly f: KvOpKind;
  readonly key: string;
  /** The key's UTF-8 bytes (encoded once per key and run). */
  readonly keyBytes: Uint8Array;
  readonly value: string | null;
  /** cas: the value it expects (null: absent). */
  readonly expected: string | null;
}

/** The kv workload's counters by kind: reads, writes (every non-get), and deletes and cas ops. */
class KvCounters {
  readonly reads = new OpCounter();
  readonly writes = new OpCounter();
  readonly deletes = new OpCounter();
  readonly cas = new OpCounter();
  /** Measured cas ops that swapped. */
  swapped = 0;
  private readonly byKind: Record<KvOpKind, readonly OpCounter[]> = {
    get: [this.reads],
    put: [this.writes],
    delete: [this.writes, this.deletes],
    cas: [this.writes, this.cas],
  };

  of(f: KvOpKind): readonly OpCounter[] {
    return this.byKind[f];
  }

  /** The split for the result: deletes and cas ops only when the mix has them. */
  stats(kv: KvWorkload, measuredS: number) {
    return {
      reads: this.reads.stats(measuredS),
      writes: this.writes.stats(measuredS),
      ...(kv.deleteRatio ? { deletes: this.deletes.stats(measuredS) } : {}),
      ...(kv.casRatio ? { cas: { ...this.cas.stats(measuredS), swapped: this.swapped, notSwapped: this.cas.ops - this.swapped } } : {}),
      kv,
    };
  }
}

/**
 * The history line of an event of `p` (the contract's fields; a cas's expected value too, and
 * "stale": true on a get when gets are served stale).
 */
function historyLine(process: number, type: string, p: Pending, value: string | null, nowNs: number, staleGets: boolean): string {
  const expected = p.f === "cas" ? { expected: p.expected } : {};
  const stale = staleGets && p.f === "get" ? { stale: true } : {};
  return JSON.stringify({ process, type, f: p.f, key: p.key, value, ...expected, time_ns: nowNs, ...stale }) + "\n";
}

/** What the key holds after `p` answered `status` (with `value`), as far as its reply says. */
function heldAfter(p: Pending, status: KvStatus, value: string): string | null {
  switch (p.f) {
    case "put":
      return p.value;
    case "delete":
      return null;
    case "get":
      return status === KvStatus.Ok ? value : null;
    case "cas":
      return status === KvStatus.Ok ? p.value : status === KvStatus.Mismatch ? value : null;
  }
}

function encodeKvOp(p: Pending): Uint8Array {
  switch (p.f) {
    case "get":
      return encodeGet(p.keyBytes);
    case "put":
      return encodePut(p.keyBytes, p.value!);
    case "delete":
      return encodeDelete(p.keyBytes);
    case "cas":
      return encodeCas(p.keyBytes, p.expected, p.value!);
  }
}

const nullOp = new Uint8Array(16);

/** A random id for one run: 8 base-36 characters. */
export function newRunId(): string {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return (words[0]!.toString(36) + words[1]!.toString(36)).slice(0, 8).padStart(8, "0");
}

export async function runBench(config: Config, opts: BenchOptions): Promise<BenchResult> {
  const client = new ClusterClient(config, opts.clients, { bindHost: opts.bindHost });
  const history = opts.historyFile ? Bun.file(opts.historyFile).writer() : undefined;
  const kv: KvWorkload = opts.kv ?? { ...kvWorkloadDefaults, seed: Date.now() >>> 0 };
  const randoms = client.sessions.map((s) => sessionRandom(kv.seed, s.index));
  const pickKey = keyPicker(kv);
  const runId = opts.runId ?? newRunId();
  const keyNames = Array.from({ length: kv.keys }, (_, n) => `${runId}.k${n}`);
  const keyBytes = keyNames.map((name) => new TextEncoder().encode(name));
  // A reply's value is read only where something uses it: the history, and the values cas ops expect.
  const readsResults = history !== undefined || (kv.casRatio ?? 0) > 0;
  const pending: (Pending | undefined)[] = new Array(opts.clients);
  const all = new OpCounter();
  const counters = new KvCounters();
  /** Per session, per key: the value it last saw (null: absent), for its cas ops to expect. */
  const seen = client.sessions.map(() => new Map<string, string | null>());
  const readMode = opts.readMode ?? ReadMode.Index;
  // Stale gets are marked in the history: the checker leaves them out of the linearizable ones.
  const staleGets = readMode === ReadMode.Stale;

  const start = (session: Session, nowNs: number) => {
    if (opts.workload === "null") {
      client.submit(session, nullOp, nowNs);
      return;
    }
    const random = randoms[session.index]!;
    const k = pickKey(random);
    const key = keyNames[k]!;
    const f = opKindOf(kv, random());
    // Unique values per put and cas (also across runs) keep the history checkable.
    const value = f === "put" || f === "cas" ? putValue(runId, session.index, session.requestNum + 1, kv.valueBytes) : null;
    const p: Pending = { f, key, keyBytes: keyBytes[k]!, value, expected: f === "cas" ? (seen[session.index]!.get(key) ?? null) : null };
    pending[session.index] = p;
    history?.write(historyLine(session.index, "invoke", p, value, nowNs, staleGets));
    client.submit(session, encodeKvOp(p), nowNs, f === "get" ? readMode : ReadMode.Log);
  };

  const learn = (index: number, p: Pending, status: KvStatus, value: string) => seen[index]!.set(p.key, heldAfter(p, status, value));

  const record = (done: Completion, nowNs: number, measuring: boolean) => {
    const p = pending[done.session.index];
    const kinds = p === undefined ? [] : counters.of(p.f);
    if (done.outcome.kind === "ok") {
      if (measuring) {
        all.ok(done.latencyNs);
        for (const k of kinds) k.ok(done.latencyNs);
      }
      if (!p) return;
      if (!readsResults) return; // no history, no cas ops: nothing reads it
      const result = decodeKvResult(done.outcome.result);
      learn(done.session.index, p, result.status, result.value);
      // A cas that did not swap is "fail": it compared, found another value, and wrote nothing.
      const notSwapped = p.f === "cas" && result.status !== KvStatus.Ok;
      if (measuring && p.f === "cas" && !notSwapped) counters.swapped += 1;
      const value = p.f === "get" ? (result.status === KvStatus.Ok ? result.value : null) : p.value;
      history?.write(historyLine(done.session.index, notSwapped ? "fail" : "ok", p, value, nowNs, staleGets));
    } else {
      if (measuring) {
        all.errors += 1;
        for (const k of kinds) k.errors += 1;
      }
      // The key may hold anything now: the session's next cas on it expects absence until it learns.
      if (p) seen[done.session.index]!.delete(p.key);
      if (p && history) history.write(historyLine(done.session.index, "info", p, p.value, nowNs, staleGets));
    }
  };

  const t0 = Bun.nanoseconds();
  const measureFrom = t0 + opts.warmupS * 1e9;
  let endAt = measureFrom + opts.durationS * 1e9;
  let lastProgress = t0;
  for (const session of client.sessions) start(session, t0);
  try {
    for (;;) {
      const done = client.poll(1);
      const now = Bun.nanoseconds();
      const measuring = now >= measureFrom;
      for (const completion of done) {
        record(completion, now, measuring && completion.session.firstSentNs >= measureFrom);
        if (now < endAt) start(completion.session, now);
      }
      if (now >= endAt && client.sessions.every((s) => !s.busy)) break;
      if (now - lastProgress >= 1e9) {
        lastProgress = now;
        opts.onProgress?.((now - t0) / 1e9, all.ops);
        // Let the event loop run (signals, timers) without disturbing the loop much.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (opts.signal?.aborted && endAt > now) endAt = Math.max(now, measureFrom);
      }
    }
  } finally {
    client.close();
    await history?.end();
  }
  const leaderIndex = client.leaderIndex;
  const measuredS = Math.round((endAt - measureFrom) / 1e6) / 1e3; // less than asked when stopped early
  const split = opts.workload === "kv" ? { ...counters.stats(kv, measuredS), readsVia: readsVia[readMode] } : {};
  return { ...all.stats(measuredS), durationS: measuredS, leaderIndex, ...split };
}
