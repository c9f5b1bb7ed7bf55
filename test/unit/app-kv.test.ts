import { expect, test } from "bun:test";
import { decodeKvResult, encodeCas, encodeDelete, encodeGet, encodePut, kvKeyBytesMax, KvMachine, kvResultBytes, KvSizeError, KvStatus } from "../../src/app/kv.ts";
import { requestOpBytesMax as opBytesMax } from "../../src/core/log.ts";

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
  const key = "k".repeat(0x312);
  const put = encodePut(key, "v");
  expect([put[0], put[1], put[2]]).toEqual([1, 0x12, 0x03]);
  expect(put.length).toBe(3 + 0x312 + 1);
  expect([...encodeGet("ab")]).toEqual([2, 2, 0, 97, 98]);
  expect([...encodeDelete("ab")]).toEqual([3, 2, 0, 97, 98]);
  expect([...encodeCas("k", null, "v")]).toEqual([4, 1, 0, 107, 0, 118]);
  expect([...encodeCas("k", "ab", "v")]).toEqual([4, 1, 0, 107, 1, 2, 0, 97, 98, 118]);
  expect([...encodePut(new Uint8Array([0xff]), new Uint8Array([0, 1]))]).toEqual([1, 1, 0, 0xff, 0, 1]);
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

test("delete: ok when the key was there, not found when not; absent afterwards", () => {
  const kv = new KvMachine();
  kv.execute(encodePut("a", "1"));
  expect(decodeKvResult(kv.execute(encodeDelete("a"))).status).toBe(KvStatus.Ok);
  expect(decodeKvResult(kv.execute(encodeGet("a"))).status).toBe(KvStatus.NotFound);
  expect(decodeKvResult(kv.execute(encodeDelete("a"))).status).toBe(KvStatus.NotFound);
  expect(kv.size).toBe(0);
});

test("cas: swaps only on a match (absent, or equal bytes); a mismatch carries the current value", () => {
  const kv = new KvMachine();
  expect(decodeKvResult(kv.execute(encodeCas("a", "x", "1"))).status).toBe(KvStatus.NotFound);
  expect(kv.size).toBe(0);
  expect(decodeKvResult(kv.execute(encodeCas("a", null, "1"))).status).toBe(KvStatus.Ok);
  expect(decodeKvResult(kv.execute(encodeCas("a", null, "2")))).toEqual({ status: KvStatus.Mismatch, value: "1" });
  expect(decodeKvResult(kv.execute(encodeCas("a", "2", "3")))).toEqual({ status: KvStatus.Mismatch, value: "1" });
  expect(decodeKvResult(kv.execute(encodeCas("a", "1", "2"))).status).toBe(KvStatus.Ok);
  expect(decodeKvResult(kv.execute(encodeGet("a"))).value).toBe("2");
  // An empty value is a value, not absence.
  kv.execute(encodePut("e", ""));
  expect(decodeKvResult(kv.execute(encodeCas("e", null, "z"))).status).toBe(KvStatus.Mismatch);
  expect(decodeKvResult(kv.execute(encodeCas("e", "", "z"))).status).toBe(KvStatus.Ok);
  // Values are bytes: compared exactly, returned exactly.
  kv.execute(encodePut("b", new Uint8Array([0xff, 0])));
  expect(decodeKvResult(kv.execute(encodeCas("b", new Uint8Array([0xfe, 0]), "z"))).status).toBe(KvStatus.Mismatch);
  expect([...kvResultBytes(kv.execute(encodeGet("b")))]).toEqual([0xff, 0]);
  expect(decodeKvResult(kv.execute(encodeCas("b", new Uint8Array([0xff, 0]), "z"))).status).toBe(KvStatus.Ok);
});

test("malformed deletes and cas ops are bad ops and change nothing", () => {
  const kv = new KvMachine();
  kv.execute(encodePut("a", "1"));
  const bad = [
    [3, 1, 0, 97, 98], // delete with trailing bytes
    [4, 1, 0, 97], // cas without its present flag
    [4, 1, 0, 97, 2, 49], // present flag not 0 or 1
    [4, 1, 0, 97, 1, 5], // expected length cut short
    [4, 1, 0, 97, 1, 5, 0, 49], // expected runs past the op
  ];
  for (const op of bad) expect(decodeKvResult(kv.execute(new Uint8Array(op))).status).toBe(KvStatus.BadOp);
  expect(decodeKvResult(kv.execute(encodeGet("a"))).value).toBe("1");
});

test("size limits: the key, and the whole op in one datagram, with the part named", () => {
  expect(() => encodePut("k".repeat(kvKeyBytesMax + 1), "v")).toThrow(KvSizeError);
  expect(() => encodeGet("k".repeat(kvKeyBytesMax + 1))).toThrow(/key of 1025 bytes: at most 1024/);
  expect(encodePut("k", "v".repeat(opBytesMax - 4)).length).toBe(opBytesMax);
  expect(() => encodePut("k", "v".repeat(opBytesMax - 3))).toThrow(/a put's key and value .* at most 1412/);
  expect(encodeCas("k", "e".repeat(100), "v".repeat(opBytesMax - 107)).length).toBe(opBytesMax);
  expect(() => encodeCas("k", "e".repeat(100), "v".repeat(opBytesMax - 106))).toThrow(/a cas's key, expected value and value/);
  expect(() => encodePut("k", "é".repeat(opBytesMax / 2))).toThrow(KvSizeError); // UTF-8 bytes count, not characters
});

test("snapshot after deletes and swaps restores the same store (in the same order)", () => {
  const kv = new KvMachine();
  for (const k of ["a", "b", "c", "d"]) kv.execute(encodePut(k, k + "0"));
  kv.execute(encodeDelete("b"));
  kv.execute(encodeCas("c", "c0", "c1"));
  kv.execute(encodeCas("b", null, "b1"));
  const copy = new KvMachine();
  copy.restore(kv.snapshot());
  expect(copy.size).toBe(4);
  expect([...copy.snapshot()]).toEqual([...kv.snapshot()]);
  for (const [k, v] of [["a", "a0"], ["b", "b1"], ["c", "c1"], ["d", "d0"]] as const) expect(decodeKvResult(copy.execute(encodeGet(k))).value).toBe(v);
});
