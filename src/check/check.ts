// Checking a whole history: a key-value store is linearizable iff each key, a register, is
// (linearizability is compositional), so every key is checked on its own. The first failing key is
// shrunk to a small failing sub-history and explained.

import { explainViolation } from "./explain.ts";
import type { History, Op } from "./history.ts";
import { checkRegister } from "./register.ts";
import { shrinkViolation } from "./shrink.ts";

export type VerdictKind = "linearizable" | "not-linearizable" | "unknown";

export interface Failure {
  readonly key: string;
  /** One sentence on what went wrong. */
  readonly explanation: string;
  /** The smallest failing sub-history found, in invoke order. */
  readonly ops: readonly Op[];
  /** Whether no single op can be dropped from `ops` (false: shrinking ran out of time). */
  readonly minimal: boolean;
  /** How many ops the key has in the whole history. */
  readonly keyOps: number;
}

export interface Verdict {
  readonly kind: VerdictKind;
  /** Operations invoked in the history, and distinct keys. */
  readonly ops: number;
  readonly keys: number;
  readonly elapsedMs: number;
  readonly counts: History["counts"];
  /** Keys found not linearizable (all of them, when time allowed checking every key). */
  readonly failingKeys: readonly string[];
  /** Keys not decided before the timeout. */
  readonly undecidedKeys: readonly string[];
  readonly failure?: Failure;
}

export interface CheckOptions {
  /** Give up (verdict "unknown") after this long, unless a failure is already found. */
  readonly timeoutMs?: number;
  /** At most this long shrinking the failure (within the timeout). */
  readonly shrinkMs?: number;
}

function byKey(ops: readonly Op[]): Map<string, Op[]> {
  const keys = new Map<string, Op[]>();
  for (const op of ops) {
    const list = keys.get(op.key);
    if (list) list.push(op);
    else keys.set(op.key, [op]);
  }
  return keys;
}

export function checkHistory(history: History, opts: CheckOptions = {}): Verdict {
  const t0 = performance.now();
  const deadline = t0 + (opts.timeoutMs ?? Infinity);
  const keys = byKey(history.ops);
  const allKeys = new Set([...keys.keys(), ...history.failed.map((o) => o.key)]);
  const failingKeys: string[] = [];
  const undecidedKeys: string[] = [];
  let first: { key: string; prefix: number[] } | undefined;
  for (const [key, ops] of keys) {
    if (performance.now() > deadline) {
      undecidedKeys.push(key);
      continue;
    }
    const r = checkRegister(ops, deadline);
    if (r.kind === "unknown") undecidedKeys.push(key);
    if (r.kind !== "violation") continue;
    failingKeys.push(key);
    first ??= { key, prefix: r.prefix };
  }
  let failure: Failure | undefined;
  if (first) {
    const ops = keys.get(first.key)!;
    const shrinkDeadline = Math.min(performance.now() + (opts.shrinkMs ?? 5000), Math.max(deadline, performance.now() + 1000));
    const shrunk = shrinkViolation(ops, first.prefix, shrinkDeadline);
    const sub = shrunk.ops.map((i) => ops[i]!);
    const failed = history.failed.filter((o) => o.key === first.key);
    const explanation = explainViolation(sub, { keyOps: ops, failed, startNs: history.startNs });
    failure = { key: first.key, explanation, ops: sub, minimal: shrunk.minimal, keyOps: ops.length };
  }
  const kind: VerdictKind = failure ? "not-linearizable" : undecidedKeys.length > 0 ? "unknown" : "linearizable";
  return {
    kind,
    ops: history.counts.invokes,
    keys: allKeys.size,
    elapsedMs: performance.now() - t0,
    counts: history.counts,
    failingKeys,
    undecidedKeys,
    ...(failure ? { failure } : {}),
  };
}
