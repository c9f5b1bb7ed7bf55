import { describe, expect, test } from "bun:test";
import { Codec, decodeErrors, type DecodeError } from "../../src/wire/codec.ts";
import { datagramBytesMax, Flag, header, InfoApp, InfoFastPath, infoReplyBody, MessageType, messageTypeCount, opBytesMax, ReadMode } from "../../src/wire/layout.ts";
import type { Message } from "../../src/wire/messages.ts";
import { entriesOf, entryList } from "../../src/wire/entries.ts";
import { Log } from "../../src/core/log.ts";

const codec = new Codec(0xabcdef01);
const bytes = (text: string) => new TextEncoder().encode(text);
const entry = (clientId: number, requestNum: number, op: string) => ({ clientId, requestNum, op: bytes(op) });

const samples: Message[] = [
  { type: MessageType.Request, view: 3, clientId: 2 ** 48 + 7, requestNum: 42, session: 2 ** 40 + 1, op: bytes("put k v") },
  { type: MessageType.Request, view: 0, clientId: 1, requestNum: 0, session: 0, op: new Uint8Array(0) },
  { type: MessageType.Reply, view: 3, sender: 1, opNum: 99, clientId: 5, requestNum: 6, session: 17, result: bytes("ok") },
  {
    type: MessageType.Prepare,
    view: 7,
    sender: 2,
    opNum: 12,
    commit: 10,
    entries: entriesOf([entry(1, 1, "a"), entry(2, 9, ""), entry(3, 4, "ccc")]),
  },
  { type: MessageType.PrepareOk, view: 7, sender: 1, opNum: 12 },
  { type: MessageType.Commit, view: 7, sender: 2, opNum: 12, commit: 12 },
  { type: MessageType.ReadIndex, view: 7, sender: 2, opNum: 12, commit: 11, round: 2 ** 40 + 9 },
  { type: MessageType.ReadIndexOk, view: 7, sender: 1, round: 2 ** 40 + 9 },
  { type: MessageType.StartViewChange, view: 8, sender: 4 },
  { type: MessageType.DoViewChange, view: 8, sender: 4, lastNormalView: 7, opNum: 12, commit: 10 },
  { type: MessageType.StartView, view: 8, sender: 3, opNum: 12, commit: 11 },
  { type: MessageType.GetState, view: 8, sender: 0, fromOp: 2 ** 40 },
  { type: MessageType.NewState, view: 8, sender: 3, opNum: 20, commit: 15, fromOp: 11, entries: entriesOf([entry(9, 9, "z")]) },
  { type: MessageType.NewState, view: 8, sender: 3, opNum: 20, commit: 15, fromOp: 21, entries: entriesOf([]) },
  { type: MessageType.GetSnapshot, view: 8, sender: 2, checkpointOp: 100_000, offset: 2 ** 33 },
  { type: MessageType.SnapshotChunk, view: 8, sender: 1, checkpointOp: 100_000, opNum: 100_123, commit: 100_100, total: 5000, checksum: 0xdeadbeef, offset: 1400, bytes: bytes("chunk of a checkpoint") },
  { type: MessageType.SnapshotChunk, view: 8, sender: 1, checkpointOp: 3, opNum: 3, commit: 3, total: 0, checksum: 0, offset: 0, bytes: new Uint8Array(0) },
  { type: MessageType.Evicted, view: 4, sender: 1, clientId: 2 ** 48 + 7, requestNum: 0 },
  { type: MessageType.Recovery, sender: 2, nonce: 2 ** 52 + 3 },
  { type: MessageType.RecoveryResponse, view: 8, sender: 1, nonce: 77, recovering: false, lastNormalView: 0, opNum: 20, commit: 15 },
  { type: MessageType.RecoveryResponse, view: 0, sender: 2, nonce: 78, recovering: true, lastNormalView: 0, opNum: 0, commit: 0 },
  { type: MessageType.RecoveryResponse, view: 9, sender: 2, nonce: 79, recovering: true, lastNormalView: 7, opNum: 300, commit: 0 },
  { type: MessageType.Info, nonce: 2 ** 40 + 5 },
  { type: MessageType.InfoReply, sender: 2, view: 9, opNum: 123, commit: 120, nonce: 2 ** 40 + 5, uptimeS: 2 ** 32 - 1, status: 0, fastPaths: 7, app: InfoApp.Kv, storage: 3, checkpointOp: 100, logFirstOp: 81, logBytes: 2 ** 33, sessions: 4096, evictions: 2 ** 32 - 1 },
  { type: MessageType.InfoReply, sender: 0, view: 0, opNum: 0, commit: 0, nonce: 1, uptimeS: 0, status: 2, fastPaths: InfoFastPath.QuorumPrune, app: InfoApp.Null, storage: 0, checkpointOp: 0, logFirstOp: 1, logBytes: 0, sessions: 0, evictions: 0 },
  { type: MessageType.Request, view: 1, clientId: 9, requestNum: 3, session: 2, op: bytes("get k"), read: ReadMode.Index },
  { type: MessageType.Request, view: 1, clientId: 9, requestNum: 4, session: 2, op: bytes("get k"), read: ReadMode.Stale },
];

function encode(msg: Message, flags = 0): Uint8Array {
  const buf = new Uint8Array(2048);
  return buf.slice(0, codec.encode(msg, buf, flags));
}

function expectError(data: Uint8Array, error: DecodeError) {
  const decoded = codec.decode(data);
  expect(decoded.ok ? "ok" : decoded.error).toBe(error);
}

test("a Request whose header.op names no read mode is dropped", () => {
  const data = encode(samples[0]!);
  new DataView(data.buffer).setUint32(header.fields.op.offset, ReadMode.Stale + 1, true);
  expectError(data, "range");
});

describe("codec round trip", () => {
  for (const msg of samples) {
    test(`${MessageType[msg.type]} ${JSON.stringify(msg).length}`, () => {
      const decoded = codec.decode(encode(msg, Flag.Broadcast));
      expect(decoded.ok).toBe(true);
      if (!decoded.ok) return;
      expect(decoded.flags).toBe(Flag.Broadcast);
      const normalized = JSON.parse(JSON.stringify(decoded.msg, (_k, v) => (v instanceof Uint8Array ? [...v] : v)));
      const original = JSON.parse(JSON.stringify(msg, (_k, v) => (v instanceof Uint8Array ? [...v] : v)));
      // Request carries no sender on the wire; everything else must survive exactly.
      expect(normalized).toEqual(original);
    });
  }

  test("header fields sit at the declared offsets", () => {
    const data = encode({ type: MessageType.PrepareOk, view: 0x01020304, sender: 5, opNum: 0x0a0b0c0d0e }, Flag.Broadcast);
    const view = new DataView(data.buffer);
    expect(view.getUint16(header.fields.magic.offset, true)).toBe(0xe1ec);
    expect(data[header.fields.type.offset]).toBe(MessageType.PrepareOk);
    expect(data[header.fields.flags.offset]).toBe(Flag.Broadcast);
    expect(data[header.fields.sender.offset]).toBe(5);
    expect(view.getUint32(header.fields.view.offset, true)).toBe(0x01020304);
    expect(view.getBigUint64(header.fields.op.offset, true)).toBe(0x0a0b0c0d0en);
    expect(view.getUint32(header.fields.cluster.offset, true)).toBe(0xabcdef01);
  });

  test("largest request fits one datagram, a larger one is refused", () => {
    const op = new Uint8Array(opBytesMax).fill(7);
    const data = encode({ type: MessageType.Request, view: 0, clientId: 1, requestNum: 1, session: 1, op });
    expect(data.length).toBeLessThanOrEqual(datagramBytesMax);
    const prepare = encode({ type: MessageType.Prepare, view: 0, sender: 0, opNum: 1, commit: 0, entries: entriesOf([{ clientId: 1, requestNum: 1, op }]) });
    expect(prepare.length).toBeLessThanOrEqual(datagramBytesMax);
    expect(() => encode({ type: MessageType.Request, view: 0, clientId: 1, requestNum: 1, session: 1, op: new Uint8Array(opBytesMax + 100) })).toThrow();
  });
});

describe("codec read (the hot paths' decode)", () => {
  // The socket hands over a slot of a large receive buffer and a length; the bytes after the
  // datagram are whatever an earlier, longer datagram left there.
  const rx = new Uint8Array(2048 * 4).fill(0xa5);
  const at = 2048 * 2;
  const slot = rx.subarray(at, at + 2048);

  test("every sample decodes from a slot with its length exactly as from its own bytes, flags included", () => {
    for (const msg of samples) {
      const data = encode(msg, Flag.Broadcast);
      const want = codec.decode(data);
      if (!want.ok) throw new Error(want.error);
      slot.set(data);
      expect(codec.read(slot, data.length)).toEqual(want.msg);
      expect(codec.flags).toBe(Flag.Broadcast);
    }
  });

  test("an offset into the buffer and a length: the same message; bytes outside are never read", () => {
    const data = encode(samples[3]!); // a Prepare with entries
    const buf = new Uint8Array(data.length + 100).fill(0xff);
    buf.set(data, 37);
    expect(codec.read(buf, data.length, 37)).toEqual(codec.read(data));
    // One byte short of the datagram: the length check fails, it does not read the 0xff after.
    expect(codec.read(buf, data.length - 1, 37)).toBe("length");
    expect(codec.read(buf, header.size - 1, 37)).toBe("short");
  });

  test("a request's op is a copy; entries are a view of the slot, which the log copies", () => {
    const request = encode(samples[0]!);
    slot.set(request);
    const req = codec.read(slot, request.length) as Extract<Message, { type: MessageType.Request }>;
    slot.fill(0);
    expect(new TextDecoder().decode(req.op)).toBe("put k v");
    const data = encode(samples[3]!);
    slot.set(data);
    const kept = codec.read(slot, data.length) as Extract<Message, { type: MessageType.Prepare }>;
    expect(kept.entries.bytes.buffer).toBe(slot.buffer); // no copy on the way in
    const log = new Log();
    log.appendFrom(kept.entries);
    const want = entryList(kept.entries);
    slot.fill(0);
    expect([1, 2, 3].map((op) => log.at(op))).toEqual(want);
  });

  test("encode into a window of a larger buffer writes only inside it", () => {
    const big = new Uint8Array(4096).fill(0x11);
    const window = big.subarray(1000, 1000 + 256);
    const len = codec.encode(samples[0]!, window);
    expect(codec.read(window, len)).toEqual(codec.read(encode(samples[0]!)));
    expect(big.subarray(0, 1000).every((b) => b === 0x11)).toBe(true);
    expect(big.subarray(1000 + len).every((b) => b === 0x11)).toBe(true);
    expect(() => codec.encode(samples[0]!, big.subarray(0, 20))).toThrow();
  });
});

describe("codec rejects", () => {
  const good = encode(samples[3]!);
  test("short datagrams", () => {
    for (let len = 0; len < header.size; len++) expectError(good.slice(0, len), "short");
  });
  test("bad magic, version, type", () => {
    const bad = (offset: number, value: number) => {
      const copy = good.slice();
      copy[offset] = value;
      return copy;
    };
    expectError(bad(0, 0), "magic");
    expectError(bad(header.fields.version.offset, 2), "version");
    expectError(bad(header.fields.type.offset, 0), "type");
    expectError(bad(header.fields.type.offset, messageTypeCount + 1), "type");
  });
  test("foreign cluster", () => {
    expect(new Codec(1).decode(good)).toEqual({ ok: false, error: "cluster" });
  });
  test("body length inconsistent with datagram", () => {
    expectError(good.slice(0, good.length - 1), "length");
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    expectError(longer, "length");
  });
  test("entry count or length lying about the body", () => {
    const copy = good.slice();
    copy[header.size] = 4; // count 4, only 3 entries present
    expectError(copy, "length");
  });
  test("u64 beyond 2^53, in the header or in an entry", () => {
    const copy = good.slice();
    new DataView(copy.buffer).setUint32(header.fields.op.offset + 4, 0xffffffff, true);
    expectError(copy, "range");
    const entryId = good.slice();
    new DataView(entryId.buffer).setUint32(header.size + 2 + 4, 0xffffffff, true); // first entry's client id, high word
    expectError(entryId, "range");
  });
  test("a snapshot chunk that runs past its checkpoint's total, or with padding set", () => {
    const chunk = encode(samples.find((m) => m.type === MessageType.SnapshotChunk)!);
    const body = header.size;
    const total = chunk.slice();
    new DataView(total.buffer).setUint32(body + 8, 1410, true); // total below offset + len
    expectError(total, "range");
    const pad = chunk.slice();
    pad[body + 30] = 1;
    expectError(pad, "range");
  });
  test("oversize datagram", () => {
    expectError(new Uint8Array(datagramBytesMax + 1), "oversize");
  });
});

describe("Info and InfoReply", () => {
  const info = encode({ type: MessageType.Info, nonce: 99 });
  const reply = encode(samples.find((m) => m.type === MessageType.InfoReply)!);
  const withBody = (data: Uint8Array, bodyLen: number) => {
    const out = new Uint8Array(header.size + bodyLen);
    out.set(data.subarray(0, Math.min(data.length, out.length)));
    new DataView(out.buffer).setUint16(header.fields.body_len.offset, bodyLen, true);
    return out;
  };

  test("an Info is as large as the InfoReply it asks for: answering it amplifies nothing", () => {
    expect(info.length).toBe(reply.length);
    expect(info.length).toBe(header.size + infoReplyBody.size);
  });

  test("header-only, short and oversized bodies are rejected, with a consistent body_len too", () => {
    for (const data of [info, reply]) {
      const body = data.length - header.size;
      for (const len of [0, 1, body - 1, body + 1, body + 8]) {
        expectError(withBody(data, len), "length");
      }
      expectError(data.slice(0, data.length - 1), "length"); // body_len says more than arrived
    }
  });

  test("an InfoReply with a status, fast-path bit or app the codec does not know is out of range", () => {
    const at = (field: keyof typeof infoReplyBody.fields) => header.size + infoReplyBody.fields[field].offset;
    for (const [field, value] of [["status", 3], ["fast_paths", 0x08], ["fast_paths", 0xff], ["app", 0], ["app", 3]] as const) {
      const copy = reply.slice();
      copy[at(field)] = value;
      expectError(copy, "range");
    }
  });

  test("an InfoReply's header carries the replica's index, view, op and commit", () => {
    const view = new DataView(reply.buffer);
    expect(reply[header.fields.type.offset]).toBe(MessageType.InfoReply);
    expect(reply[header.fields.sender.offset]).toBe(2);
    expect(view.getUint32(header.fields.view.offset, true)).toBe(9);
    expect(Number(view.getBigUint64(header.fields.op.offset, true))).toBe(123);
    expect(Number(view.getBigUint64(header.fields.commit.offset, true))).toBe(120);
  });
});

describe("decoder fuzz", () => {
  // Deterministic xorshift so a failure replays.
  let state = 0x9e3779b9;
  const rand = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  test("random and mutated datagrams never throw and never decode to garbage", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const base = encode(samples[i % samples.length]!);
      let data: Uint8Array;
      if (i % 4 === 0) {
        data = new Uint8Array(Math.floor(rand() * 200));
        for (let j = 0; j < data.length; j++) data[j] = Math.floor(rand() * 256);
      } else {
        data = base.slice(0, Math.max(0, base.length - (i % 3 === 0 ? Math.floor(rand() * 8) : 0)));
        const flips = 1 + Math.floor(rand() * 3);
        for (let k = 0; k < flips && data.length > 0; k++) {
          const at = Math.floor(rand() * data.length);
          data[at] = data[at]! ^ (1 << Math.floor(rand() * 8));
        }
      }
      const decoded = codec.decode(data);
      if (decoded.ok) {
        // Whatever decodes is a well-formed message: it survives a re-encode unchanged. (Header
        // fields a type does not use are ignored, as the kernel may leave them set when it rewrites.)
        const again = codec.decode(encode(decoded.msg, decoded.flags));
        expect(again).toEqual(decoded);
        expect(encode(decoded.msg, decoded.flags).length).toBe(data.length);
        seen.add("ok");
      } else {
        expect(decodeErrors).toContain(decoded.error);
        seen.add(decoded.error);
      }
    }
    expect(seen.size).toBeGreaterThan(5);
  });
});
