// Seeded histories of a linearizable key-value store, for the checker's tests and its benchmark
// (scripts/bench-check.ts). Clients invoke, the store applies each op atomically at some later
// moment (its linearization point), and the client sees the completion later still. Some ops end
// `fail` (never applied) or `info` (applied before, applied later, or never). Values are unique
// per put and cas, as `electrode client --bench` writes them. A cas expects the key's current value
// most of the time (so that many swap), else an older value or absence; it ends `ok` when it
// swapped and `fail` when it compared and did not.

export interface HistoryEvent {
  readonly process: number;
  readonly type: "invoke" | "ok" | "fail" | "info";
  readonly f: "put" | "get" | "delete" | "cas";
  readonly key: string;
  value: string | null;
  /** cas only: the value it compares with (null: the key absent). */
  readonly expected?: string | null;
  readonly time_ns: number;
}

export interface GenerateOptions {
  readonly seed: number;
  readonly processes: number;
  readonly keys: number;
  /** Operations invoked in all. */
  readonly ops: number;
  /** Fraction of ops that write (puts, and the deletes and cas ops below). */
  readonly putRatio?: number;
  /** Fractions of all ops that are deletes and cas ops (default 0). */
  readonly deleteRatio?: number;
  readonly casRatio?: number;
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
  readonly f: HistoryEvent["f"];
  readonly key: string;
  readonly value: string | null;
  readonly expected: string | null;
  applied: boolean;
  /** get: the value read. cas: whether it swapped. */
  read: string | null;
  swapped: boolean;
}

export function generateHistory(opts: GenerateOptions): HistoryEvent[] {
  const random = seededRandom(opts.seed);
  const putRatio = opts.putRatio ?? 0.5;
  const infoRate = opts.infoRate ?? 0;
  const failRate = opts.failRate ?? 0;
  const deleteRatio = opts.deleteRatio ?? 0;
  const casRatio = opts.casRatio ?? 0;
  const store = new Map<string, string>();
  const flights: (InFlight | undefined)[] = new Array(opts.processes).fill(undefined);
  const requests = new Array<number>(opts.processes).fill(0);
  /** Puts whose client gave up before they were applied: they may still be applied later. */
  const zombies: InFlight[] = [];
  const events: HistoryEvent[] = [];
  let invoked = 0;
  let time = 1_000_000_000;
  /** Every value written to a key, for a cas to expect an old one. */
  const written = new Map<string, string[]>();
  const emit = (process: number, type: HistoryEvent["type"], op: InFlight, value: string | null) =>
    events.push({ process, type, f: op.f, key: op.key, value, ...(op.f === "cas" ? { expected: op.expected } : {}), time_ns: time });
  const apply = (op: InFlight) => {
    const current = store.get(op.key) ?? null;
    if (op.f === "put") store.set(op.key, op.value!);
    else if (op.f === "delete") store.delete(op.key);
    else if (op.f === "cas") op.swapped = current === op.expected;
    else op.read = current;
    if (op.swapped) store.set(op.key, op.value!);
    op.applied = true;
  };
  const pickKind = (): HistoryEvent["f"] => {
    const u = random();
    if (u < casRatio) return "cas";
    if (u < casRatio + deleteRatio) return "delete";
    return u < putRatio ? "put" : "get";
  };
  const pickExpected = (key: string): string | null => {
    const u = random();
    if (u < 0.6) return store.get(key) ?? null;
    const old = written.get(key);
    return u < 0.8 || old === undefined ? null : old[Math.floor(random() * old.length)]!;
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
      const f = pickKind();
      const key = `k${Math.floor(random() * opts.keys)}`;
      const writes = f === "put" || f === "cas";
      const value = writes ? `${p}.${requests[p]}` : null;
      const expected = f === "cas" ? pickExpected(key) : null;
      if (value !== null) {
        const list = written.get(key);
        if (list) list.push(value);
        else written.set(key, [value]);
      }
      const fresh: InFlight = { f, key, value, expected, applied: false, read: null, swapped: false };
      flights[p] = fresh;
      emit(p, "invoke", fresh, fresh.value);
    } else if (random() < infoRate) {
      emit(p, "info", op, op.value);
      if (!op.applied && op.f !== "get" && random() < 0.5) zombies.push(op);
      flights[p] = undefined;
    } else if (!op.applied && op.f !== "cas" && random() < failRate) {
      emit(p, "fail", op, op.value);
      flights[p] = undefined;
    } else if (!op.applied) {
      apply(op);
    } else {
      const type = op.f === "cas" && !op.swapped ? "fail" : "ok";
      emit(p, type, op, op.f === "get" ? op.read : op.value);
      flights[p] = undefined;
    }
  }
  return events;
}

export function historyText(events: readonly HistoryEvent[]): string {
  return events.map((e) => JSON.stringify(e)).join("\n") + "\n";
}
