// A BPF ring buffer producer over plain SharedArrayBuffers, doing what the kernel's
// bpf_ringbuf_reserve / submit / discard do (kernel/bpf/ringbuf.c) in the same order: the record
// header (length with the busy bit) is written before the producer position moves, and submit or
// discard clears busy with one atomic store after the body is written. Used by the ring tests, on
// the test's thread or in a Worker (ring-producer-worker.ts) to hold a record from another thread.

import { busyBit, discardBit, recordHeadBytes, ringHeaderBytes, type RingMemory } from "../../src/kernel/ring.ts";

export interface RingBuffers {
  /** u64 consumer position, u64 producer position. */
  readonly positions: SharedArrayBuffer;
  readonly data: SharedArrayBuffer;
}

/** `startAt`: the first position (a multiple of 8, as every position the kernel makes). */
export function ringBuffers(dataBytes: number, startAt = 0): RingBuffers {
  if (startAt % 8 !== 0) throw new Error(`ring position ${startAt}: not a multiple of 8`);
  const positions = new SharedArrayBuffer(16);
  const pos = new BigUint64Array(positions);
  pos[0] = BigInt(startAt);
  pos[1] = BigInt(startAt);
  return { positions, data: new SharedArrayBuffer(dataBytes) };
}

export function ringMemory(b: RingBuffers): RingMemory {
  return { consumer: new BigUint64Array(b.positions, 0, 1), producer: new BigUint64Array(b.positions, 8, 1), data: new Uint8Array(b.data) };
}

export class RingProducer {
  private readonly pos: BigUint64Array;
  private readonly data: Uint8Array;
  private readonly words: Uint32Array;
  private readonly mask: number;

  constructor(b: RingBuffers) {
    this.pos = new BigUint64Array(b.positions);
    this.data = new Uint8Array(b.data);
    this.words = new Uint32Array(b.data);
    this.mask = this.data.length - 1;
  }

  /** Reserves a record of `bytes` (its header marked busy); returns its ring offset, or undefined
   * when the ring is full. */
  reserve(bytes: number): number | undefined {
    const cons = Number(Atomics.load(this.pos, 0));
    const prod = Number(Atomics.load(this.pos, 1));
    const total = (bytes + ringHeaderBytes + 7) & ~7;
    if (prod + total - cons > this.mask) return undefined; // as the kernel: never completely full
    const at = prod & this.mask;
    Atomics.store(this.words, at >>> 2, (bytes | busyBit) >>> 0);
    this.words[(at >>> 2) + 1] = 0; // pg_off: unused here
    Atomics.store(this.pos, 1, BigInt(prod + total));
    return at;
  }

  /** Writes an electrode_fast_record (len, pad, datagram; wrapping at the end) and submits it. */
  submit(at: number, datagram: Uint8Array): void {
    const body = (at + ringHeaderBytes) & this.mask;
    this.words[body >>> 2] = datagram.length;
    this.words[(body >>> 2) + 1] = 0;
    const from = (body + recordHeadBytes) & this.mask;
    for (let i = 0; i < datagram.length; i++) this.data[(from + i) & this.mask] = datagram[i]!;
    Atomics.store(this.words, at >>> 2, (this.words[at >>> 2]! & ~busyBit) >>> 0);
  }

  discard(at: number): void {
    Atomics.store(this.words, at >>> 2, ((this.words[at >>> 2]! & ~busyBit) | discardBit) >>> 0);
  }
}

/** Control words shared with the worker. */
export const Ctl = {
  /** The worker sets it to 1 once its record is reserved, 2 once submitted. */
  state: 0,
  /** The test sets it to 1 when the fence begins; the worker's hold starts then. */
  fenceBegun: 1,
} as const;

export interface HoldOrder {
  readonly buffers: RingBuffers;
  readonly control: SharedArrayBuffer;
  readonly datagram: Uint8Array;
  readonly reserveBytes: number;
  /** Submit this long after the fence began; null: never submit. */
  readonly holdMs: number | null;
}

/** Starts a Worker that reserves one record and holds it (see HoldOrder); returns once reserved. */
export function holdRecordInWorker(order: Omit<HoldOrder, "control">): { worker: Worker; control: Int32Array } {
  const control = new SharedArrayBuffer(8);
  const ctl = new Int32Array(control);
  const worker = new Worker(new URL("./ring-producer-worker.ts", import.meta.url).href);
  worker.postMessage({ ...order, control } satisfies HoldOrder);
  if (Atomics.wait(ctl, Ctl.state, 0, 5000) === "timed-out") throw new Error("ring producer worker did not reserve within 5 s");
  return { worker, control: ctl };
}

/** Tells the holding worker that the fence began. */
export function fenceBegins(ctl: Int32Array): void {
  Atomics.store(ctl, Ctl.fenceBegun, 1);
  Atomics.notify(ctl, Ctl.fenceBegun);
}
