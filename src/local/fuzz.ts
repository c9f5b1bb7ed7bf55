// Hostile input for replicas: random and mutated datagrams, sent from a client namespace while the
// cluster serves. Every case is something a replica must drop (and count) or handle as a harmless
// client request, never crash on: random bytes, valid messages truncated or padded, wrong magic,
// version, type or cluster id, u64 fields beyond 2^53, replica messages from a client's address
// (a forged sender index, wrong or huge views and op-numbers), the Quorum flag set from outside,
// replies sent to replicas, oversize datagrams, and well-formed requests carrying garbage.
//
// makeDatagram() is pure (seeded); sendFuzz() runs the sender as a helper process inside a client
// namespace (`bun run src/local/fuzz.ts send JOB`), which prints how many of each case it sent.

import { Codec } from "../wire/codec.ts";
import { datagramBytesMax, Flag, header, InfoApp, MessageType, messageTypeCount, ReadMode, senderClient } from "../wire/layout.ts";
import { entriesOf } from "../wire/entries.ts";
import type { Entries, Message } from "../wire/messages.ts";
import type { RunningCluster } from "./processes.ts";
import { seededRandom } from "../bench/random.ts";

export const fuzzCases = [
  "random-bytes",
  "truncated",
  "padded",
  "bit-flip",
  "bad-magic",
  "bad-version",
  "bad-type",
  "wrong-cluster",
  "huge-u64",
  "forged-sender",
  "wrong-view",
  "huge-op",
  "quorum-flag",
  "reply-to-replica",
  "oversize",
  "garbage-request",
] as const;
export type FuzzCase = (typeof fuzzCases)[number];

/** Replica message types (sent by replicas only). */
const replicaTypes = [
  MessageType.Prepare,
  MessageType.PrepareOk,
  MessageType.Commit,
  MessageType.ReadIndex,
  MessageType.ReadIndexOk,
  MessageType.StartViewChange,
  MessageType.DoViewChange,
  MessageType.StartView,
  MessageType.GetState,
  MessageType.NewState,
  MessageType.GetSnapshot,
  MessageType.SnapshotChunk,
  MessageType.Recovery,
  MessageType.RecoveryResponse,
] as const;

/** Bytes a sender may put in one datagram (UdpSocket's slot); more than a replica accepts. */
const sendBytesMax = 2048;

export interface FuzzContext {
  readonly clusterId: number;
  readonly replicaCount: number;
  readonly random: () => number;
}

function int(random: () => number, below: number): number {
  return Math.floor(random() * below);
}

function bytes(random: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = int(random, 256);
  return out;
}

/** A number the way an attacker picks one: small, around a boundary, or anywhere up to 2^53. */
function number(random: () => number): number {
  const pick = int(random, 5);
  if (pick === 0) return int(random, 4);
  if (pick === 1) return 2 ** 32 - 1 - int(random, 2);
  if (pick === 2) return Number.MAX_SAFE_INTEGER - int(random, 2);
  if (pick === 3) return int(random, 2 ** 31);
  return Math.floor(random() * Number.MAX_SAFE_INTEGER);
}

function entries(random: () => number, count: number): Entries {
  return entriesOf(Array.from({ length: count }, () => ({ clientId: number(random), requestNum: number(random), op: bytes(random, int(random, 40)) })));
}

/** A well-formed message of a random replica type, with fields an attacker chose. */
function replicaMessage(ctx: FuzzContext, sender: number, view: number, op: number): Message {
  const r = ctx.random;
  const type = replicaTypes[int(r, replicaTypes.length)]!;
  const commit = Math.min(op, number(r));
  switch (type) {
    case MessageType.Prepare: {
      const count = 1 + int(r, Math.min(3, op));
      return { type, view, sender, opNum: Math.max(op, count), commit, entries: entries(r, count) };
    }
    case MessageType.PrepareOk:
      return { type, view, sender, opNum: op };
    case MessageType.Commit:
    case MessageType.StartView:
      return { type, view, sender, opNum: op, commit };
    case MessageType.ReadIndex:
      return { type, view, sender, opNum: op, commit, round: number(r) };
    case MessageType.ReadIndexOk:
      return { type, view, sender, round: number(r) };
    case MessageType.StartViewChange:
      return { type, view, sender };
    case MessageType.DoViewChange:
      return { type, view, sender, lastNormalView: Math.max(0, view - int(r, 3)), opNum: op, commit };
    case MessageType.GetState:
      return { type, view, sender, fromOp: number(r) };
    case MessageType.NewState: {
      const list = entries(r, int(r, 3));
      return { type, view, sender, opNum: op, commit, fromOp: Math.max(1, op - list.count), entries: list };
    }
    case MessageType.GetSnapshot:
      return { type, view, sender, checkpointOp: number(r), offset: number(r) };
    case MessageType.SnapshotChunk: {
      const chunk = bytes(r, int(r, 200));
      const offset = int(r, 3) === 0 ? 0 : int(r, 2 ** 40); // total = offset + len + more stays exact
      return { type, view, sender, checkpointOp: number(r), opNum: op, commit, total: offset + chunk.length + int(r, 1000), checksum: int(r, 2 ** 32), offset, bytes: chunk };
    }
    case MessageType.Recovery:
      return { type, sender, nonce: number(r) };
    case MessageType.RecoveryResponse:
      return { type, view, sender, nonce: number(r), recovering: r() < 0.5, lastNormalView: Math.floor(view * r()), opNum: op, commit };
  }
}

function encode(codec: Codec, msg: Message, flags = 0): Uint8Array {
  const buf = new Uint8Array(datagramBytesMax);
  return buf.slice(0, codec.encode(msg, buf, flags));
}

function request(ctx: FuzzContext): Message {
  const r = ctx.random;
  const read = int(r, 3) as ReadMode; // reads without a log write too (a get of the kv app)
  return { type: MessageType.Request, view: number(r), clientId: number(r), requestNum: number(r), session: number(r), op: bytes(r, int(r, 64)), ...(read !== ReadMode.Log && { read }) };
}

/** An Info (which any address may send), or an InfoReply sent to a replica (which it drops). */
function info(ctx: FuzzContext): Message {
  const r = ctx.random;
  if (r() < 0.5) return { type: MessageType.Info, nonce: number(r) };
  return { type: MessageType.InfoReply, sender: int(r, ctx.replicaCount), view: int(r, 2 ** 31), opNum: number(r), commit: number(r), nonce: number(r), uptimeS: int(r, 2 ** 32), status: int(r, 3), fastPaths: int(r, 8), app: r() < 0.5 ? InfoApp.Kv : InfoApp.Null, storage: int(r, 4), checkpointOp: number(r), logFirstOp: number(r), logBytes: number(r), sessions: int(r, 2 ** 32), evictions: int(r, 2 ** 32) };
}

/** A valid datagram of any type from a replica index (forged: it comes from a client address). */
function anyValid(ctx: FuzzContext, codec: Codec): Uint8Array {
  const r = ctx.random;
  if (r() < 0.2) return encode(codec, request(ctx));
  if (r() < 0.1) return encode(codec, info(ctx));
  return encode(codec, replicaMessage(ctx, int(r, ctx.replicaCount), number(r), number(r)), int(r, 8));
}

function setU32(d: Uint8Array, at: number, v: number): void {
  new DataView(d.buffer, d.byteOffset).setUint32(at, v, true);
}

/** One datagram of case `c`. */
export function makeDatagram(c: FuzzCase, ctx: FuzzContext): Uint8Array {
  const r = ctx.random;
  const codec = new Codec(ctx.clusterId);
  const h = header.fields;
  switch (c) {
    case "random-bytes":
      return bytes(r, int(r, 200));
    case "truncated": {
      const d = anyValid(ctx, codec);
      return d.slice(0, int(r, d.length));
    }
    case "padded": {
      const d = anyValid(ctx, codec);
      const out = new Uint8Array(Math.min(datagramBytesMax, d.length + 1 + int(r, 64)));
      out.set(d);
      out.set(bytes(r, out.length - d.length), d.length);
      return out;
    }
    case "bit-flip": {
      const d = anyValid(ctx, codec);
      for (let i = 1 + int(r, 3); i > 0; i--) d[int(r, d.length)]! ^= 1 << int(r, 8);
      return d;
    }
    case "bad-magic": {
      const d = anyValid(ctx, codec);
      d[h.magic.offset] = d[h.magic.offset]! ^ (1 + int(r, 255));
      return d;
    }
    case "bad-version": {
      const d = anyValid(ctx, codec);
      d[h.version.offset] = 2 + int(r, 254);
      return d;
    }
    case "bad-type": {
      const d = anyValid(ctx, codec);
      d[h.type.offset] = r() < 0.5 ? 0 : messageTypeCount + 1 + int(r, 255 - messageTypeCount);
      return d;
    }
    case "wrong-cluster":
      return encode(new Codec((ctx.clusterId + 1 + int(r, 2 ** 31)) >>> 0), replicaMessage(ctx, int(r, ctx.replicaCount), int(r, 10), 1 + int(r, 100)));
    case "huge-u64": {
      // view stays u32; op and commit above 2^53 (a double cannot hold them): "range".
      const d = encode(codec, replicaMessage(ctx, int(r, ctx.replicaCount), int(r, 10), 1 + int(r, 100)));
      const at = r() < 0.5 ? h.op.offset : h.commit.offset;
      setU32(d, at + 4, 0x00200000 + int(r, 0xffe00000)); // high word: >= 2^53
      return d;
    }
    case "forged-sender":
      // A replica's index in a plausible message, from the client's address.
      return encode(codec, replicaMessage(ctx, int(r, ctx.replicaCount), int(r, 4), 1 + int(r, 1000)));
    case "wrong-view":
      return encode(codec, replicaMessage(ctx, int(r, ctx.replicaCount), r() < 0.5 ? 2 ** 32 - 1 - int(r, 1000) : int(r, 3), 1 + int(r, 1000)));
    case "huge-op":
      return encode(codec, replicaMessage(ctx, int(r, ctx.replicaCount), int(r, 4), Number.MAX_SAFE_INTEGER - int(r, 1000)));
    case "quorum-flag": {
      const sender = r() < 0.8 ? int(r, ctx.replicaCount) : senderClient;
      return encode(codec, { type: MessageType.PrepareOk, view: int(r, 4), sender, opNum: 1 + int(r, 100_000) }, Flag.Quorum | (r() < 0.3 ? Flag.Clone : 0));
    }
    case "reply-to-replica":
      return encode(codec, { type: MessageType.Reply, view: int(r, 4), sender: int(r, ctx.replicaCount), opNum: number(r), clientId: number(r), requestNum: number(r), session: number(r), result: bytes(r, int(r, 16)) });
    case "oversize": {
      const d = new Uint8Array(datagramBytesMax + 1 + int(r, sendBytesMax - datagramBytesMax));
      d.set(anyValid(ctx, codec));
      return d;
    }
    case "garbage-request":
      return encode(codec, request(ctx));
  }
}

// ---- The sender. ----

export interface FuzzJob {
  readonly config: string;
  readonly seed: number;
  readonly durationS: number;
  /** Datagrams per second, over all replicas. */
  readonly rate: number;
  readonly cases?: readonly FuzzCase[];
}

export type FuzzSummary = Record<FuzzCase, number> & { total: number };

/** Runs the sender in client namespace `clientIndex` for the job's duration; returns what it sent. */
export async function sendFuzz(cluster: RunningCluster, job: Omit<FuzzJob, "config">, clientIndex = 0): Promise<FuzzSummary> {
  const ns = cluster.local.clients[clientIndex]!.ns;
  const argv = cluster.local.nsExec(ns, [process.execPath, "run", new URL(import.meta.url).pathname, "send", JSON.stringify({ ...job, config: cluster.configPath })]);
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`fuzz sender exited ${code}: ${stderr.trim()}`);
  return JSON.parse(stdout) as FuzzSummary;
}

async function senderMain(job: FuzzJob): Promise<void> {
  const { loadConfig } = await import("../config/config.ts");
  const { parseAddr, UdpSocket } = await import("../net/udp.ts");
  const config = loadConfig(job.config);
  const targets = config.replicas.map((x) => parseAddr(x.addr));
  const socket = UdpSocket.bind("0.0.0.0", 0, { sndbufBytes: 4 << 20 });
  const random = seededRandom(job.seed);
  const ctx: FuzzContext = { clusterId: config.clusterId, replicaCount: config.replicas.length, random };
  const cases = job.cases ?? fuzzCases;
  const summary = Object.fromEntries([...fuzzCases.map((c) => [c, 0]), ["total", 0]]) as FuzzSummary;
  const t0 = performance.now();
  const batch = Math.max(1, Math.round(job.rate / 100)); // 100 batches a second
  for (let n = 0; performance.now() - t0 < job.durationS * 1000; n++) {
    for (let i = 0; i < batch; i++) {
      const c = cases[Math.floor(random() * cases.length)]!;
      const d = makeDatagram(c, ctx);
      socket.queue(targets[Math.floor(random() * targets.length)]!, d, d.length);
      summary[c] += 1;
      summary.total += 1;
    }
    socket.flush();
    const next = t0 + ((n + 1) * 1000 * batch) / job.rate;
    const wait = next - performance.now();
    if (wait > 0) await Bun.sleep(wait);
  }
  socket.flush();
  socket.close();
  console.log(JSON.stringify(summary));
}

if (import.meta.main) {
  const [mode, job] = process.argv.slice(2);
  if (mode !== "send" || !job) {
    console.error(`usage: bun run src/local/fuzz.ts send '{"config": FILE, "seed": N, "durationS": S, "rate": PER_S}'`);
    process.exit(2);
  }
  await senderMain(JSON.parse(job) as FuzzJob);
}
