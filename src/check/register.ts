// Linearizability of one key's history against a register (put overwrites, get reads, delete makes
// it "not found" again, cas overwrites only when it holds the expected value; the initial value is
// "not found"). Wing & Gong's search with Lowe's memoization, as in Porcupine: the call
// and return events, sorted by time (equal times: by line in the file), form a linked list;
// depth-first, we linearize a pending call (unlink its call and return) whenever the model allows
// it, and backtrack when we meet a return whose op is not linearized yet. A configuration is
// cached so that it is explored only once.
//
// The cache key is small: when the first remaining return event is r, every linearized op was
// invoked before r and every op invoked before r that is not linearized is still in the list
// before r. So (model state, the ops still listed before r) names the linearized set exactly,
// and its size is the number of pending ops (about the concurrency), not the history's length.
//
// Unknown outcomes return at +Infinity: once every op with a known outcome is linearized, the
// remaining ones (writes, always allowed) go at the end, which is also how "never happened" looks.

import type { Op } from "./history.ts";

export type SearchResult =
  | { readonly kind: "ok"; readonly steps: number }
  /** `stuck`: the op whose return the search could never get past; `prefix`: the ops invoked
   * before that return, a sub-history that is itself not linearizable. Both index the input. */
  | { readonly kind: "violation"; readonly steps: number; readonly stuck: number; readonly prefix: number[] }
  | { readonly kind: "unknown"; readonly steps: number };

const deadlineCheckEvery = 4096;

/** The ops the search needs. An unknown-outcome get constrains nothing. An unknown-outcome write
 * (put, delete, cas) can always be placed last, or never, unless what it leaves is read: a get
 * or a swapping cas (an unknown one too, for simplicity) may see its value (a delete's: not found),
 * and a cas that did not swap may need the key to hold anything but its expected value. */
function relevant(ops: readonly Op[]): number[] {
  const read = new Set<string | null>();
  let mismatches = false;
  for (const op of ops) {
    if (op.f === "get" && op.outcome === "ok") read.add(op.value);
    if (op.f === "cas" && op.outcome !== "fail") read.add(op.expected);
    if (op.f === "cas" && op.outcome === "fail") mismatches = true;
  }
  const keep: number[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.outcome === "info" && (op.f === "get" || (!mismatches && !read.has(op.f === "delete" ? null : op.value)))) continue;
    keep.push(i);
  }
  return keep;
}

/** The events as a doubly linked list over positions 1..2n (0 is the head, 2n+1 the end). */
class EventList {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  /** Per position: the op, and whether it is its call. */
  readonly opAt: Int32Array;
  readonly isCall: Uint8Array;
  /** Per op: the positions of its call and return. */
  readonly callPos: Int32Array;
  readonly retPos: Int32Array;

  /** `line`: per event (2*op call, 2*op+1 return), its line in the file, to order equal times. */
  constructor(invoke: Float64Array, ret: Float64Array, line: Float64Array) {
    const n = invoke.length;
    // Event e = 2*op (call) or 2*op+1 (return), ordered by time. At equal times the file's line
    // order is the real order (a client writes a completion before the invoke it then starts);
    // without lines (+Infinity), a call goes before a return: the two count as concurrent.
    const events = Array.from({ length: 2 * n }, (_v, e) => e);
    const time = (e: number) => ((e & 1) === 0 ? invoke[e >> 1]! : ret[e >> 1]!);
    // (Compared, not subtracted: two +Infinity values would give NaN.)
    const cmp = (x: number, y: number) => (x < y ? -1 : x > y ? 1 : 0);
    events.sort((a, b) => cmp(time(a), time(b)) || cmp(line[a]!, line[b]!) || (a & 1) - (b & 1) || a - b);
    this.next = new Int32Array(2 * n + 2);
    this.prev = new Int32Array(2 * n + 2);
    this.opAt = new Int32Array(2 * n + 2).fill(-1);
    this.isCall = new Uint8Array(2 * n + 2);
    this.callPos = new Int32Array(n);
    this.retPos = new Int32Array(n);
    for (let p = 0; p <= 2 * n + 1; p++) {
      this.next[p] = p + 1;
      this.prev[p] = p - 1;
    }
    events.forEach((e, i) => {
      const p = i + 1;
      this.opAt[p] = e >> 1;
      this.isCall[p] = (e & 1) === 0 ? 1 : 0;
      if ((e & 1) === 0) this.callPos[e >> 1] = p;
      else this.retPos[e >> 1] = p;
    });
  }

  lift(op: number): void {
    const { next, prev } = this;
    const c = this.callPos[op]!;
    const r = this.retPos[op]!;
    next[prev[c]!] = next[c]!;
    prev[next[c]!] = prev[c]!;
    next[prev[r]!] = next[r]!;
    prev[next[r]!] = prev[r]!;
  }

  /** Undoes the last lift (dancing links: in reverse order). */
  unlift(op: number): void {
    const { next, prev } = this;
    const c = this.callPos[op]!;
    const r = this.retPos[op]!;
    next[prev[r]!] = r;
    prev[next[r]!] = r;
    next[prev[c]!] = c;
    prev[next[c]!] = c;
  }
}

/** Configurations already explored: (state, ops listed before the first return). */
class SeenSet {
  private readonly buckets = new Map<number, Int32Array[]>();
  size = 0;

  /** Adds key[0..len); false when it was there already. */
  add(key: Int32Array, len: number): boolean {
    let h = 0x811c9dc5 ^ len;
    for (let i = 0; i < len; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
    h ^= h >>> 15;
    const bucket = this.buckets.get(h);
    if (bucket) {
      outer: for (const k of bucket) {
        if (k.length !== len) continue;
        for (let i = 0; i < len; i++) if (k[i] !== key[i]) continue outer;
        return false;
      }
      bucket.push(key.slice(0, len));
    } else {
      this.buckets.set(h, [key.slice(0, len)]);
    }
    this.size += 1;
    return true;
  }
}

/** What an op does to the register, as the search sees it. */
const enum Step {
  Get,
  Put,
  Delete,
  /** A cas that swapped (ok). */
  Swap,
  /** A cas that compared and did not swap (fail). */
  NoSwap,
  /** A cas whose outcome is unknown: swaps if the register holds the expected value. */
  MaybeSwap,
}

function stepOf(op: Op): Step {
  if (op.f === "get") return Step.Get;
  if (op.f === "put") return Step.Put;
  if (op.f === "delete") return Step.Delete;
  return op.outcome === "ok" ? Step.Swap : op.outcome === "fail" ? Step.NoSwap : Step.MaybeSwap;
}

/** The register's state after `step` from `state` (value ids, 0: not found), or -1 when the op
 * cannot take effect there (a get of another value, a swap from another value, a failed cas that
 * had its expected value). */
function after(step: Step, state: number, value: number, expected: number): number {
  switch (step) {
    case Step.Get:
      return state === value ? state : -1;
    case Step.Put:
      return value;
    case Step.Delete:
      return 0;
    case Step.Swap:
      return state === expected ? value : -1;
    case Step.NoSwap:
      return state !== expected ? state : -1;
    case Step.MaybeSwap:
      return state === expected ? value : state;
  }
}

/** The relevant ops as arrays the search reads: step, value ids (0: not found), return time. */
interface Prepared {
  readonly step: Uint8Array;
  readonly value: Int32Array;
  readonly expected: Int32Array;
  readonly ret: Float64Array;
  readonly list: EventList;
  /** Ops with a known outcome: the search is done when all of them are linearized. */
  readonly finite: number;
}

function prepare(ops: readonly Op[], keep: readonly number[]): Prepared {
  const n = keep.length;
  const values = new Map<string, number>();
  const id = (v: string | null) => {
    if (v === null) return 0;
    if (!values.has(v)) values.set(v, values.size + 1);
    return values.get(v)!;
  };
  const step = new Uint8Array(n);
  const value = new Int32Array(n);
  const expected = new Int32Array(n);
  const invoke = new Float64Array(n);
  const ret = new Float64Array(n);
  const line = new Float64Array(2 * n);
  let finite = 0;
  keep.forEach((i, op) => {
    const o = ops[i]!;
    step[op] = stepOf(o);
    value[op] = id(o.value);
    expected[op] = id(o.expected);
    invoke[op] = o.invokeNs;
    ret[op] = o.returnNs;
    line[2 * op] = o.invokeLine;
    line[2 * op + 1] = o.returnLine ?? Infinity;
    if (o.returnNs !== Infinity) finite += 1;
  });
  return { step, value, expected, ret, list: new EventList(invoke, ret, line), finite };
}

/** Checks one key's operations (any order). `deadline` is a performance.now() time. */
export function checkRegister(ops: readonly Op[], deadline = Infinity): SearchResult {
  const keep = relevant(ops);
  const n = keep.length;
  const { step, value, expected, ret, list, finite: finiteCount } = prepare(ops, keep);
  let finiteLeft = finiteCount;
  const { next, opAt, isCall } = list;
  const seen = new SeenSet();
  const key = new Int32Array(n + 1);
  const stackOp = new Int32Array(n);
  const stackState = new Int32Array(n);
  let depth = 0;
  let state = 0;
  let steps = 0;
  let stuckAt = 0;
  let p = next[0]!;
  while (finiteLeft > 0) {
    steps += 1;
    if (steps % deadlineCheckEvery === 0 && performance.now() > deadline) return { kind: "unknown", steps };
    if (isCall[p] === 1) {
      const op = opAt[p]!;
      const nextState = after(step[op]! as Step, state, value[op]!, expected[op]!);
      if (nextState >= 0) {
        list.lift(op);
        const finite = ret[op] !== Infinity;
        if (finite && finiteLeft === 1) return { kind: "ok", steps };
        // The new configuration's key: its state and the calls before its first return.
        let len = 0;
        key[len++] = nextState;
        for (let q = next[0]!; isCall[q] === 1; q = next[q]!) key[len++] = opAt[q]!;
        if (seen.add(key, len)) {
          stackOp[depth] = op;
          stackState[depth] = state;
          depth += 1;
          state = nextState;
          if (finite) finiteLeft -= 1;
          p = next[0]!;
          continue;
        }
        list.unlift(op);
      }
      p = next[p]!;
      continue;
    }
    // A return whose op is not linearized: this configuration is a dead end.
    if (p > stuckAt) stuckAt = p;
    if (depth === 0) {
      const prefix: number[] = [];
      for (let op = 0; op < n; op++) if (list.callPos[op]! < stuckAt) prefix.push(keep[op]!);
      return { kind: "violation", steps, stuck: keep[opAt[stuckAt]!]!, prefix };
    }
    depth -= 1;
    const op = stackOp[depth]!;
    state = stackState[depth]!;
    list.unlift(op);
    if (ret[op] !== Infinity) finiteLeft += 1;
    p = next[list.callPos[op]!]!;
  }
  return { kind: "ok", steps };
}
