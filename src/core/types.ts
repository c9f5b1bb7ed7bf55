// The contract between the pure protocol core and whatever drives it (the replica process, the
// simulator). The core never does I/O, never reads a clock, never draws randomness.

import type { Message, ReplicaMessage, Reply, Request } from "../wire/messages.ts";

/** A deterministic replicated state machine: the same ops in the same order give the same results. */
export interface StateMachine {
  execute(op: Uint8Array): Uint8Array;
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
  /** A decoded message from a configured replica (sender already checked against the source). */
  | { readonly kind: "message"; readonly msg: ReplicaMessage }
  /** A client request (the driver remembers the client's address by clientId). */
  | { readonly kind: "request"; readonly msg: Request }
  /** One unit of time passed. */
  | { readonly kind: "tick" }
  /** The driver has drained its current receive batch: the leader sends the Prepare for the
   * requests it appended since the last flush (adaptive batching: under load many requests arrive
   * per receive batch and share one Prepare; at low load each request goes out at once). */
  | { readonly kind: "flush" };

export type Effect =
  /** Send to one replica (index). */
  | { readonly kind: "send"; readonly to: number; readonly msg: Message }
  /** Send to every other replica. Prepare and Commit are the candidates for tc broadcast. */
  | { readonly kind: "broadcast"; readonly msg: ReplicaMessage }
  /** Reply to the client that sent clientId's request. */
  | { readonly kind: "reply"; readonly msg: Reply }
  /** Kernel-side state changed; must be written before later effects of the same step. */
  | { readonly kind: "kernelState"; readonly state: KernelState };

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
}

export const defaultTiming = {
  viewChangeTimeoutTicks: 50,
  heartbeatTicks: 10,
  resendTicks: 20,
  pipelineMax: 1024,
  batchMax: 64,
} as const;
