// Human words for a failing sub-history. The usual shapes get a sentence of their own (a read of
// a value nobody wrote, a read from the future, a stale read, a lost write); anything else gets
// the general statement. Values are taken to name their put only when exactly one put wrote them
// (the bench writes unique values), so a sentence is never built on a guess. A cas writes too (its
// value, when it swaps), and a swapping cas reads its expected value; a sentence that leans on
// "nothing deletes" is said only when the key has no delete and no cas.

import { precedes, type Op } from "./history.ts";

export function formatTime(ns: number, startNs: number): string {
  return ns === Infinity ? "unknown" : `${((ns - startNs) / 1e9).toFixed(6)}s`;
}

function quote(value: string | null): string {
  return value === null ? "not found" : `'${value}'`;
}

export function describeOp(op: Op): string {
  switch (op.f) {
    case "put":
      return `put ${op.key} ${quote(op.value)}`;
    case "get":
      return `get ${op.key} -> ${op.outcome === "ok" ? quote(op.value) : "?"}`;
    case "delete":
      return `delete ${op.key}`;
    case "cas":
      return `cas ${op.key} ${quote(op.expected)} -> ${quote(op.value)}: ${op.outcome === "ok" ? "swapped" : op.outcome === "fail" ? "not swapped" : "?"}`;
  }
}

/** Whether `op` may have written its value (a put, or a cas that did not certainly fail). */
function mayWrite(op: Op): boolean {
  return op.f === "put" || (op.f === "cas" && op.outcome !== "fail");
}

/** "line 12-14", or "line 12-" for an op that never completed. */
export function linesOf(op: Op): string {
  return `line ${op.invokeLine}-${op.returnLine ?? ""}`;
}

/** One line per op: where it is in the file, who ran it, what it did, and its interval. */
export function formatOps(ops: readonly Op[], startNs: number): string[] {
  const rows = ops.map((op) => [linesOf(op), `process ${op.process}`, describeOp(op), `${formatTime(op.invokeNs, startNs)} .. ${formatTime(op.returnNs, startNs)}${op.outcome === "info" ? " (outcome unknown)" : ""}`]);
  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c < 3 ? cell.padEnd(widths[c]!) : cell)).join("  "));
}

interface Context {
  /** Every op on the key (to know who wrote what). */
  readonly keyOps: readonly Op[];
  /** Puts and deletes on the key that certainly failed. */
  readonly failed: readonly Op[];
  readonly startNs: number;
}

export function explainViolation(sub: readonly Op[], ctx: Context): string {
  const at = (g: Op) => `get ${g.key} at t=${formatTime(g.invokeNs, ctx.startNs)} (${linesOf(g)})`;
  const writers = (value: string) => ctx.keyOps.filter((o) => mayWrite(o) && o.value === value);
  const soleWriter = (value: string | null) => {
    if (value === null) return undefined;
    const w = writers(value);
    return w.length === 1 ? w[0] : undefined;
  };
  const gets = sub.filter((o) => o.f === "get" && o.outcome === "ok");
  for (const g of gets) {
    if (g.value === null) continue;
    if (writers(g.value).length > 0) continue;
    const failed = ctx.failed.find((o) => o.value === g.value);
    return `${at(g)} returned ${quote(g.value)}, which ${failed ? `only a failed put wrote (${linesOf(failed)})` : "no put ever wrote"}`;
  }
  for (const c of sub) {
    if (c.f !== "cas" || c.outcome !== "ok" || c.expected === null || writers(c.expected).length > 0) continue;
    return `cas ${c.key} at t=${formatTime(c.invokeNs, ctx.startNs)} (${linesOf(c)}) swapped from ${quote(c.expected)}, which no put ever wrote`;
  }
  // The sentences below reason about puts and gets alone.
  if (ctx.keyOps.some((o) => o.f === "delete" || o.f === "cas")) return general(sub);
  for (const g of gets) {
    const p = soleWriter(g.value);
    if (p && precedes(g, p)) {
      return `${at(g)} returned ${quote(g.value)} before that put was invoked (t=${formatTime(p.invokeNs, ctx.startNs)}, ${linesOf(p)})`;
    }
  }
  for (const g of gets) {
    const why = staleBecause(g, sub, soleWriter, ctx.startNs);
    if (why) return `${at(g)} returned ${quote(g.value)}, but ${why}`;
  }
  return general(sub);
}

function general(sub: readonly Op[]): string {
  const cas = sub.some((o) => o.f === "cas") ? " and the swaps that did and did not happen" : "";
  return `no order of these ${sub.length} operations agrees with both their real-time order and the values the gets returned${cas}`;
}

/** Why the value `g` read was certainly overwritten before `g` began, if a simple reason exists. */
function staleBecause(g: Op, sub: readonly Op[], soleWriter: (v: string | null) => Op | undefined, startNs: number): string | undefined {
  const t = (ns: number) => `t=${formatTime(ns, startNs)}`;
  const p = soleWriter(g.value);
  if (g.value !== null && !p) return undefined;
  /** A put `q` that certainly took effect after p (or at all, when g read "not found"). */
  const after = (q: Op) => q.f === "put" && q.value !== g.value && (p === undefined || precedes(p, q));
  for (const q of sub) {
    if (after(q) && q.outcome === "ok" && precedes(q, g)) {
      return p
        ? `put ${quote(q.value)} (${linesOf(q)}) started after put ${quote(p.value)} returned (${t(p.returnNs)}) and finished (${t(q.returnNs)}) before the get began: the value was stale`
        : `put ${quote(q.value)} (${linesOf(q)}) had finished at ${t(q.returnNs)}, before the get began, and nothing deletes: the write was lost`;
    }
  }
  for (const g1 of sub) {
    if (g1 === g || g1.f !== "get" || g1.outcome !== "ok" || !precedes(g1, g)) continue;
    const q = soleWriter(g1.value);
    if (q && after(q)) {
      return p
        ? `an earlier get (${linesOf(g1)}, done at ${t(g1.returnNs)}) had already read ${quote(g1.value)}, written by a put that started after put ${quote(p.value)} returned: the value cannot come back`
        : `an earlier get (${linesOf(g1)}, done at ${t(g1.returnNs)}) had already read ${quote(g1.value)}, and nothing deletes`;
    }
  }
  return undefined;
}
