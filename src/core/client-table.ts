// The client table: one session per registered client, with the latest request number executed
// and its result. Every replica executes the same committed log, so every replica holds the same
// table, and a request retried across a view change is executed at most once. The leader also
// remembers which requests it has put in the log but not yet executed (in flight), so a retry of
// one is not logged twice.
//
// Sessions are bounded (clientsMax), as in TigerBeetle: a client registers first (request number
// 0, an empty op, committed through the log like any request). Registering into a full table
// evicts the session that committed a request the longest time ago. Eviction is part of executing
// the committed log, so every replica evicts the same session at the same op, and the table (in
// its order) is part of every checkpoint. A request from a client without a session is never
// executed: the leader answers it with Evicted, and the client stops with a clear error. That is
// what keeps exactly-once: a session either holds the client's latest request number, or it is
// gone and nothing of that client runs again (a retry cannot execute twice). The VRR paper's
// table without registration would, after forgetting a client, execute its retried request anew.
//
// A session is numbered by the op of its registration, and every request names its session: a
// registration that arrives again after an eviction (a duplicate the network kept) opens a new
// session with a new number, and the client's requests, still naming the old one, are refused
// instead of starting over at request number 0 (as in TigerBeetle).

import type { Reply } from "../wire/messages.ts";
import { MessageType } from "../wire/layout.ts";
import { readU64, writeU64 } from "../wire/entries.ts";

/** Request number of a registration. */
export const registerRequestNum = 0;

interface Session {
  /** The op-number of its registration. */
  readonly session: number;
  /** Latest request executed (0: registered, nothing executed yet). */
  requestNum: number;
  /** Op-number where it executed, and its result (the cached reply is rebuilt from them). */
  replyOp: number;
  result: Uint8Array;
}

export type RequestVerdict =
  /** New request (or a registration): append it. */
  | { readonly kind: "new" }
  /** The client's latest executed request: answer with the cached reply. */
  | { readonly kind: "cached"; readonly reply: Reply }
  /** Older than the latest, or in the log awaiting commit: drop (the client retries). */
  | { readonly kind: "ignore" }
  /** The client has no session (never registered, or evicted): tell it, execute nothing. */
  | { readonly kind: "evicted" };

/** Sessions read from a checkpoint, in order (ClientTable.parse), and where they ended. */
export interface SessionSet {
  readonly sessions: Map<number, Session>;
  readonly end: number;
}

/** What executing a committed entry does. */
export type Execution = "register" | "execute" | "duplicate" | "evicted";

const emptyResult = new Uint8Array(0);
/** Bytes of a session's head in a checkpoint (before its result). */
const sessionHeadBytes = 36;

export class ClientTable {
  /** clientId -> session, least recently committed first (a commit moves its session to the end). */
  private sessions = new Map<number, Session>();
  /** clientId -> latest request number this leader appended and has not executed yet. */
  private readonly inFlight = new Map<number, number>();
  /** Sessions evicted by this table since it was made (a metric; not part of checkpoints). */
  evictions = 0;

  constructor(readonly clientsMax: number) {}

  /** What the leader does with request `requestNum` of `clientId` in session `session`. */
  classify(clientId: number, requestNum: number, session: number): RequestVerdict {
    const done = this.sessions.get(clientId);
    if (!done) {
      if (requestNum !== registerRequestNum) return { kind: "evicted" };
    } else {
      if (requestNum !== registerRequestNum && session !== done.session) return { kind: "evicted" };
      if (requestNum < done.requestNum) return { kind: "ignore" };
      if (requestNum === done.requestNum) return { kind: "cached", reply: this.cachedReply(clientId, done) };
    }
    const pending = this.inFlight.get(clientId);
    if (pending !== undefined && requestNum <= pending) return { kind: "ignore" };
    return { kind: "new" };
  }

  private cachedReply(clientId: number, s: Session): Reply {
    return { type: MessageType.Reply, view: 0, sender: 0, opNum: s.replyOp, clientId, requestNum: s.requestNum, session: s.session, result: s.result };
  }

  /** What executing the committed entry (clientId, requestNum) must do. The leader never logs a
   * request twice (classify), so "duplicate" never happens; execution checks it anyway. */
  execution(clientId: number, requestNum: number): Execution {
    const s = this.sessions.get(clientId);
    if (requestNum === registerRequestNum) return s ? "duplicate" : "register";
    if (!s) return "evicted"; // evicted between being logged and being executed
    return requestNum <= s.requestNum ? "duplicate" : "execute";
  }

  /** Executes a registration committed at `op`; returns the client it evicted to make room. */
  register(clientId: number, op: number): number | undefined {
    let evicted: number | undefined;
    if (this.sessions.size >= this.clientsMax) {
      evicted = this.sessions.keys().next().value!;
      this.sessions.delete(evicted);
      this.inFlight.delete(evicted);
      this.evictions += 1;
    }
    this.sessions.set(clientId, { session: op, requestNum: registerRequestNum, replyOp: op, result: emptyResult });
    this.settle(clientId, registerRequestNum);
    return evicted;
  }

  /** Records request `requestNum` of `clientId`, executed at `op` with `result`. */
  recordExecuted(clientId: number, requestNum: number, op: number, result: Uint8Array): void {
    const s = this.sessions.get(clientId)!;
    s.requestNum = requestNum;
    s.replyOp = op;
    s.result = result;
    this.sessions.delete(clientId); // to the end: the most recently committed
    this.sessions.set(clientId, s);
    this.settle(clientId, requestNum);
  }

  private settle(clientId: number, requestNum: number): void {
    const pending = this.inFlight.get(clientId);
    if (pending !== undefined && pending <= requestNum) this.inFlight.delete(clientId);
  }

  /** The reply to a registration (executed at `op`): its session number is `op`. */
  registerReply(clientId: number, op: number): Reply {
    return { type: MessageType.Reply, view: 0, sender: 0, opNum: op, clientId, requestNum: registerRequestNum, session: op, result: emptyResult };
  }

  /** The session number of `clientId` (undefined: none). */
  sessionOf(clientId: number): number | undefined {
    return this.sessions.get(clientId)?.session;
  }

  markInFlight(clientId: number, requestNum: number): void {
    const pending = this.inFlight.get(clientId);
    if (pending === undefined || requestNum > pending) this.inFlight.set(clientId, requestNum);
  }

  /** A leader leaving its view forgets what it had in flight; a new leader rebuilds it from the
   * uncommitted part of the log it adopts. */
  clearInFlight(): void {
    this.inFlight.clear();
  }

  /** Clients with a session. */
  get size(): number {
    return this.sessions.size;
  }

  has(clientId: number): boolean {
    return this.sessions.has(clientId);
  }

  // ---- In checkpoints: count u32, then per session (in order) client id u64, session u64,
  // request number u64, reply op u64, result length u32, result bytes. ----

  serializedBytes(): number {
    let n = 4;
    for (const s of this.sessions.values()) n += sessionHeadBytes + s.result.length;
    return n;
  }

  /** Writes the sessions at `at`; returns where they end. */
  serialize(out: Uint8Array, at: number): number {
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    view.setUint32(at, this.sessions.size, true);
    let pos = at + 4;
    for (const [clientId, s] of this.sessions) {
      writeU64(view, pos, clientId);
      writeU64(view, pos + 8, s.session);
      writeU64(view, pos + 16, s.requestNum);
      writeU64(view, pos + 24, s.replyOp);
      view.setUint32(pos + 32, s.result.length, true);
      out.set(s.result, pos + sessionHeadBytes);
      pos += sessionHeadBytes + s.result.length;
    }
    return pos;
  }

  /** Reads the sessions serialized at `at` (nothing changes yet: `replace` takes them). Throws
   * RangeError on a malformed table. */
  parse(bytes: Uint8Array, at: number): SessionSet {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (at + 4 > bytes.length) throw new RangeError("client table runs past the checkpoint");
    const count = view.getUint32(at, true);
    if (count > this.clientsMax) throw new RangeError(`checkpoint holds ${count} client sessions, clients_max is ${this.clientsMax}`);
    const sessions = new Map<number, Session>();
    let pos = at + 4;
    for (let i = 0; i < count; i++) {
      if (pos + sessionHeadBytes > bytes.length) throw new RangeError("client table runs past the checkpoint");
      const clientId = readU64(view, pos);
      const session = readU64(view, pos + 8);
      const requestNum = readU64(view, pos + 16);
      const replyOp = readU64(view, pos + 24);
      const len = view.getUint32(pos + 32, true);
      const end = pos + sessionHeadBytes + len;
      if (end > bytes.length) throw new RangeError("client table runs past the checkpoint");
      sessions.set(clientId, { session, requestNum, replyOp, result: bytes.slice(pos + sessionHeadBytes, end) });
      pos = end;
    }
    return { sessions, end: pos };
  }

  /** Replaces the sessions with parsed ones (a checkpoint installed); in-flight requests are forgotten. */
  replace(set: SessionSet): void {
    this.sessions = set.sessions;
    this.inFlight.clear();
  }
}
