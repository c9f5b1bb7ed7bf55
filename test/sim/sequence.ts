// The one global committed sequence the checker holds every replica to, with what follows from
// it: the result each op's reply must carry (a reference kv store run with the client table's
// rules), the digest of every prefix, and each key's value after every op that wrote it. Apart
// from the checker so that a whole-cluster restart that lost a suffix (fsync interval, within its
// window) can rebuild it from the prefix that survived: prefix() replays it.

import { KvMachine } from "../../src/app/kv.ts";
import { Digest } from "../../src/core/digest.ts";
import type { Entry } from "../../src/wire/messages.ts";

/** The client table's rules, modelled apart from src/core/client-table.ts: which committed
 * entries execute, and so what the reference store's result at each op is. */
class SessionModel {
  /** clientId -> latest request number executed; least recently committed first. */
  private readonly sessions = new Map<number, number>();
  constructor(private readonly clientsMax: number) {}

  /** Whether entry (clientId, requestNum) executes against the app (a registration never does). */
  commit(clientId: number, requestNum: number): "register" | "execute" | "skip" {
    const last = this.sessions.get(clientId);
    if (requestNum === 0) {
      if (last !== undefined) return "skip";
      if (this.sessions.size >= this.clientsMax) this.sessions.delete(this.sessions.keys().next().value!);
      this.sessions.set(clientId, 0);
      return "register";
    }
    if (last === undefined || requestNum <= last) return "skip";
    this.sessions.delete(clientId);
    this.sessions.set(clientId, requestNum);
    return "execute";
  }
}

/** The key of a kv op (all carry [kind][keyLen u16 LE][key]) as a byte string, if well formed. */
export function keyOf(op: Uint8Array): string | undefined {
  if (op.length < 3) return undefined;
  const len = op[1]! | (op[2]! << 8);
  if (3 + len > op.length) return undefined;
  return String.fromCharCode(...op.subarray(3, 3 + len));
}

/** The get op of a key made by keyOf. */
function getOf(key: string): Uint8Array {
  const op = new Uint8Array(3 + key.length);
  op[0] = 2; // get (src/app/kv.ts)
  op[1] = key.length & 0xff;
  op[2] = key.length >> 8;
  for (let i = 0; i < key.length; i++) op[3 + i] = key.charCodeAt(i);
  return op;
}

export function describeEntry(entry: Entry): string {
  return `${entry.clientId}#${entry.requestNum}`;
}

export class CommittedSequence {
  /** entries[k-1]: the entry committed at op k. */
  readonly entries: Entry[] = [];
  /** results[k-1]: what a reply for op k must carry; undefined when op k answers nobody. */
  private readonly results: (Uint8Array | undefined)[] = [];
  /** digests[k]: digest of ops 1..k. */
  private readonly digests: string[] = [new Digest().toString()];
  private readonly digest = new Digest();
  private readonly reference = new KvMachine();
  private readonly sessions: SessionModel;
  private readonly lastRequest = new Map<number, number>();
  /** key (as a byte string) -> [op, what a get of it returns after that op], one per executed op
   * on it, in op order. */
  private readonly keyStates = new Map<string, [number, Uint8Array][]>();

  constructor(private readonly clientsMax: number) {
    this.sessions = new SessionModel(clientsMax);
  }

  get length(): number {
    return this.entries.length;
  }

  /** Appends the next op; a reason when it would commit a client's request a second time. */
  append(entry: Entry): string | undefined {
    const op = this.entries.length + 1;
    // A registration may come again (a duplicate the network kept, after an eviction): it opens a
    // session the client never learns of. Requests never repeat.
    const last = this.lastRequest.get(entry.clientId) ?? 0;
    if (entry.requestNum !== 0 && entry.requestNum <= last) return `exactly-once: ${describeEntry(entry)} committed at op ${op} after request ${last} of that client`;
    if (entry.requestNum !== 0) this.lastRequest.set(entry.clientId, entry.requestNum);
    this.entries.push(entry);
    this.digest.add(entry.op);
    this.digests.push(this.digest.toString());
    const verdict = this.sessions.commit(entry.clientId, entry.requestNum);
    this.results.push(verdict === "execute" ? this.reference.execute(entry.op) : verdict === "register" ? new Uint8Array(0) : undefined);
    if (verdict === "execute") this.recordKeyState(op, entry.op);
    return undefined;
  }

  /** The same rules run over ops 1..length only (what a lossy restart kept). */
  prefix(length: number): CommittedSequence {
    const kept = new CommittedSequence(this.clientsMax);
    for (const entry of this.entries.slice(0, length)) kept.append(entry);
    return kept;
  }

  digestAt(op: number): string | undefined {
    return this.digests[op];
  }

  resultAt(op: number): Uint8Array | undefined {
    return this.results[op - 1];
  }

  /** What a get of `key` (a read-only op `get`) returns at op `at`. */
  readAt(key: string, get: Uint8Array, at: number): Uint8Array {
    let expected = new KvMachine().execute(get); // before any write to the key
    for (const [stateOp, result] of this.keyStates.get(key) ?? []) {
      if (stateOp > at) break;
      expected = result;
    }
    return expected;
  }

  private recordKeyState(op: number, bytes: Uint8Array): void {
    const key = keyOf(bytes);
    if (key === undefined) return;
    const states = this.keyStates.get(key) ?? [];
    states.push([op, this.reference.execute(getOf(key))]);
    this.keyStates.set(key, states);
  }
}
