// The floor: a bare UDP ping-pong between two hosts (here: two namespaces) with the same ffi
// sockets the replicas use. Its round-trip time is the best latency this machine allows one
// request; the demo reports every mode's latency as a multiple of it.

import { UdpSocket, type Addr } from "../net/udp.ts";
import { Histogram } from "./histogram.ts";

export interface FloorResult {
  readonly pings: number;
  readonly lost: number;
  readonly latency_us: { p50: number; p90: number; p99: number; max: number };
}

const pingBytes = 32;

/** Echoes every datagram back to its sender until `durationS` passed. */
export function serveEcho(host: string, port: number, durationS: number): number {
  const socket = UdpSocket.bind(host, port);
  const end = Bun.nanoseconds() + durationS * 1e9;
  let echoed = 0;
  try {
    while (Bun.nanoseconds() < end) {
      const n = socket.receive((slot, len, from) => socket.queue(from, slot, len), 64);
      if (n === 0) socket.wait(50);
      else {
        socket.flush();
        echoed += n;
      }
    }
  } finally {
    socket.close();
  }
  return echoed;
}

/** One ping in flight at a time to `to` for `durationS` (after `warmupS`); a ping unanswered
 * within 200 ms counts as lost. */
export function pingPong(bindHost: string, to: Addr, durationS: number, warmupS: number): FloorResult {
  const socket = UdpSocket.bind(bindHost, 0);
  const payload = new Uint8Array(new ArrayBuffer(pingBytes));
  const histogram = new Histogram();
  const start = Bun.nanoseconds();
  const measureFrom = start + warmupS * 1e9;
  const end = measureFrom + durationS * 1e9;
  let lost = 0;
  try {
    for (let seq = 0; Bun.nanoseconds() < end; seq++) {
      new DataView(payload.buffer).setUint32(0, seq, true);
      const sent = Bun.nanoseconds();
      socket.sendTo(to, payload, payload.length);
      let answered = false;
      while (!answered && Bun.nanoseconds() - sent < 200e6) {
        socket.receive((slot, len) => {
          if (len >= 4 && new DataView(slot.buffer, slot.byteOffset).getUint32(0, true) === seq) answered = true;
        }, 8);
        if (!answered) socket.wait(1);
      }
      if (!answered) lost++;
      else if (sent >= measureFrom) histogram.record((Bun.nanoseconds() - sent) / 1000);
    }
  } finally {
    socket.close();
  }
  const p = (q: number) => Math.round(histogram.quantile(q / 100) * 10) / 10;
  return { pings: histogram.count, lost, latency_us: { p50: p(50), p90: p(90), p99: p(99), max: p(100) } };
}
