// Seeded histories of a linearizable key-value store, for the checker's tests and its benchmark
// (scripts/bench-check.ts). Clients invoke, the store applies each op atomically at some later
// moment (its linearization point), and the client sees the completion later still. Some ops end
// `fail` (never applied) or `info` (applied before, applied later, or never). Values are unique
// per put, as `electrode client --bench` writes them.

export interface HistoryEvent {
  readonly process: number;
  readonly type: "invoke" | "ok" | "fail" | "info";
  readonly f: "put" | "get";
  readonly key: string;
  value: string | null;
  readonly time_ns: number;
}

export interface GenerateOptions {
  readonly seed: number;
  readonly processes: number;
  readonly keys: number;
  /** Operations invoked in all. */
  readonly ops: number;
  readonly putRatio?: number;
  /** Chance that an op ends with `info` (unknown outcome). */
  readonly infoRate?: number;
  /** Chance that an op not yet applied ends with `fail`. */
  readonly failRate?: number;
}

/** mulberry32: small, seeded, good enough for test data. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface InFlight {
  readonly f: "put" | "get";
  readonly key: string;
  readonly value: string | null;
  applied: boolean;
  read: string | null;
}

export function generateHistory(opts: GenerateOptions): HistoryEvent[] {
  const random = seededRandom(opts.seed);
  const putRatio = opts.putRatio ?? 0.5;
  const infoRate = opts.infoRate ?? 0;
  const failRate = opts.failRate ?? 0;
  const store = new Map<string, string>();
  const flights: (InFlight | undefined)[] = new Array(opts.processes).fill(undefined);
  const requests = new Array<number>(opts.processes).fill(0);
  /** Puts whose client gave up before they were applied: they may still be applied later. */
  const zombies: InFlight[] = [];
  const events: HistoryEvent[] = [];
  let invoked = 0;
  let time = 1_000_000_000;
  const emit = (process: number, type: HistoryEvent["type"], op: InFlight, value: string | null) =>
    events.push({ process, type, f: op.f, key: op.key, value, time_ns: time });
  const apply = (op: InFlight) => {
    if (op.f === "put") store.set(op.key, op.value!);
    else op.read = store.get(op.key) ?? null;
    op.applied = true;
  };
  while (invoked < opts.ops || flights.some((x) => x !== undefined)) {
    time += 1 + Math.floor(random() * 1000);
    if (zombies.length > 0 && random() < 0.02) apply(zombies.splice(Math.floor(random() * zombies.length), 1)[0]!);
    const p = Math.floor(random() * opts.processes);
    const op = flights[p];
    if (op === undefined) {
      if (invoked >= opts.ops) continue;
      invoked += 1;
      requests[p] = requests[p]! + 1;
      const isPut = random() < putRatio;
      const key = `k${Math.floor(random() * opts.keys)}`;
      const fresh: InFlight = { f: isPut ? "put" : "get", key, value: isPut ? `${p}.${requests[p]}` : null, applied: false, read: null };
      flights[p] = fresh;
      emit(p, "invoke", fresh, fresh.value);
    } else if (random() < infoRate) {
      emit(p, "info", op, op.value);
      if (!op.applied && op.f === "put" && random() < 0.5) zombies.push(op);
      flights[p] = undefined;
    } else if (!op.applied && random() < failRate) {
      emit(p, "fail", op, op.value);
      flights[p] = undefined;
    } else if (!op.applied) {
      apply(op);
    } else {
      emit(p, "ok", op, op.f === "put" ? op.value : op.read);
      flights[p] = undefined;
    }
  }
  return events;
}

export function historyText(events: readonly HistoryEvent[]): string {
  return events.map((e) => JSON.stringify(e)).join("\n") + "\n";
}
