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
}

export const messageTypeCount = 12;

export enum Flag {
  /** User space asks the tc egress program to fan this datagram out to every peer. */
  Broadcast = 0x01,
  /** Set by the tc program on each clone, so a clone is never broadcast again. */
  Clone = 0x02,
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
  ["request_num", "u64", "client's request number"],
  ["len", "u16", "bytes of operation (Request) or result (Reply) that follow"],
]);

/** Prepare body head: `count` entries follow, for ops header.op-count+1 .. header.op. */
export const prepareBody = layout("electrode_prepare_body", "Prepare body head; entries follow.", [
  ["count", "u16", "entries that follow, ending at header.op"],
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
  ["recovering", "u8", "1 when the responder is itself recovering (it holds no state)"],
]);

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

export const allLayouts = [
  header,
  entryHead,
  clientBody,
  prepareBody,
  doViewChangeBody,
  getStateBody,
  newStateBody,
  recoveryBody,
  recoveryResponseBody,
  peerEntry,
  tcConfig,
] as const;

/** Largest operation (request payload) that fits one Prepare with its header and entry head. */
export const opBytesMax = datagramBytesMax - header.size - prepareBody.size - entryHead.size;
