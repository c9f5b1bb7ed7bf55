// Where to send each client's replies: the address its latest request came from. Bounded like the
// client table it serves (clients_max sessions, plus room for clients still registering): a flood of
// requests under ever new client ids cannot grow it without limit. The oldest address goes first;
// a client that loses its entry gets its reply on its next retry, which adds it again.

import type { Addr } from "../net/udp.ts";

export class ClientAddresses {
  private readonly byClient = new Map<number, Addr>();
  /** Addresses dropped to stay within the bound. */
  dropped = 0;

  constructor(readonly capacity: number) {}

  /** Records that `clientId`'s latest request came from `from` (a copy: the receiver reuses it). */
  saw(clientId: number, from: Addr): void {
    const known = this.byClient.get(clientId);
    if (known && known.ip === from.ip && known.port === from.port) return;
    if (known) this.byClient.delete(clientId);
    else if (this.byClient.size >= this.capacity) {
      this.byClient.delete(this.byClient.keys().next().value!);
      this.dropped += 1;
    }
    this.byClient.set(clientId, { ip: from.ip, port: from.port });
  }

  get(clientId: number): Addr | undefined {
    return this.byClient.get(clientId);
  }

  forget(clientId: number): void {
    this.byClient.delete(clientId);
  }

  get size(): number {
    return this.byClient.size;
  }
}
