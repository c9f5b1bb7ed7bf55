// Seeded random histories of a linearizable store (random concurrency, fail and unknown outcomes)
// must pass; with one read corrupted they must fail whenever a simple independent rule proves the
// corruption is a violation, and the failing sub-history must contain the corrupted read.

import { expect, test } from "bun:test";
import { checkHistory } from "../../src/check/check.ts";
import { generateHistory, seededRandom, type HistoryEvent } from "../../src/check/generate.ts";
import { parseHistory, type Op } from "../../src/check/history.ts";
import { textOf } from "./check-helpers.ts";

function optionsFor(seed: number) {
  const random = seededRandom(seed * 7919);
  return {
    seed,
    processes: 2 + Math.floor(random() * 7),
    keys: 1 + Math.floor(random() * 3),
    ops: 20 + Math.floor(random() * 300),
    infoRate: random() * 0.1,
    failRate: random() * 0.05,
  };
}

test("histories of a linearizable store pass (300 seeds)", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const v = checkHistory(parseHistory(textOf(generateHistory(optionsFor(seed)))));
    if (v.kind !== "linearizable") throw new Error(`seed ${seed}: ${v.kind}: ${v.failure?.explanation}`);
  }
});

/** True when a read of `value` by `g` is certainly impossible, by rules that need no search. */
function provablyWrong(g: Op, value: string | null, ops: readonly Op[], failedPuts: readonly Op[]): boolean {
  const puts = ops.filter((o) => o.f === "put" && o.key === g.key);
  if (value === null) return puts.some((p) => p.outcome === "ok" && p.returnNs < g.invokeNs);
  const writer = puts.find((p) => p.value === value);
  if (!writer) return true; // never written, or only by a failed put
  if (g.returnNs < writer.invokeNs) return true; // from the future
  return puts.some((q) => q.outcome === "ok" && writer.returnNs < q.invokeNs && q.returnNs < g.invokeNs); // overwritten
}

test("one corrupted read is caught whenever it is provably wrong (300 seeds)", () => {
  let provable = 0;
  let rejected = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const events = generateHistory(optionsFor(seed));
    const random = seededRandom(seed);
    const reads = events.filter((e) => e.type === "ok" && e.f === "get");
    if (reads.length === 0) continue;
    const target = reads[Math.floor(random() * reads.length)]!;
    const writes = events.filter((e) => e.type === "invoke" && e.f === "put" && e.key === target.key).map((e) => e.value);
    const choices = [null, `bogus-${seed}`, ...writes].filter((v) => v !== target.value);
    const corrupted: HistoryEvent = { ...target, value: choices[Math.floor(random() * choices.length)]! };
    const line = events.indexOf(target) + 1;
    events[line - 1] = corrupted;
    const history = parseHistory(textOf(events));
    const verdict = checkHistory(history);
    const g = history.ops.find((o) => o.returnLine === line)!;
    if (verdict.kind === "not-linearizable") {
      rejected += 1;
      // Without the corrupted read the history is linearizable, so every failing part holds it.
      expect(verdict.failure!.ops.map((o) => o.returnLine)).toContain(line);
      expect(verdict.failure!.key).toBe(target.key);
    }
    if (provablyWrong(g, corrupted.value, history.ops, history.failed)) {
      provable += 1;
      if (verdict.kind !== "not-linearizable") throw new Error(`seed ${seed}: corrupted read on line ${line} (${JSON.stringify(corrupted.value)}) was accepted`);
    }
  }
  // Most corruptions are provable violations, and some that the simple rules cannot prove are
  // caught by the search as well.
  expect(provable).toBeGreaterThan(200);
  expect(rejected).toBeGreaterThan(provable);
});
