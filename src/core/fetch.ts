// An outstanding state transfer: GetState to one replica, NewState back, until a target op.
//
// Purposes:
// - catch-up: a normal follower fills a gap. Its log is a prefix of its leader's, so entries go
//   straight onto the log.
// - join: a replica adopts a view that started without it (StartView, Prepare or Commit of a view
//   it is not normal in). STAGED: see below.
// - view-change: the new leader takes the chosen log from the replica that holds it. STAGED.
// - recovery: a restarted replica takes the log of the latest view's leader. STAGED.
//
// A staged fetch keeps log[1..base] (known to match the source) and collects the source's
// entries above `base` aside; only when it holds everything up to `target` does the replica swap
// them in (and, for join and recovery, claim the view as its last normal view). Until then its log
// and lastNormalView are untouched, so a view change meanwhile sees exactly what it acknowledged.
// Claiming a view as "last normal" with a log shorter than the leader's start-of-view log would let
// a later view change choose that short log and lose committed entries; swapping entries in piece
// by piece would mix two views' uncommitted suffixes.
//
// Snapshots. A source that has compacted its log below what the fetch asks for answers with its
// latest checkpoint instead (SnapshotChunk datagrams, checkpoint.ts), and the fetch then takes the
// entries above it. The chunks are assembled in order: each GetSnapshot asks from the first byte
// missing, the source answers with up to snapshotChunksPerRequest chunks, and what is lost or
// reordered is asked for again (flow control by round trip, resumable at any offset, the whole
// checked by its CRC-32). It goes over the same UDP socket as everything else, so the simulator's
// loss, duplication, reordering and partitions exercise it; a TCP side channel would be faster for
// gigabytes of state but would sit outside the core, untested by the simulator. A staged fetch keeps
// the checkpoint aside with the entries (installed at the swap); a catch-up installs it at once
// (its log is a prefix of the source's, so the state at the checkpoint extends what it holds).

import type { NewState } from "../wire/messages.ts";
import type { ParsedCheckpoint } from "./checkpoint.ts";
import { Log } from "./log.ts";

export type FetchPurpose = "catch-up" | "join" | "view-change" | "recovery";

/** NewState datagrams a replica sends for one GetState: state transfer moves this many per round
 * trip (one datagram holds as little as one entry when ops are large). */
export const newStatesPerRequestMax = 16;
/** SnapshotChunk datagrams a replica sends for one GetSnapshot (about 23 KiB per round trip). */
export const snapshotChunksPerRequest = 16;

/** A checkpoint being received, in order. */
export interface SnapshotAssembly {
  readonly op: number;
  readonly total: number;
  readonly checksum: number;
  readonly bytes: Uint8Array;
  /** Bytes 0..have received. */
  have: number;
  /** Chunks arrived since the last GetSnapshot. */
  arrivals: number;
}

export interface Fetch {
  readonly purpose: FetchPurpose;
  /** The replica asked. */
  readonly from: number;
  /** Staged: log[1..base] is kept, `staged` holds ops base+1, base+2, ... (base moves up to a
   * checkpoint's op when one arrives). */
  base: number;
  readonly staged: Log;
  /** Staged: the checkpoint the staged entries continue (installed at the swap). */
  checkpoint: ParsedCheckpoint | undefined;
  /** A checkpoint on its way. */
  snapshot: SnapshotAssembly | undefined;
  /** Complete once the fetch holds every op up to target. Fixed for staged purposes (a bound the
   * adopted log must reach); a catch-up raises it as the leader's log grows. */
  target: number;
  /** Highest commit-number the source reported. */
  commit: number;
  /** Ticks since the last useful NewState or SnapshotChunk (drives resends and give-ups). */
  idleTicks: number;
  /** fromOp of the last GetState, and NewStates arrived since: the next GetState goes out when the
   * whole answer arrived (or its last datagram, which reaches the source's end) and brought
   * progress; lost or reordered datagrams are asked for again then, or after resendTicks. */
  askedFrom: number;
  arrivals: number;
}

export function newFetch(purpose: FetchPurpose, from: number, target: number, base: number, commit: number): Fetch {
  const staged = new Log();
  staged.resetTo(base);
  return { purpose, from, base, staged, checkpoint: undefined, snapshot: undefined, target, commit, idleTicks: 0, askedFrom: 0, arrivals: 0 };
}

export function isStaged(fetch: Fetch): boolean {
  return fetch.purpose !== "catch-up";
}

/** The last op the fetch holds (the log's end for a catch-up). */
export function heldUpTo(fetch: Fetch, log: Log): number {
  return isStaged(fetch) ? fetch.staged.length : log.length;
}

/** Takes the entries of `msg` that extend what the fetch holds contiguously (others are ignored:
 * they are duplicates or arrived out of order and will be asked for again). Returns how many. */
export function takeEntries(fetch: Fetch, log: Log, msg: NewState): number {
  const skip = heldUpTo(fetch, log) + 1 - msg.fromOp;
  if (skip < 0 || skip >= msg.entries.count) return 0;
  const count = msg.entries.count - skip;
  (isStaged(fetch) ? fetch.staged : log).appendFrom(msg.entries, skip, count);
  return count;
}

/** A staged fetch continues from checkpoint `cp`: what it staged below is covered by it. */
export function stageCheckpoint(fetch: Fetch, cp: ParsedCheckpoint): void {
  fetch.checkpoint = cp;
  fetch.base = cp.op;
  fetch.staged.resetTo(cp.op);
}
