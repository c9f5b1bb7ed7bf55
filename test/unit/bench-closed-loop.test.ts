// The floor's closed loop without sockets: which answers complete a request, what is measured
// (requests sent inside the window), losses, and the result's arithmetic.

import { describe, expect, test } from "bun:test";
import { InFlight, lostAfterNs } from "../../src/bench/closed-loop.ts";

const ms = 1e6;
/** Warm-up for the first second, then one second measured. */
const window = { measureFromNs: 1000 * ms, endNs: 2000 * ms };

describe("closed loop bookkeeping", () => {
  test("an answer completes its slot's request once; late, duplicate and foreign ones do nothing", () => {
    const f = new InFlight(2, window);
    const seq0 = f.start(0, 1100 * ms);
    const seq1 = f.start(1, 1100 * ms);
    expect(f.answer(0, seq0 + 1, 1150 * ms)).toBe(false); // a sequence the slot never sent
    expect(f.answer(7, seq0, 1150 * ms)).toBe(false); // no such slot
    expect(f.answer(0, seq0, 1150 * ms)).toBe(true);
    expect(f.answer(0, seq0, 1160 * ms)).toBe(false); // duplicate
    expect(f.idle).toBe(false);
    expect(f.answer(1, seq1, 1200 * ms)).toBe(true);
    expect(f.idle).toBe(true);
    expect(f.completed).toBe(2);
    expect([f.latency.count, f.latency.min, f.latency.max]).toEqual([2, 50 * ms, 100 * ms]);
  });

  test("requests sent during the warm-up are answered but not measured", () => {
    const f = new InFlight(1, window);
    expect(f.answer(0, f.start(0, 999 * ms), 1001 * ms)).toBe(true);
    expect(f.completed).toBe(0);
    expect(f.latency.count).toBe(0);
    expect(f.answer(0, f.start(0, 1001 * ms), 1002 * ms)).toBe(true);
    expect(f.completed).toBe(1);
  });

  test("the window closes: no new request at or after its end, but one sent before is still measured", () => {
    const f = new InFlight(1, window);
    expect(f.open(1999 * ms)).toBe(true);
    expect(f.open(2000 * ms)).toBe(false);
    const seq = f.start(0, 1999 * ms);
    expect(f.answer(0, seq, 2003 * ms)).toBe(true);
    expect(f.completed).toBe(1);
  });

  test("a request unanswered past the loss timeout frees its slot, counts lost if measured, and its late answer is ignored", () => {
    const f = new InFlight(3, window);
    const early = f.start(0, 900 * ms); // warm-up: lost but not counted
    const late = f.start(1, 1200 * ms);
    f.start(2, 1200 * ms + lostAfterNs - 1); // not old enough yet
    const freed: number[] = [];
    f.expire(1200 * ms + lostAfterNs, (slot) => freed.push(slot));
    expect(freed).toEqual([0, 1]);
    expect(f.lost).toBe(1);
    expect(f.answer(0, early, 1500 * ms)).toBe(false);
    expect(f.answer(1, late, 1500 * ms)).toBe(false);
    // The freed slot starts again with a new sequence number, which its answer must name.
    const again = f.start(1, 1500 * ms);
    expect(again).toBe(late + 1);
    expect(f.answer(1, again, 1501 * ms)).toBe(true);
    expect(f.completed).toBe(1);
  });

  test("a slot holds one request at a time", () => {
    const f = new InFlight(1, window);
    f.start(0, 1100 * ms);
    expect(() => f.start(0, 1101 * ms)).toThrow("already has a request in flight");
  });

  test("bad slot counts and windows are refused", () => {
    expect(() => new InFlight(0, window)).toThrow("slots must be a whole number >= 1");
    expect(() => new InFlight(1.5, window)).toThrow("slots must be a whole number >= 1");
    expect(() => new InFlight(1, { measureFromNs: 5, endNs: 5 })).toThrow("the window ends before it starts");
  });

  test("result: round trips per second over the measured window, latencies in microseconds", () => {
    // Two seconds measured, four slots: 1000 round trips of 40.447 us (the top of a histogram
    // bucket, so reported exactly), 20 of 1.25 ms, one lost.
    const f = new InFlight(4, { measureFromNs: 0, endNs: 2000 * ms });
    for (let i = 0; i < 1000; i++) f.answer(i % 4, f.start(i % 4, i * ms), i * ms + 40_447);
    for (let i = 0; i < 20; i++) f.answer(1, f.start(1, 1500 * ms + i * 2 * ms), 1500 * ms + i * 2 * ms + 1_250_000);
    f.start(2, 1900 * ms);
    f.expire(1900 * ms + lostAfterNs, () => {});
    // p99 is rank 1010 of 1020: a slow one.
    expect(f.result(0.4567)).toEqual({
      clients: 4,
      duration_s: 2,
      pings: 1020,
      lost: 1,
      throughput_round_trips_s: 510,
      latency_us: { p50: 40.4, p90: 40.4, p99: 1250, max: 1250 },
      client_cpu_cores: 0.46,
    });
  });

  test("a run that measured nothing says so: no round trips, zero throughput", () => {
    const r = new InFlight(1, window).result(0);
    expect([r.pings, r.throughput_round_trips_s, r.latency_us.p50]).toEqual([0, 0, 0]);
  });
});
