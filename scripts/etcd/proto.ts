// A minimal protobuf (proto3) encoder and decoder: the wire types etcd's KV, Maintenance and
// Cluster messages use (varint, 64-bit, length-delimited, 32-bit), nothing else. The project's
// dependencies are fixed, and the handful of etcd messages scripts/vs-etcd.ts sends do not need a
// generated-code library: each is a few tagged fields (scripts/etcd/messages.ts).
//
// Varints are decoded as bigint where a field may use all 64 bits (etcd's member and cluster ids
// are random uint64s), and as number where the value is a count or a revision (asserted to fit
// in 2^53). int64 fields with negative values take 10 bytes on the wire (two's complement), as
// protobuf says; the encoder writes them so, and the decoder gives them back as negative bigints.

export enum WireType {
  Varint = 0,
  Fixed64 = 1,
  Bytes = 2,
  Fixed32 = 5,
}

/** Longest varint: 64 bits in 7-bit groups. */
const varintBytesMax = 10;
const uint64Max = (1n << 64n) - 1n;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export class ProtoError extends Error {}

/** Builds one message; fields are written in the order they are added (any order is valid). */
export class ProtoWriter {
  private buf = new Uint8Array(64);
  private length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    bigger.set(this.buf.subarray(0, this.length));
    this.buf = bigger;
  }

  private rawVarint(value: bigint): void {
    if (value < 0n || value > uint64Max) throw new ProtoError(`varint out of range: ${value}`);
    this.reserve(varintBytesMax);
    let v = value;
    while (v >= 0x80n) {
      this.buf[this.length++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.length++] = Number(v);
  }

  private tag(field: number, wire: WireType): void {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff) throw new ProtoError(`bad field number ${field}`);
    this.rawVarint((BigInt(field) << 3n) | BigInt(wire));
  }

  /** uint64/uint32/bool/enum field (non-negative). proto3 leaves zero values out: so do we. */
  uint(field: number, value: number | bigint): this {
    const v = BigInt(value);
    if (v === 0n) return this;
    this.tag(field, WireType.Varint);
    this.rawVarint(v);
    return this;
  }

  /** int64 field: negative values as their 64-bit two's complement (10 bytes). */
  int64(field: number, value: number | bigint): this {
    const v = BigInt(value);
    if (v === 0n) return this;
    if (v < -(1n << 63n) || v >= 1n << 63n) throw new ProtoError(`int64 out of range: ${v}`);
    this.tag(field, WireType.Varint);
    this.rawVarint(BigInt.asUintN(64, v));
    return this;
  }

  bool(field: number, value: boolean): this {
    return this.uint(field, value ? 1 : 0);
  }

  bytes(field: number, value: Uint8Array): this {
    if (value.length === 0) return this;
    this.tag(field, WireType.Bytes);
    this.rawVarint(BigInt(value.length));
    this.reserve(value.length);
    this.buf.set(value, this.length);
    this.length += value.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, encoder.encode(value));
  }

  /** A nested message (already encoded), written even when empty (its presence may matter). */
  message(field: number, encoded: Uint8Array): this {
    this.tag(field, WireType.Bytes);
    this.rawVarint(BigInt(encoded.length));
    this.reserve(encoded.length);
    this.buf.set(encoded, this.length);
    this.length += encoded.length;
    return this;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Reads one message's fields in order: `while (r.next()) switch (r.field) ...`, and for each
 * field either one of the typed reads or `skip()`. */
export class ProtoReader {
  private pos = 0;
  field = 0;
  wire: WireType = WireType.Varint;

  constructor(private readonly buf: Uint8Array) {}

  /** Moves to the next field; false at the end of the message. */
  next(): boolean {
    if (this.pos >= this.buf.length) return false;
    const key = this.rawVarint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field < 1) throw new ProtoError(`field number 0 at byte ${this.pos}`);
    if (wire !== WireType.Varint && wire !== WireType.Fixed64 && wire !== WireType.Bytes && wire !== WireType.Fixed32) {
      throw new ProtoError(`field ${field}: unsupported wire type ${wire}`);
    }
    this.field = field;
    this.wire = wire;
    return true;
  }

  private rawVarint(): bigint {
    let value = 0n;
    for (let i = 0; i < varintBytesMax; i++) {
      if (this.pos >= this.buf.length) throw new ProtoError("truncated varint");
      const b = this.buf[this.pos++]!;
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        if (value > uint64Max) throw new ProtoError("varint longer than 64 bits");
        return value;
      }
    }
    throw new ProtoError("varint longer than 10 bytes");
  }

  private expect(wire: WireType, what: string): void {
    if (this.wire !== wire) throw new ProtoError(`field ${this.field}: expected ${what}, got wire type ${this.wire}`);
  }

  /** uint64 as bigint (all 64 bits). */
  uint64(): bigint {
    this.expect(WireType.Varint, "a varint");
    return this.rawVarint();
  }

  /** int64 as bigint (negative values from their two's complement). */
  int64(): bigint {
    return BigInt.asIntN(64, this.uint64());
  }

  /** A varint that must fit in a JS number exactly (counts, revisions, terms). */
  number(): number {
    const v = this.int64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new ProtoError(`field ${this.field}: ${v} does not fit in a number`);
    return Number(v);
  }

  bool(): boolean {
    return this.uint64() !== 0n;
  }

  /** A length-delimited field's bytes (a view into the buffer: copy to keep). */
  bytes(): Uint8Array {
    this.expect(WireType.Bytes, "length-delimited bytes");
    const length = this.rawVarint();
    if (length > BigInt(this.buf.length - this.pos)) throw new ProtoError(`field ${this.field}: ${length} bytes announced, ${this.buf.length - this.pos} left`);
    const start = this.pos;
    this.pos += Number(length);
    return this.buf.subarray(start, this.pos);
  }

  string(): string {
    try {
      return decoder.decode(this.bytes());
    } catch (e) {
      if (e instanceof ProtoError) throw e;
      throw new ProtoError(`field ${this.field}: not valid UTF-8`);
    }
  }

  /** Skips the current field, whatever its type (unknown fields are allowed, as in protobuf). */
  skip(): void {
    switch (this.wire) {
      case WireType.Varint:
        this.rawVarint();
        return;
      case WireType.Bytes:
        this.bytes();
        return;
      case WireType.Fixed64:
      case WireType.Fixed32: {
        const n = this.wire === WireType.Fixed64 ? 8 : 4;
        if (this.pos + n > this.buf.length) throw new ProtoError(`field ${this.field}: truncated fixed${n * 8}`);
        this.pos += n;
        return;
      }
    }
  }
}
