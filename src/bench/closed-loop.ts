// The bookkeeping of the floor's closed loop (src/bench/floor.ts), without I/O so it can be tested
// on its own: K slots, each with one request in flight, a window that is measured (requests sent
// before it warm up; none is started after it), and what the run sums up to.
//
// A request is identified by its slot and the slot's sequence number, both carried in the
// datagram: a reply that names another sequence is late (its request was counted lost and
// replaced) or a duplicate, and completes nothing.

import { Histogram } from "./histogram.ts";

/** What `electrode floor` measures: the bare echo with `clients` requests in flight. */
export interface FloorResult {
  /** Requests in flight at once (closed loop); 1 is a ping-pong, the latency floor. */
  readonly clients: number;
  /** Seconds measured (after the warm-up). */
  readonly duration_s: number;
  /** Round trips measured: requests sent inside the window and answered. */
  readonly pings: number;
  /** Requests sent inside the window that got no answer within the loss timeout. */
  readonly lost: number;
  /** Round trips per second: the ceiling of any single-leader service at this many in flight. */
  readonly throughput_round_trips_s: number;
  readonly latency_us: { p50: number; p90: number; p99: number; max: number };
  /** CPU the pinging process used in the window, in cores (1 = one core all the time): a client
   * near a whole core would be what limits the echo, not the machine. */
  readonly client_cpu_cores: number;
  /** Added by the demo and the matrix, which see both processes (from /proc, inside the window). */
  readonly cpu?: EchoCpu;
}

/** Cores busy while the echo was measured: server and client processes, the kernel's packet
 * delivery (softirq), everything else, and idle. */
export interface EchoCpu {
  readonly server: number;
  readonly client: number;
  readonly softirq: number;
  readonly other: number;
  readonly idle: number;
  /** CPU microseconds of both processes per round trip (with the packet delivery the kernel did in
   * them): what a round trip costs, which other processes on the machine change much less than
   * they change the round trips per second. */
  readonly us_per_round_trip: number;
}

export interface LoopWindow {
  /** Requests sent at or after this are measured. */
  readonly measureFromNs: number;
  /** No request starts at or after this. */
  readonly endNs: number;
}

/** A request unanswered this long is lost; its slot starts another. */
export const lostAfterNs = 200e6;

export class InFlight {
  readonly latency = new Histogram();
  /** Measured round trips and measured losses. */
  completed = 0;
  lost = 0;
  private readonly seq: Uint32Array;
  private readonly sentNs: Float64Array;
  private readonly busy: Uint8Array;
  private busyCount = 0;

  constructor(
    readonly slots: number,
    readonly window: LoopWindow,
  ) {
    if (!Number.isInteger(slots) || slots < 1) throw new Error(`closed loop: slots must be a whole number >= 1, got ${slots}`);
    if (!(window.endNs > window.measureFromNs)) throw new Error("closed loop: the window ends before it starts");
    this.seq = new Uint32Array(slots);
    this.sentNs = new Float64Array(slots);
    this.busy = new Uint8Array(slots);
  }

  /** True while no request is in flight. */
  get idle(): boolean {
    return this.busyCount === 0;
  }

  /** Whether a slot that just finished should start another request at `nowNs`. */
  open(nowNs: number): boolean {
    return nowNs < this.window.endNs;
  }

  /** Starts the slot's next request at `nowNs`; returns the sequence number to send. */
  start(slot: number, nowNs: number): number {
    if (this.busy[slot] === 1) throw new Error(`closed loop: slot ${slot} already has a request in flight`);
    this.busy[slot] = 1;
    this.busyCount += 1;
    this.sentNs[slot] = nowNs;
    this.seq[slot] = (this.seq[slot]! + 1) >>> 0;
    return this.seq[slot]!;
  }

  /** A reply naming (slot, seq) arrived at `nowNs`. True when it completes the slot's request;
   * false for a late, duplicate or foreign datagram. */
  answer(slot: number, seq: number, nowNs: number): boolean {
    if (slot >= this.slots || this.busy[slot] !== 1 || this.seq[slot] !== seq) return false;
    this.finish(slot);
    if (this.sentNs[slot]! >= this.window.measureFromNs) {
      this.completed += 1;
      this.latency.record(nowNs - this.sentNs[slot]!);
    }
    return true;
  }

  /** Frees every slot whose request is older than the loss timeout, counting measured ones lost,
   * and calls `freed` for each (to start another while the window is open). */
  expire(nowNs: number, freed: (slot: number) => void): void {
    for (let slot = 0; slot < this.slots; slot++) {
      if (this.busy[slot] !== 1 || nowNs - this.sentNs[slot]! < lostAfterNs) continue;
      this.finish(slot);
      if (this.sentNs[slot]! >= this.window.measureFromNs) this.lost += 1;
      freed(slot);
    }
  }

  /** The run's result; `clientCpuCores` is the pinging process's CPU over the window. */
  result(clientCpuCores: number): FloorResult {
    const durationS = (this.window.endNs - this.window.measureFromNs) / 1e9;
    const us = (ns: number) => Math.round(ns / 100) / 10;
    return {
      clients: this.slots,
      duration_s: Math.round(durationS * 1000) / 1000,
      pings: this.completed,
      lost: this.lost,
      throughput_round_trips_s: Math.round(this.completed / durationS),
      latency_us: { p50: us(this.latency.quantile(0.5)), p90: us(this.latency.quantile(0.9)), p99: us(this.latency.quantile(0.99)), max: us(this.latency.max) },
      client_cpu_cores: Math.round(clientCpuCores * 100) / 100,
    };
  }

  private finish(slot: number): void {
    this.busy[slot] = 0;
    this.busyCount -= 1;
  }
}
