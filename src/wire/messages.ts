// The messages of the protocol as TypeScript values. The core speaks only these; the codec maps
// them to and from the byte layout of layout.ts.

import { MessageType } from "./layout.ts";

export { MessageType };

/** One client operation placed in the log. */
export interface Entry {
  readonly clientId: number;
  readonly requestNum: number;
  readonly op: Uint8Array;
}

export interface Request {
  readonly type: MessageType.Request;
  readonly view: number;
  readonly clientId: number;
  readonly requestNum: number;
  readonly op: Uint8Array;
}

export interface Reply {
  readonly type: MessageType.Reply;
  readonly view: number;
  readonly sender: number;
  /** Op-number at which the request was executed. */
  readonly opNum: number;
  readonly clientId: number;
  readonly requestNum: number;
  readonly result: Uint8Array;
}

export interface Prepare {
  readonly type: MessageType.Prepare;
  readonly view: number;
  readonly sender: number;
  /** Op-number of the LAST entry; entries cover opNum-entries.length+1 .. opNum. */
  readonly opNum: number;
  readonly commit: number;
  readonly entries: readonly Entry[];
}

export interface PrepareOk {
  readonly type: MessageType.PrepareOk;
  readonly view: number;
  readonly sender: number;
  /** The sender holds every entry up to and including opNum in this view. */
  readonly opNum: number;
}

export interface Commit {
  readonly type: MessageType.Commit;
  readonly view: number;
  readonly sender: number;
  /** The leader's last op-number, so a follower can see that it is behind. */
  readonly opNum: number;
  readonly commit: number;
}

export interface StartViewChange {
  readonly type: MessageType.StartViewChange;
  readonly view: number;
  readonly sender: number;
}

export interface DoViewChange {
  readonly type: MessageType.DoViewChange;
  readonly view: number;
  readonly sender: number;
  readonly lastNormalView: number;
  readonly opNum: number;
  readonly commit: number;
}

export interface StartView {
  readonly type: MessageType.StartView;
  readonly view: number;
  readonly sender: number;
  readonly opNum: number;
  readonly commit: number;
}

export interface GetState {
  readonly type: MessageType.GetState;
  readonly view: number;
  readonly sender: number;
  readonly fromOp: number;
}

export interface NewState {
  readonly type: MessageType.NewState;
  readonly view: number;
  readonly sender: number;
  /** The sender's last op-number and commit-number. */
  readonly opNum: number;
  readonly commit: number;
  /** Op-number of entries[0]. */
  readonly fromOp: number;
  readonly entries: readonly Entry[];
}

export interface Recovery {
  readonly type: MessageType.Recovery;
  readonly sender: number;
  readonly nonce: number;
}

export interface RecoveryResponse {
  readonly type: MessageType.RecoveryResponse;
  readonly view: number;
  readonly sender: number;
  readonly nonce: number;
  /** The responder is recovering too and holds no state (lets a cluster whose replicas all lost
   * their memory, e.g. at first start, begin afresh). */
  readonly recovering: boolean;
  /** Sender's last op-number and commit-number. */
  readonly opNum: number;
  readonly commit: number;
}

/** Asks a replica what it runs; any sender, answered to the source address (src/node/info.ts). */
export interface Info {
  readonly type: MessageType.Info;
  /** Echoed in the InfoReply, so the asker knows the answer is to this question. */
  readonly nonce: number;
}

export interface InfoReply {
  readonly type: MessageType.InfoReply;
  /** The replica's index, view, log end and commit-number. */
  readonly sender: number;
  readonly view: number;
  readonly opNum: number;
  readonly commit: number;
  readonly nonce: number;
  readonly uptimeS: number;
  /** src/core Status: 0 normal, 1 view change, 2 recovering. */
  readonly status: number;
  /** InfoFastPath bits: the fast paths the replica process runs. */
  readonly fastPaths: number;
  /** InfoApp. */
  readonly app: number;
}

export type ReplicaMessage =
  | Prepare
  | PrepareOk
  | Commit
  | StartViewChange
  | DoViewChange
  | StartView
  | GetState
  | NewState
  | Recovery
  | RecoveryResponse;

export type Message = Request | Reply | ReplicaMessage | Info | InfoReply;
