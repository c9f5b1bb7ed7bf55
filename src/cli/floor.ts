import { defineCommand } from "citty";
import { pingPong, serveEcho } from "../bench/floor.ts";
import { parseAddr } from "../net/udp.ts";
import { numberArg, rejectUnknownFlags, UsageError } from "./common.ts";

const args = {
  serve: { type: "string", description: "Echo datagrams at ADDR:PORT (the other end)", valueHint: "ADDR:PORT" },
  to: { type: "string", description: "Ping ADDR:PORT, one datagram in flight", valueHint: "ADDR:PORT" },
  from: { type: "string", description: "Local address to ping from", default: "0.0.0.0", valueHint: "ADDR" },
  duration: { type: "string", description: "Seconds to measure (or, with --serve, to serve)", default: "3", valueHint: "S" },
  warmup: { type: "string", description: "Seconds of pings before measuring", default: "0.5", valueHint: "S" },
  json: { type: "boolean", description: "Print the result as JSON" },
} as const;

export default defineCommand({
  meta: {
    name: "floor",
    description: "The machine's latency floor: a bare UDP ping-pong with electrode's sockets (the demo runs it between two namespaces)",
  },
  args,
  run({ args: a }) {
    rejectUnknownFlags(a, args);
    const duration = numberArg(a.duration, "duration", 0.1, 3600);
    if ((a.serve === undefined) === (a.to === undefined)) throw new UsageError("floor: give --serve ADDR:PORT or --to ADDR:PORT");
    if (a.serve !== undefined) {
      const at = parseAddr(String(a.serve));
      const host = String(a.serve).slice(0, String(a.serve).lastIndexOf(":"));
      const echoed = serveEcho(host, at.port, duration);
      if (a.json) console.log(JSON.stringify({ echoed }));
      return;
    }
    const result = pingPong(String(a.from), parseAddr(String(a.to)), duration, numberArg(a.warmup, "warmup", 0, 3600));
    if (a.json) console.log(JSON.stringify(result));
    else console.log(`${result.pings} round trips: p50 ${result.latency_us.p50} us, p90 ${result.latency_us.p90} us, p99 ${result.latency_us.p99} us, max ${result.latency_us.max} us, ${result.lost} lost`);
  },
});
