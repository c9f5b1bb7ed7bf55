// Shrinking a failing key's history to a small sub-history that still fails, so that a person can
// see the problem: drop chunks of operations (halving the chunk size down to single ops, from the
// latest backwards), keeping a removal when the rest is still not linearizable. Bounded by a
// deadline: the best sub-history so far is returned.
//
// A put is never dropped while a kept get reads its value: otherwise the smallest "failure" would
// often be a lone get of a value that, in the shrunk history, nobody wrote, which hides the real
// problem (a stale read, a lost write...). The same holds for a cas: it writes its value (when it
// swaps), and one that swapped read its expected value.

import type { Op } from "./history.ts";
import { checkRegister } from "./register.ts";

export interface Shrunk {
  /** Indexes into the key's ops, in increasing order. */
  readonly ops: number[];
  /** True when no single op can be dropped any more (every re-check finished in time). */
  readonly minimal: boolean;
}

/** The value `op` may write (a put's, or a cas's unless it certainly did not swap). */
function writtenBy(op: Op): string | null {
  return op.f === "put" || (op.f === "cas" && op.outcome !== "fail") ? op.value : null;
}

/** The value `op` certainly read (a get's, or the expected value of a cas that swapped). */
function readBy(op: Op): string | null {
  if (op.f === "get" && op.outcome === "ok") return op.value;
  return op.f === "cas" && op.outcome === "ok" ? op.expected : null;
}

/** Wants every read of a written value to keep at least one write of that value. */
function writesKept(ops: readonly Op[], subset: readonly number[], written: ReadonlySet<string>): boolean {
  const writes = new Set<string | null>();
  for (const i of subset) writes.add(writtenBy(ops[i]!));
  for (const i of subset) {
    const read = readBy(ops[i]!);
    if (read !== null && written.has(read) && !writes.has(read)) return false;
  }
  return true;
}

/** `subset` plus the puts in `pool` of every value its gets read. The search's prefix ends at the
 * return it could not get past, so it may leave out a put that a get read "from the future";
 * adding back puts invoked after that return cannot make the prefix linearizable, and showing
 * them explains the failure. */
function withWriters(ops: readonly Op[], subset: readonly number[], pool: Iterable<number>): number[] {
  const have = new Set(subset);
  const read = new Set<string>();
  for (const i of subset) {
    const v = readBy(ops[i]!);
    if (v !== null) read.add(v);
  }
  for (const i of subset) {
    const v = writtenBy(ops[i]!);
    if (v !== null) read.delete(v);
  }
  for (const i of pool) {
    const v = writtenBy(ops[i]!);
    if (v !== null && read.has(v)) have.add(i);
  }
  return [...have].sort((a, b) => a - b);
}

/**
 * `start` indexes a failing sub-history of `ops` (e.g. the search's prefix). Returns a smaller one
 * that still fails; `perCheckMs` bounds each re-check (a check that runs out counts as passing).
 */
export function shrinkViolation(ops: readonly Op[], start: readonly number[], deadline: number, perCheckMs = 500): Shrunk {
  const written = new Set<string>();
  for (const op of ops) {
    const v = writtenBy(op);
    if (v !== null) written.add(v);
  }
  let gaveUp = false;
  /** The failing sub-history within `subset` (its search prefix), or undefined if it passes. */
  const failing = (subset: number[]): number[] | undefined => {
    if (!writesKept(ops, subset, written)) return undefined;
    const r = checkRegister(subset.map((i) => ops[i]!), Math.min(deadline, performance.now() + perCheckMs));
    if (r.kind === "unknown") gaveUp = true;
    return r.kind === "violation" ? withWriters(ops, r.prefix.map((j) => subset[j]!), subset) : undefined;
  };
  let current = withWriters(ops, start, ops.keys());
  if (!failing(current)) current = [...start].sort((a, b) => a - b);
  let chunk = Math.max(1, 2 ** Math.floor(Math.log2(Math.max(1, current.length / 2))));
  for (;;) {
    let changed = false;
    let end = current.length;
    while (end > 0) {
      if (performance.now() > deadline) return { ops: current, minimal: false };
      const from = Math.max(0, end - chunk);
      const smaller = failing([...current.slice(0, from), ...current.slice(end)]);
      if (smaller) {
        // Positions below `from` are untouched by the cut, but the search's prefix may have
        // trimmed the tail: continue from wherever the kept part now ends.
        current = smaller;
        changed = true;
        end = Math.min(from, current.length);
      } else {
        end = from;
      }
    }
    if (chunk > 1) chunk = Math.floor(chunk / 2);
    else if (!changed) return { ops: current, minimal: !gaveUp };
  }
}
