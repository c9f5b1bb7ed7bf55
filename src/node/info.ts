// The info exchange: anyone sends a replica an Info (a nonce) on its UDP port, the replica answers
// with an InfoReply: its index, status, view, log end, commit, the fast paths its process runs and
// its state machine. `electrode client info` prints the answers, and `electrode client --bench`
// records which fast paths the replicas ran instead of trusting a label.
//
// A replica answers Info from any address, like it answers a client's Request. That is acceptable:
// the answer is read-only and tells nothing a client could not already learn or do (any client may
// read and write the whole store), it costs the replica one small send, and the Info is padded to
// the InfoReply's size (layout.ts), so a forged source address gains no amplification.

import type { Config } from "../config/config.ts";
import { Status } from "../core/types.ts";
import type { AppName } from "../app/index.ts";
import { Codec } from "../wire/codec.ts";
import { datagramBytesMax, InfoApp, InfoFastPath, InfoStorage, MessageType } from "../wire/layout.ts";
import type { InfoReply } from "../wire/messages.ts";
import { addrKey, parseAddr, UdpSocket } from "../net/udp.ts";

/** The fast paths by name, in the order --opt lists them (src/cli/replica.ts), with their bits. */
export const fastPathBits = [
  ["tc-broadcast", InfoFastPath.TcBroadcast],
  ["quorum-prune", InfoFastPath.QuorumPrune],
  ["fast-reply", InfoFastPath.FastReply],
] as const;
export type FastPathName = (typeof fastPathBits)[number][0];

const appBits: Record<AppName, InfoApp> = { kv: InfoApp.Kv, null: InfoApp.Null };

/** Default wait for the answers: replicas answer within a millisecond; a silent one is down or
 * unreachable, and the bench should not wait long for it. */
export const infoTimeoutMsDefault = 1000;
/** The question is resent this often to replicas that have not answered (UDP may lose it). */
const infoResendMs = 200;

export function fastPathBitsOf(names: Iterable<string>): number {
  let bits = 0;
  for (const name of names) {
    const entry = fastPathBits.find(([n]) => n === name);
    if (!entry) throw new Error(`unknown fast path '${name}'`);
    bits |= entry[1];
  }
  return bits;
}

export function fastPathNamesOf(bits: number): FastPathName[] {
  return fastPathBits.filter(([, bit]) => (bits & bit) !== 0).map(([name]) => name);
}

/** The name of a set of fast paths as the bench JSON's `opt` has it: "none", "all", or the list in
 * --opt order ("tc-broadcast,quorum-prune"). */
export function fastPathsLabel(bits: number): string {
  if (bits === 0) return "none";
  if (bits === fastPathBitsOf(fastPathBits.map(([n]) => n))) return "all";
  return fastPathNamesOf(bits).join(",");
}

/** Parses a fast-path list as --opt writes it ("none", "all", "a,b"), to bits; undefined when a
 * name is unknown. */
export function parseFastPaths(text: string): number | undefined {
  const t = text.trim();
  if (t === "none") return 0;
  if (t === "all") return fastPathBitsOf(fastPathBits.map(([n]) => n));
  let bits = 0;
  for (const word of t.split(",").map((w) => w.trim())) {
    const entry = fastPathBits.find(([n]) => n === word);
    if (!entry) return undefined;
    bits |= entry[1];
  }
  return bits;
}

/** What the replica node knows about itself, for its InfoReply. */
/** What a replica keeps its log on: memory only, or a data directory with this fsync mode. */
export type StorageName = "memory" | "off" | "interval" | "always";
const storageBits: Record<StorageName, InfoStorage> = { memory: InfoStorage.Memory, off: InfoStorage.Off, interval: InfoStorage.Interval, always: InfoStorage.Always };

export interface InfoSource {
  readonly index: number;
  readonly status: Status;
  readonly view: number;
  readonly opNum: number;
  readonly commit: number;
  readonly fastPaths: number;
  readonly app: AppName;
  readonly storage: StorageName;
  readonly uptimeS: number;
  readonly checkpointOp: number;
  readonly logFirstOp: number;
  readonly logBytes: number;
  readonly sessions: number;
  readonly evictions: number;
}

export function infoReply(nonce: number, self: InfoSource): InfoReply {
  return {
    type: MessageType.InfoReply,
    sender: self.index,
    view: self.view,
    opNum: self.opNum,
    commit: self.commit,
    nonce,
    uptimeS: Math.min(0xffffffff, Math.max(0, Math.floor(self.uptimeS))),
    status: self.status,
    fastPaths: self.fastPaths,
    app: appBits[self.app],
    storage: storageBits[self.storage],
    checkpointOp: self.checkpointOp,
    logFirstOp: self.logFirstOp,
    logBytes: self.logBytes,
    sessions: Math.min(0xffffffff, self.sessions),
    evictions: Math.min(0xffffffff, self.evictions),
  };
}

/** One replica's answer, as `electrode client info --json` prints it. */
export interface ReplicaInfo {
  readonly id: number;
  readonly addr: string;
  readonly status: "normal" | "view-change" | "recovering";
  readonly view: number;
  /** Normal in a view it leads. */
  readonly leader: boolean;
  readonly fast_paths: FastPathName[];
  /** fast_paths as the bench JSON's opt: "none", "all" or the list. */
  readonly opt: string;
  readonly op: number;
  readonly commit: number;
  readonly app: AppName;
  /** "memory" (no data directory), or its fsync mode. */
  readonly storage: StorageName;
  readonly uptime_s: number;
  /** Its latest checkpoint, the oldest log entry it holds and their bytes, its client sessions. */
  readonly checkpoint_op: number;
  readonly log_first_op: number;
  readonly log_bytes: number;
  readonly sessions: number;
  readonly evictions: number;
}

const statusNames: Record<Status, ReplicaInfo["status"]> = { [Status.Normal]: "normal", [Status.ViewChange]: "view-change", [Status.Recovering]: "recovering" };

function replicaInfo(config: Config, reply: InfoReply): ReplicaInfo {
  const r = config.replicas[reply.sender]!;
  const status = reply.status as Status;
  return {
    id: r.id,
    addr: r.addr,
    status: statusNames[status],
    view: reply.view,
    leader: status === Status.Normal && reply.view % config.replicas.length === reply.sender,
    fast_paths: fastPathNamesOf(reply.fastPaths),
    opt: fastPathsLabel(reply.fastPaths),
    op: reply.opNum,
    commit: reply.commit,
    app: (Object.keys(appBits) as AppName[]).find((a) => appBits[a] === reply.app)!,
    storage: (Object.keys(storageBits) as StorageName[]).find((s) => storageBits[s] === reply.storage)!,
    uptime_s: reply.uptimeS,
    checkpoint_op: reply.checkpointOp,
    log_first_op: reply.logFirstOp,
    log_bytes: reply.logBytes,
    sessions: reply.sessions,
    evictions: reply.evictions,
  };
}

/**
 * Asks every replica of the config and waits up to `timeoutMs` for the answers. Returns one entry
 * per replica in config order: its answer, or undefined when it did not answer in time. Only an
 * answer from the replica's configured address, to this question's nonce, counts.
 */
export function askInfo(config: Config, opts: { timeoutMs?: number; bindHost?: string } = {}): (ReplicaInfo | undefined)[] {
  const timeoutMs = opts.timeoutMs ?? infoTimeoutMsDefault;
  const codec = new Codec(config.clusterId);
  const addrs = config.replicas.map((r) => parseAddr(r.addr));
  const keys = addrs.map(addrKey);
  const answers: (ReplicaInfo | undefined)[] = config.replicas.map(() => undefined);
  const nonce = crypto.getRandomValues(new Uint32Array(1))[0]! + 1;
  const tx = new Uint8Array(datagramBytesMax);
  const len = codec.encode({ type: MessageType.Info, nonce }, tx);
  const socket = UdpSocket.bind(opts.bindHost ?? "0.0.0.0", 0);
  try {
    const start = performance.now();
    let sentAt = -Infinity;
    for (;;) {
      const now = performance.now();
      if (answers.every((a) => a !== undefined) || now - start >= timeoutMs) break;
      if (now - sentAt >= infoResendMs) {
        addrs.forEach((addr, i) => answers[i] === undefined && socket.queue(addr, tx, len));
        socket.flush();
        sentAt = now;
      }
      socket.wait(Math.max(1, Math.ceil(Math.min(infoResendMs - (now - sentAt), timeoutMs - (now - start)))));
      socket.receive((slot, n, from) => {
        const msg = codec.read(slot, n);
        if (typeof msg === "string" || msg.type !== MessageType.InfoReply || msg.nonce !== nonce) return;
        if (msg.sender >= addrs.length || keys[msg.sender] !== addrKey(from)) return;
        answers[msg.sender] = replicaInfo(config, msg);
      });
    }
  } finally {
    socket.close();
  }
  return answers;
}
