// The client table: for each client, the latest request number executed and its reply. Every
// replica executes the same committed log, so every replica holds the same table, and a request
// retried across a view change is executed at most once. The leader also remembers which requests
// it has put in the log but not yet executed (in flight), so a retry of one is not logged twice.

import type { Reply } from "../wire/messages.ts";

export interface ClientRecord {
  readonly requestNum: number;
  readonly reply: Reply;
}

export type RequestVerdict =
  /** New request: append it. */
  | { readonly kind: "new" }
  /** The client's latest executed request: answer with the cached reply. */
  | { readonly kind: "cached"; readonly reply: Reply }
  /** Older than the latest, or in the log awaiting commit: drop (the client retries). */
  | { readonly kind: "ignore" };

export class ClientTable {
  private readonly executed = new Map<number, ClientRecord>();
  /** clientId -> latest request number this leader appended and has not executed yet. */
  private readonly inFlight = new Map<number, number>();

  /** What the leader does with request `requestNum` of `clientId`. */
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

  /** True when a log entry repeats a request already executed. The leader never logs a request
   * twice (classify), so this never holds; execution checks it anyway so an app never sees one. */
  isDuplicate(clientId: number, requestNum: number): boolean {
    const done = this.executed.get(clientId);
    return done !== undefined && requestNum <= done.requestNum;
  }

  recordExecuted(clientId: number, requestNum: number, reply: Reply): void {
    this.executed.set(clientId, { requestNum, reply });
    const pending = this.inFlight.get(clientId);
    if (pending !== undefined && pending <= requestNum) this.inFlight.delete(clientId);
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

  /** Clients with an executed request. */
  get size(): number {
    return this.executed.size;
  }
}
