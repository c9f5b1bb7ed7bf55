// The fast-reply ring reader (src/kernel/ring.ts) over plain memory laid out like a BPF ring
// buffer, with producers on this thread and, for the fence, a stalled one on another thread.

import { afterEach, describe, expect, test } from "bun:test";
import { toArrayBuffer, type Pointer } from "bun:ffi";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { libc, MAP_SHARED, PROT_READ } from "../../ffi/libc.ts";
import { FenceStalled, ringHeaderBytes, RingReader } from "../../src/kernel/ring.ts";
import { fenceBegins, holdRecordInWorker, ringBuffers, ringMemory, RingProducer } from "./ring-producer.ts";

const bytes = (...xs: number[]) => new Uint8Array(xs);
const text = (s: string) => new TextEncoder().encode(s);
const recordBytes = (datagram: Uint8Array) => 8 + datagram.length;

function ring(dataBytes = 4096, startAt = 0, stallMs?: number) {
  const buffers = ringBuffers(dataBytes, startAt);
  const memory = ringMemory(buffers);
  return { buffers, memory, producer: new RingProducer(buffers), reader: new RingReader(memory, stallMs) };
}

function drained(reader: RingReader, fence = false): string[] {
  const out: string[] = [];
  reader.drain((d) => out.push(new TextDecoder().decode(d)), fence);
  return out;
}

function put(producer: RingProducer, s: string): number {
  const d = text(s);
  const at = producer.reserve(recordBytes(d))!;
  producer.submit(at, d);
  return at;
}

const workers: Worker[] = [];
afterEach(() => {
  for (const w of workers.splice(0)) w.terminate();
});

describe("ring reader", () => {
  test("hands submitted records in ring order, skips discarded ones, and advances the consumer", () => {
    const { producer, reader, memory } = ring();
    put(producer, "one");
    const dropped = producer.reserve(recordBytes(text("gone")))!;
    producer.discard(dropped);
    put(producer, "two");
    expect(drained(reader)).toEqual(["one", "two"]);
    expect(memory.consumer[0]).toBe(memory.producer[0]!);
    expect(drained(reader)).toEqual([]);
  });

  test("without a fence, stops at a record still being written and takes it once submitted", () => {
    const { producer, reader } = ring();
    put(producer, "a");
    const busy = producer.reserve(recordBytes(text("b")))!;
    put(producer, "c");
    expect(drained(reader)).toEqual(["a"]);
    expect(drained(reader)).toEqual([]);
    producer.submit(busy, text("b"));
    expect(drained(reader)).toEqual(["b", "c"]);
  });

  test("records that wrap around the end of the data area come out whole, across many laps", () => {
    // 256 bytes of data, records of 8 + 8 + 37 = 53 -> 56 bytes: headers land everywhere mod 256,
    // bodies straddle the end; positions start near 2^32 to cross it too.
    const { producer, reader } = ring(256, 2 ** 32 - 104);
    const got: string[] = [];
    const want: string[] = [];
    for (let i = 0; i < 40; i++) {
      const s = `record ${String(i).padStart(3, "0")} ${"x".repeat(26)}`;
      want.push(s);
      put(producer, s);
      if (i % 3 === 2) got.push(...drained(reader)); // at most 3 records (168 bytes) in the ring
    }
    got.push(...drained(reader));
    expect(got).toEqual(want);
  });

  test("a record that does not fit waits for the consumer (the producer sees the ring full)", () => {
    const { producer, reader } = ring(64);
    put(producer, "0123456789abcdef0123456789ab"); // 8 + 8 + 28 = 44 -> 48 bytes
    expect(producer.reserve(recordBytes(text("zz")))).toBeUndefined();
    expect(drained(reader)).toEqual(["0123456789abcdef0123456789ab"]);
    expect(producer.reserve(recordBytes(text("zz")))).toBeDefined();
  });

  test("reads the producer position and data area without writing them (the kernel maps them read-only)", () => {
    // The ring's bytes in a file mapped read-only, as the kernel maps the producer page and data:
    // any write, also one hidden in an optimized atomic load, kills the process with SIGSEGV.
    const { buffers, producer } = ring(4096);
    for (let i = 0; i < 20; i++) put(producer, `r${i}`);
    const dir = mkdtempSync(join(tmpdir(), "electrode-ring-"));
    const file = join(dir, "ring");
    const page = 4096;
    const image = new Uint8Array(page + 4096);
    image.set(new Uint8Array(buffers.positions, 8, 8), 0);
    image.set(new Uint8Array(buffers.data), page);
    writeFileSync(file, image);
    const fd = openSync(file, "r");
    const at = libc.mmap(null, image.length, PROT_READ, MAP_SHARED, fd, 0) as Pointer;
    closeSync(fd);
    try {
      const consumer = new BigUint64Array(1);
      const reader = new RingReader({ consumer, producer: new BigUint64Array(toArrayBuffer(at, 0, 8)), data: new Uint8Array(toArrayBuffer(at, page, 4096)) });
      let handed = 0;
      for (let round = 0; round < 20_000; round++) {
        consumer[0] = 0n; // read it all again: enough rounds for the JIT's top tier
        handed += reader.drain(() => {});
      }
      expect(handed).toBe(20 * 20_000);
    } finally {
      libc.munmap(at, image.length);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a record claiming more bytes than it reserved is cut at its end", () => {
    const { buffers, producer, reader } = ring();
    const at = producer.reserve(recordBytes(bytes(1, 2, 3)))!;
    producer.submit(at, bytes(1, 2, 3));
    new Uint32Array(buffers.data)[(at + ringHeaderBytes) >>> 2] = 1000;
    const out: Uint8Array[] = [];
    reader.drain((d) => out.push(d));
    expect(out.map((d) => d.length)).toEqual([3]);
  });
});

describe("fence", () => {
  test("waits for a record another thread holds reserved for 300 ms, and returns it", () => {
    const { buffers, producer, reader } = ring();
    put(producer, "before");
    const datagram = text("held");
    const { worker, control } = holdRecordInWorker({ buffers, datagram, reserveBytes: recordBytes(datagram), holdMs: 300 });
    workers.push(worker);
    const t0 = performance.now();
    fenceBegins(control);
    expect(drained(reader, true)).toEqual(["before", "held"]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
  });

  test("ends with FenceStalled after its bound when the record is never submitted", () => {
    const { buffers, reader, memory } = ring(4096, 0, 300);
    const datagram = text("never");
    const { worker, control } = holdRecordInWorker({ buffers, datagram, reserveBytes: recordBytes(datagram), holdMs: null });
    workers.push(worker);
    const t0 = performance.now();
    fenceBegins(control);
    expect(() => reader.drain(() => {}, true)).toThrow(FenceStalled);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(300);
    expect(memory.consumer[0]).toBe(0n); // nothing consumed
  });

  test("does not wait for a record reserved after it began (that program read the new state)", () => {
    const { producer, reader } = ring(4096, 0, 50);
    put(producer, "old");
    // Reserved "after": the fence's end is the producer position when the fence begins, so a
    // record reserved later is beyond it. Simulate by reserving from inside the callback.
    let late: number | undefined;
    const out: string[] = [];
    reader.drain((d) => {
      out.push(new TextDecoder().decode(d));
      late ??= producer.reserve(recordBytes(text("late")));
    }, true);
    expect(out).toEqual(["old"]);
    expect(late).toBeDefined();
  });

  test("a bad bound is refused", () => {
    const { memory } = ring();
    expect(() => new RingReader(memory, 0)).toThrow(/positive/);
    expect(() => new RingReader({ ...memory, data: new Uint8Array(new SharedArrayBuffer(96)) })).toThrow(/power of two/);
  });
});
