// Records every PrepareOk that arrives on a NIC of one network namespace for a while: run as a
// child process (`bun run ack-sniffer.ts '<job json>'`), since it enters the namespace with
// setns(2). Prints {"acks": [{view, sender, op, atMs}]} on stdout once the time is up.

import { ptr } from "bun:ffi";
import { libc, MSG_DONTWAIT, PACKET_OUTGOING, POLLIN, pollfd, sockaddrLl } from "../../ffi/libc.ts";
import { header, MessageType } from "../../src/wire/layout.ts";
import { parseUdpFrame } from "./frame-check.ts";
import { enterNamespace, packetSocket } from "./raw-capture.ts";

export interface SniffJob {
  readonly ns: string;
  readonly iface: string;
  readonly port: number;
  readonly durationMs: number;
}

export interface SniffedAck {
  readonly view: number;
  readonly sender: number;
  readonly op: number;
  readonly atMs: number;
}

async function sniff(job: SniffJob): Promise<SniffedAck[]> {
  enterNamespace(job.ns);
  const fd = packetSocket(job.iface);
  const buf = new Uint8Array(new ArrayBuffer(65536));
  const from = new Uint8Array(new ArrayBuffer(sockaddrLl.size));
  const fromLen = new Uint32Array(new ArrayBuffer(4));
  const poll = new Uint8Array(new ArrayBuffer(pollfd.size));
  new DataView(poll.buffer).setInt32(pollfd.fd, fd, true);
  new DataView(poll.buffer).setInt16(pollfd.events, POLLIN, true);
  const acks: SniffedAck[] = [];
  const started = Date.now();
  console.error("ready"); // the parent waits for this line before it acts
  while (Date.now() - started < job.durationMs) {
    if (libc.poll(ptr(poll), 1, 20) <= 0) continue;
    for (;;) {
      fromLen[0] = sockaddrLl.size;
      const n = Number(libc.recvfrom(fd, ptr(buf), buf.byteLength, MSG_DONTWAIT, ptr(from), ptr(fromLen)));
      if (n < 0) break;
      if (from[sockaddrLl.pkttype] === PACKET_OUTGOING) continue;
      const udp = parseUdpFrame(buf.slice(0, n));
      if (!udp || udp.dstPort !== job.port || udp.payload.length < header.size) continue;
      const v = new DataView(udp.payload.buffer, udp.payload.byteOffset, udp.payload.byteLength);
      if (v.getUint8(header.fields.type.offset) !== MessageType.PrepareOk) continue;
      acks.push({
        view: v.getUint32(header.fields.view.offset, true),
        sender: v.getUint8(header.fields.sender.offset),
        op: Number(v.getBigUint64(header.fields.op.offset, true)),
        atMs: Date.now() - started,
      });
    }
  }
  libc.close(fd);
  return acks;
}

if (import.meta.main) {
  const acks = await sniff(JSON.parse(process.argv[2] ?? "") as SniffJob);
  console.log(JSON.stringify({ acks }));
}

/** Starts a sniffer child process; resolves `ready` once it listens and `done` with its acks. */
export function startSniffer(job: SniffJob): { ready: Promise<void>; done: Promise<SniffedAck[]> } {
  const script = new URL("./ack-sniffer.ts", import.meta.url).pathname;
  const proc = Bun.spawn([process.execPath, "run", script, JSON.stringify(job)], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const stderr = (async () => {
    let text = "";
    for await (const chunk of proc.stderr) {
      text += new TextDecoder().decode(chunk);
      if (text.includes("ready")) markReady();
    }
    return text;
  })();
  const done = (async () => {
    const [out, code, err] = await Promise.all([new Response(proc.stdout).text(), proc.exited, stderr]);
    markReady();
    if (code !== 0) throw new Error(`ack sniffer failed (${code}): ${err.trim()}`);
    return (JSON.parse(out) as { acks: SniffedAck[] }).acks;
  })();
  return { ready, done };
}
