// The replicated log, 1-based: entry k is op-number k, and opNum is the log's length. Only the
// core's rules decide what may be appended or truncated; this class just keeps the entries.

import { entryHead } from "../wire/layout.ts";
import { entryBytes, newStateEntriesBytesMax, prepareEntriesBytesMax } from "../wire/codec.ts";
import type { Entry } from "../wire/messages.ts";

/** Largest operation the leader accepts: one entry of it must fit a Prepare AND a NewState, or
 * state transfer could never move it (a NewState has 8 bytes less room than a Prepare, so this is
 * below layout.ts's opBytesMax, which only accounts for the Prepare). */
export const requestOpBytesMax = Math.min(prepareEntriesBytesMax, newStateEntriesBytesMax) - entryHead.size;

export class Log {
  private readonly entries: Entry[] = [];

  get length(): number {
    return this.entries.length;
  }

  at(op: number): Entry | undefined {
    return this.entries[op - 1];
  }

  append(entry: Entry): void {
    this.entries.push(entry);
  }

  /** Drops every entry above op-number `op`. */
  truncate(op: number): void {
    if (op < this.entries.length) this.entries.length = op;
  }

  /** Entries from op `from` up to `to`, at most `countMax` of them and `bytesMax` bytes on the
   * wire. Never empty when from <= to: every entry fits alone (see requestOpBytesMax). */
  batch(from: number, to: number, countMax: number, bytesMax: number): Entry[] {
    const out: Entry[] = [];
    let bytes = 0;
    for (let op = from; op <= to && out.length < countMax; op++) {
      const entry = this.entries[op - 1]!;
      const size = entryBytes(entry);
      if (out.length > 0 && bytes + size > bytesMax) break;
      out.push(entry);
      bytes += size;
    }
    return out;
  }
}
