// The key-value state machine, and the op/result encoding clients use.
//
// op:     put = [0x01][keyLen u16 LE][key utf8][value utf8 ...rest]
//         get = [0x02][keyLen u16 LE][key utf8]
// result: [status u8: 0 ok, 1 not found, 2 bad op][value utf8 ...rest]
// A malformed op never throws: it yields status 2 (every replica computes the same).
// Keys are compared as bytes: two different byte strings are two different keys, even when they
// are not valid UTF-8 (a UTF-8 decode would turn both into U+FFFD and make them collide).

import type { StateMachine } from "../core/types.ts";

export enum KvStatus {
  Ok = 0,
  NotFound = 1,
  BadOp = 2,
}

const opPut = 1;
const opGet = 2;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encodeOp(kind: number, key: string, value?: string): Uint8Array {
  const k = encoder.encode(key);
  const v = value === undefined ? new Uint8Array(0) : encoder.encode(value);
  if (k.length > 0xffff) throw new Error("key longer than 65535 bytes");
  const op = new Uint8Array(3 + k.length + v.length);
  op[0] = kind;
  op[1] = k.length & 0xff;
  op[2] = k.length >> 8;
  op.set(k, 3);
  op.set(v, 3 + k.length);
  return op;
}

export function encodePut(key: string, value: string): Uint8Array {
  return encodeOp(opPut, key, value);
}

export function encodeGet(key: string): Uint8Array {
  return encodeOp(opGet, key);
}

export function decodeKvResult(result: Uint8Array): { status: KvStatus; value: string } {
  const status = result.length === 0 ? KvStatus.BadOp : (result[0]! as KvStatus);
  return { status, value: decoder.decode(result.subarray(1)) };
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

/** The key of a byte string made by byteString. */
function keyBytes(key: string, out: Uint8Array, at: number): void {
  for (let i = 0; i < key.length; i++) out[at + i] = key.charCodeAt(i);
}

export class KvMachine implements StateMachine {
  private data = new Map<string, Uint8Array>();

  execute(op: Uint8Array): Uint8Array {
    if (op.length < 3 || (op[0] !== opPut && op[0] !== opGet)) return result(KvStatus.BadOp);
    const keyLen = op[1]! | (op[2]! << 8);
    if (3 + keyLen > op.length) return result(KvStatus.BadOp);
    const key = byteString(op, 3, 3 + keyLen);
    if (op[0] === opPut) {
      this.data.set(key, op.slice(3 + keyLen));
      return result(KvStatus.Ok);
    }
    if (op[0] === opGet) {
      if (op.length !== 3 + keyLen) return result(KvStatus.BadOp);
      const value = this.data.get(key);
      return value ? result(KvStatus.Ok, value) : result(KvStatus.NotFound);
    }
    return result(KvStatus.BadOp); // unreachable: the opcode was checked first
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
