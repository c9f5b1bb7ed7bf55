// A mode's throughput against the ceiling: the bare echo's round trips per second with as many
// requests in flight as the mode had clients (src/bench/floor.ts). An electrode op is one request
// in and one reply out at the leader, as an echo's round trip is, plus everything replication adds,
// so the ratio says how much of what this machine can serve a single leader the protocol keeps.

import type { CpuSplit } from "./cpu.ts";
import type { EchoCpu, FloorResult } from "./closed-loop.ts";

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** `throughputOpsS` as a multiple of the ceiling; undefined without a ceiling (or one that
 * measured nothing). */
export function ceilingRatio(throughputOpsS: number, ceiling: Pick<FloorResult, "throughput_round_trips_s"> | undefined): number | undefined {
  if (!ceiling || !(ceiling.throughput_round_trips_s > 0)) return undefined;
  return round3(throughputOpsS / ceiling.throughput_round_trips_s);
}

/** The echo's CPU from a split of its window in which the echo had the leader's role (it is the
 * leader of a service that does nothing) and the pinging process the client's. */
export function echoCpu(cores: CpuSplit["cores"], roundTripsS: number): EchoCpu {
  const perRoundTrip = roundTripsS > 0 ? Math.round(((cores.leader + cores.client) / roundTripsS) * 1e8) / 100 : 0;
  return { server: cores.leader, client: cores.client, softirq: cores.softirq, other: cores.other, idle: cores.idle, us_per_round_trip: perRoundTrip };
}

/** The middle value (the lower of the two middle ones for an even count). */
export function medianOf(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error("median of nothing");
  return [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
}

/** Ratios of runs to the ceilings measured beside them (same index: the same round), summed up as
 * their median and range: the machine's speed drifts between rounds, a run and its own round's
 * ceiling drift together. Rounds without a ceiling are left out; undefined when none has one. */
export function pairedCeilingRatio(throughputsOpsS: readonly number[], ceilings: readonly (number | undefined)[]): { median: number; min: number; max: number } | undefined {
  if (throughputsOpsS.length !== ceilings.length) throw new Error(`${throughputsOpsS.length} runs but ${ceilings.length} ceilings`);
  const ratios = throughputsOpsS.flatMap((t, i) => {
    const r = ceilingRatio(t, { throughput_round_trips_s: ceilings[i] ?? 0 });
    return r === undefined ? [] : [r];
  });
  if (ratios.length === 0) return undefined;
  return { median: medianOf(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
}

/** Cores other processes may keep busy while the echo runs before its line says the machine was not
 * quiet: on two cores the echo and its client take all there is, so what others take comes off the
 * ceiling (here, 64 in flight: 330-365k round trips/s with nothing else running, 170k beside a
 * core of other work). */
export const otherCoresQuietMax = 0.2;

/** One line about an echo run, for people. */
export function formatEcho(result: FloorResult): string {
  const l = result.latency_us;
  const c = result.cpu;
  const cores = c ? `; cores busy: echo ${c.server}, client ${c.client}, softirq ${c.softirq}, other ${c.other}, idle ${c.idle}; ${c.us_per_round_trip} CPU us per round trip` : `; client ${result.client_cpu_cores} cores`;
  const noisy = c && c.other > otherCoresQuietMax ? " (other processes were busy beside it: not a quiet machine)" : "";
  return `${result.clients} in flight: ${result.throughput_round_trips_s.toLocaleString("en-US")} round trips/s, p50 ${l.p50} us, p99 ${l.p99} us, ${result.lost} lost${cores}${noisy}`;
}
