// Sends crafted UDP datagrams from inside a network namespace with a source address and port of
// the test's choosing (a raw IPv4 socket: the kernel adds IP checksum and length and routes it,
// the test writes the UDP header), e.g. from a replica's own address while the replica holds its
// port. Run as a child process (`bun run raw-send.ts '<job json>'`): it enters the namespace with
// setns(2), which the test process itself must never do. Prints {"sent": N}.

import { ptr } from "bun:ffi";
import { AF_INET, errno, errnoName, libc, SOCK_CLOEXEC, SOCK_RAW, sockaddrIn } from "../../ffi/libc.ts";
import { udpFrame, unhex } from "./frame-check.ts";
import { enterNamespace } from "./raw-capture.ts";

export interface RawSendJob {
  readonly ns: string;
  readonly from: { ip: string; port: number };
  readonly to: { ip: string; port: number };
  /** UDP payloads, sent in order. */
  readonly payloadsHex: readonly string[];
  /** Pause between two datagrams. */
  readonly gapMs: number;
}

/** IPPROTO_RAW: the caller writes the IP header (IP_HDRINCL is implied). */
const ipprotoRaw = 255;
const ethBytes = 14;

async function send(job: RawSendJob): Promise<number> {
  enterNamespace(job.ns);
  const fd = libc.socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, ipprotoRaw);
  if (fd < 0) throw new Error(`socket(AF_INET, SOCK_RAW): ${errnoName(errno())}`);
  const to = new Uint8Array(new ArrayBuffer(sockaddrIn.size));
  const v = new DataView(to.buffer);
  v.setUint16(sockaddrIn.family, AF_INET, true);
  to.set(job.to.ip.split(".").map(Number), sockaddrIn.addr);
  let sent = 0;
  for (const hex of job.payloadsHex) {
    const packet = udpFrame(job.from, job.to, unhex(hex)).slice(ethBytes);
    const n = Number(libc.sendto(fd, ptr(packet), packet.length, 0, ptr(to), to.length));
    if (n !== packet.length) throw new Error(`sendto ${job.to.ip}: ${n < 0 ? errnoName(errno()) : `${n} of ${packet.length} bytes`}`);
    sent++;
    await Bun.sleep(job.gapMs);
  }
  libc.close(fd);
  return sent;
}

if (import.meta.main) {
  console.log(JSON.stringify({ sent: await send(JSON.parse(process.argv[2] ?? "") as RawSendJob) }));
}

/** Runs a send job in a child process; resolves with how many datagrams it sent. */
export async function rawSend(job: RawSendJob): Promise<number> {
  const script = new URL("./raw-send.ts", import.meta.url).pathname;
  const proc = Bun.spawn([process.execPath, "run", script, JSON.stringify(job)], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`raw send failed (exit ${code}): ${stderr.trim()}`);
  return (JSON.parse(stdout) as { sent: number }).sent;
}
