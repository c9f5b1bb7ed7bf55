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

test("op layout: opcode, key length u16 little-endian, key, value", () => {
  const key = "k".repeat(0x1234);
  const put = encodePut(key, "v");
  expect([put[0], put[1], put[2]]).toEqual([1, 0x34, 0x12]);
  expect(put.length).toBe(3 + 0x1234 + 1);
  expect([...encodeGet("ab")]).toEqual([2, 2, 0, 97, 98]);
  expect(() => encodeGet("x".repeat(0x10000))).toThrow();
});

test("result layout: status byte then value", () => {
  const kv = new KvMachine();
  kv.execute(encodePut("a", "xyz"));
  expect([...kv.execute(encodeGet("a"))]).toEqual([0, 120, 121, 122]);
  expect([...kv.execute(encodeGet("b"))]).toEqual([1]);
  expect([...kv.execute(new Uint8Array([7]))]).toEqual([2]);
});

test("keys are bytes: invalid UTF-8 keys do not collide", () => {
  const kv = new KvMachine();
  kv.execute(new Uint8Array([1, 1, 0, 0xff, 65]));
  kv.execute(new Uint8Array([1, 1, 0, 0xfe, 66]));
  expect(kv.size).toBe(2);
  expect(decodeKvResult(kv.execute(new Uint8Array([2, 1, 0, 0xff]))).value).toBe("A");
});

test("a key length running past the op, and trailing bytes after a get key, are bad ops", () => {
  const kv = new KvMachine();
  expect(decodeKvResult(kv.execute(new Uint8Array([1, 0xff, 0xff, 65]))).status).toBe(KvStatus.BadOp);
  expect(decodeKvResult(kv.execute(new Uint8Array([2, 0, 0, 65]))).status).toBe(KvStatus.BadOp);
  expect(decodeKvResult(kv.execute(new Uint8Array([1, 0, 0]))).status).toBe(KvStatus.Ok); // empty key and value
});

test("null app and createApp", async () => {
  const { NullMachine } = await import("../../src/app/null.ts");
  const { createApp } = await import("../../src/app/index.ts");
  expect(new NullMachine().execute(encodePut("a", "b")).length).toBe(0);
  expect(createApp("kv")).toBeInstanceOf(KvMachine);
  expect(createApp("null")).toBeInstanceOf(NullMachine);
});
