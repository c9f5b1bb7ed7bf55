// The checker with deletes and compare-and-swaps: known violations are rejected with a small
// sub-history, tricky valid histories are accepted, tiny random histories agree with brute force,
// and seeded histories of a linearizable store with deletes and cas ops pass.

import { describe, expect, test } from "bun:test";
import { checkHistory } from "../../src/check/check.ts";
import { generateHistory, seededRandom } from "../../src/check/generate.ts";
import { parseHistory, type Op } from "../../src/check/history.ts";
import { checkRegister } from "../../src/check/register.ts";
import { shrinkViolation } from "../../src/check/shrink.ts";
import { check, textOf, type Row } from "./check-helpers.ts";

describe("rejects what no linearization allows (delete, cas)", () => {
  const violations: [string, Row[], RegExp, number][] = [
    ["a deleted value read back", [
      [1, "put", "a", 0, 10],
      [2, "delete", null, 20, 30],
      [3, "get", "a", 40, 50],
    ], /no order of these 3 operations/, 3],
    // (The smallest failing part leaves the delete out: put a, then not found, is a lost write.)
    ["not found, then the deleted value again", [
      [1, "put", "a", 0, 10],
      [2, "delete", null, 5, 100],
      [3, "get", null, 20, 30],
      [3, "get", "a", 40, 50],
    ], /no order/, 2],
    ["two concurrent cas ops both swap from the same value", [
      [1, "put", "a", 0, 10],
      [2, "cas", ["a", "b", "ok"], 20, 30],
      [3, "cas", ["a", "c", "ok"], 20, 30],
    ], /and the swaps that did and did not happen/, 3],
    ["a cas swapped from a value never written", [
      [1, "put", "a", 0, 10],
      [2, "cas", ["z", "b", "ok"], 20, 30],
    ], /cas x .* swapped from 'z', which no put ever wrote/, 1],
    ["a cas did not swap though the key certainly held its expected value", [
      [1, "put", "a", 0, 10],
      [2, "cas", ["a", "b", "fail"], 20, 30],
    ], /no order of these 2/, 2],
    ["a cas on absence did not swap on a key nobody wrote", [
      [1, "cas", [null, "a", "fail"], 0, 10],
    ], /no order of these 1/, 1],
    ["a cas on absence swapped after a completed put", [
      [1, "put", "a", 0, 10],
      [2, "cas", [null, "b", "ok"], 20, 30],
    ], /no order of these 2/, 2],
    ["a swapped value read before the cas began", [
      [1, "get", "b", 0, 10],
      [2, "cas", [null, "b", "ok"], 20, 30],
    ], /no order of these 2/, 2],
    ["a value only a cas that did not swap would have written", [
      [1, "cas", ["q", "a", "fail"], 0, 10],
      [2, "get", "a", 20, 30],
    ], /returned 'a', which no put ever wrote/, 1],
    ["a chain of swaps read out of order", [
      [1, "cas", [null, "a", "ok"], 0, 10],
      [1, "cas", ["a", "b", "ok"], 20, 30],
      [2, "get", "b", 40, 50],
      [2, "get", "a", 60, 70],
    ], /no order/, 3],
  ];
  for (const [name, rows, explanation, size] of violations) {
    test(name, () => {
      const v = check(rows);
      expect(v.kind).toBe("not-linearizable");
      expect(v.failure!.explanation).toMatch(explanation);
      expect(v.failure!.ops.length).toBe(size);
      expect(v.failure!.minimal).toBe(true);
    });
  }
});

describe("accepts tricky linearizable histories (delete, cas)", () => {
  const valid: [string, Row[]][] = [
    ["a cas concurrent with a put swaps before it", [
      [1, "put", "a", 0, 10],
      [2, "put", "b", 20, 50],
      [3, "cas", ["a", "c", "ok"], 30, 40],
      [4, "get", "b", 60, 70],
    ]],
    ["a cas does not swap because a concurrent put went first", [
      [1, "put", "a", 0, 10],
      [2, "put", "b", 20, 50],
      [3, "cas", ["a", "c", "fail"], 30, 40],
      [4, "get", "b", 60, 70],
    ]],
    ["an unknown-outcome cas that swapped", [
      [1, "put", "a", 0, 10],
      [2, "cas", ["a", "b", "ok"], 20, "info"],
      [3, "get", "b", 30, 40],
    ]],
    ["an unknown-outcome cas that did not happen (or did not swap)", [
      [1, "put", "a", 0, 10],
      [2, "cas", ["a", "b", "ok"], 20, "info"],
      [3, "get", "a", 100, 110],
    ]],
    ["a cas that did not swap, explained only by an unknown-outcome put", [
      [1, "put", "b", 0, "info"],
      [2, "cas", [null, "a", "fail"], 20, 30],
    ]],
    ["a cas that did not swap, explained only by an unknown-outcome delete", [
      [1, "put", "a", 0, 10],
      [2, "delete", null, 15, "info"],
      [3, "cas", ["a", "c", "fail"], 20, 30],
    ]],
    ["a read of not found, explained only by an unknown-outcome delete", [
      [1, "put", "a", 0, 10],
      [2, "delete", null, 15, "open"],
      [3, "get", null, 20, 30],
    ]],
    ["put, delete, the same value again", [
      [1, "put", "a", 0, 10],
      [2, "delete", null, 20, 30],
      [3, "get", null, 35, 38],
      [1, "put", "a", 40, 50],
      [4, "get", "a", 60, 70],
    ]],
    ["a get concurrent with a delete sees not found", [
      [1, "put", "a", 0, 10],
      [2, "delete", null, 20, 40],
      [3, "get", null, 25, 30],
      [3, "get", null, 50, 60],
    ]],
    ["a chain of swaps from absence", [
      [1, "cas", [null, "a", "ok"], 0, 10],
      [2, "cas", ["a", "b", "ok"], 20, 30],
      [1, "cas", ["b", "c", "ok"], 40, 50],
      [3, "get", "c", 60, 70],
    ]],
    ["of two concurrent swaps from one value, one swaps and one does not", [
      [1, "put", "a", 0, 10],
      [2, "cas", ["a", "b", "ok"], 20, 30],
      [3, "cas", ["a", "c", "fail"], 20, 30],
      [4, "get", "b", 40, 50],
    ]],
    ["a delete of an absent key, then a swap from absence", [
      [1, "delete", null, 0, 10],
      [2, "cas", [null, "b", "ok"], 20, 30],
      [3, "cas", [null, "c", "fail"], 40, 50],
      [3, "get", "b", 60, 70],
    ]],
    ["a failed delete changes nothing", [
      [1, "put", "a", 0, 10],
      [2, "delete", null, 20, "fail"],
      [3, "get", "a", 40, 50],
    ]],
  ];
  for (const [name, rows] of valid) {
    test(name, () => {
      const v = check(rows);
      expect(v.failure).toBeUndefined();
      expect(v.kind).toBe("linearizable");
    });
  }
});

/** The register's state after `op` from `state`, or undefined when op cannot happen there. */
function apply(op: Op, state: string | null): { state: string | null } | undefined {
  switch (op.f) {
    case "get":
      return op.value === state ? { state } : undefined;
    case "put":
      return { state: op.value };
    case "delete":
      return { state: null };
    case "cas":
      if (op.outcome === "ok") return op.expected === state ? { state: op.value } : undefined;
      if (op.outcome === "fail") return op.expected !== state ? { state } : undefined;
      return { state: op.expected === state ? op.value : state };
  }
}

/** Every order of every allowed subset, the definition itself (tiny histories only): ops with a
 * known outcome (ok, and a cas that did not swap) must take effect; unknown writes may. */
function bruteForce(ops: readonly Op[]): boolean {
  const must = ops.filter((o) => o.outcome !== "info");
  const may = ops.filter((o) => o.outcome === "info" && o.f !== "get");
  for (let mask = 0; mask < 1 << may.length; mask++) {
    const chosen = [...must, ...may.filter((_o, i) => mask & (1 << i))];
    if (someOrder(chosen, null)) return true;
  }
  return false;
}

function someOrder(left: readonly Op[], state: string | null): boolean {
  if (left.length === 0) return true;
  for (let i = 0; i < left.length; i++) {
    const op = left[i]!;
    const rest = left.filter((_o, j) => j !== i);
    if (rest.some((o) => o.returnNs < op.invokeNs)) continue; // real time
    const next = apply(op, state);
    if (next && someOrder(rest, next.state)) return true;
  }
  return false;
}

function tinyHistory(random: () => number, n: number): Op[] {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  const values = ["a", "b", "c"];
  const ops: Op[] = [];
  for (let i = 0; i < n; i++) {
    const invokeNs = Math.floor(random() * 10);
    const f = pick(["put", "get", "delete", "cas", "cas"] as const);
    const outcome = random() < 0.2 ? "info" : f === "cas" && random() < 0.4 ? "fail" : "ok";
    const value = f === "delete" ? null : f === "get" && random() < 0.3 ? null : pick(values);
    const expected = f === "cas" && random() < 0.75 ? pick(values) : null;
    const returnNs = outcome === "info" ? Infinity : invokeNs + Math.floor(random() * 6);
    ops.push({ process: String(i), f, key: "x", value, expected, invokeNs, returnNs, outcome, invokeLine: i, returnLine: null });
  }
  return ops;
}

test("agrees with brute force on 4000 tiny random histories with deletes and cas; its failing sub-histories fail too", () => {
  const random = seededRandom(11);
  let rejected = 0;
  for (let trial = 0; trial < 4000; trial++) {
    const ops = tinyHistory(random, 1 + Math.floor(random() * 6));
    const expected = bruteForce(ops);
    const got = checkRegister(ops);
    if (got.kind === "violation") rejected += 1;
    if ((got.kind === "ok") !== expected) throw new Error(`trial ${trial}: checker says ${got.kind}, brute force ${expected}: ${JSON.stringify(ops)}`);
    if (got.kind !== "violation") continue;
    if (bruteForce(got.prefix.map((i) => ops[i]!))) throw new Error(`trial ${trial}: prefix ${got.prefix} passes: ${JSON.stringify(ops)}`);
    const shrunk = shrinkViolation(ops, got.prefix, Infinity);
    if (bruteForce(shrunk.ops.map((i) => ops[i]!)) || !shrunk.minimal) throw new Error(`trial ${trial}: shrunk ${shrunk.ops} passes: ${JSON.stringify(ops)}`);
  }
  expect(rejected).toBeGreaterThan(400);
  expect(rejected).toBeLessThan(3600);
});

test("histories of a linearizable store with deletes and cas ops pass (200 seeds)", () => {
  let swapped = 0;
  let notSwapped = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const random = seededRandom(seed * 104729);
    const events = generateHistory({
      seed,
      processes: 2 + Math.floor(random() * 6),
      keys: 1 + Math.floor(random() * 3),
      ops: 20 + Math.floor(random() * 250),
      deleteRatio: random() * 0.2,
      casRatio: 0.1 + random() * 0.4,
      infoRate: random() * 0.1,
      failRate: random() * 0.05,
    });
    swapped += events.filter((e) => e.f === "cas" && e.type === "ok").length;
    notSwapped += events.filter((e) => e.f === "cas" && e.type === "fail").length;
    const v = checkHistory(parseHistory(textOf(events)));
    if (v.kind !== "linearizable") throw new Error(`seed ${seed}: ${v.kind}: ${v.failure?.explanation}`);
  }
  // Both outcomes of a cas are common, so both are checked.
  expect(swapped).toBeGreaterThan(1000);
  expect(notSwapped).toBeGreaterThan(1000);
});

test("flipping one cas's outcome in a generated history is caught when brute force says it must be", () => {
  let flipped = 0;
  let caught = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const events = generateHistory({ seed, processes: 3, keys: 1, ops: 8, casRatio: 0.5, deleteRatio: 0.1 });
    const casDone = events.map((e, i) => [e, i] as const).filter(([e]) => e.f === "cas" && e.type !== "invoke");
    if (casDone.length === 0) continue;
    const [target, at] = casDone[seed % casDone.length]!;
    events[at] = { ...target, type: target.type === "ok" ? "fail" : "ok" };
    const history = parseHistory(textOf(events));
    const mustFail = !bruteForce(history.ops);
    const v = checkHistory(history);
    expect(v.kind).toBe(mustFail ? "not-linearizable" : "linearizable");
    flipped += 1;
    if (mustFail) caught += 1;
  }
  expect(flipped).toBeGreaterThan(250);
  expect(caught).toBeGreaterThan(flipped / 3);
});
