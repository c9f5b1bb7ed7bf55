import { expect, test } from "bun:test";
import { decodeKvResult, encodeGet, encodePut, KvMachine, KvStatus } from "../../src/app/kv.ts";

test("put then get, overwrite, missing key", () => {
  const kv = new KvMachine();
  expect(decodeKvResult(kv.execute(encodeGet("a")))).toEqual({ status: KvStatus.NotFound, value: "" });
  expect(decodeKvResult(kv.execute(encodePut("a", "1"))).status).toBe(KvStatus.Ok);
  expect(decodeKvResult(kv.execute(encodeGet("a")))).toEqual({ status: KvStatus.Ok, value: "1" });
  kv.execute(encodePut("a", "ünïcode ✓"));
  expect(decodeKvResult(kv.execute(encodeGet("a"))).value).toBe("ünïcode ✓");
  kv.execute(encodePut("", ""));
  expect(decodeKvResult(kv.execute(encodeGet("")))).toEqual({ status: KvStatus.Ok, value: "" });
});

test("malformed ops give status bad-op and change nothing", () => {
  const kv = new KvMachine();
  for (const op of [[], [1], [1, 5, 0, 65], [9, 0, 0], [2, 1, 0, 65, 66]]) {
    expect(decodeKvResult(kv.execute(new Uint8Array(op))).status).toBe(KvStatus.BadOp);
  }
  expect(kv.size).toBe(0);
  expect(decodeKvResult(new Uint8Array(0)).status).toBe(KvStatus.BadOp);
});
