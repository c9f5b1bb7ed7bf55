// The node's side of fast reply: a ring record user space cannot read is an acked Prepare it will
// never hold, so the link stops the replica (an invariant violation, as in the simulator) instead
// of dropping it with a warning; in takeReady as in the fence.
import { describe, expect, test } from "bun:test";
import { AssertionError } from "../../src/core/assert.ts";
import { Status, type KernelState } from "../../src/core/types.ts";
import { KernelLink, type FastPathPort } from "../../src/node/kernel-link.ts";
import { Codec } from "../../src/wire/codec.ts";
import { MessageType } from "../../src/wire/layout.ts";
import { lyingPrepares, wellFormedPrepare } from "../lying-prepares.ts";

const clusterId = 0xabc;

/** A ring holding the given records; no kernel behind it. */
function ring(records: Uint8Array[]): FastPathPort {
  return {
    prune: false,
    fastReply: true,
    writeState() {},
    drain(onRecord) {
      const out = records.splice(0);
      for (const r of out) onRecord(r);
      return out.length;
    },
    close() {},
  };
}

function link(records: Uint8Array[]) {
  const counters = { fastReplied: 0, kernelWrites: 0, dropped: { "fast-record": 0 } };
  return { link: new KernelLink(ring(records), 1, new Codec(clusterId), counters), counters };
}

const target = { clusterId, view: 2, sender: 0, first: 6 };
const core = { status: Status.Normal, view: 2, opNum: 5 };
const next: KernelState = { status: Status.ViewChange, view: 3, leader: 0, lastOp: 5, commit: 5 };

describe("KernelLink and records it cannot read", () => {
  test("a readable record is handed over", () => {
    const { link: l, counters } = link([wellFormedPrepare(target, 2)]);
    expect(l.takeReady(core).map((p) => p.opNum)).toEqual([7]);
    expect(counters.fastReplied).toBe(1);
  });

  for (const lie of lyingPrepares(target).slice(0, 3)) {
    test(`${lie.name}: takeReady stops the replica, counted`, () => {
      const { link: l, counters } = link([lie.datagram]);
      expect(() => l.takeReady(core)).toThrow(AssertionError);
      expect(counters.dropped["fast-record"]).toBe(1);
    });
  }

  test("the message names the invariant and what the codec said", () => {
    const { link: l } = link([lyingPrepares(target)[0]!.datagram]);
    expect(() => l.takeReady(core)).toThrow(/^replica invariant violated: fast reply acked a datagram the codec rejects \(length\) of \d+ bytes/);
  });

  test("the fence stops too (it must never leave its view without an op its kernel acked)", () => {
    const { link: l } = link([wellFormedPrepare(target, 1), lyingPrepares(target)[2]!.datagram]);
    expect(() => l.fence(next)).toThrow(AssertionError);
  });

  test("a record of another type stops it as well", () => {
    const buf = new Uint8Array(64);
    const len = new Codec(clusterId).encode({ type: MessageType.PrepareOk, view: 2, sender: 0, opNum: 6 }, buf);
    const { link: l } = link([buf.slice(0, len)]);
    expect(() => l.takeReady(core)).toThrow(/fast reply acked a PrepareOk/);
  });
});
