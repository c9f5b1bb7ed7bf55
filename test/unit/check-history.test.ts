// Reading history files (errors name the line) and the `electrode check` command's contract:
// exit 0 linearizable, 1 not (or gave up, said differently), 2 bad input; --json.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateHistory } from "../../src/check/generate.ts";
import { HistoryError, parseHistory } from "../../src/check/history.ts";
import { eventsOf, textOf } from "./check-helpers.ts";

const line = (o: Record<string, unknown>) => JSON.stringify(o);
const invoke = { process: 1, type: "invoke", f: "put", key: "k", value: "v", time_ns: 10 };
const ok = { ...invoke, type: "ok", time_ns: 20 };

describe("parseHistory", () => {
  const bad: [string, string, RegExp][] = [
    ["not JSON", `${line(invoke)}\n{oops`, /^line 2: not JSON/],
    ["not an object", "[1,2]", /^line 1: expected a JSON object/],
    ["unknown type", line({ ...invoke, type: "done" }), /^line 1: "type": expected invoke, ok, fail or info, got "done"/],
    ["unknown f", line({ ...invoke, f: "incr" }), /^line 1: "f": expected put, get, delete or cas, got "incr"/],
    ["cas without expected", line({ ...invoke, f: "cas" }), /^line 1: a cas.s invoke needs "expected"/],
    ["cas without a value", line({ ...invoke, f: "cas", value: null, expected: "a" }), /^line 1: a cas.s invoke needs a string "value"/],
    ["expected not a string", line({ ...invoke, f: "cas", expected: 3 }), /^line 1: "expected": expected a string or null/],
    ["cas completion with another expected", `${line({ ...invoke, f: "cas", expected: "a" })}\n${line({ ...ok, f: "cas", expected: "b" })}`, /^line 2: cas expected "b" differs from its invoke.s on line 1/],
    ["key not a string", line({ ...invoke, key: 3 }), /^line 1: "key": expected a string/],
    ["no time", line({ ...invoke, time_ns: undefined }), /^line 1: "time_ns": expected a non-negative number/],
    ["put without a value", line({ ...invoke, value: null }), /^line 1: a put's invoke needs a string "value"/],
    ["completion without invoke", `\n${line(ok)}`, /^line 2: ok for process 1, which has no operation in progress/],
    ["completion of another op", `${line(invoke)}\n${line({ ...ok, key: "other" })}`, /^line 2: ok put "other" does not match the invoke on line 1/],
    ["completion before its invoke", `${line(invoke)}\n${line({ ...ok, time_ns: 5 })}`, /^line 2: completes at 5 ns, before its invoke on line 1/],
    ["stale on a put", line({ ...invoke, stale: true }), /^line 1: "stale": expected true or false, on a get only/],
    ["stale completion of a linearizable get", `${line({ ...invoke, f: "get", value: null })}\n${line({ ...ok, f: "get", value: null, stale: true })}`, /^line 2: ok get "k" does not match/],
    ["get ok without a value", `${line({ ...invoke, f: "get", value: null })}\n${line({ ...ok, f: "get", value: undefined })}`, /^line 2: a get's ok needs "value"/],
  ];
  for (const [name, text, message] of bad) {
    test(name, () => {
      expect(() => parseHistory(text)).toThrow(HistoryError);
      expect(() => parseHistory(text)).toThrow(message);
    });
  }

  test("blank lines are skipped; fail is dropped; info and unmatched invokes have unknown outcome", () => {
    const text = [
      line(invoke),
      "",
      line(ok),
      line({ ...invoke, process: 2, value: "f", time_ns: 30 }),
      line({ ...invoke, process: 2, type: "fail", value: "f", time_ns: 40 }),
      line({ ...invoke, process: 3, value: "i", time_ns: 50 }),
      line({ ...invoke, process: 3, type: "info", value: "i", time_ns: 60 }),
      line({ ...invoke, process: 4, value: "u", time_ns: 70 }),
      line({ ...invoke, process: 4, value: "w", time_ns: 80 }), // moved on: "u" is unknown
    ].join("\n");
    const h = parseHistory(text);
    expect(h.counts).toEqual({ invokes: 5, ok: 1, fail: 1, casNotSwapped: 0, info: 1, unmatched: 2, stale: 0 });
    expect(h.failed.map((o) => o.value)).toEqual(["f"]);
    expect(h.ops.map((o) => [o.value, o.outcome, o.returnNs, o.invokeLine, o.returnLine])).toEqual([
      ["v", "ok", 20, 1, 3],
      ["i", "info", Infinity, 6, 7],
      ["u", "info", Infinity, 8, null],
      ["w", "info", Infinity, 9, null],
    ]);
    expect(h.startNs).toBe(10);
  });

  test("delete and cas: a failed cas is kept (it compared, at a known time), a failed delete is dropped", () => {
    const cas = { process: 1, type: "invoke", f: "cas", key: "k", expected: null, value: "a", time_ns: 10 };
    const del = { process: 2, type: "invoke", f: "delete", key: "k", value: null, time_ns: 10 };
    const text = [
      line(cas),
      line({ ...cas, type: "fail", time_ns: 20 }),
      line({ ...cas, expected: "a", value: "b", time_ns: 30 }),
      line({ ...cas, expected: undefined, value: undefined, type: "ok", time_ns: 40 }), // a completion may omit them
      line({ ...cas, expected: "b", value: "c", time_ns: 50 }),
      line({ ...cas, expected: "b", value: "c", type: "info", time_ns: 60 }),
      line(del),
      line({ ...del, type: "ok", time_ns: 25 }),
      line({ ...del, time_ns: 70 }),
      line({ ...del, type: "fail", time_ns: 80 }),
    ].join("\n");
    const h = parseHistory(text);
    expect(h.counts).toEqual({ invokes: 5, ok: 2, fail: 2, casNotSwapped: 1, info: 1, unmatched: 0, stale: 0 });
    expect(h.failed.map((o) => [o.f, o.invokeLine])).toEqual([["delete", 9]]);
    expect(h.ops.map((o) => [o.f, o.expected, o.value, o.outcome, o.returnNs])).toEqual([
      ["cas", null, "a", "fail", 20],
      ["delete", null, null, "ok", 25],
      ["cas", "a", "b", "ok", 40],
      ["cas", "b", "c", "info", Infinity],
    ]);
  });

  test("stale gets are counted, not checked: a stale read of an old value is no violation", () => {
    const get = { process: 2, type: "invoke", f: "get", key: "k", value: null, time_ns: 30 };
    const text = [
      line(invoke),
      line(ok),
      line({ ...get, stale: true }),
      line({ ...get, type: "ok", value: null, time_ns: 40, stale: true }), // misses the put: allowed
      line({ ...get, time_ns: 50 }),
      line({ ...get, type: "ok", value: "v", time_ns: 60 }),
    ].join("\n");
    const h = parseHistory(text);
    expect(h.counts.stale).toBe(1);
    expect(h.ops.map((o) => [o.f, o.value])).toEqual([
      ["put", "v"],
      ["get", "v"],
    ]);
  });
});

describe("electrode check", () => {
  const dir = mkdtempSync(join(tmpdir(), "electrode-check-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const cli = new URL("../../src/cli/main.ts", import.meta.url).pathname;
  const run = async (args: string[]) => {
    const proc = Bun.spawn([process.execPath, "run", cli, "check", ...args], { stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { stdout, stderr, code };
  };
  const stale = textOf(eventsOf([
    [1, "put", "a", 0, 10_000],
    [2, "put", "b", 20_000, 30_000],
    [3, "get", "a", 40_000, 50_000],
  ]));

  test("linearizable: exit 0, one summary line", async () => {
    const out = await run([file("good.jsonl", textOf(generateHistory({ seed: 1, processes: 4, keys: 3, ops: 500, infoRate: 0.02 })))]);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^linearizable: 500 ops on 3 keys .*checked in \d+ ms\n$/);
    expect(out.stderr).toBe("");
  });

  test("not linearizable: exit 1, the explanation and the sub-history with line numbers", async () => {
    const out = await run([file("stale.jsonl", stale)]);
    expect(out.code).toBe(1);
    expect(out.stdout).toContain("NOT linearizable: key x");
    expect(out.stdout).toMatch(/get x at t=0\.000040s \(line 5-6\) returned 'a', but put 'b'/);
    expect(out.stdout).toMatch(/line 1-2 +process 1 +put x 'a' +0\.000000s \.\. 0\.000010s/);
    expect(out.stderr.trim()).toMatch(/^electrode: .*stale\.jsonl: not linearizable \(key x\)$/);
  });

  test("--json", async () => {
    const out = await run([file("stale2.jsonl", stale), "--json"]);
    expect(out.code).toBe(1);
    const json = JSON.parse(out.stdout);
    expect(json).toMatchObject({ linearizable: false, verdict: "not-linearizable", ops: 3, keys: 1, failure: { key: "x", key_ops: 3, minimal: true } });
    expect(json.failure.ops.map((o: { value: string; invoke_line: number }) => [o.value, o.invoke_line])).toEqual([["a", 1], ["b", 3], ["a", 5]]);
    expect(typeof json.elapsed_ms).toBe("number");
  });

  test("gave up at the timeout: exit 1, said to be unknown, not a violation", async () => {
    const big = file("big.jsonl", textOf(generateHistory({ seed: 2, processes: 8, keys: 64, ops: 40_000 })));
    const out = await run([big, "--timeout", "0.001", "--json"]);
    expect(out.code).toBe(1);
    expect(JSON.parse(out.stdout)).toMatchObject({ linearizable: false, verdict: "unknown" });
    expect(out.stderr).toMatch(/gave up after 0\.001s .* linearizability unknown/);
  });

  test("bad input: exit 2 naming the file and line", async () => {
    const out = await run([file("bad.jsonl", `${line(invoke)}\nnot json\n`)]);
    expect(out.code).toBe(2);
    expect(out.stderr.trim()).toMatch(/^electrode: .*bad\.jsonl: line 2: not JSON: not json$/);
    const missing = await run([join(dir, "absent.jsonl")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/absent\.jsonl: cannot read \(ENOENT\)/);
  });

  test("usage errors: exit 2", async () => {
    expect((await run([file("ok.jsonl", ""), "--frob"])).code).toBe(2);
    expect((await run([file("ok2.jsonl", ""), "--timeout", "soon"])).code).toBe(2);
    expect((await run([])).code).toBe(2);
  });
});
