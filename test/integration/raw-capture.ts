// Capture frames exactly as they arrive on a NIC, in several network namespaces at once, around
// one UDP datagram sent from another namespace.
//
// Run as a child process (`bun run raw-capture.ts '<job json>'`): it moves its JS thread between
// network namespaces with setns(2), which the test process itself must never do. A socket stays
// in the namespace it was created in, so one process can hold an AF_PACKET socket in each
// follower namespace plus a UDP socket in the sender's. AF_PACKET sees the frame before the IP
// and UDP layers, checksums included as they arrived. Prints {"frames": [...]} on stdout.

import { ptr } from "bun:ffi";
import {
  AF_PACKET,
  CLONE_NEWNET,
  errno,
  errnoName,
  ETH_P_ALL,
  libc,
  MSG_DONTWAIT,
  O_RDONLY,
  PACKET_OUTGOING,
  POLLIN,
  pollfd,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  sockaddrLl,
} from "../../ffi/libc.ts";
import { parseAddr, UdpSocket } from "../../src/net/udp.ts";
import { hex, parseUdpFrame, unhex } from "./frame-check.ts";

export interface CaptureJob {
  /** Namespaces (names under /run/netns) and the interface to capture on in each. */
  readonly captures: readonly { ns: string; iface: string }[];
  /** The one datagram to send once every capture is ready. */
  readonly send: { ns: string; from: string; to: string; payloadHex: string };
  /** Keep only UDP frames to this port. */
  readonly port: number;
  /** Stop early once this many frames arrived and nothing more came for `quietMs`. */
  readonly expect: number;
  readonly quietMs: number;
  readonly timeoutMs: number;
}

export interface CapturedFrame {
  readonly ns: string;
  readonly hex: string;
}

function fail(what: string): never {
  throw new Error(`${what}: ${errnoName(errno())}`);
}

export function enterNamespace(ns: string): void {
  const fd = libc.open(Buffer.from(`/run/netns/${ns}\0`), O_RDONLY);
  if (fd < 0) fail(`open /run/netns/${ns}`);
  const ret = libc.setns(fd, CLONE_NEWNET);
  libc.close(fd);
  if (ret < 0) fail(`setns ${ns}`);
}

/** An AF_PACKET socket on `iface` of the current namespace, receiving every protocol. */
export function packetSocket(iface: string): number {
  const protocol = ((ETH_P_ALL & 0xff) << 8) | (ETH_P_ALL >> 8); // htons
  const fd = libc.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) fail("socket(AF_PACKET)");
  const ifindex = libc.if_nametoindex(Buffer.from(`${iface}\0`));
  if (ifindex === 0) fail(`if_nametoindex ${iface}`);
  const name = new Uint8Array(new ArrayBuffer(sockaddrLl.size));
  const v = new DataView(name.buffer);
  v.setUint16(sockaddrLl.family, AF_PACKET, true);
  v.setUint16(sockaddrLl.protocol, ETH_P_ALL, false);
  v.setInt32(sockaddrLl.ifindex, ifindex, true);
  if (libc.bind(fd, ptr(name), name.byteLength) < 0) fail(`bind AF_PACKET to ${iface}`);
  return fd;
}

const frameBytesMax = 65536;

/** Reads every queued frame of `fd`; returns those arriving (not sent) as UDP to `port`. */
function drain(fd: number, port: number, buf: Uint8Array, from: Uint8Array, fromLen: Uint32Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (;;) {
    fromLen[0] = sockaddrLl.size;
    const n = Number(libc.recvfrom(fd, ptr(buf), buf.byteLength, MSG_DONTWAIT, ptr(from), ptr(fromLen)));
    if (n < 0) return frames;
    if (from[sockaddrLl.pkttype] === PACKET_OUTGOING) continue;
    const frame = buf.slice(0, n);
    if (parseUdpFrame(frame)?.dstPort === port) frames.push(frame);
  }
}

export async function capture(job: CaptureJob): Promise<CapturedFrame[]> {
  const fds = job.captures.map((c) => {
    enterNamespace(c.ns);
    return packetSocket(c.iface);
  });
  const buf = new Uint8Array(new ArrayBuffer(frameBytesMax));
  const from = new Uint8Array(new ArrayBuffer(sockaddrLl.size));
  const fromLen = new Uint32Array(new ArrayBuffer(4));
  for (const fd of fds) drain(fd, job.port, buf, from, fromLen); // whatever came before the bind
  enterNamespace(job.send.ns);
  const src = parseAddr(job.send.from);
  const sender = UdpSocket.bind(job.send.from.slice(0, job.send.from.lastIndexOf(":")), src.port);
  const payload = unhex(job.send.payloadHex);
  if (!sender.sendTo(parseAddr(job.send.to), payload, payload.length)) throw new Error(`sendto ${job.send.to} failed`);
  sender.close();

  const polls = new Uint8Array(new ArrayBuffer(pollfd.size * fds.length));
  const pv = new DataView(polls.buffer);
  fds.forEach((fd, i) => {
    pv.setInt32(i * pollfd.size + pollfd.fd, fd, true);
    pv.setInt16(i * pollfd.size + pollfd.events, POLLIN, true);
  });
  const frames: CapturedFrame[] = [];
  const deadline = Date.now() + job.timeoutMs;
  let lastArrival = Date.now();
  while (Date.now() < deadline) {
    if (frames.length >= job.expect && Date.now() - lastArrival >= job.quietMs) break;
    if (libc.poll(ptr(polls), fds.length, 20) <= 0) continue;
    fds.forEach((fd, i) => {
      for (const frame of drain(fd, job.port, buf, from, fromLen)) {
        frames.push({ ns: job.captures[i]!.ns, hex: hex(frame) });
        lastArrival = Date.now();
      }
    });
  }
  for (const fd of fds) libc.close(fd);
  return frames;
}

if (import.meta.main) {
  const job = JSON.parse(process.argv[2] ?? "") as CaptureJob;
  const frames = await capture(job);
  console.log(JSON.stringify({ frames }));
}

/** Runs a capture job in a child process (from the root namespace) and returns its frames. */
export async function runCapture(job: CaptureJob): Promise<CapturedFrame[]> {
  const script = new URL("./raw-capture.ts", import.meta.url).pathname;
  const proc = Bun.spawn([process.execPath, "run", script, JSON.stringify(job)], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`raw capture failed (exit ${code}): ${stderr.trim()}`);
  return (JSON.parse(stdout) as { frames: CapturedFrame[] }).frames;
}
