// A checkpoint: the replicated state after executing ops 1..op, as one self-checking byte string.
// Every replica takes one every checkpointOps committed ops (VR Revisited section 5): the log at or
// below it (minus a retained suffix) can then be dropped, and a replica that needs ops below some
// peer's compaction point, or that restarted with nothing, receives the checkpoint and then the
// log above it (state transfer by snapshot, fetch.ts). Replicas execute the same sequence, so the
// checkpoints of two replicas at one op are the same bytes.
//
// Layout (little-endian):
//   0  magic u32 "ECKP"      4  version u16, reserved u16
//   8  op u64               16  digest of the committed log at op: CRC-32 u32, xxHash32 u32
//  24  client table bytes u32, reserved u32
//  32  client table (client-table.ts), then the app's snapshot length u64 and its bytes
//  end CRC-32 u32 of everything before it

import { readU64, writeU64 } from "../wire/entries.ts";
import type { ClientTable } from "./client-table.ts";
import { Digest } from "./digest.ts";
import type { StateMachine } from "./types.ts";

const magic = 0x504b4345; // "ECKP"
export const checkpointVersion = 1;
const headBytes = 32;
const trailerBytes = 4;
/** Largest checkpoint a replica accepts from a peer (it allocates this much to assemble one). */
export const checkpointBytesMax = 1 << 30;

export interface Checkpoint {
  /** The state after ops 1..op. */
  readonly op: number;
  readonly digest: Digest;
  /** The whole checkpoint, trailer included: what is transferred and stored. */
  readonly bytes: Uint8Array;
  /** Its trailing CRC-32 (every chunk of a transfer names it). */
  readonly checksum: number;
}

/** A checkpoint read back from bytes (checked), with where its parts lie. */
export interface ParsedCheckpoint extends Checkpoint {
  readonly tableAt: number;
  readonly app: Uint8Array;
}

export class CheckpointError extends Error {}

/** Serializes the state after op `op`. */
export function takeCheckpoint(op: number, digest: Digest, clients: ClientTable, app: StateMachine): Checkpoint {
  const appBytes = app.snapshot();
  const tableBytes = clients.serializedBytes();
  const total = headBytes + tableBytes + 8 + appBytes.length + trailerBytes;
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, magic, true);
  view.setUint16(4, checkpointVersion, true);
  writeU64(view, 8, op);
  const [crc, xx] = digest.parts;
  view.setUint32(16, crc, true);
  view.setUint32(20, xx, true);
  view.setUint32(24, tableBytes, true);
  const tableEnd = clients.serialize(bytes, headBytes);
  writeU64(view, tableEnd, appBytes.length);
  bytes.set(appBytes, tableEnd + 8);
  const checksum = Bun.hash.crc32(bytes.subarray(0, total - trailerBytes));
  view.setUint32(total - trailerBytes, checksum, true);
  return { op, digest: digest.copy(), bytes, checksum };
}

/** Reads and checks a checkpoint's bytes; throws CheckpointError saying what is wrong. */
export function parseCheckpoint(bytes: Uint8Array): ParsedCheckpoint {
  if (bytes.length < headBytes + 4 + 8 + trailerBytes) throw new CheckpointError(`checkpoint of ${bytes.length} bytes is too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const checksum = view.getUint32(bytes.length - trailerBytes, true);
  const actual = Bun.hash.crc32(bytes.subarray(0, bytes.length - trailerBytes));
  if (checksum !== actual) throw new CheckpointError(`checkpoint checksum mismatch (stored ${checksum.toString(16)}, computed ${actual.toString(16)})`);
  if (view.getUint32(0, true) !== magic) throw new CheckpointError("not a checkpoint (bad magic)");
  const version = view.getUint16(4, true);
  if (version !== checkpointVersion) throw new CheckpointError(`checkpoint version ${version}, this electrode reads ${checkpointVersion}`);
  const op = readU64(view, 8);
  const digest = new Digest(view.getUint32(16, true), view.getUint32(20, true));
  const tableBytes = view.getUint32(24, true);
  const appLenAt = headBytes + tableBytes;
  if (appLenAt + 8 + trailerBytes > bytes.length) throw new CheckpointError("checkpoint's client table runs past its end");
  const appLen = readU64(view, appLenAt);
  if (appLenAt + 8 + appLen + trailerBytes !== bytes.length) throw new CheckpointError("checkpoint's app state does not end where the checkpoint does");
  return { op, digest, bytes, checksum, tableAt: headBytes, app: bytes.subarray(appLenAt + 8, appLenAt + 8 + appLen) };
}
