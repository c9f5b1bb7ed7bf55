// Binary codec for electrode messages. Offsets come from layout.ts only.
//
// Decoding is total: any byte string yields either a message or a named reason for dropping it.
// Payload bytes are copied out of the receive buffer, because the log outlives the buffer.

import {
  clientBody,
  datagramBytesMax,
  doViewChangeBody,
  entryHead,
  fieldBytes,
  getStateBody,
  header,
  magic,
  MessageType,
  messageTypeCount,
  newStateBody,
  prepareBody,
  recoveryBody,
  recoveryResponseBody,
  senderClient,
  version,
  type Field,
} from "./layout.ts";
import type { Entry, Message } from "./messages.ts";

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
const u53Max = Number.MAX_SAFE_INTEGER;

class RangeFail extends Error {}
class LengthFail extends Error {}

function readField(view: DataView, base: number, field: Field): number {
  const at = base + field.offset;
  if (at + fieldBytes[field.type] > view.byteLength) throw new LengthFail();
  switch (field.type) {
    case "u8":
      return view.getUint8(at);
    case "u16":
      return view.getUint16(at, true);
    case "u32":
      return view.getUint32(at, true);
    case "u64": {
      const lo = view.getUint32(at, true);
      const hi = view.getUint32(at + 4, true);
      const value = hi * two32 + lo;
      if (value > u53Max) throw new RangeFail();
      return value;
    }
  }
}

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

/** Bytes one entry takes on the wire. */
export function entryBytes(entry: Entry): number {
  return entryHead.size + entry.op.length;
}

/** Bytes available for entries in a Prepare (after header and Prepare head). */
export const prepareEntriesBytesMax = datagramBytesMax - header.size - prepareBody.size;
/** Bytes available for entries in a NewState. */
export const newStateEntriesBytesMax = datagramBytesMax - header.size - newStateBody.size;

export class Codec {
  /** `cluster` is stamped on every encoded message and required on every decoded one. */
  constructor(readonly cluster: number) {}

  /** Encodes `msg` into `buf` and returns its length. Throws if it does not fit (a caller bug:
   * batches are split before encoding). */
  encode(msg: Message, buf: Uint8Array, flags = 0): number {
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
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
        end = writeClientBody(view, buf, body, msg.clientId, msg.requestNum, msg.op);
        break;
      case MessageType.Reply:
        ({ sender, view: msgView } = msg);
        op = msg.opNum;
        end = writeClientBody(view, buf, body, msg.clientId, msg.requestNum, msg.result);
        break;
      case MessageType.Prepare:
        ({ sender, view: msgView, commit } = msg);
        op = msg.opNum;
        writeField(view, body, prepareBody.fields.count, msg.entries.length);
        end = writeEntries(view, buf, body + prepareBody.size, msg.entries);
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
        writeField(view, body, newStateBody.fields.count, msg.entries.length);
        end = writeEntries(view, buf, body + newStateBody.size, msg.entries);
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
        end = body + recoveryResponseBody.size;
        break;
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

  decode(bytes: Uint8Array): Decoded {
    if (bytes.length < header.size) return { ok: false, error: "short" };
    if (bytes.length > datagramBytesMax) return { ok: false, error: "oversize" };
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const h = header.fields;
    try {
      if (readField(view, 0, h.magic) !== magic) return { ok: false, error: "magic" };
      if (readField(view, 0, h.version) !== version) return { ok: false, error: "version" };
      const type = readField(view, 0, h.type);
      if (type < 1 || type > messageTypeCount) return { ok: false, error: "type" };
      if (header.size + readField(view, 0, h.body_len) !== bytes.length) {
        return { ok: false, error: "length" };
      }
      if (readField(view, 0, h.cluster) !== this.cluster) return { ok: false, error: "cluster" };
      const msg = decodeBody(type as MessageType, view, bytes);
      return { ok: true, msg, flags: readField(view, 0, h.flags) };
    } catch (e) {
      if (e instanceof RangeFail) return { ok: false, error: "range" };
      if (e instanceof LengthFail) return { ok: false, error: "length" };
      throw e;
    }
  }
}

function writeClientBody(
  view: DataView,
  buf: Uint8Array,
  at: number,
  clientId: number,
  requestNum: number,
  payload: Uint8Array,
): number {
  const end = at + clientBody.size + payload.length;
  if (end > buf.length) throw new Error(`message of ${end} bytes exceeds buffer of ${buf.length}`);
  writeField(view, at, clientBody.fields.client_id, clientId);
  writeField(view, at, clientBody.fields.request_num, requestNum);
  writeField(view, at, clientBody.fields.len, payload.length);
  buf.set(payload, at + clientBody.size);
  return end;
}

function writeEntries(view: DataView, buf: Uint8Array, at: number, entries: readonly Entry[]): number {
  let pos = at;
  for (const entry of entries) {
    const end = pos + entryBytes(entry);
    if (end > buf.length) throw new Error(`entries exceed buffer of ${buf.length} bytes`);
    writeField(view, pos, entryHead.fields.client_id, entry.clientId);
    writeField(view, pos, entryHead.fields.request_num, entry.requestNum);
    writeField(view, pos, entryHead.fields.len, entry.op.length);
    buf.set(entry.op, pos + entryHead.size);
    pos = end;
  }
  return pos;
}

function readEntries(view: DataView, bytes: Uint8Array, at: number, count: number): Entry[] {
  const entries: Entry[] = [];
  let pos = at;
  for (let i = 0; i < count; i++) {
    const clientId = readField(view, pos, entryHead.fields.client_id);
    const requestNum = readField(view, pos, entryHead.fields.request_num);
    const len = readField(view, pos, entryHead.fields.len);
    const start = pos + entryHead.size;
    if (start + len > bytes.length) throw new LengthFail();
    entries.push({ clientId, requestNum, op: bytes.slice(start, start + len) });
    pos = start + len;
  }
  if (pos !== bytes.length) throw new LengthFail();
  return entries;
}

function readClientPayload(view: DataView, bytes: Uint8Array, at: number) {
  const clientId = readField(view, at, clientBody.fields.client_id);
  const requestNum = readField(view, at, clientBody.fields.request_num);
  const len = readField(view, at, clientBody.fields.len);
  const start = at + clientBody.size;
  if (start + len !== bytes.length) throw new LengthFail();
  return { clientId, requestNum, payload: bytes.slice(start, start + len) };
}

function expectBodyEnd(bytes: Uint8Array, end: number): void {
  if (end !== bytes.length) throw new LengthFail();
}

function decodeBody(type: MessageType, view: DataView, bytes: Uint8Array): Message {
  const h = header.fields;
  const body = header.size;
  const sender = readField(view, 0, h.sender);
  const msgView = readField(view, 0, h.view);
  const opNum = readField(view, 0, h.op);
  const commit = readField(view, 0, h.commit);
  switch (type) {
    case MessageType.Request: {
      const { clientId, requestNum, payload } = readClientPayload(view, bytes, body);
      return { type, view: msgView, clientId, requestNum, op: payload };
    }
    case MessageType.Reply: {
      const { clientId, requestNum, payload } = readClientPayload(view, bytes, body);
      return { type, view: msgView, sender, opNum, clientId, requestNum, result: payload };
    }
    case MessageType.Prepare: {
      const count = readField(view, body, prepareBody.fields.count);
      const entries = readEntries(view, bytes, body + prepareBody.size, count);
      if (count === 0 || opNum < count) throw new LengthFail();
      return { type, view: msgView, sender, opNum, commit, entries };
    }
    case MessageType.PrepareOk:
      expectBodyEnd(bytes, body);
      return { type, view: msgView, sender, opNum };
    case MessageType.Commit:
      expectBodyEnd(bytes, body);
      return { type, view: msgView, sender, opNum, commit };
    case MessageType.StartViewChange:
      expectBodyEnd(bytes, body);
      return { type, view: msgView, sender };
    case MessageType.DoViewChange: {
      expectBodyEnd(bytes, body + doViewChangeBody.size);
      const lastNormalView = readField(view, body, doViewChangeBody.fields.last_normal_view);
      return { type, view: msgView, sender, lastNormalView, opNum, commit };
    }
    case MessageType.StartView:
      expectBodyEnd(bytes, body);
      return { type, view: msgView, sender, opNum, commit };
    case MessageType.GetState:
      expectBodyEnd(bytes, body + getStateBody.size);
      return { type, view: msgView, sender, fromOp: readField(view, body, getStateBody.fields.from_op) };
    case MessageType.NewState: {
      const fromOp = readField(view, body, newStateBody.fields.from_op);
      const count = readField(view, body, newStateBody.fields.count);
      const entries = readEntries(view, bytes, body + newStateBody.size, count);
      if (fromOp + count > u53Max) throw new RangeFail();
      return { type, view: msgView, sender, opNum, commit, fromOp, entries };
    }
    case MessageType.Recovery:
      expectBodyEnd(bytes, body + recoveryBody.size);
      return { type, sender, nonce: readField(view, body, recoveryBody.fields.nonce) };
    case MessageType.RecoveryResponse: {
      expectBodyEnd(bytes, body + recoveryResponseBody.size);
      const recovering = readField(view, body, recoveryResponseBody.fields.recovering);
      if (recovering > 1) throw new LengthFail();
      const nonce = readField(view, body, recoveryResponseBody.fields.nonce);
      return { type, view: msgView, sender, nonce, recovering: recovering === 1, opNum, commit };
    }
  }
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
