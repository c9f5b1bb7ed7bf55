// Binary codec for electrode messages. Offsets come from layout.ts only.
//
// Decoding is total: any byte string yields either a message or a named reason for dropping it.
// A request's op and a reply's result are copied out of the receive buffer (they are kept); the
// entries of Prepare and NewState and the bytes of a SnapshotChunk are views into it, checked
// entry by entry: whoever keeps them copies them (the log does, into its own memory).

import {
  clientBody,
  datagramBytesMax,
  doViewChangeBody,
  entryHead,
  evictedBody,
  fieldBytes,
  getSnapshotBody,
  getStateBody,
  header,
  InfoApp,
  infoBody,
  infoFastPathAll,
  infoReplyBody,
  InfoStorage,
  magic,
  MessageType,
  messageTypeCount,
  newStateBody,
  prepareBody,
  ReadMode,
  readIndexBody,
  recoveryBody,
  recoveryResponseBody,
  senderClient,
  snapshotChunkBody,
  u64ValueMax,
  version,
  type Field,
} from "./layout.ts";
import { entryBytes } from "./entries.ts";
import type { Entries, Message } from "./messages.ts";

export { entryBytes };
import { Status } from "../core/types.ts";

export type DecodeError =
  | "short"
  | "magic"
  | "version"
  | "type"
  | "length"
  | "cluster"
  | "range"
  | "oversize";

export const decodeErrors: readonly DecodeError[] = [
  "short",
  "magic",
  "version",
  "type",
  "length",
  "cluster",
  "range",
  "oversize",
];

export type Decoded = { ok: true; msg: Message; flags: number } | { ok: false; error: DecodeError };

const two32 = 2 ** 32;
/** Largest u64 we accept: numbers stay exact in a JS double. */
const u53Max = u64ValueMax;

/** Up to this many bytes, decode copies a payload with a loop instead of slice(). */
const smallCopyMax = 48;

class RangeFail extends Error {}
class LengthFail extends Error {}

function writeField(view: DataView, base: number, field: Field, value: number): void {
  const at = base + field.offset;
  switch (field.type) {
    case "u8":
      view.setUint8(at, value);
      return;
    case "u16":
      view.setUint16(at, value, true);
      return;
    case "u32":
      view.setUint32(at, value, true);
      return;
    case "u64":
      view.setUint32(at, value % two32, true);
      view.setUint32(at + 4, Math.floor(value / two32), true);
      return;
  }
}

/** One DataView per backing buffer, kept while the same buffer comes back (the socket's receive
 * and send buffers do, every time): a view per message would be an allocation per message. */
class ViewCache {
  private view: DataView = new DataView(new ArrayBuffer(0));
  of(bytes: Uint8Array): DataView {
    const buffer = bytes.buffer;
    if (this.view.buffer !== buffer) this.view = new DataView(buffer);
    return this.view;
  }
}

/** Bytes available for entries in a Prepare (after header and Prepare head). */
export const prepareEntriesBytesMax = datagramBytesMax - header.size - prepareBody.size;
/** Bytes available for entries in a NewState. */
export const newStateEntriesBytesMax = datagramBytesMax - header.size - newStateBody.size;
/** Checkpoint bytes one SnapshotChunk carries. */
export const snapshotChunkBytesMax = datagramBytesMax - header.size - snapshotChunkBody.size;

export class Codec {
  /** Flags of the message `read` returned last. */
  flags = 0;
  private readonly encodeViews = new ViewCache();
  private readonly decodeViews = new ViewCache();
  // The datagram `read` is decoding: its bytes and where it starts and ends in `rv`'s buffer.
  private rv: DataView = new DataView(new ArrayBuffer(0));
  private rbytes: Uint8Array = new Uint8Array(0);
  private rbase = 0;
  private rend = 0;

  /** `cluster` is stamped on every encoded message and required on every decoded one. */
  constructor(readonly cluster: number) {}

  /** Encodes `msg` into `buf` and returns its length. Throws if it does not fit (a caller bug:
   * batches are split before encoding). */
  encode(msg: Message, buf: Uint8Array, flags = 0): number {
    // A buffer of its own (the senders' are) gets the cached view; a window into a larger one a
    // view of just that window, so nothing is written past its end.
    const view = buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength ? this.encodeViews.of(buf) : new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const h = header.fields;
    const body = header.size;
    let end = body;
    let sender = senderClient;
    let msgView = 0;
    let op = 0;
    let commit = 0;
    switch (msg.type) {
      case MessageType.Request:
        msgView = msg.view;
        op = msg.read ?? ReadMode.Log;
        end = writeClientBody(view, buf, body, msg.clientId, msg.requestNum, msg.session, msg.op);
        break;
      case MessageType.Reply:
        ({ sender, view: msgView } = msg);
        op = msg.opNum;
        end = writeClientBody(view, buf, body, msg.clientId, msg.requestNum, msg.session, msg.result);
        break;
      case MessageType.Prepare:
        ({ sender, view: msgView, commit } = msg);
        op = msg.opNum;
        writeField(view, body, prepareBody.fields.count, msg.entries.count);
        end = writeEntries(buf, body + prepareBody.size, msg.entries);
        break;
      case MessageType.PrepareOk:
        ({ sender, view: msgView } = msg);
        op = msg.opNum;
        break;
      case MessageType.Commit:
      case MessageType.StartView:
        ({ sender, view: msgView, commit } = msg);
        op = msg.opNum;
        break;
      case MessageType.ReadIndex:
        ({ sender, view: msgView, commit } = msg);
        op = msg.opNum;
        writeField(view, body, readIndexBody.fields.round, msg.round);
        end = body + readIndexBody.size;
        break;
      case MessageType.ReadIndexOk:
        ({ sender, view: msgView } = msg);
        op = msg.round;
        break;
      case MessageType.StartViewChange:
        ({ sender, view: msgView } = msg);
        break;
      case MessageType.DoViewChange:
        ({ sender, view: msgView, commit } = msg);
        op = msg.opNum;
        writeField(view, body, doViewChangeBody.fields.last_normal_view, msg.lastNormalView);
        end = body + doViewChangeBody.size;
        break;
      case MessageType.GetState:
        ({ sender, view: msgView } = msg);
        writeField(view, body, getStateBody.fields.from_op, msg.fromOp);
        end = body + getStateBody.size;
        break;
      case MessageType.NewState:
        ({ sender, view: msgView, commit } = msg);
        op = msg.opNum;
        writeField(view, body, newStateBody.fields.from_op, msg.fromOp);
        writeField(view, body, newStateBody.fields.count, msg.entries.count);
        end = writeEntries(buf, body + newStateBody.size, msg.entries);
        break;
      case MessageType.GetSnapshot:
        ({ sender, view: msgView } = msg);
        op = msg.checkpointOp;
        writeField(view, body, getSnapshotBody.fields.offset, msg.offset);
        end = body + getSnapshotBody.size;
        break;
      case MessageType.SnapshotChunk: {
        ({ sender, view: msgView, commit } = msg);
        op = msg.checkpointOp;
        const f = snapshotChunkBody.fields;
        writeField(view, body, f.source_op, msg.opNum);
        writeField(view, body, f.total, msg.total);
        writeField(view, body, f.offset, msg.offset);
        writeField(view, body, f.checksum, msg.checksum);
        writeField(view, body, f.len, msg.bytes.length);
        writeField(view, body, f.pad, 0);
        end = body + snapshotChunkBody.size + msg.bytes.length;
        if (end > buf.length) throw new Error(`message of ${end} bytes exceeds buffer of ${buf.length}`);
        buf.set(msg.bytes, body + snapshotChunkBody.size);
        break;
      }
      case MessageType.Evicted:
        ({ sender, view: msgView } = msg);
        writeField(view, body, evictedBody.fields.client_id, msg.clientId);
        writeField(view, body, evictedBody.fields.request_num, msg.requestNum);
        end = body + evictedBody.size;
        break;
      case MessageType.Recovery:
        sender = msg.sender;
        writeField(view, body, recoveryBody.fields.nonce, msg.nonce);
        end = body + recoveryBody.size;
        break;
      case MessageType.RecoveryResponse:
        ({ sender, view: msgView, commit } = msg);
        op = msg.opNum;
        writeField(view, body, recoveryResponseBody.fields.nonce, msg.nonce);
        writeField(view, body, recoveryResponseBody.fields.recovering, msg.recovering ? 1 : 0);
        writeField(view, body, recoveryResponseBody.fields.last_normal_view, msg.lastNormalView);
        end = body + recoveryResponseBody.size;
        break;
      case MessageType.Info:
        end = body + infoBody.size;
        if (end > buf.length) break; // refused below
        writeField(view, body, infoBody.fields.nonce, msg.nonce);
        buf.fill(0, body + infoBody.fields.pad.offset, end);
        break;
      case MessageType.InfoReply: {
        ({ sender, view: msgView, commit } = msg);
        op = msg.opNum;
        const f = infoReplyBody.fields;
        writeField(view, body, f.nonce, msg.nonce);
        writeField(view, body, f.uptime_s, msg.uptimeS);
        writeField(view, body, f.status, msg.status);
        writeField(view, body, f.fast_paths, msg.fastPaths);
        writeField(view, body, f.app, msg.app);
        writeField(view, body, f.storage, msg.storage);
        writeField(view, body, f.checkpoint_op, msg.checkpointOp);
        writeField(view, body, f.log_first_op, msg.logFirstOp);
        writeField(view, body, f.log_bytes, msg.logBytes);
        writeField(view, body, f.sessions, msg.sessions);
        writeField(view, body, f.evictions, msg.evictions);
        end = body + infoReplyBody.size;
        break;
      }
    }
    if (end > datagramBytesMax || end > buf.length) {
      throw new Error(`message of ${end} bytes exceeds ${Math.min(datagramBytesMax, buf.length)}`);
    }
    writeField(view, 0, h.magic, magic);
    writeField(view, 0, h.version, version);
    writeField(view, 0, h.type, msg.type);
    writeField(view, 0, h.flags, flags);
    writeField(view, 0, h.sender, sender);
    writeField(view, 0, h.body_len, end - body);
    writeField(view, 0, h.cluster, this.cluster);
    writeField(view, 0, h.view, msgView);
    writeField(view, 0, h.op, op);
    writeField(view, 0, h.commit, commit);
    return end;
  }

  /** Decodes one datagram (tests and tools): the message and its flags, or why it is dropped. */
  decode(bytes: Uint8Array): Decoded {
    const msg = this.read(bytes);
    return typeof msg === "string" ? { ok: false, error: msg } : { ok: true, msg, flags: this.flags };
  }

  /**
   * The hot paths' decode of the `len` bytes at `bytes[offset..]`: the message (its flags in
   * `flags`), or why it is dropped. It allocates the message and the bytes the message keeps
   * (entry ops, a request's op, a reply's result: copies, because the log outlives the receive
   * buffer) and nothing else.
   */
  read(bytes: Uint8Array, len = bytes.length, offset = 0): Message | DecodeError {
    if (len < header.size) return "short";
    if (len > datagramBytesMax) return "oversize";
    this.rv = this.decodeViews.of(bytes);
    this.rbytes = bytes;
    this.rbase = bytes.byteOffset + offset;
    this.rend = Math.min(this.rbase + len, bytes.byteOffset + bytes.length);
    const h = header.fields;
    try {
      if (this.field(0, h.magic) !== magic) return "magic";
      if (this.field(0, h.version) !== version) return "version";
      const type = this.field(0, h.type);
      if (type < 1 || type > messageTypeCount) return "type";
      if (header.size + this.field(0, h.body_len) !== len) return "length";
      if (this.field(0, h.cluster) !== this.cluster) return "cluster";
      const msg = this.body(type as MessageType);
      this.flags = this.field(0, h.flags);
      return msg;
    } catch (e) {
      if (e instanceof RangeFail) return "range";
      if (e instanceof LengthFail) return "length";
      throw e;
    }
  }

  /** A field at `at` bytes into the datagram being read. */
  private field(at: number, field: Field): number {
    const pos = this.rbase + at + field.offset;
    if (pos + fieldBytes[field.type] > this.rend) throw new LengthFail();
    const view = this.rv;
    switch (field.type) {
      case "u8":
        return view.getUint8(pos);
      case "u16":
        return view.getUint16(pos, true);
      case "u32":
        return view.getUint32(pos, true);
      case "u64": {
        const lo = view.getUint32(pos, true);
        const hi = view.getUint32(pos + 4, true);
        const value = hi * two32 + lo;
        if (value > u53Max) throw new RangeFail();
        return value;
      }
    }
  }

  /** A copy of `len` bytes at `at` bytes into the datagram being read. */
  private copy(at: number, len: number): Uint8Array {
    const from = this.rbase - this.rbytes.byteOffset + at;
    if (len > smallCopyMax) return this.rbytes.slice(from, from + len);
    // Small ops (the common case) copy faster byte by byte than through slice (about 2x here).
    const out = new Uint8Array(len);
    const src = this.rbytes;
    for (let i = 0; i < len; i++) out[i] = src[from + i]!;
    return out;
  }

  /** Length of the datagram being read. */
  private get length(): number {
    return this.rend - this.rbase;
  }

  /** The `count` entries from `at` to the end of the datagram, checked entry by entry (ids and
   * request numbers exact in a double, ops within the datagram, nothing left over): a view. */
  private entries(at: number, count: number): Entries {
    let pos = at;
    for (let i = 0; i < count; i++) {
      this.field(pos, entryHead.fields.client_id);
      this.field(pos, entryHead.fields.request_num);
      const len = this.field(pos, entryHead.fields.len);
      const start = pos + entryHead.size;
      if (start + len > this.length) throw new LengthFail();
      pos = start + len;
    }
    if (pos !== this.length) throw new LengthFail();
    return { count, bytes: this.view(at, pos - at) };
  }

  /** A view of `len` bytes at `at` bytes into the datagram being read. */
  private view(at: number, len: number): Uint8Array {
    const from = this.rbase - this.rbytes.byteOffset + at;
    return this.rbytes.subarray(from, from + len);
  }

  /** The payload of a Request or Reply, after checking that it ends the datagram. */
  private clientPayload(): Uint8Array {
    const at = header.size;
    const len = this.field(at, clientBody.fields.len);
    const start = at + clientBody.size;
    if (start + len !== this.length) throw new LengthFail();
    return this.copy(start, len);
  }

  private bodyEnds(end: number): void {
    if (end !== this.length) throw new LengthFail();
  }

  private body(type: MessageType): Message {
    const h = header.fields;
    const body = header.size;
    const sender = this.field(0, h.sender);
    const msgView = this.field(0, h.view);
    const opNum = this.field(0, h.op);
    const commit = this.field(0, h.commit);
    switch (type) {
      case MessageType.Request: {
        const op = this.clientPayload();
        const f = clientBody.fields;
        if (opNum > ReadMode.Stale) throw new RangeFail();
        const request = { type, view: msgView, clientId: this.field(body, f.client_id), requestNum: this.field(body, f.request_num), session: this.field(body, f.session), op };
        return opNum === ReadMode.Log ? request : { ...request, read: opNum as ReadMode };
      }
      case MessageType.Reply: {
        const result = this.clientPayload();
        const f = clientBody.fields;
        return { type, view: msgView, sender, opNum, clientId: this.field(body, f.client_id), requestNum: this.field(body, f.request_num), session: this.field(body, f.session), result };
      }
      case MessageType.Prepare: {
        const count = this.field(body, prepareBody.fields.count);
        const entries = this.entries(body + prepareBody.size, count);
        if (count === 0 || opNum < count) throw new LengthFail();
        return { type, view: msgView, sender, opNum, commit, entries };
      }
      case MessageType.PrepareOk:
        this.bodyEnds(body);
        return { type, view: msgView, sender, opNum };
      case MessageType.Commit:
        this.bodyEnds(body);
        return { type, view: msgView, sender, opNum, commit };
      case MessageType.ReadIndex:
        this.bodyEnds(body + readIndexBody.size);
        return { type, view: msgView, sender, opNum, commit, round: this.field(body, readIndexBody.fields.round) };
      case MessageType.ReadIndexOk:
        this.bodyEnds(body);
        return { type, view: msgView, sender, round: opNum };
      case MessageType.StartViewChange:
        this.bodyEnds(body);
        return { type, view: msgView, sender };
      case MessageType.DoViewChange:
        this.bodyEnds(body + doViewChangeBody.size);
        return { type, view: msgView, sender, lastNormalView: this.field(body, doViewChangeBody.fields.last_normal_view), opNum, commit };
      case MessageType.StartView:
        this.bodyEnds(body);
        return { type, view: msgView, sender, opNum, commit };
      case MessageType.GetState:
        this.bodyEnds(body + getStateBody.size);
        return { type, view: msgView, sender, fromOp: this.field(body, getStateBody.fields.from_op) };
      case MessageType.NewState: {
        const fromOp = this.field(body, newStateBody.fields.from_op);
        const count = this.field(body, newStateBody.fields.count);
        const entries = this.entries(body + newStateBody.size, count);
        if (fromOp + count > u53Max) throw new RangeFail();
        return { type, view: msgView, sender, opNum, commit, fromOp, entries };
      }
      case MessageType.GetSnapshot:
        this.bodyEnds(body + getSnapshotBody.size);
        return { type, view: msgView, sender, checkpointOp: opNum, offset: this.field(body, getSnapshotBody.fields.offset) };
      case MessageType.SnapshotChunk: {
        const f = snapshotChunkBody.fields;
        const len = this.field(body, f.len);
        this.bodyEnds(body + snapshotChunkBody.size + len);
        const total = this.field(body, f.total);
        const offset = this.field(body, f.offset);
        if (offset + len > total || this.field(body, f.pad) !== 0) throw new RangeFail();
        const chunk = this.view(body + snapshotChunkBody.size, len);
        return { type, view: msgView, sender, checkpointOp: opNum, commit, opNum: this.field(body, f.source_op), total, checksum: this.field(body, f.checksum), offset, bytes: chunk };
      }
      case MessageType.Evicted:
        this.bodyEnds(body + evictedBody.size);
        return { type, view: msgView, sender, clientId: this.field(body, evictedBody.fields.client_id), requestNum: this.field(body, evictedBody.fields.request_num) };
      case MessageType.Recovery:
        this.bodyEnds(body + recoveryBody.size);
        return { type, sender, nonce: this.field(body, recoveryBody.fields.nonce) };
      case MessageType.RecoveryResponse: {
        this.bodyEnds(body + recoveryResponseBody.size);
        const recovering = this.field(body, recoveryResponseBody.fields.recovering);
        if (recovering > 1) throw new LengthFail();
        const nonce = this.field(body, recoveryResponseBody.fields.nonce);
        const lastNormalView = this.field(body, recoveryResponseBody.fields.last_normal_view);
        if (lastNormalView > msgView) throw new LengthFail();
        return { type, view: msgView, sender, nonce, recovering: recovering === 1, lastNormalView, opNum, commit };
      }
      case MessageType.Info:
        // Exactly the padded size: a replica answers only requests as large as its answer.
        this.bodyEnds(body + infoBody.size);
        return { type, nonce: this.field(body, infoBody.fields.nonce) };
      case MessageType.InfoReply: {
        this.bodyEnds(body + infoReplyBody.size);
        const f = infoReplyBody.fields;
        const status = this.field(body, f.status);
        const fastPaths = this.field(body, f.fast_paths);
        const app = this.field(body, f.app);
        const storage = this.field(body, f.storage);
        if (status > Status.Recovering || (fastPaths & ~infoFastPathAll) !== 0 || InfoApp[app] === undefined || InfoStorage[storage] === undefined) throw new RangeFail();
        const memory = { checkpointOp: this.field(body, f.checkpoint_op), logFirstOp: this.field(body, f.log_first_op), logBytes: this.field(body, f.log_bytes), sessions: this.field(body, f.sessions), evictions: this.field(body, f.evictions) };
        return { type, sender, view: msgView, opNum, commit, nonce: this.field(body, f.nonce), uptimeS: this.field(body, f.uptime_s), status, fastPaths, app, storage, ...memory };
      }
    }
  }
}

function writeClientBody(
  view: DataView,
  buf: Uint8Array,
  at: number,
  clientId: number,
  requestNum: number,
  session: number,
  payload: Uint8Array,
): number {
  const end = at + clientBody.size + payload.length;
  if (end > buf.length) throw new Error(`message of ${end} bytes exceeds buffer of ${buf.length}`);
  writeField(view, at, clientBody.fields.client_id, clientId);
  writeField(view, at, clientBody.fields.request_num, requestNum);
  writeField(view, at, clientBody.fields.session, session);
  writeField(view, at, clientBody.fields.len, payload.length);
  buf.set(payload, at + clientBody.size);
  return end;
}

function writeEntries(buf: Uint8Array, at: number, entries: Entries): number {
  const end = at + entries.bytes.length;
  if (end > buf.length) throw new Error(`entries exceed buffer of ${buf.length} bytes`);
  buf.set(entries.bytes, at);
  return end;
}

/** Stable 32-bit cluster id (FNV-1a) from the sorted replica addresses and f. */
export function clusterIdOf(addresses: readonly string[], f: number): number {
  let hash = 0x811c9dc5;
  const text = `f=${f};${addresses.join(",")}`;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}
