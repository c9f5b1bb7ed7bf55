import { defineCommand } from "citty";
import { closedLoop, serveEcho } from "../bench/floor.ts";
import { formatAddr, parseAddr } from "../net/udp.ts";
import { intArg, numberArg, rejectUnknownFlags, RuntimeError, UsageError } from "./common.ts";

/** Requests in flight at most: past a few hundred the echo is saturated and only queues grow. */
const clientsMax = 4096;

const args = {
  serve: { type: "string", description: "Echo datagrams at ADDR:PORT (the other end)", valueHint: "ADDR:PORT" },
  to: { type: "string", description: "Send requests to ADDR:PORT and time the answers", valueHint: "ADDR:PORT" },
  clients: { type: "string", description: "Requests in flight at once, closed loop (default 1: a ping-pong, the latency floor; 64: the throughput ceiling)", valueHint: "K" },
  from: { type: "string", description: "Local address to send from", default: "0.0.0.0", valueHint: "ADDR" },
  duration: { type: "string", description: "Seconds to measure (or, with --serve, to serve)", default: "3", valueHint: "S" },
  warmup: { type: "string", description: "Seconds of requests before measuring", default: "0.5", valueHint: "S" },
  json: { type: "boolean", description: "Print the result as JSON" },
} as const;

export default defineCommand({
  meta: {
    name: "floor",
    description: "The machine's latency floor and throughput ceiling: a bare UDP echo with electrode's sockets, 1 or K requests in flight (the demo runs it between two namespaces)",
  },
  args,
  run({ args: a }) {
    rejectUnknownFlags(a, args);
    const duration = numberArg(a.duration, "duration", 0.1, 3600);
    if ((a.serve === undefined) === (a.to === undefined)) throw new UsageError("floor: give --serve ADDR:PORT or --to ADDR:PORT");
    if (a.serve !== undefined) {
      if (a.clients !== undefined) throw new UsageError("floor: --clients belongs to the sending end (--to); the echo answers any number");
      const at = parseAddr(String(a.serve));
      const host = String(a.serve).slice(0, String(a.serve).lastIndexOf(":"));
      const echoed = serveEcho(host, at.port, duration);
      if (a.json) console.log(JSON.stringify({ echoed }));
      return;
    }
    const clients = a.clients === undefined ? 1 : intArg(a.clients, "clients", 1, clientsMax);
    const to = parseAddr(String(a.to));
    const result = closedLoop(String(a.from), to, { clients, durationS: duration, warmupS: numberArg(a.warmup, "warmup", 0, 3600) });
    if (result.pings === 0) throw new RuntimeError(`floor: no answer from ${formatAddr(to)} (is \`electrode floor --serve ${formatAddr(to)}\` running there?)`);
    if (a.json) {
      console.log(JSON.stringify(result));
      return;
    }
    const l = result.latency_us;
    const rate = `${result.throughput_round_trips_s} round trips/s`;
    console.log(`${result.clients} in flight, ${result.pings} round trips in ${result.duration_s} s: ${rate}, p50 ${l.p50} us, p90 ${l.p90} us, p99 ${l.p99} us, max ${l.max} us, ${result.lost} lost, this process ${result.client_cpu_cores} cores`);
  },
});
