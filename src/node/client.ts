// The client library: many logical clients (sessions) multiplexed on one UDP socket.
//
// Each session has a unique client id and numbers its requests 1, 2, 3...; a retry resends the
// SAME request number, so the replicas' client table executes it at most once. Before its first
// request a session registers (request number 0, committed like a request: the table holds a
// bounded number of sessions, src/core/client-table.ts); a session the cluster evicted gets
// Evicted, its request ends "evicted" (outcome unknown: an earlier try may have executed) and the
// session starts afresh under a new client id. A request first goes to the replica believed to
// lead (learned from the view in replies); after `retryMs` without a reply it goes to every
// replica; after `timeoutMs` its outcome is reported as unknown. A read-only op may ask to be
// served without a log write (ReadMode.Index: by the leader, linearizable; ReadMode.Stale: by
// any replica, first one chosen round-robin, serializable: it may miss recent writes).

import type { Config } from "../config/config.ts";
import { Codec } from "../wire/codec.ts";
import { datagramBytesMax, MessageType, ReadMode } from "../wire/layout.ts";
import type { Request } from "../wire/messages.ts";
import { registerRequestNum } from "../core/client-table.ts";
import { parseAddr, UdpSocket, type Addr } from "../net/udp.ts";

export type Outcome =
  | { readonly kind: "ok"; readonly result: Uint8Array; readonly opNum: number }
  /** No reply within the timeout: the request may or may not have been executed. */
  | { readonly kind: "unknown" }
  /** The cluster evicted the session (more clients than clients_max): the request may or may not
   * have been executed (a try before the eviction could have); it will never execute now. */
  | { readonly kind: "evicted" };

export interface Completion {
  readonly session: Session;
  readonly outcome: Outcome;
  /** Nanoseconds from the first send to the reply (or to giving up). */
  readonly latencyNs: number;
}

export class Session {
  /** The request number of the current (or last) request; 0 before the first. */
  requestNum = 0;
  /** Registered with the cluster (request 0 answered); until then requests wait for it. */
  registered = false;
  /** The session number the registration's reply gave (its op-number); every request names it. */
  session = 0;
  op: Uint8Array | undefined;
  /** How the current request is served (ReadMode.Log for writes). */
  read: ReadMode = ReadMode.Log;
  firstSentNs = 0;
  lastSentNs = 0;
  sentToAll = false;
  /** Times the cluster evicted this session (it then registers again under a new id). */
  evictions = 0;
  constructor(
    public clientId: number,
    readonly index: number,
  ) {}

  get busy(): boolean {
    return this.op !== undefined;
  }
}

/** A random 48-bit client id (exact in a JS number, unique with overwhelming probability). */
export function randomClientId(): number {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return (words[0]! & 0xffff) * 2 ** 32 + words[1]! + 1;
}

const noOp = new Uint8Array(0);

export class ClusterClient {
  readonly sessions: Session[] = [];
  private readonly codec: Codec;
  private readonly socket: UdpSocket;
  private readonly replicas: Addr[];
  private readonly byClientId = new Map<number, Session>();
  private readonly txBuf = new Uint8Array(datagramBytesMax);
  /** The request being encoded, refilled for every send (encoding does not keep it). */
  private readonly request: { -readonly [K in keyof Request]: Request[K] } = { type: MessageType.Request, view: 0, clientId: 0, requestNum: 0, session: 0, op: noOp };
  private readonly retryNs: number;
  private readonly timeoutNs: number;
  private view = 0;
  private readonly completions: Completion[] = [];
  /** Retries and timeouts are looked at once a millisecond, not at every poll (a pass over every
   * session; under load a poll returns a reply or two). */
  private nextTimersNs = 0;
  private readonly onDatagram = (slot: Uint8Array, len: number) => this.handleDatagram(slot, len);
  /** Datagrams that were not a reply to an outstanding request (late, duplicate or foreign). */
  ignored = 0;

  constructor(config: Config, sessions: number, opts: { bindHost?: string; retryMs?: number; timeoutMs?: number } = {}) {
    this.codec = new Codec(config.clusterId);
    this.replicas = config.replicas.map((r) => parseAddr(r.addr));
    this.retryNs = (opts.retryMs ?? config.clientRetryMs) * 1e6;
    this.timeoutNs = (opts.timeoutMs ?? config.clientTimeoutMs) * 1e6;
    this.socket = UdpSocket.bind(opts.bindHost ?? "0.0.0.0", 0, { rcvbufBytes: 8 << 20, sndbufBytes: 4 << 20 });
    for (let i = 0; i < sessions; i++) {
      const session = new Session(randomClientId(), i);
      this.sessions.push(session);
      this.byClientId.set(session.clientId, session);
    }
  }

  get leaderIndex(): number {
    return this.view % this.replicas.length;
  }

  /** Starts `op` on an idle session; `read` other than Log only for a read-only op (a replica
   * runs any other op through the log whatever it asks). */
  submit(session: Session, op: Uint8Array, nowNs = Bun.nanoseconds(), read = ReadMode.Log): void {
    if (session.busy) throw new Error(`session ${session.index} already has a request in flight`);
    session.requestNum += 1;
    session.op = op;
    session.read = read;
    session.firstSentNs = nowNs;
    session.sentToAll = false;
    this.send(session, nowNs, false);
  }

  /** Sends queued requests, waits up to `waitMs` for replies, handles retries and timeouts, and
   * returns what completed (the array is reused by the next call). */
  poll(waitMs: number): Completion[] {
    this.completions.length = 0;
    this.socket.flush();
    if (this.socket.receive(this.onDatagram, 64) === 0 && waitMs > 0) {
      this.socket.wait(waitMs);
      this.socket.receive(this.onDatagram, 64);
    }
    const nowNs = Bun.nanoseconds();
    if (nowNs >= this.nextTimersNs) {
      this.nextTimersNs = nowNs + 1e6;
      this.checkTimers(nowNs);
    }
    this.socket.flush();
    return this.completions;
  }

  /** One operation on session 0, to completion. */
  call(op: Uint8Array, read = ReadMode.Log): Completion {
    const session = this.sessions[0]!;
    this.submit(session, op, Bun.nanoseconds(), read);
    for (;;) {
      const done = this.poll(5);
      if (done.length > 0) return done[0]!;
    }
  }

  close(): void {
    this.socket.close();
  }

  private send(session: Session, nowNs: number, toAll: boolean): void {
    const request = this.request;
    request.view = this.view;
    request.clientId = session.clientId;
    // Not registered yet: the registration (request 0, no op) goes first, the request after it.
    request.requestNum = session.registered ? session.requestNum : registerRequestNum;
    request.session = session.registered ? session.session : 0;
    request.op = session.registered ? session.op! : noOp;
    request.read = session.registered ? session.read : ReadMode.Log;
    const len = this.codec.encode(request, this.txBuf);
    if (toAll) {
      for (const addr of this.replicas) this.socket.queue(addr, this.txBuf, len);
    } else {
      const stale = request.read === ReadMode.Stale;
      const to = stale ? (session.index + session.requestNum) % this.replicas.length : this.leaderIndex;
      this.socket.queue(this.replicas[to]!, this.txBuf, len);
    }
    session.lastSentNs = nowNs;
  }

  private handleDatagram(slot: Uint8Array, len: number): void {
    const reply = this.codec.read(slot, len);
    if (typeof reply !== "string" && reply.type === MessageType.Evicted) {
      this.onEvicted(reply.clientId);
      return;
    }
    if (typeof reply === "string" || reply.type !== MessageType.Reply) {
      this.ignored += 1;
      return;
    }
    const session = this.byClientId.get(reply.clientId);
    const expected = session?.registered ? session.requestNum : registerRequestNum;
    if (!session || !session.busy || reply.requestNum !== expected) {
      this.ignored += 1;
      return;
    }
    if (reply.view > this.view) this.view = reply.view;
    const nowNs = Bun.nanoseconds();
    if (!session.registered) {
      session.registered = true; // now the request itself
      session.session = reply.opNum;
      session.sentToAll = false;
      this.send(session, nowNs, false);
      return;
    }
    this.finish(session, { kind: "ok", result: reply.result, opNum: reply.opNum }, nowNs);
  }

  /** The session is gone from the cluster's table: its request (if any) ends "evicted", and the
   * session continues as a new client that registers first. */
  private onEvicted(clientId: number): void {
    const session = this.byClientId.get(clientId);
    if (!session) {
      this.ignored += 1;
      return;
    }
    this.byClientId.delete(clientId);
    session.clientId = randomClientId();
    session.registered = false;
    session.session = 0;
    session.requestNum = 0;
    session.evictions += 1;
    this.byClientId.set(session.clientId, session);
    if (session.busy) this.finish(session, { kind: "evicted" }, Bun.nanoseconds());
  }

  private finish(session: Session, outcome: Outcome, nowNs: number): void {
    session.op = undefined;
    this.completions.push({ session, outcome, latencyNs: nowNs - session.firstSentNs });
  }

  private checkTimers(nowNs: number): void {
    for (const session of this.sessions) {
      if (!session.busy) continue;
      if (nowNs - session.firstSentNs >= this.timeoutNs) {
        this.finish(session, { kind: "unknown" }, nowNs);
      } else if (nowNs - session.lastSentNs >= this.retryNs) {
        // The leader may have changed: ask everyone; only the leader of the current view acts.
        session.sentToAll = true;
        this.send(session, nowNs, true);
      }
    }
  }
}
