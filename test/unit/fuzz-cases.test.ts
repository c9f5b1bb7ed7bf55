// The fuzzer's cases (src/local/fuzz.ts) are what they claim: each is judged by the codec as the
// case says, so a fuzz run exercises every drop reason and every path past decoding.

import { describe, expect, test } from "bun:test";
import { fuzzCases, makeDatagram, type FuzzCase } from "../../src/local/fuzz.ts";
import { seededRandom } from "../../src/bench/random.ts";
import { Codec, type DecodeError } from "../../src/wire/codec.ts";
import { Flag, MessageType } from "../../src/wire/layout.ts";

const clusterId = 0x5eed1234;
const codec = new Codec(clusterId);

/** What the codec must say about every datagram of a case: a drop reason, or a message to check. */
const expected: Record<FuzzCase, DecodeError[] | ((d: { type: MessageType; flags: number }) => boolean)> = {
  "random-bytes": ["short", "magic", "version", "type", "length", "cluster", "range"],
  truncated: ["short", "length"],
  padded: ["length"],
  "bit-flip": (d) => d !== undefined, // anything: decodes or not, never throws
  "bad-magic": ["magic"],
  "bad-version": ["version"],
  "bad-type": ["type"],
  "wrong-cluster": ["cluster"],
  "huge-u64": ["range"],
  "forged-sender": (d) => d.type !== MessageType.Request && d.type !== MessageType.Reply,
  "wrong-view": (d) => d.type !== MessageType.Request && d.type !== MessageType.Reply,
  "huge-op": (d) => d.type !== MessageType.Request && d.type !== MessageType.Reply,
  "quorum-flag": (d) => d.type === MessageType.PrepareOk && (d.flags & Flag.Quorum) !== 0,
  "reply-to-replica": (d) => d.type === MessageType.Reply,
  oversize: ["oversize"],
  "garbage-request": (d) => d.type === MessageType.Request,
};

describe("fuzz cases", () => {
  for (const c of fuzzCases) {
    test(c, () => {
      const ctx = { clusterId, replicaCount: 5, random: seededRandom(fuzzCases.indexOf(c) + 1) };
      for (let i = 0; i < 2000; i++) {
        const d = makeDatagram(c, ctx);
        const decoded = codec.decode(d);
        const want = expected[c];
        if (Array.isArray(want)) {
          expect(decoded.ok ? "decoded" : decoded.error).toBeOneOf(want);
        } else if (c !== "bit-flip") {
          expect(decoded.ok).toBe(true);
          if (decoded.ok) expect(want({ type: decoded.msg.type, flags: decoded.flags })).toBe(true);
        }
      }
    });
  }
});
