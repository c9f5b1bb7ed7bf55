// The linearizability checker on hand-made histories: known violations are rejected with the right
// explanation and a small sub-history; tricky valid histories are accepted. Then a brute-force
// cross-check on many tiny random histories (including repeated values and unknown outcomes).

import { describe, expect, test } from "bun:test";
import { generateHistory, seededRandom } from "../../src/check/generate.ts";
import { parseHistory, type Op } from "../../src/check/history.ts";
import { checkRegister } from "../../src/check/register.ts";
import { shrinkViolation } from "../../src/check/shrink.ts";
import { check, textOf, type Row } from "./check-helpers.ts";

describe("rejects what no linearization allows", () => {
  const violations: [string, Row[], RegExp, number][] = [
    ["stale read after a completed put", [
      [1, "put", "a", 0, 10],
      [2, "put", "b", 20, 30],
      [3, "get", "a", 40, 50],
    ], /returned 'a', but put 'b' .* started after put 'a' returned .* the value was stale/, 3],
    ["lost write: not found after a completed put", [
      [1, "put", "a", 0, 10],
      [2, "get", null, 20, 30],
    ], /returned not found, but put 'a' .* had finished .* the write was lost/, 2],
    ["read of a value never written", [
      [1, "put", "a", 0, 10],
      [2, "get", "z", 20, 30],
    ], /returned 'z', which no put ever wrote/, 1],
    ["read of a value only a failed put wrote", [
      [1, "put", "a", 0, 10, "x"],
      [2, "put", "b", 20, "fail"],
      [3, "get", "b", 30, 40],
    ], /returned 'b', which only a failed put wrote/, 1],
    ["read from the future", [
      [1, "get", "a", 0, 10],
      [2, "put", "a", 20, 30],
    ], /returned 'a' before that put was invoked/, 2],
    ["read of an unknown-outcome put before it was invoked", [
      [1, "get", "a", 0, 10],
      [2, "put", "a", 20, "info"],
    ], /before that put was invoked/, 2],
    ["a later get sees an older value than an earlier get did", [
      [1, "put", "a", 0, 10],
      [2, "put", "b", 20, 30],
      [3, "get", "b", 25, 35],
      [4, "get", "a", 40, 50],
    ], /./, 3],
    ["two clients read two concurrent writes in opposite orders", [
      [1, "put", "a", 0, 100],
      [2, "put", "b", 0, 100],
      [3, "get", "a", 10, 20],
      [3, "get", "b", 30, 40],
      [4, "get", "b", 10, 20],
      [4, "get", "a", 30, 40],
    ], /no order of these 6 operations/, 6],
    ["a value comes back after being overwritten (concurrent writes)", [
      [1, "put", "a", 0, 100],
      [2, "put", "b", 0, 100],
      [3, "get", "a", 10, 20],
      [3, "get", "b", 30, 40],
      [3, "get", "a", 50, 60],
    ], /no order/, 5],
    ["equal times, completion written before the invoke: in that order", [
      [1, "put", "a", 0, 10],
      [2, "get", null, 10, 20],
    ], /returned not found, but put 'a' .* had finished/, 2],
    ["not found after an unknown-outcome put was seen", [
      [1, "put", "a", 0, "info"],
      [2, "get", "a", 10, 20],
      [3, "get", null, 30, 40],
    ], /earlier get .* had already read 'a', and nothing deletes/, 3],
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

  test("among many harmless ops, the sub-history is the few that matter, and only the bad key fails", () => {
    const rows: Row[] = [];
    for (let i = 0; i < 200; i++) {
      const key = `k${i % 2}`;
      rows.push([i % 5, "put", `v${i}`, i * 20, i * 20 + 5, key], [i % 5, "get", `v${i}`, i * 20 + 10, i * 20 + 15, key]);
    }
    rows.push([9, "put", "old", 500, 501, "k2"], [9, "put", "new", 502, 503, "k2"], [9, "get", "old", 504, 505, "k2"]);
    const v = check(rows);
    expect(v.kind).toBe("not-linearizable");
    expect(v.failingKeys).toEqual(["k2"]);
    expect(v.failure!.ops.map((o) => o.value)).toEqual(["old", "new", "old"]);
  });
});

describe("accepts tricky linearizable histories", () => {
  const valid: [string, Row[]][] = [
    ["concurrent writes read as a then b", [
      [1, "put", "a", 0, 100],
      [2, "put", "b", 0, 100],
      [3, "get", "a", 10, 20],
      [3, "get", "b", 30, 40],
      [3, "get", "b", 110, 120],
    ]],
    ["concurrent writes read as b then a", [
      [1, "put", "a", 0, 100],
      [2, "put", "b", 0, 100],
      [3, "get", "b", 10, 20],
      [3, "get", "a", 30, 40],
      [3, "get", "a", 110, 120],
    ]],
    ["a get concurrent with a put sees the old value", [
      [1, "put", "a", 0, 10],
      [2, "put", "b", 20, 40],
      [3, "get", "a", 25, 30],
    ]],
    ["a get concurrent with a put sees the new value", [
      [1, "put", "a", 0, 10],
      [2, "put", "b", 20, 40],
      [3, "get", "b", 25, 30],
    ]],
    ["an unknown-outcome put that took effect", [
      [1, "put", "a", 0, 10],
      [2, "put", "b", 20, "info"],
      [3, "get", "b", 30, 40],
    ]],
    ["an unknown-outcome put that took effect long after its client gave up", [
      [1, "put", "a", 0, 10],
      [2, "put", "b", 20, "info"],
      [3, "get", "a", 1000, 1010],
      [3, "get", "b", 5000, 5010],
      [3, "get", "b", 6000, 6010],
    ]],
    ["an unknown-outcome put that never took effect", [
      [1, "put", "a", 0, 10],
      [2, "put", "b", 20, "info"],
      [3, "get", "a", 100, 110],
    ]],
    ["an invoke that never completes counts as unknown outcome", [
      [1, "put", "a", 0, "open"],
      [2, "get", "a", 10, 20],
    ]],
    ["a failed put is ignored", [
      [1, "put", "a", 0, 10],
      [2, "put", "b", 20, "fail"],
      [3, "get", "a", 40, 50],
    ]],
    ["an unknown-outcome get constrains nothing", [
      [1, "put", "a", 0, 10],
      [2, "get", "zzz", 20, "info"],
      [3, "get", "a", 40, 50],
    ]],
    ["not found before the first put, and concurrently with it", [
      [1, "get", null, 0, 5],
      [2, "put", "a", 10, 30],
      [3, "get", null, 12, 20],
      [4, "get", "a", 15, 25],
    ]],
    ["equal times, invoke written before the completion: concurrent", [
      [2, "get", null, 10, 20],
      [1, "put", "a", 0, 10],
    ]],
    ["a repeated value", [
      [1, "put", "a", 0, 10],
      [2, "put", "b", 20, 30],
      [3, "put", "a", 40, 50],
      [4, "get", "a", 60, 70],
    ]],
    ["many keys, each fine on its own", [
      [1, "put", "a", 0, 10, "k1"],
      [2, "get", null, 20, 30, "k2"],
      [3, "get", "a", 20, 30, "k1"],
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

test("a search past its deadline gives up (unknown), it does not guess", () => {
  const history = parseHistory(textOf(generateHistory({ seed: 3, processes: 8, keys: 1, ops: 20_000 })));
  expect(checkRegister(history.ops, performance.now() - 1).kind).toBe("unknown");
  expect(checkRegister(history.ops).kind).toBe("ok");
});

/** Every order of every allowed subset, the definition itself (tiny histories only). */
function bruteForce(ops: readonly Op[]): boolean {
  const must = ops.filter((o) => o.outcome === "ok");
  const may = ops.filter((o) => o.outcome === "info" && o.f === "put");
  for (let mask = 0; mask < 1 << may.length; mask++) {
    const chosen = [...must, ...may.filter((_o, i) => mask & (1 << i))];
    if (someOrder(chosen, [], null)) return true;
  }
  return false;
}

function someOrder(left: readonly Op[], done: readonly Op[], state: string | null): boolean {
  if (left.length === 0) return true;
  for (let i = 0; i < left.length; i++) {
    const op = left[i]!;
    const rest = left.filter((_o, j) => j !== i);
    // Real time: nothing still to come may have returned before op was invoked.
    if (rest.some((o) => o.returnNs < op.invokeNs)) continue;
    if (op.f === "get" && op.value !== state) continue;
    if (someOrder(rest, [...done, op], op.f === "put" ? op.value : state)) return true;
  }
  return false;
}

test("agrees with brute force on 3000 tiny random histories; its failing sub-histories fail too", () => {
  const random = seededRandom(7);
  let rejected = 0;
  for (let trial = 0; trial < 3000; trial++) {
    const n = 1 + Math.floor(random() * 6);
    const ops: Op[] = [];
    for (let i = 0; i < n; i++) {
      const invokeNs = Math.floor(random() * 10);
      const info = random() < 0.2;
      const isPut = random() < 0.5;
      const value = isPut || random() < 0.8 ? ["a", "b", "c"][Math.floor(random() * 3)]! : null;
      ops.push({ process: String(i), f: isPut ? "put" : "get", key: "x", value, expected: null, invokeNs, returnNs: info ? Infinity : invokeNs + Math.floor(random() * 6), outcome: info ? "info" : "ok", invokeLine: i, returnLine: null });
    }
    const expected = bruteForce(ops);
    const got = checkRegister(ops);
    if (got.kind === "violation") rejected += 1;
    if ((got.kind === "ok") !== expected) throw new Error(`trial ${trial}: checker says ${got.kind}, brute force ${expected}: ${JSON.stringify(ops)}`);
    if (got.kind !== "violation") continue;
    // The search's prefix and the shrunk sub-history fail on their own.
    if (bruteForce(got.prefix.map((i) => ops[i]!))) throw new Error(`trial ${trial}: prefix ${got.prefix} passes: ${JSON.stringify(ops)}`);
    const shrunk = shrinkViolation(ops, got.prefix, Infinity);
    if (bruteForce(shrunk.ops.map((i) => ops[i]!)) || !shrunk.minimal) throw new Error(`trial ${trial}: shrunk ${shrunk.ops} passes: ${JSON.stringify(ops)}`);
  }
  // Both answers occur often, so the comparison means something.
  expect(rejected).toBeGreaterThan(300);
  expect(rejected).toBeLessThan(2700);
});
