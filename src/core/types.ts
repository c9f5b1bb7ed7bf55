// The contract between the pure protocol core and whatever drives it (the replica process, the
// simulator). The core never does I/O, never reads a clock, never draws randomness.

import type { Entries, Message, Prepare, ReplicaMessage, Reply, Request } from "../wire/messages.ts";
import type { Checkpoint, ParsedCheckpoint } from "./checkpoint.ts";

/**
 * A deterministic replicated state machine: the same ops in the same order give the same results.
 * To add one, implement these three (src/app/kv.ts is the example) and name it in src/app/index.ts.
 */
export interface StateMachine {
  /** Executes one committed op and returns its result. `op` is a view into the log: valid only
   * during the call (copy what you keep). Malformed ops must yield a result, never throw: every
   * replica executes the same bytes and must compute the same thing. */
  execute(op: Uint8Array): Uint8Array;
  /** The whole state as bytes, for a checkpoint (every checkpointOps committed ops). The same
   * state must give the same bytes (checkpoints of different replicas are compared), and the time
   * it takes stalls the replica: keep it proportional to the live state. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with one snapshot() produced (a replica installing a checkpoint it
   * received). Throws on bytes it cannot read; the replica then drops that checkpoint. */
  restore(snapshot: Uint8Array): void;
  /** Optional, for reads without a log write (src/core/read-index.ts): whether `op` only reads,
   * so that query(op) gives what execute(op) would and changes nothing. A machine without it
   * runs every op through the log. */
  readOnly?(op: Uint8Array): boolean;
  /** The result of a read-only op against the current state; called only when readOnly(op). */
  query?(op: Uint8Array): Uint8Array;
}

export enum Status {
  Normal = 0,
  ViewChange = 1,
  Recovering = 2,
}

/** What the kernel fast paths need to know; emitted on every change, before the core acts in the
 * new state (see ELECTRODE.md: the fast path must never ack for a view the replica has left). */
export interface KernelState {
  readonly status: Status;
  readonly view: number;
  readonly leader: number;
  readonly lastOp: number;
  readonly commit: number;
}

export type Event =
  /** A decoded message from a configured replica (sender already checked against the source).
   * `via` says a kernel fast path already acted on it: "fast-reply", a Prepare the kernel acked
   * (the core must not ack it again); "quorum", the PrepareOk that completed a quorum for its op
   * in the leader's quorum prune (the core commits on it without counting). */
  | { readonly kind: "message"; readonly msg: ReplicaMessage; readonly via?: FastPathVia }
  /** A client request (the driver remembers the client's address by clientId). */
  | { readonly kind: "request"; readonly msg: Request }
  /** One unit of time passed. `nowMs`: the driver's monotonic clock, read just before (required
   * with leases, ReplicaOptions.leaseMs; it must keep running while the process is stopped). */
  | { readonly kind: "tick"; readonly nowMs?: number }
  /** The driver has drained its current receive batch: the leader sends the Prepare for the
   * requests it appended since the last flush (adaptive batching: under load many requests arrive
   * per receive batch and share one Prepare; at low load each request goes out at once). `nowMs`:
   * as for tick, read after the batch was received. */
  | { readonly kind: "flush"; readonly nowMs?: number }
  /** The driver's disk now holds this replica's log up to `op`: its current log, as the core has
   * it now (the driver captured it after the last step, then fsynced). Only with
   * ReplicaOptions.durableVotes, and only a leader counts it: its own vote in a quorum reaches no
   * further (its Prepares may leave before its fsync). `op` is never above the log's length. */
  | { readonly kind: "durable"; readonly op: number };

export type FastPathVia = "fast-reply" | "quorum";

export type Effect =
  /** Send to one replica (index). */
  | { readonly kind: "send"; readonly to: number; readonly msg: Message }
  /** Send to every other replica. Prepare and Commit are the candidates for tc broadcast. */
  | { readonly kind: "broadcast"; readonly msg: ReplicaMessage }
  /** Reply to the client that sent clientId's request. */
  | { readonly kind: "reply"; readonly msg: Reply }
  /** Kernel-side state changed; must be written before later effects of the same step. */
  | { readonly kind: "kernelState"; readonly state: KernelState }
  /** Tell client `clientId` (if its address is known) that its session is gone: an Evicted
   * message; `requestNum` is the request that found it gone (0: at the eviction). The driver may
   * forget the client's address. */
  | { readonly kind: "evicted"; readonly clientId: number; readonly requestNum: number }
  /** A checkpoint was taken (or installed from a peer): the log at or below its op minus
   * logRetainOps is gone from memory. For metrics, and for a driver that stores checkpoints. */
  | { readonly kind: "checkpoint"; readonly checkpoint: Checkpoint; readonly installed: boolean }
  /** The whole cluster was recovering and this replica's disk held the best log (core/recovery.ts):
   * it leads `view` with its log up to `opNum`; `bestOtherOp` is the longest log another disk held;
   * `commitMax` the highest op any disk recorded as committed (at most `opNum`: that log was chosen
   * among those that reach it). */
  | { readonly kind: "diskStart"; readonly view: number; readonly opNum: number; readonly claims: number; readonly bestOtherOp: number; readonly commitMax: number };

/** What a data directory gives back to a restarting replica (src/storage). */
export interface DurableState {
  /** The latest checkpoint on disk, read and checked (none: the log starts at op 1). */
  readonly checkpoint: ParsedCheckpoint | undefined;
  /** The log above it, in order, each batch continuing the one before. */
  readonly entries: readonly Entries[];
  /** Highest view promised, and the last view the log was normal in. */
  readonly view: number;
  readonly lastNormalView: number;
  /** The highest commit-number recorded (0: none; the checkpoint's op counts as committed too). */
  readonly commit: number;
}

export interface ReplicaOptions {
  /** Number of replicas, 2f+1. */
  readonly replicaCount: number;
  /** This replica's index 0..n-1 (position in the config; view v is led by v mod n). */
  readonly index: number;
  /** Started with empty memory after a crash: run recovery before acking or voting. */
  readonly recovering: boolean;
  /** Recovery nonce, drawn by the driver (the core draws no randomness). */
  readonly nonce: number;
  /** Follower starts a view change after this many ticks without hearing from the leader. */
  readonly viewChangeTimeoutTicks: number;
  /** Leader sends a Commit heartbeat after this many idle ticks. */
  readonly heartbeatTicks: number;
  /** Resend interval for view-change, state-transfer and recovery messages. */
  readonly resendTicks: number;
  /** Maximum prepared-but-uncommitted ops the leader keeps in flight. */
  readonly pipelineMax: number;
  /** Maximum requests the leader packs into one Prepare (1 = no batching). */
  readonly batchMax: number;
  /** A checkpoint every this many committed ops (at ops that are multiples of it). */
  readonly checkpointOps: number;
  /** Entries kept below the latest checkpoint, for replicas a little behind (they fetch entries;
   * further behind, the checkpoint). */
  readonly logRetainOps: number;
  /** Client sessions held at most (client-table.ts: registering into a full table evicts). */
  readonly clientsMax: number;
  /** Leader leases for reads (lease.ts): how long a follower that answered a read round holds
   * back its vote for a later view, on its own clock. 0 or absent: no leases (every linearizable
   * read waits for a round or a commit). */
  readonly leaseMs?: number;
  /** Bound on how far any replica's clock rate may stray from real time, in parts per million. */
  readonly clockDriftPpm?: number;
  /** This replica keeps a data directory (src/storage). Only then does a view change that more
   * than f recovering replicas make impossible give way to a disk start (recovery.ts, "Giving up
   * a view change"); without disks VR waits, as it does for any f+1 replicas without memory. */
  readonly dataDirectory?: boolean;
  /** The leader's own vote counts only as far as its disk holds its log (the `durable` event),
   * not as far as it prepared: its driver sends the Prepares before its own fsync, in parallel
   * with the followers' (fsync always). Followers' acks are unchanged: their driver sends nothing
   * before it is durable. Absent: the leader counts everything it prepared (memory only, or a
   * driver that fsyncs before any send). */
  readonly durableVotes?: boolean;
  /** Tests only: sees every op executed and every checkpoint installed, as it happens. */
  readonly observer?: ExecutionObserver;
  /**
   * Kernel fast reply is on: called synchronously when this replica, a normal follower, is about
   * to leave its view or status, with the state it enters. The driver must write that state to the
   * kernel (so the fast path stops acking in the old view) and return every Prepare the fast path
   * acked that the core has not seen yet, in op order. The core applies them first: they were
   * acked, so a view change must count them as held. When the driver cannot establish them it
   * throws, out of `step`: the replica must then stop (no effect of that step is applied) and
   * come back through recovery, never carry on without them.
   */
  readonly fence?: (next: KernelState) => readonly Prepare[];
}

export interface ExecutionObserver {
  executed(op: number, clientId: number, requestNum: number, bytes: Uint8Array): void;
  /** The state of ops 1..op came from a peer's checkpoint (nothing of it executed here). */
  installed(op: number, digest: string): void;
  /** A disk start (core/recovery.ts): the whole cluster continues from this replica's log, up to
   * `opNum`; called before any of it executes (with fsync interval it may lack committed ops). */
  diskStart?(opNum: number, commitMax: number): void;
}

export const defaultTiming = {
  viewChangeTimeoutTicks: 50,
  heartbeatTicks: 10,
  resendTicks: 20,
  pipelineMax: 1024,
  batchMax: 64,
} as const;

/** Memory bounds (config: checkpoint_ops, log_retain_ops, clients_max). At 100,000 ops a
 * checkpoint comes about once a second under full load here: the log holds at most that many
 * committed entries plus the retained suffix and the pipeline, whatever the history. */
export const defaultLimits = {
  checkpointOps: 100_000,
  logRetainOps: 20_000,
  clientsMax: 4096,
} as const;
