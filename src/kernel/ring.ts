// Reading a BPF ring buffer (BPF_MAP_TYPE_RINGBUF) the way libbpf's ring_buffer does, over any
// memory laid out like it: on a node the kernel's mmap'ed pages (fast-path.ts), in tests plain
// SharedArrayBuffers written by a producer thread. No syscalls and no ffi here.
//
// Layout: a consumer position (u64, written by the reader), a producer position (u64, advanced
// by the kernel when it RESERVES a record), and a data area of a power-of-two size. Positions only
// grow; a record sits at position & (size - 1). Each record starts with an 8-byte header whose
// first u32 is the reserved length with two flags: busy (reserved, not submitted or discarded yet)
// and discard. The kernel clears busy with a release store when it submits or discards.

/** struct bpf_ringbuf_hdr: len (with the flag bits), then pg_off. */
export const ringHeaderBytes = 8;
export const busyBit = 0x80000000;
export const discardBit = 0x40000000;
/** The record body written by the XDP program: struct electrode_fast_record (len, pad, data). */
export const recordHeadBytes = 8;

/**
 * How long a fence waits for a record the XDP program reserved and has not submitted or discarded,
 * before it concludes that it cannot establish what the kernel acked. Between reserve and submit
 * the program runs a few microseconds to completion in softirq context, and the verifier rejects
 * any program that can leave a reservation unfinished, so a record stays busy only while the CPU
 * running it does not run at all: a vCPU the hypervisor descheduled (steal), or on PREEMPT_RT a
 * preempted softirq thread. Such stalls on a loaded host last up to hundreds of milliseconds, rarely
 * seconds. Waiting is always safe (the replica is leaving its view; the others elect without it
 * meanwhile); the only safe way to stop waiting is to crash, and restart plus recovery costs more
 * than any stall shorter than a few seconds. 10 s is 200 times the 50 ms that proved too short,
 * and half the kernel's own soft-lockup threshold (20 s by default), beyond which the kernel itself
 * treats that CPU as stuck.
 */
export const fenceStallMs = 10_000;
/** A fence first spins this long (the common case: the program is running right now) ... */
const fenceSpinMs = 1;
/** ... then sleeps in steps of this; the bound counts these steps, not the clock (see wait). */
const fencePollMs = 1;

/** A fence could not establish that every reserved record was submitted or discarded. The replica
 * must stop acting: proceeding could leave its view without a Prepare its kernel acked. */
export class FenceStalled extends Error {
  override readonly name = "FenceStalled";
}

export interface RingMemory {
  /** One u64: the consumer position (read and written here). */
  readonly consumer: BigUint64Array;
  /** One u64: the producer position (read here). */
  readonly producer: BigUint64Array;
  /** The data area, mapped once: a record at the end continues at the start. */
  readonly data: Uint8Array;
}

export class RingReader {
  private readonly consumer: BigUint64Array;
  private readonly producer: BigUint64Array;
  private readonly data: Uint8Array;
  /** The data area as u64 words, for the record headers (atomic loads: acquire order). u64 and not
   * u32: JSC's optimized Atomics.load of a Uint32Array is a locked read-modify-write, which faults
   * on the read-only pages the kernel maps the data area into; a BigUint64Array load is a load. */
  private readonly headers: BigUint64Array;
  private readonly words: Uint32Array;
  private readonly mask: number;

  constructor(
    memory: RingMemory,
    /** fenceStallMs; tests make it short. */
    private readonly stallMs = fenceStallMs,
  ) {
    const size = memory.data.length;
    if (size < 2 * ringHeaderBytes || (size & (size - 1)) !== 0) throw new Error(`ring data area of ${size} bytes: expected a power of two`);
    if (memory.data.byteOffset % 8 !== 0) throw new Error("ring data area not 8-byte aligned");
    if (!(stallMs > 0)) throw new Error(`fence stall bound of ${stallMs} ms: expected a positive number`);
    this.consumer = memory.consumer;
    this.producer = memory.producer;
    this.data = memory.data;
    this.headers = new BigUint64Array(memory.data.buffer, memory.data.byteOffset, size / 8);
    this.words = new Uint32Array(memory.data.buffer, memory.data.byteOffset, size / 4);
    this.mask = size - 1;
  }

  private position(word: BigUint64Array): number {
    // Read whole (Atomics): a torn u64 would point anywhere.
    return Number(Atomics.load(word, 0));
  }

  /** The len word (with the flag bits) of the record header at `at` (8-byte aligned). */
  private header(at: number): number {
    return Number(BigInt.asUintN(32, Atomics.load(this.headers, at >>> 3)));
  }

  /**
   * Hands every submitted record's datagram (a copy) to `onRecord`, in ring order, skipping
   * discarded ones; stops at the first record still being written. With `fence`, first waits for
   * every record reserved before this call to be submitted or discarded, so that everything the XDP
   * program acked under the state written before this call is handed over; throws FenceStalled when
   * that cannot be established within the bound. Returns the number of records handed over.
   */
  drain(onRecord: (datagram: Uint8Array) => void, fence = false): number {
    // Reserved before this call: the program reserves before it reads the kernel state, so any
    // program that read the state from before the caller's write reserved below this position.
    const fenceEnd = fence ? this.position(this.producer) : 0;
    let cons = this.position(this.consumer);
    const start = cons;
    let handed = 0;
    for (;;) {
      if (cons >= this.position(this.producer)) break;
      const at = cons & this.mask;
      let len = this.header(at);
      if (len & busyBit) {
        if (cons >= fenceEnd) break; // being written now; the next drain takes it
        len = this.wait(at);
      }
      const bytes = len & ~(busyBit | discardBit);
      // The kernel never reserves more than the data area holds: anything else is a misread.
      if (bytes > this.mask + 1 - ringHeaderBytes) throw new Error(`ring record of ${bytes} bytes at position ${cons} in a ring of ${this.mask + 1}: the ring is misread`);
      if (!(len & discardBit)) {
        onRecord(this.record(at, bytes));
        handed++;
      }
      cons += (bytes + ringHeaderBytes + 7) & ~7;
    }
    if (cons !== start) Atomics.store(this.consumer, 0, BigInt(cons));
    return handed;
  }

  /** The datagram of the submitted record at `at` of `bytes` reserved bytes, copied out. */
  private record(at: number, bytes: number): Uint8Array {
    const body = (at + ringHeaderBytes) & this.mask;
    const claimed = this.words[body >>> 2]!;
    // The program wrote at most what it reserved; never read beyond the record.
    const len = Math.min(claimed, Math.max(0, bytes - recordHeadBytes));
    const from = (body + recordHeadBytes) & this.mask;
    const size = this.data.length;
    if (from + len <= size) return this.data.slice(from, from + len);
    const out = new Uint8Array(len);
    out.set(this.data.subarray(from));
    out.set(this.data.subarray(0, len - (size - from)), size - from);
    return out;
  }

  /**
   * Waits until the record at `at` is no longer busy and returns its header. Spins briefly, then
   * sleeps; gives up (FenceStalled) after stallMs worth of sleeps. Counting sleeps rather than
   * reading the clock means a pause of the whole machine (which stops this process too) does not
   * use up the bound: the producer gets stallMs of this process's own running time.
   */
  private wait(at: number): number {
    const spinUntil = performance.now() + fenceSpinMs;
    let len = this.header(at);
    while (len & busyBit && performance.now() < spinUntil) len = this.header(at);
    for (let slept = 0; len & busyBit; len = this.header(at)) {
      if (slept >= this.stallMs) {
        throw new FenceStalled(
          `fence stalled: a fast-reply ring record reserved by the XDP program was neither submitted nor discarded within ${this.stallMs} ms; stopping rather than leaving the view without what the kernel acked (restart the replica: it recovers from the cluster)`,
        );
      }
      Bun.sleepSync(fencePollMs);
      slept += fencePollMs;
    }
    return len;
  }
}
