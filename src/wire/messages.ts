// The messages of the protocol as TypeScript values. The core speaks only these; the codec maps
// them to and from the byte layout of layout.ts.

import { MessageType, type ReadMode } from "./layout.ts";

export { MessageType };

/** One client operation placed in the log. */
export interface Entry {
  readonly clientId: number;
  readonly requestNum: number;
  readonly op: Uint8Array;
}

/**
 * Consecutive log entries in their wire form (layout.ts entryHead, then the op bytes, for each),
 * as Prepare and NewState carry them and the log stores them (src/core/log.ts): moving entries
 * between the log and a datagram is a copy of bytes, not an object per entry. The bytes may be a
 * view into a receive buffer, valid only while the message is handled: whoever keeps entries
 * copies them. src/wire/entries.ts builds and reads them.
 */
export interface Entries {
  readonly count: number;
  readonly bytes: Uint8Array;
}

export interface Request {
  readonly type: MessageType.Request;
  readonly view: number;
  readonly clientId: number;
  /** 0: a registration (no op); then 1, 2, 3... */
  readonly requestNum: number;
  /** The op-number of the client's registration, which its reply told (0 in the registration):
   * the leader refuses a request whose session is not the one the client table holds. */
  readonly session: number;
  readonly op: Uint8Array;
  /** Absent: ReadMode.Log (through the log). */
  readonly read?: ReadMode;
}

export interface Reply {
  readonly type: MessageType.Reply;
  readonly view: number;
  readonly sender: number;
  /** Op-number at which the request was executed. */
  readonly opNum: number;
  readonly clientId: number;
  readonly requestNum: number;
  /** The session the request belonged to (a registration's reply: its own op-number). */
  readonly session: number;
  readonly result: Uint8Array;
}

export interface Prepare {
  readonly type: MessageType.Prepare;
  readonly view: number;
  readonly sender: number;
  /** Op-number of the LAST entry; entries cover opNum-entries.count+1 .. opNum. */
  readonly opNum: number;
  readonly commit: number;
  readonly entries: Entries;
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

export interface ReadIndex {
  readonly type: MessageType.ReadIndex;
  readonly view: number;
  readonly sender: number;
  /** The leader's last op-number and commit, as in a Commit (a follower treats it as one). */
  readonly opNum: number;
  readonly commit: number;
  readonly round: number;
}

export interface ReadIndexOk {
  readonly type: MessageType.ReadIndexOk;
  readonly view: number;
  readonly sender: number;
  readonly round: number;
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
  /** Op-number of the first entry. */
  readonly fromOp: number;
  readonly entries: Entries;
}

export interface GetSnapshot {
  readonly type: MessageType.GetSnapshot;
  readonly view: number;
  readonly sender: number;
  /** Op-number of the checkpoint wanted. */
  readonly checkpointOp: number;
  readonly offset: number;
}

export interface SnapshotChunk {
  readonly type: MessageType.SnapshotChunk;
  readonly view: number;
  readonly sender: number;
  /** The checkpoint: the state after ops 1..checkpointOp (src/core/checkpoint.ts). */
  readonly checkpointOp: number;
  /** The sender's last op-number and commit-number. */
  readonly opNum: number;
  readonly commit: number;
  readonly total: number;
  readonly checksum: number;
  readonly offset: number;
  /** Bytes offset .. offset+bytes.length of the checkpoint (a view into the receive buffer). */
  readonly bytes: Uint8Array;
}

export interface Evicted {
  readonly type: MessageType.Evicted;
  readonly view: number;
  readonly sender: number;
  readonly clientId: number;
  /** The request that found the session gone; 0 when told at the eviction itself. */
  readonly requestNum: number;
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
  /** The responder is recovering too: it holds no state (lets a cluster whose replicas all lost
   * their memory, e.g. at first start, begin afresh), or only its data directory's (a disk claim:
   * view = highest view promised, lastNormalView and opNum of the log on disk; core/recovery.ts). */
  readonly recovering: boolean;
  /** A disk claim's last normal view (0 otherwise). */
  readonly lastNormalView: number;
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
  /** InfoStorage: memory only, or the fsync mode of its data directory. */
  readonly storage: number;
  /** What it holds in memory: its latest checkpoint, its log, its client sessions. */
  readonly checkpointOp: number;
  readonly logFirstOp: number;
  readonly logBytes: number;
  readonly sessions: number;
  readonly evictions: number;
}

export type ReplicaMessage =
  | Prepare
  | PrepareOk
  | Commit
  | ReadIndex
  | ReadIndexOk
  | StartViewChange
  | DoViewChange
  | StartView
  | GetState
  | NewState
  | GetSnapshot
  | SnapshotChunk
  | Recovery
  | RecoveryResponse;

export type Message = Request | Reply | Evicted | ReplicaMessage | Info | InfoReply;
