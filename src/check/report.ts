// The checker's verdict for people (text) and for scripts (JSON).

import type { Verdict } from "./check.ts";
import { formatOps } from "./explain.ts";
import type { Op } from "./history.ts";

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function summary(v: Verdict): string {
  const unknown = v.counts.info + v.counts.unmatched;
  const { fail, casNotSwapped } = v.counts;
  const failed = fail === 0 ? "" : casNotSwapped === 0 ? `${fail} failed` : `${fail} failed, ${casNotSwapped === fail ? "all" : casNotSwapped} of them cas ops that did not swap`;
  const extra = [unknown > 0 ? `${unknown} with unknown outcome` : "", failed].filter(Boolean);
  return `${plural(v.ops, "op")} on ${plural(v.keys, "key")}${extra.length ? ` (${extra.join(", ")})` : ""}, checked in ${Math.round(v.elapsedMs)} ms`;
}

export function formatVerdict(v: Verdict, startNs: number): string {
  if (v.kind === "linearizable") return `linearizable: ${summary(v)}`;
  if (v.kind === "unknown") {
    const keys = v.undecidedKeys.slice(0, 10).join(", ") + (v.undecidedKeys.length > 10 ? ", ..." : "");
    return `unknown: gave up before deciding ${plural(v.undecidedKeys.length, "key")} (${keys}); the other keys are linearizable. ${summary(v)}`;
  }
  const f = v.failure!;
  const others = v.failingKeys.length > 1 ? ` (failing keys: ${v.failingKeys.join(", ")})` : "";
  return [
    `NOT linearizable: key ${f.key}${others}. ${summary(v)}`,
    f.explanation,
    `${f.minimal ? "smallest" : "a small"} failing sub-history (${f.ops.length} of the key's ${f.keyOps} ops; times from the history's start):`,
    ...formatOps(f.ops, startNs).map((line) => `  ${line}`),
  ].join("\n");
}

function opJson(op: Op) {
  return {
    process: op.process,
    f: op.f,
    key: op.key,
    value: op.value,
    ...(op.f === "cas" ? { expected: op.expected } : {}),
    type: op.outcome,
    invoke_ns: op.invokeNs,
    return_ns: op.returnNs === Infinity ? null : op.returnNs,
    invoke_line: op.invokeLine,
    return_line: op.returnLine,
  };
}

/** `linearizable` is true only when proven; `verdict` tells "not linearizable" from "gave up". */
export function verdictJson(v: Verdict) {
  return {
    linearizable: v.kind === "linearizable",
    verdict: v.kind,
    ops: v.ops,
    keys: v.keys,
    elapsed_ms: Math.round(v.elapsedMs),
    ok: v.counts.ok,
    fail: v.counts.fail,
    cas_not_swapped: v.counts.casNotSwapped,
    unknown_outcome: v.counts.info + v.counts.unmatched,
    ...(v.undecidedKeys.length > 0 ? { undecided_keys: v.undecidedKeys } : {}),
    ...(v.failure
      ? {
          failure: {
            key: v.failure.key,
            explanation: v.failure.explanation,
            failing_keys: v.failingKeys,
            key_ops: v.failure.keyOps,
            minimal: v.failure.minimal,
            ops: v.failure.ops.map(opJson),
          },
        }
      : {}),
  };
}
