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

import type { Entry, NewState } from "../wire/messages.ts";
import type { Log } from "./log.ts";

export type FetchPurpose = "catch-up" | "join" | "view-change" | "recovery";

/** NewState datagrams a replica sends for one GetState: state transfer moves this many per round
 * trip (one datagram holds as little as one entry when ops are large). */
export const newStatesPerRequestMax = 16;

export interface Fetch {
  readonly purpose: FetchPurpose;
  /** The replica asked. */
  readonly from: number;
  /** Staged: log[1..base] is kept, `staged` holds ops base+1, base+2, ... */
  readonly base: number;
  readonly staged: Entry[];
  /** Complete once the fetch holds every op up to target. Fixed for staged purposes (a bound the
   * adopted log must reach); a catch-up raises it as the leader's log grows. */
  target: number;
  /** Highest commit-number the source reported. */
  commit: number;
  /** Ticks since the last useful NewState (drives resends and give-ups). */
  idleTicks: number;
  /** fromOp of the last GetState, and NewStates arrived since: the next GetState goes out when the
   * whole answer arrived (or its last datagram, which reaches the source's end) and brought
   * progress; lost or reordered datagrams are asked for again then, or after resendTicks. */
  askedFrom: number;
  arrivals: number;
}

export function isStaged(fetch: Fetch): boolean {
  return fetch.purpose !== "catch-up";
}

/** The last op the fetch holds (the log's end for a catch-up). */
export function heldUpTo(fetch: Fetch, log: Log): number {
  return isStaged(fetch) ? fetch.base + fetch.staged.length : log.length;
}

/** Takes the entries of `msg` that extend what the fetch holds contiguously (others are ignored:
 * they are duplicates or arrived out of order and will be asked for again). Returns how many. */
export function takeEntries(fetch: Fetch, log: Log, msg: NewState): number {
  let taken = 0;
  for (let i = 0; i < msg.entries.length; i++) {
    if (msg.fromOp + i !== heldUpTo(fetch, log) + 1) continue;
    const entry = msg.entries[i]!;
    if (isStaged(fetch)) fetch.staged.push(entry);
    else log.append(entry);
    taken += 1;
  }
  return taken;
}
