// The one declaration of electrode's wire format. The codec (codec.ts) reads offsets from here and
// gen-header.ts turns it into bpf/electrode_wire.h for the eBPF programs. No offset is typed twice.
//
// Every datagram: a fixed 32-byte little-endian header, then a type-specific body. Every field an
// eBPF program reads (type, flags, sender, view, op) sits at a constant offset.

export type FieldType = "u8" | "u16" | "u32" | "u64";

export const fieldBytes: Record<FieldType, number> = { u8: 1, u16: 2, u32: 4, u64: 8 };

export interface Field {
  readonly name: string;
  readonly type: FieldType;
  readonly offset: number;
  readonly doc: string;
  /** Array length for a fixed array of `type` (1 for a scalar). */
  readonly count: number;
}

export interface Layout<Name extends string = string> {
  readonly cName: string;
  readonly doc: string;
  readonly size: number;
  readonly fields: Readonly<Record<Name, Field>>;
  readonly order: readonly Field[];
}

function layout<const Name extends string>(
  cName: string,
  doc: string,
  spec: readonly (readonly [Name, FieldType, string] | readonly [Name, FieldType, string, number])[],
): Layout<Name> {
  let offset = 0;
  const order: Field[] = [];
  const fields = {} as Record<Name, Field>;
  for (const [name, type, fieldDoc, count = 1] of spec) {
    // Natural alignment keeps the C struct identical with or without `packed`.
    if (offset % fieldBytes[type] !== 0) throw new Error(`layout ${cName}.${name} is misaligned`);
    const field: Field = { name, type, offset, doc: fieldDoc, count };
    order.push(field);
    fields[name] = field;
    offset += fieldBytes[type] * count;
  }
  return { cName, doc, size: offset, fields, order };
}

export const magic = 0xe1ec;
export const version = 1;

/** Maximum bytes of one electrode datagram (UDP payload). Fits a 1500-byte MTU, so the XDP fast
 * paths never see IP fragments. Batches larger than this are split into several messages. */
export const datagramBytesMax = 1472;

/** Largest value of a u64 field the codec accepts (it stays exact in a JS double); the XDP program
 * checks the high 32-bit word of every u64 of a Prepare it acks against it. */
export const u64ValueMax = Number.MAX_SAFE_INTEGER;

/** Sender byte of messages from clients (replicas use their index 0..n-1). */
export const senderClient = 0xff;

/** Upper bound on cluster size: the peer table and every bitset in the kernel are sized by it. */
export const replicasMax = 32;

export enum MessageType {
  Request = 1,
  Reply = 2,
  Prepare = 3,
  PrepareOk = 4,
  Commit = 5,
  StartViewChange = 6,
  DoViewChange = 7,
  StartView = 8,
  GetState = 9,
  NewState = 10,
  Recovery = 11,
  RecoveryResponse = 12,
  /** Anyone -> a replica: what are you running? Answered with an InfoReply (src/node/info.ts). */
  Info = 13,
  InfoReply = 14,
  /** A replica fetching state -> the replica it fetches from: chunks of checkpoint header.op from
   * `offset` on (asked for when the entries it wanted were compacted away). */
  GetSnapshot = 15,
  /** Answer to GetState below the sender's log and to GetSnapshot: a piece of a checkpoint. */
  SnapshotChunk = 16,
  /** Leader -> client: its session is not (any more) in the client table; none of its requests
   * will execute (src/core/client-table.ts). */
  Evicted = 17,
  /** Leader -> followers: a read-index round (src/core/read-index.ts). Also a heartbeat: header.op
   * and header.commit are the leader's log end and commit, as in a Commit. */
  ReadIndex = 18,
  /** Follower -> its leader: "I was a normal follower of header.view when round header.op came". */
  ReadIndexOk = 19,
}

export const messageTypeCount = 19;

/** How a Request is served, carried in its header.op (0 for every request of earlier clients). */
export enum ReadMode {
  /** Through the log, like any write (also what a mutating op gets whatever its mode). */
  Log = 0,
  /** A read-only op the leader answers without a log write, once a quorum confirmed it still
   * leads after the read arrived and its commit reached the read's index: linearizable. */
  Index = 1,
  /** A read-only op any normal replica answers from what it has executed: serializable, may be
   * stale (electrode client get --stale). */
  Stale = 2,
}

export enum Flag {
  /** User space asks the tc egress program to fan this datagram out to every peer. */
  Broadcast = 0x01,
  /** Set by the tc program on each clone, so a clone is never broadcast again. */
  Clone = 0x02,
  /** Set by the leader's XDP quorum prune on the one PrepareOk that completes a quorum for its op
   * (user space then commits without counting). XDP drops any datagram that arrives with it set. */
  Quorum = 0x04,
}

export const header = layout("electrode_hdr", "Fixed header of every electrode datagram.", [
  ["magic", "u16", "0xE1EC"],
  ["version", "u8", "wire version, 1"],
  ["type", "u8", "enum electrode_msg_type"],
  ["flags", "u8", "ELECTRODE_FLAG_*"],
  ["sender", "u8", "replica index 0..n-1, or 0xFF for a client"],
  ["body_len", "u16", "bytes after the header"],
  ["cluster", "u32", "cluster id derived from the config; foreign clusters are dropped"],
  ["view", "u32", "view number of the sender"],
  ["op", "u64", "op-number: last op covered by this message (meaning per type)"],
  ["commit", "u64", "commit-number of the sender"],
]);

/** One log entry as carried by Prepare and NewState, followed by `len` bytes of operation. */
export const entryHead = layout("electrode_entry", "Head of one log entry; `len` op bytes follow.", [
  ["client_id", "u64", "client that issued the request"],
  ["request_num", "u64", "client's request number"],
  ["len", "u16", "bytes of operation that follow"],
]);

/** Request (client -> replicas) and Reply (leader -> client) body head; payload follows. */
export const clientBody = layout("electrode_client_body", "Request/Reply body; `len` bytes follow.", [
  ["client_id", "u64", "client id"],
  ["request_num", "u64", "client's request number (0: a registration)"],
  ["session", "u64", "the op-number of the client's registration (0 in a registration): a request of another session is refused"],
  ["len", "u16", "bytes of operation (Request) or result (Reply) that follow"],
]);

/** Prepare body head: `count` entries follow, for ops header.op-count+1 .. header.op. */
export const prepareBody = layout("electrode_prepare_body", "Prepare body head; entries follow.", [
  ["count", "u16", "entries that follow, ending at header.op"],
]);

/** ReadIndex body. header.op and header.commit are the leader's log end and commit. */
export const readIndexBody = layout("electrode_read_index_body", "ReadIndex body.", [
  ["round", "u64", "the leader's read round, echoed in ReadIndexOk's header.op"],
]);

/** DoViewChange body. header.op and header.commit are the sender's log end and commit. */
export const doViewChangeBody = layout("electrode_dvc_body", "DoViewChange body.", [
  ["last_normal_view", "u32", "latest view in which the sender's status was normal"],
]);

/** GetState body: the sender wants entries from `from_op` on. */
export const getStateBody = layout("electrode_get_state_body", "GetState body.", [
  ["from_op", "u64", "first op wanted"],
]);

/** NewState body head: `count` entries for ops from_op .. from_op+count-1 follow. */
export const newStateBody = layout("electrode_new_state_body", "NewState body head; entries follow.", [
  ["from_op", "u64", "op of the first entry that follows"],
  ["count", "u16", "entries that follow"],
]);

/** Recovery body. */
export const recoveryBody = layout("electrode_recovery_body", "Recovery body.", [
  ["nonce", "u64", "chosen by the recovering replica, echoed in responses"],
]);

/** RecoveryResponse body. */
export const recoveryResponseBody = layout("electrode_recovery_response_body", "RecoveryResponse body.", [
  ["nonce", "u64", "the nonce of the Recovery this answers"],
  ["last_normal_view", "u32", "recovering with state from its data directory: the last view its log was normal in (header.view: the highest view it promised, header.op: its log's end)"],
  ["recovering", "u8", "1 when the responder is itself recovering (it holds no state, or only what its disk holds)"],
]);

/** GetSnapshot body. header.op is the checkpoint's op-number. */
export const getSnapshotBody = layout("electrode_get_snapshot_body", "GetSnapshot body.", [
  ["offset", "u64", "first byte of the checkpoint wanted"],
]);

/** SnapshotChunk body head; `len` bytes of the checkpoint follow. header.op is the checkpoint's
 * op-number, header.commit the sender's commit-number. */
export const snapshotChunkBody = layout("electrode_snapshot_chunk_body", "SnapshotChunk body head; `len` checkpoint bytes follow.", [
  ["source_op", "u64", "the sender's last op-number (the log above the checkpoint reaches it)"],
  ["total", "u64", "bytes of the whole checkpoint"],
  ["offset", "u64", "where the bytes that follow start in it"],
  ["checksum", "u32", "CRC-32 of the whole checkpoint: the chunks of one checkpoint all carry it"],
  ["len", "u16", "bytes that follow"],
  ["pad", "u16", "zero"],
]);

/** Evicted body. header.sender is the leader's index, header.view its view. */
export const evictedBody = layout("electrode_evicted_body", "Evicted body.", [
  ["client_id", "u64", "the client whose session is gone"],
  ["request_num", "u64", "the request that found it gone (0: told at eviction)"],
]);

/** InfoReply body. header.sender is the replica's index; header.view, op and commit are its view,
 * log end and commit-number. */
export const infoReplyBody = layout("electrode_info_reply_body", "InfoReply body.", [
  ["nonce", "u64", "the nonce of the Info this answers"],
  ["uptime_s", "u32", "seconds since this replica process started"],
  ["status", "u8", "0 normal, 1 view change, 2 recovering (src/core Status)"],
  ["fast_paths", "u8", "InfoFastPath bits: the fast paths this replica process runs"],
  ["app", "u8", "InfoApp: the replicated state machine"],
  ["storage", "u8", "InfoStorage: memory only, or the data directory's fsync mode"],
  ["checkpoint_op", "u64", "op-number of the replica's latest checkpoint (0: none yet)"],
  ["log_first_op", "u64", "op-number of the oldest log entry it holds in memory"],
  ["log_bytes", "u64", "bytes of the log entries it holds in memory"],
  ["sessions", "u32", "client sessions in its client table"],
  ["evictions", "u32", "client sessions it evicted (since it started)"],
]);

/** Info body: a nonce the replies echo, padded to the InfoReply's size. A replica answers Info from
 * any address, so the request is as large as the answer: a forged source gains no amplification. */
export const infoBody = layout("electrode_info_body", "Info body, as large as the InfoReply body.", [
  ["nonce", "u64", "chosen by the asker, echoed in every InfoReply"],
  ["pad", "u8", "zero", infoReplyBody.size - fieldBytes.u64],
]);

/** Bits of InfoReply.fast_paths. */
export enum InfoFastPath {
  TcBroadcast = 0x1,
  QuorumPrune = 0x2,
  FastReply = 0x4,
}
export const infoFastPathAll = InfoFastPath.TcBroadcast | InfoFastPath.QuorumPrune | InfoFastPath.FastReply;

/** Values of InfoReply.storage. */
export enum InfoStorage {
  Memory = 0,
  Off = 1,
  Interval = 2,
  Always = 3,
}

/** Values of InfoReply.app. */
export enum InfoApp {
  Kv = 1,
  Null = 2,
}

// ---- Kernel-side tables shared by the eBPF programs and the loader (src/kernel). ----

/** One row of the peer table (BPF array map indexed by replica index), filled by `setup`. */
export const peerEntry = layout("electrode_peer", "A replica as the tc broadcast program rewrites clones to it.", [
  ["ip", "u32", "IPv4 address, network byte order"],
  ["port", "u16", "UDP port, network byte order"],
  ["valid", "u8", "1 when this row is a configured replica"],
  ["pad", "u8", "zero"],
  ["mac", "u8", "Ethernet address", 6],
  ["pad2", "u16", "zero"],
]);

/** Load-time configuration of the tc broadcast program (its `.rodata.cfg` section). */
export const tcConfig = layout("electrode_tc_config", "Set by the loader from the cluster config before load.", [
  ["cluster", "u32", "cluster id, as in every header"],
  ["self_index", "u32", "this replica's index"],
  ["replica_count", "u32", "n"],
  ["port", "u16", "this replica's UDP port, host byte order"],
  ["pad", "u16", "zero"],
]);

/** Per-CPU counters of the tc broadcast program, by index. */
export enum BroadcastCounter {
  Matched = 0,
  Clones = 1,
  CloneErrors = 2,
  Passed = 3,
}
export const broadcastCounterCount = 4;

/** Load-time configuration of the XDP program (its `.rodata.cfg` section). */
export const xdpConfig = layout("electrode_xdp_config", "Set by the loader from the cluster config before load.", [
  ["cluster", "u32", "cluster id, as in every header"],
  ["self_index", "u32", "this replica's index"],
  ["replica_count", "u32", "n"],
  ["quorum", "u32", "f: follower acks that, with the leader's own, make a quorum"],
  ["port", "u16", "this replica's UDP port, host byte order"],
  ["prune", "u8", "1: quorum prune on (leader side)"],
  ["fast_reply", "u8", "1: fast reply on (follower side)"],
]);

/** What the replica tells the XDP program about itself; written on every status or view change
 * before the replica acts in the new state (under the map value's spin lock). The program runs only
 * while a replica process holds its XDP link, so a dead replica's kernel never acks. */
export const kernelStateLayout = layout("electrode_kstate", "Replica state as the XDP fast paths see it.", [
  ["status", "u32", "0 normal, 1 view change, 2 recovering (src/core Status)"],
  ["view", "u32", "current view"],
  ["leader", "u32", "index of the view's leader"],
  ["epoch", "u32", "drawn by each replica process at start: cursor and quorum slots of an earlier process do not count"],
  ["last_op", "u64", "op-number of the replica's log end, as far as user space holds it"],
  ["enable", "u32", "fast paths this replica process uses: KernelEnable bits (a loaded one stays off otherwise)"],
  ["pad", "u32", "zero"],
]);

/** Bits of electrode_kstate.enable. */
export enum KernelEnable {
  Prune = 0x1,
  FastReply = 0x2,
}

/** Fast reply hands each Prepare it acked to user space as one ring buffer record. */
export const fastRecord = layout("electrode_fast_record", "Ring buffer record: a Prepare acked in XDP.", [
  ["len", "u32", "bytes of the datagram that follow"],
  ["pad", "u32", "zero"],
  ["data", "u8", "the UDP payload: an electrode Prepare", datagramBytesMax],
]);

/** Slots of the leader's quorum table (slot = op mod this). At least the pipeline depth, so no two
 * ops in flight share a slot; checked against the config at setup. */
export const quorumSlotsCount = 4096;

/** Bytes of the fast-reply ring buffer (power of two): about 2,800 Prepares of maximum size. */
export const fastRingBytes = 4 << 20;

/** Per-CPU counters of the XDP program, by index: one per verdict. */
export enum XdpCounter {
  /** Follower: Prepare answered in XDP with a PrepareOk (XDP_TX) and handed to user space. */
  FastAcked = 0,
  /** Follower: Prepare passed up: status not normal, another view, or not from the view's leader. */
  FastPassState = 1,
  /** Follower: Prepare passed up: does not extend the log (gap, duplicate, resend). A Prepare whose
   * count is 0 or beyond its op counts as FastPassInvalid (user space cannot decode it either). */
  FastPassNotNext = 2,
  /** Follower: Prepare passed up: the ring buffer was full. */
  FastPassRingFull = 3,
  /** Follower: Prepare passed up: larger than one record (never for valid datagrams). */
  FastPassTooBig = 4,
  /** Leader: PrepareOk dropped, the quorum for its op is not complete yet. */
  PruneEarly = 5,
  /** Leader: PrepareOk dropped, its op already had its quorum (the first ack of this replica for it). */
  PruneLate = 6,
  /** Leader: PrepareOk dropped, the same replica already acked this op, whose quorum is not complete. */
  PruneDuplicate = 7,
  /** Leader: the PrepareOk that completes a quorum, passed up marked Quorum. */
  PassQuorum = 8,
  /** Leader: PrepareOk passed up unmarked: not the leader, not normal, or another view. */
  PassState = 9,
  /** Leader: PrepareOk passed up unmarked: its slot already holds a later op. */
  PassEvicted = 10,
  /** A replica message whose source is not the configured address of its sender: passed up (user
   * space drops it too), or dropped when it carries the Quorum flag. */
  Foreign = 11,
  /** Electrode traffic of another type (requests, commits, view change...): passed up. */
  PassOther = 12,
  /** Not electrode traffic for this replica (other ports, protocols, clusters): passed. */
  NotOurs = 13,
  /** Follower: Prepare passed up: it would not decode in user space (the entry count, an entry's
   * length or the body length lies, a u64 beyond u64ValueMax, IP and UDP lengths disagree): the
   * kernel acks only Prepares whose every entry the replica can read. */
  FastPassInvalid = 14,
  /** Leader: a repeated PrepareOk for an op that already had its quorum (a follower re-acks when
   * the leader's heartbeat shows the op uncommitted), passed up marked Quorum again: the first
   * marked ack may have been lost after XDP passed it (a full socket buffer), and with no later
   * op to commit over it, this is the op's way to commit. */
  PassQuorumRepeat = 15,
}
export const xdpCounterCount = 16;

export const allLayouts = [
  header,
  entryHead,
  clientBody,
  prepareBody,
  doViewChangeBody,
  readIndexBody,
  getStateBody,
  newStateBody,
  recoveryBody,
  recoveryResponseBody,
  infoBody,
  infoReplyBody,
  getSnapshotBody,
  snapshotChunkBody,
  evictedBody,
  peerEntry,
  tcConfig,
  xdpConfig,
  kernelStateLayout,
  fastRecord,
] as const;

/** Most entries one Prepare can carry (each takes at least an entry head): bounds the XDP program's
 * loop over a Prepare's entries. */
export const prepareEntriesMax = Math.floor((datagramBytesMax - header.size - prepareBody.size) / entryHead.size);

/** Largest operation (request payload) that fits one Prepare with its header and entry head, and
 * one Request with its body head. */
export const opBytesMax = Math.min(datagramBytesMax - header.size - prepareBody.size - entryHead.size, datagramBytesMax - header.size - clientBody.size);
