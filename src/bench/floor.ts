// The floor and the ceiling: a bare UDP echo between two hosts (here: two namespaces) with the same
// ffi sockets the replicas use, batched as they batch (recvmmsg in, sendmmsg out, up to 64 a call).
// With one request in flight its round-trip time is the best latency this machine allows one
// request: the floor. With K in flight its round trips per second are the most any single-leader
// service can serve here with K clients: every request has at least to come in and its reply to
// go out, and an echo does nothing else. That is the ceiling. The demo and the matrix report every
// mode's latency against the floor and its throughput against the ceiling.
//
// The K clients are K request slots on one socket, each with one request in flight (closed loop),
// not K sockets: that is how the electrode bench multiplexes its sessions (src/node/client.ts), so
// both ends pay per request what the replicas and the bench client pay, and one recvmmsg drains the
// replies of every slot. With K sockets the pinging end would need a receive call per socket and
// could become what limits the echo.

import { UdpSocket, type Addr } from "../net/udp.ts";
import { InFlight, type FloorResult } from "./closed-loop.ts";

export type { FloorResult } from "./closed-loop.ts";

/** Bytes of each request: slot (u32) and sequence number (u32), padded like a small request. */
const pingBytes = 32;
/** Socket buffers as the replicas and the bench client have them. */
const serverBufferBytes = 8 << 20;
const clientSndbufBytes = 4 << 20;
/** How often the pinging end looks for lost requests. */
const expireEveryNs = 10e6;

/** Echoes every datagram back to its sender until `durationS` passed. */
export function serveEcho(host: string, port: number, durationS: number): number {
  const socket = UdpSocket.bind(host, port, { rcvbufBytes: serverBufferBytes, sndbufBytes: serverBufferBytes });
  const end = Bun.nanoseconds() + durationS * 1e9;
  const echo = (slot: Uint8Array, len: number, from: Addr) => socket.queue(from, slot, len);
  let echoed = 0;
  try {
    while (Bun.nanoseconds() < end) {
      const n = socket.receive(echo, 64);
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

export interface ClosedLoopOptions {
  /** Requests in flight at once. */
  readonly clients: number;
  readonly durationS: number;
  /** Seconds of requests before measuring (JIT, caches, socket buffers). */
  readonly warmupS: number;
}

function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/** `clients` requests in flight to `to` for `durationS` (after `warmupS`); a request unanswered
 * within 200 ms counts as lost and its slot starts another. With one client: a ping-pong. */
export function closedLoop(bindHost: string, to: Addr, opts: ClosedLoopOptions): FloorResult {
  const socket = UdpSocket.bind(bindHost, 0, { rcvbufBytes: serverBufferBytes, sndbufBytes: clientSndbufBytes });
  const payload = new Uint8Array(new ArrayBuffer(pingBytes));
  const view = new DataView(payload.buffer);
  const start = Bun.nanoseconds();
  const measureFromNs = start + opts.warmupS * 1e9;
  const flights = new InFlight(opts.clients, { measureFromNs, endNs: measureFromNs + opts.durationS * 1e9 });
  const send = (slot: number, nowNs: number) => {
    view.setUint32(0, slot, true);
    view.setUint32(4, flights.start(slot, nowNs), true);
    socket.queue(to, payload, pingBytes);
  };
  const onReply = (bytes: Uint8Array, len: number) => {
    if (len < 8) return;
    const now = Bun.nanoseconds();
    const slot = readU32(bytes, 0);
    if (flights.answer(slot, readU32(bytes, 4), now) && flights.open(now)) send(slot, now);
  };
  const restart = (slot: number) => {
    const now = Bun.nanoseconds();
    if (flights.open(now)) send(slot, now);
  };
  let cpuFrom: { user: number; system: number; atNs: number } | undefined;
  let cpuTo: typeof cpuFrom;
  const cpuNow = () => ({ ...process.cpuUsage(), atNs: Bun.nanoseconds() });
  try {
    for (let slot = 0; slot < opts.clients; slot++) send(slot, start);
    socket.flush();
    let lastExpire = start;
    for (;;) {
      const n = socket.receive(onReply, 64);
      const now = Bun.nanoseconds();
      if (now - lastExpire >= expireEveryNs) {
        flights.expire(now, restart);
        lastExpire = now;
      }
      socket.flush();
      if (cpuFrom === undefined && now >= measureFromNs) cpuFrom = cpuNow();
      if (cpuTo === undefined && !flights.open(now)) cpuTo = cpuNow();
      if (cpuTo !== undefined && flights.idle) break;
      if (n === 0) socket.wait(1);
    }
  } finally {
    socket.close();
  }
  const cores = cpuFrom && cpuTo ? (cpuTo.user + cpuTo.system - cpuFrom.user - cpuFrom.system) / 1e3 / ((cpuTo.atNs - cpuFrom.atNs) / 1e6) : 0;
  return flights.result(cores);
}
