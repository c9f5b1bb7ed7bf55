// The hand-written protobuf and gRPC framing scripts/vs-etcd.ts talks to etcd with: byte-exact
// against protobuf's encoding rules, etcd's messages by their field numbers, unknown fields
// skipped, broken input rejected with an error rather than misread.

import { describe, expect, test } from "bun:test";
import { frameMessage, GrpcError, unframeMessage } from "../../scripts/etcd/grpc.ts";
import { decodeRangeResponse, decodeStatusResponse, encodePutRequest, encodeRangeRequest } from "../../scripts/etcd/messages.ts";
import { ProtoError, ProtoReader, ProtoWriter, WireType } from "../../scripts/etcd/proto.ts";
import { seededRandom } from "../../src/bench/random.ts";

const bytes = (...xs: number[]) => new Uint8Array(xs);
const text = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("protobuf encoding", () => {
  test("varints: 1 byte, 2 bytes (300 = ac 02), all 64 bits, negative int64 in 10 bytes", () => {
    expect(hex(new ProtoWriter().uint(1, 1).finish())).toBe("0801");
    expect(hex(new ProtoWriter().uint(1, 300).finish())).toBe("08ac02");
    expect(hex(new ProtoWriter().uint(1, (1n << 64n) - 1n).finish())).toBe("08ffffffffffffffffff01");
    expect(hex(new ProtoWriter().int64(1, -1).finish())).toBe("08ffffffffffffffffff01");
    expect(hex(new ProtoWriter().uint(2, 1n << 63n).finish())).toBe("1080808080808080808001");
  });

  test("proto3 leaves zero values out; a nested message is written even when empty", () => {
    expect(new ProtoWriter().uint(1, 0).int64(2, 0).bool(3, false).bytes(4, new Uint8Array(0)).string(5, "").finish().length).toBe(0);
    expect(hex(new ProtoWriter().message(1, new Uint8Array(0)).finish())).toBe("0a00");
  });

  test("out of range values and field numbers are errors", () => {
    expect(() => new ProtoWriter().uint(1, -1)).toThrow(ProtoError);
    expect(() => new ProtoWriter().uint(1, 1n << 64n)).toThrow(ProtoError);
    expect(() => new ProtoWriter().int64(1, 1n << 63n)).toThrow(ProtoError);
    expect(() => new ProtoWriter().uint(0, 1)).toThrow(/field number/);
  });

  test("etcd requests: PutRequest{key, value}, RangeRequest{key} and {key, serializable}", () => {
    expect(hex(encodePutRequest(text("foo"), text("bar")))).toBe("0a03666f6f1203626172");
    expect(hex(encodeRangeRequest(text("foo")))).toBe("0a03666f6f");
    expect(hex(encodeRangeRequest(text("foo"), { serializable: true }))).toBe("0a03666f6f3801");
    expect(() => encodePutRequest(new Uint8Array(0), text("x"))).toThrow(/not empty/);
  });

  test("a long value: the length varint takes two bytes and the buffer grows", () => {
    const value = new Uint8Array(1000).fill(7);
    const out = encodePutRequest(text("k"), value);
    expect(hex(out.subarray(0, 6))).toBe("0a016b12e807");
    expect(out.length).toBe(3 + 3 + 1000);
  });
});

describe("protobuf decoding", () => {
  test("a StatusResponse with a member id above 2^63, unknown fields of every wire type skipped", () => {
    const member = 0x8e9e05c52164694dn;
    const header = new ProtoWriter().uint(1, 0x1234n).uint(2, member).int64(3, 42).uint(4, 7).finish();
    const w = new ProtoWriter().message(1, header).string(2, "3.4.23").int64(3, 20480).uint(4, member).uint(5, 99).uint(6, 7);
    const known = w.finish();
    // Append unknown fields: fixed32 (field 20), fixed64 (21), bytes (22), varint (23).
    const unknown = bytes(0xa5, 0x01, 1, 2, 3, 4, 0xa9, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0xb2, 0x01, 2, 0xaa, 0xbb, 0xb8, 0x01, 0x96, 0x01);
    const s = decodeStatusResponse(new Uint8Array([...known, ...unknown]));
    expect(s).toEqual({ header: { clusterId: 0x1234n, memberId: member, revision: 42, raftTerm: 7 }, version: "3.4.23", leader: member, raftIndex: 99, raftTerm: 7 });
  });

  test("a RangeResponse with two kvs and a count; an empty one has none", () => {
    const kv = (k: string, v: string, mod: number) => new ProtoWriter().bytes(1, text(k)).int64(2, 2).int64(3, mod).int64(4, 1).bytes(5, text(v)).finish();
    const r = decodeRangeResponse(new ProtoWriter().message(2, kv("a", "x", 5)).message(2, kv("b", "", 6)).int64(4, 2).finish());
    expect(r.count).toBe(2);
    expect(r.kvs.map((x) => [new TextDecoder().decode(x.key), new TextDecoder().decode(x.value), x.modRevision, x.version])).toEqual([["a", "x", 5, 1], ["b", "", 6, 1]]);
    expect(decodeRangeResponse(new Uint8Array(0))).toMatchObject({ kvs: [], count: 0 });
  });

  const broken: [string, Uint8Array, RegExp][] = [
    ["truncated varint", bytes(0x20, 0x80), /truncated varint/],
    ["varint of 11 bytes", bytes(0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), /longer than 10 bytes/],
    ["varint above 64 bits", bytes(0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), /longer than 64 bits/],
    ["length past the end", bytes(0x12, 0x05, 0x61), /5 bytes announced, 1 left/],
    ["group wire type", bytes(0x0b), /unsupported wire type 3/],
    ["field number 0", bytes(0x00, 0x01), /field number 0/],
    ["truncated fixed64", bytes(0x49, 1, 2, 3), /truncated fixed64/],
  ];
  for (const [name, input, message] of broken) {
    test(`rejects ${name}`, () => {
      expect(() => decodeStatusResponse(input)).toThrow(message);
    });
  }

  test("a count that does not fit in a number, and a field of the wrong wire type, are errors", () => {
    expect(() => decodeRangeResponse(new ProtoWriter().int64(4, 1n << 60n).finish())).toThrow(/does not fit/);
    expect(() => decodeRangeResponse(new ProtoWriter().uint(1, 5).finish())).toThrow(/expected length-delimited/);
    expect(() => decodeStatusResponse(new ProtoWriter().bytes(2, bytes(0xff, 0xfe)).finish())).toThrow(/not valid UTF-8/);
  });

  test("random messages decode to what was encoded (seeded)", () => {
    const random = seededRandom(2024);
    for (let round = 0; round < 500; round++) {
      const fields: { field: number; kind: "uint" | "int64" | "bytes"; value: bigint | Uint8Array }[] = [];
      const w = new ProtoWriter();
      for (let i = 0, n = Math.floor(random() * 8); i < n; i++) {
        const field = 1 + Math.floor(random() * 1000);
        const pickKind = random();
        if (pickKind < 0.4) {
          const value = BigInt(Math.floor(random() * 2 ** 32)) * BigInt(Math.floor(random() * 2 ** 32)) + 1n;
          w.uint(field, value);
          fields.push({ field, kind: "uint", value });
        } else if (pickKind < 0.7) {
          const value = -BigInt(Math.floor(random() * 2 ** 40)) - 1n;
          w.int64(field, value);
          fields.push({ field, kind: "int64", value });
        } else {
          const value = Uint8Array.from({ length: 1 + Math.floor(random() * 300) }, () => Math.floor(random() * 256));
          w.bytes(field, value);
          fields.push({ field, kind: "bytes", value });
        }
      }
      const r = new ProtoReader(w.finish());
      for (const f of fields) {
        expect(r.next()).toBe(true);
        expect(r.field).toBe(f.field);
        if (f.kind === "uint") expect(r.uint64()).toBe(f.value as bigint);
        else if (f.kind === "int64") expect(r.int64()).toBe(f.value as bigint);
        else expect(r.bytes()).toEqual(f.value as Uint8Array);
      }
      expect(r.next()).toBe(false);
      expect(r.wire === WireType.Varint || r.wire === WireType.Bytes || fields.length === 0).toBe(true);
    }
  });
});

describe("gRPC message framing", () => {
  test("5-byte prefix: uncompressed flag, big-endian length", () => {
    expect(hex(frameMessage(text("abc")))).toBe("0000000003616263");
    expect(hex(frameMessage(new Uint8Array(0)))).toBe("0000000000");
    expect(frameMessage(new Uint8Array(70000)).subarray(0, 5)).toEqual(bytes(0, 0, 1, 0x11, 0x70));
  });

  test("unframe gives the message back and rejects short, compressed or mis-sized bodies", () => {
    expect(unframeMessage(frameMessage(text("hello")))).toEqual(text("hello"));
    expect(() => unframeMessage(bytes(0, 0, 0))).toThrow(GrpcError);
    expect(() => unframeMessage(bytes(1, 0, 0, 0, 1, 7))).toThrow(/compressed/);
    expect(() => unframeMessage(bytes(0, 0, 0, 0, 2, 7))).toThrow(/announces 2 bytes, the body has 1/);
    expect(() => unframeMessage(bytes(0, 0, 0, 0, 0, 7))).toThrow(/announces 0 bytes/);
  });
});
