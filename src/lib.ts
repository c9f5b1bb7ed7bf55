// The client library for TypeScript applications: `import { connect } from "electrode/client"`.
// docs/library.md shows it in use.
//
// One KvClient holds a few sessions (src/node/client.ts: each a client id the cluster's client
// table knows, so every operation executes exactly once however often it is resent) on one UDP
// socket, and runs up to `sessions` operations at a time; more wait for a free session. A request
// goes to the replica believed to lead (learned from the view in replies), to every replica after
// `retryMs` without a reply (which is how a new leader is found), and after `timeoutMs` the
// operation rejects with UnknownOutcomeError: it may or may not have taken effect.
//
// The socket is polled from a loop that yields to the event loop between short waits (at most
// `pollWaitMs`), so an application's other work keeps running while operations are in flight.

import { encodeCas, encodeDelete, encodeGet, encodePut, kvResultBytes, kvResultStatus, KvStatus, type Bytes } from "./app/kv.ts";
import { configFromValue, loadConfig, type Config } from "./config/config.ts";
import { ClusterClient, type Completion, type Session } from "./node/client.ts";
import { ReadMode } from "./wire/layout.ts";

export { ConfigError } from "./config/config.ts";
export { KvSizeError, kvKeyBytesMax, type Bytes } from "./app/kv.ts";
export { requestOpBytesMax as kvOpBytesMax } from "./core/log.ts";

export interface ConnectOptions {
  /** A config file's path, or the config itself (the YAML document's shape). Default: the
   * contract's lookup ($ELECTRODE_CONFIG, ./electrode.yaml, /etc/electrode/cluster.yaml). */
  readonly config?: string | Record<string, unknown>;
  /** Operations in flight at once (each on its own session). Default 4. */
  readonly sessions?: number;
  /** Give up on an operation after this long: UnknownOutcomeError. Default: the config's client timeout_ms. */
  readonly timeoutMs?: number;
  /** Resend to every replica after this long without a reply. Default: the config's client retry_ms. */
  readonly retryMs?: number;
  /** Local address to bind the socket to. Default 0.0.0.0. */
  readonly bindHost?: string;
}

/** An operation whose outcome is not known: it may have taken effect, or not (and may still). */
export class UnknownOutcomeError extends Error {
  constructor(
    /** "timeout": no reply in time. "evicted": the cluster dropped the session (more clients
     * than its clients_max) while the operation was in flight. */
    readonly reason: "timeout" | "evicted",
    readonly op: "put" | "get" | "delete" | "cas",
    readonly key: Bytes,
  ) {
    const why = reason === "timeout" ? "no reply in time (is a majority of replicas running?)" : "the cluster evicted the session (more clients than clients_max)";
    super(`${op} ${typeof key === "string" ? JSON.stringify(key) : `(${key.length} bytes)`}: outcome unknown: ${why}`);
    this.name = "UnknownOutcomeError";
  }
}

/** The store answered something this library does not know (a different app, or a newer one). */
export class UnexpectedReplyError extends Error {
  override name = "UnexpectedReplyError";
}

export type CasResult =
  | { readonly swapped: true }
  /** `current`: what the key holds (null: absent), as bytes and as UTF-8 text. */
  | { readonly swapped: false; readonly current: Uint8Array | null; readonly currentText: string | null };

const pollWaitMs = 1;
const decoder = new TextDecoder();

interface Pending {
  readonly op: Uint8Array;
  readonly kind: UnknownOutcomeError["op"];
  readonly key: Bytes;
  /** Gets: by the leader's read index (no log write); every other op through the log. */
  readonly read: ReadMode;
  readonly resolve: (result: Uint8Array) => void;
  readonly reject: (e: Error) => void;
}

export class KvClient {
  readonly config: Config;
  private readonly client: ClusterClient;
  private readonly waiting: Pending[] = [];
  private readonly inFlight = new Map<Session, Pending>();
  private pumping = false;
  private closed = false;

  constructor(config: Config, opts: ConnectOptions = {}) {
    const sessions = opts.sessions ?? 4;
    if (!Number.isInteger(sessions) || sessions < 1 || sessions > 4096) throw new RangeError(`sessions: expected an integer in 1..4096, got ${sessions}`);
    this.config = config;
    this.client = new ClusterClient(config, sessions, opts);
  }

  /** The id of the replica the client believes leads (from the latest reply's view). */
  get leaderId(): number {
    return this.config.replicas[this.client.leaderIndex]!.id;
  }

  async put(key: Bytes, value: Bytes): Promise<void> {
    this.expect(await this.run("put", key, encodePut(key, value)), [KvStatus.Ok], "put");
  }

  /** The value as UTF-8 text, or null when the key is absent. */
  async get(key: Bytes): Promise<string | null> {
    const bytes = await this.getBytes(key);
    return bytes === null ? null : decoder.decode(bytes);
  }

  /** The value's bytes, or null when the key is absent. */
  async getBytes(key: Bytes): Promise<Uint8Array | null> {
    const result = await this.run("get", key, encodeGet(key));
    const status = this.expect(result, [KvStatus.Ok, KvStatus.NotFound], "get");
    return status === KvStatus.Ok ? kvResultBytes(result).slice() : null;
  }

  /** Removes the key; true when it was there. */
  async delete(key: Bytes): Promise<boolean> {
    const status = this.expect(await this.run("delete", key, encodeDelete(key)), [KvStatus.Ok, KvStatus.NotFound], "delete");
    return status === KvStatus.Ok;
  }

  /** Stores `value` if the key holds `expected` (null: if it is absent), atomically. */
  async cas(key: Bytes, expected: Bytes | null, value: Bytes): Promise<CasResult> {
    const result = await this.run("cas", key, encodeCas(key, expected, value));
    const status = this.expect(result, [KvStatus.Ok, KvStatus.Mismatch, KvStatus.NotFound], "cas");
    if (status === KvStatus.Ok) return { swapped: true };
    const current = status === KvStatus.Mismatch ? kvResultBytes(result).slice() : null;
    return { swapped: false, current, currentText: current === null ? null : decoder.decode(current) };
  }

  /** Closes the socket; operations still in flight reject with UnknownOutcomeError. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.inFlight.values(), ...this.waiting]) p.reject(new UnknownOutcomeError("timeout", p.kind, p.key));
    this.inFlight.clear();
    this.waiting.length = 0;
    this.client.close();
  }

  private expect(result: Uint8Array, allowed: readonly KvStatus[], op: string): KvStatus {
    const status = kvResultStatus(result);
    if (!allowed.includes(status)) throw new UnexpectedReplyError(`${op}: the cluster answered status ${status} (is it running the kv app?)`);
    return status;
  }

  private run(kind: Pending["kind"], key: Bytes, op: Uint8Array): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new Error("client closed"));
    return new Promise((resolve, reject) => {
      this.waiting.push({ op, kind, key, read: kind === "get" ? ReadMode.Index : ReadMode.Log, resolve, reject });
      this.startWaiting();
      if (!this.pumping) void this.pump();
    });
  }

  /** Gives each idle session the next waiting operation. */
  private startWaiting(): void {
    for (const session of this.client.sessions) {
      if (this.waiting.length === 0) return;
      if (session.busy) continue;
      const p = this.waiting.shift()!;
      this.inFlight.set(session, p);
      this.client.submit(session, p.op, undefined, p.read);
    }
  }

  /** Polls while anything is in flight, yielding to the event loop between short waits. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (!this.closed && this.inFlight.size > 0) {
        for (const done of this.client.poll(pollWaitMs)) this.complete(done);
        this.startWaiting();
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.pumping = false;
    }
  }

  private complete(done: Completion): void {
    const p = this.inFlight.get(done.session);
    if (!p) return;
    this.inFlight.delete(done.session);
    if (done.outcome.kind === "ok") p.resolve(done.outcome.result);
    else p.reject(new UnknownOutcomeError(done.outcome.kind === "unknown" ? "timeout" : "evicted", p.kind, p.key));
  }
}

/** A client of the cluster the config describes. Nothing is sent until the first operation. */
export function connect(opts: ConnectOptions = {}): KvClient {
  const config = typeof opts.config === "object" ? configFromValue(opts.config) : loadConfig(opts.config);
  return new KvClient(config, opts);
}
