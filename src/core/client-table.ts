// The client table: for each client, the latest request number executed and its cached reply.
// Every replica executes the same committed log, so every replica holds the same table, and a
// request retried across a view change is executed at most once.

import type { Reply } from "../wire/messages.ts";

export interface ClientRecord {
  readonly requestNum: number;
  readonly reply: Reply;
}

export type RequestVerdict =
  /** New request: append it. */
  | { readonly kind: "new" }
  /** Already executed: answer with the cached reply. */
  | { readonly kind: "cached"; readonly reply: Reply }
  /** Older than the latest, or already in the log awaiting commit: ignore. */
  | { readonly kind: "ignore" };

export class ClientTable {
  private readonly executed = new Map<number, ClientRecord>();
  /** Requests appended by this leader and not yet executed (leader only, rebuilt per view). */
  private readonly inFlight = new Map<number, number>();

  /** What the leader does with a request (requestNum from clientId). */
  classify(clientId: number, requestNum: number): RequestVerdict {
    const done = this.executed.get(clientId);
    if (done) {
      if (requestNum < done.requestNum) return { kind: "ignore" };
      if (requestNum === done.requestNum) return { kind: "cached", reply: done.reply };
    }
    const pending = this.inFlight.get(clientId);
    if (pending !== undefined && requestNum <= pending) return { kind: "ignore" };
    return { kind: "new" };
  }

  /** True when this log entry repeats a request already executed (a retry appended twice). */
  isDuplicate(clientId: number, requestNum: number): boolean {
    const done = this.executed.get(clientId);
    return done !== undefined && requestNum <= done.requestNum;
  }

  lastReply(clientId: number): Reply | undefined {
    return this.executed.get(clientId)?.reply;
  }

  recordExecuted(clientId: number, requestNum: number, reply: Reply): void {
    this.executed.set(clientId, { requestNum, reply });
    if (this.inFlight.get(clientId) === requestNum) this.inFlight.delete(clientId);
  }

  markInFlight(clientId: number, requestNum: number): void {
    this.inFlight.set(clientId, requestNum);
  }

  clearInFlight(): void {
    this.inFlight.clear();
  }

  get size(): number {
    return this.executed.size;
  }
}
