// The key-value state machine, and the op/result encoding clients use.
//
// op:     put    = [0x01][keyLen u16 LE][key][value ...rest]
//         get    = [0x02][keyLen u16 LE][key]
//         delete = [0x03][keyLen u16 LE][key]
//         cas    = [0x04][keyLen u16 LE][key][expected present u8 (0: absent, 1: present)]
//                  [expectedLen u16 LE, only when present][expected][value ...rest]
// result: [status u8][value ...rest]
//         put: ok. get: ok + value, or not found. delete: ok (it was there) or not found (it was
//         not; either way it is absent now). cas: ok (swapped), or mismatch + the current value,
//         or not found (the key is absent and a value was expected). Bad op: status 2.
// A malformed op never throws: it yields status 2 (every replica computes the same).
// Keys and values are byte strings (a string argument is taken as its UTF-8 bytes). Keys are
// compared as bytes: two different byte strings are two different keys, even when they are not
// valid UTF-8 (a UTF-8 decode would turn both into U+FFFD and make them collide).
//
// Size limits: a key is at most kvKeyBytesMax bytes, and a whole op (head, key, value, and a
// cas's expected value) at most requestOpBytesMax (one op travels in one datagram, and a
// replica refuses a longer one), checked by the
// encoders with a KvSizeError naming the part that is too big.

import type { StateMachine } from "../core/types.ts";
import { requestOpBytesMax } from "../core/log.ts";

export enum KvStatus {
  Ok = 0,
  NotFound = 1,
  BadOp = 2,
  /** cas: the key holds a value other than the expected one (the result carries it). */
  Mismatch = 3,
}

/** Longest key, in bytes. */
export const kvKeyBytesMax = 1024;
/** Bytes of a put's head (opcode and key length): key + value may take requestOpBytesMax minus this. */
export const kvPutHeadBytes = 3;
/** Bytes of a cas's head with an expected value: opcode, key length, present flag, expected length. */
export const kvCasHeadBytes = 6;

/** Each op's first byte. */
export const kvOpCodes = { put: 1, get: 2, delete: 3, cas: 4 } as const;
const { put: opPut, get: opGet, delete: opDelete, cas: opCas } = kvOpCodes;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A key or value as given: a string means its UTF-8 bytes. */
export type Bytes = string | Uint8Array;

/** A key or value too big for the kv store (thrown before anything is sent). */
export class KvSizeError extends RangeError {}

function bytesOf(b: Bytes): Uint8Array {
  return typeof b === "string" ? encoder.encode(b) : b;
}

function checkSizes(k: Uint8Array, opBytes: number, what: string): void {
  if (k.length > kvKeyBytesMax) throw new KvSizeError(`key of ${k.length} bytes: at most ${kvKeyBytesMax}`);
  if (opBytes > requestOpBytesMax) throw new KvSizeError(`${what} of ${opBytes} bytes in all: at most ${requestOpBytesMax} (an op travels in one datagram)`);
}

/** [kind][keyLen][key], with `extra` bytes of room after it. */
function opHead(kind: number, k: Uint8Array, extra: number): Uint8Array {
  const op = new Uint8Array(3 + k.length + extra);
  op[0] = kind;
  op[1] = k.length & 0xff;
  op[2] = k.length >> 8;
  op.set(k, 3);
  return op;
}

export function encodePut(key: Bytes, value: Bytes): Uint8Array {
  const k = bytesOf(key);
  const v = bytesOf(value);
  checkSizes(k, kvPutHeadBytes + k.length + v.length, "a put's key and value with their head");
  const op = opHead(opPut, k, v.length);
  op.set(v, 3 + k.length);
  return op;
}

export function encodeGet(key: Bytes): Uint8Array {
  const k = bytesOf(key);
  checkSizes(k, 3 + k.length, "a get");
  return opHead(opGet, k, 0);
}

export function encodeDelete(key: Bytes): Uint8Array {
  const k = bytesOf(key);
  checkSizes(k, 3 + k.length, "a delete");
  return opHead(opDelete, k, 0);
}

/** Put `value` if the key holds `expected` (null: if the key is absent). */
export function encodeCas(key: Bytes, expected: Bytes | null, value: Bytes): Uint8Array {
  const k = bytesOf(key);
  const e = expected === null ? null : bytesOf(expected);
  const v = bytesOf(value);
  const head = e === null ? 4 : kvCasHeadBytes;
  checkSizes(k, head + k.length + (e?.length ?? 0) + v.length, "a cas's key, expected value and value with their head");
  const op = opHead(opCas, k, head - 3 + (e?.length ?? 0) + v.length);
  let at = 3 + k.length;
  op[at++] = e === null ? 0 : 1;
  if (e !== null) {
    op[at++] = e.length & 0xff;
    op[at++] = e.length >> 8;
    op.set(e, at);
    at += e.length;
  }
  op.set(v, at);
  return op;
}

/** The status, and the value (get: the value read; cas mismatch: the current value) as UTF-8 text. */
export function decodeKvResult(result: Uint8Array): { status: KvStatus; value: string } {
  return { status: kvResultStatus(result), value: decoder.decode(result.subarray(1)) };
}

export function kvResultStatus(result: Uint8Array): KvStatus {
  return result.length === 0 ? KvStatus.BadOp : (result[0]! as KvStatus);
}

/** The value's bytes (a view into `result`). */
export function kvResultBytes(result: Uint8Array): Uint8Array {
  return result.subarray(1);
}

function result(status: KvStatus, value?: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + (value?.length ?? 0));
  out[0] = status;
  if (value) out.set(value, 1);
  return out;
}

/** The bytes [from, to) as a string of char codes 0..255: a lossless map key. */
function byteString(bytes: Uint8Array, from: number, to: number): string {
  let key = "";
  for (let i = from; i < to; i++) key += String.fromCharCode(bytes[i]!);
  return key;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The key of a byte string made by byteString. */
function keyBytes(key: string, out: Uint8Array, at: number): void {
  for (let i = 0; i < key.length; i++) out[at + i] = key.charCodeAt(i);
}

export class KvMachine implements StateMachine {
  private data = new Map<string, Uint8Array>();

  execute(op: Uint8Array): Uint8Array {
    if (op.length < 3) return result(KvStatus.BadOp);
    const keyLen = op[1]! | (op[2]! << 8);
    const keyEnd = 3 + keyLen;
    if (keyEnd > op.length) return result(KvStatus.BadOp);
    const key = byteString(op, 3, keyEnd);
    switch (op[0]) {
      case opPut:
        this.data.set(key, op.slice(keyEnd));
        return result(KvStatus.Ok);
      case opGet: {
        if (op.length !== keyEnd) return result(KvStatus.BadOp);
        const value = this.data.get(key);
        return value ? result(KvStatus.Ok, value) : result(KvStatus.NotFound);
      }
      case opDelete:
        if (op.length !== keyEnd) return result(KvStatus.BadOp);
        return result(this.data.delete(key) ? KvStatus.Ok : KvStatus.NotFound);
      case opCas:
        return this.cas(key, op, keyEnd);
      default:
        return result(KvStatus.BadOp);
    }
  }

  /** The cas whose key ends at `at` in `op` (see the file comment for its layout). */
  private cas(key: string, op: Uint8Array, at: number): Uint8Array {
    if (at + 1 > op.length || op[at]! > 1) return result(KvStatus.BadOp);
    const current = this.data.get(key);
    let matches = current === undefined;
    let valueAt = at + 1;
    if (op[at] === 1) {
      if (at + 3 > op.length) return result(KvStatus.BadOp);
      const expectedLen = op[at + 1]! | (op[at + 2]! << 8);
      valueAt = at + 3 + expectedLen;
      if (valueAt > op.length) return result(KvStatus.BadOp);
      matches = current !== undefined && equalBytes(current, op.subarray(at + 3, valueAt));
    }
    if (matches) {
      this.data.set(key, op.slice(valueAt));
      return result(KvStatus.Ok);
    }
    return current === undefined ? result(KvStatus.NotFound) : result(KvStatus.Mismatch, current);
  }

  /** Gets only read: they can be answered without a log write. */
  readOnly(op: Uint8Array): boolean {
    return op[0] === opGet;
  }

  query(op: Uint8Array): Uint8Array {
    return this.execute(op);
  }

  get size(): number {
    return this.data.size;
  }

  /** count u32, then per key (in insertion order, the same on every replica): key length u16,
   * value length u32, key bytes, value bytes. */
  snapshot(): Uint8Array {
    let total = 4;
    for (const [key, value] of this.data) total += 6 + key.length + value.length;
    const out = new Uint8Array(total);
    const view = new DataView(out.buffer);
    view.setUint32(0, this.data.size, true);
    let at = 4;
    for (const [key, value] of this.data) {
      view.setUint16(at, key.length, true);
      view.setUint32(at + 2, value.length, true);
      keyBytes(key, out, at + 6);
      out.set(value, at + 6 + key.length);
      at += 6 + key.length + value.length;
    }
    return out;
  }

  restore(snapshot: Uint8Array): void {
    const view = new DataView(snapshot.buffer, snapshot.byteOffset, snapshot.byteLength);
    if (snapshot.length < 4) throw new RangeError("kv snapshot shorter than its count");
    const count = view.getUint32(0, true);
    const data = new Map<string, Uint8Array>();
    let at = 4;
    for (let i = 0; i < count; i++) {
      if (at + 6 > snapshot.length) throw new RangeError("kv snapshot ends inside a key's head");
      const keyLen = view.getUint16(at, true);
      const valueLen = view.getUint32(at + 2, true);
      const end = at + 6 + keyLen + valueLen;
      if (end > snapshot.length) throw new RangeError("kv snapshot ends inside a key or value");
      data.set(byteString(snapshot, at + 6, at + 6 + keyLen), snapshot.slice(at + 6 + keyLen, end));
      at = end;
    }
    if (at !== snapshot.length) throw new RangeError("kv snapshot has bytes after its last key");
    this.data = data;
  }
}
