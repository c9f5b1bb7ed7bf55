// Fast reply acks only Prepares user space can decode: the model of the XDP program's checks
// (fast-model.ts fastReplyAccepts, a mirror of bpf/xdp_fast.bpf.c) agrees with the codec on every
// lie of test/lying-prepares.ts and on random near-valid datagrams, and a lying Prepare leaves the
// fast path's cursor where it was, so the well-formed Prepare after it is still acked. The C
// program itself is held to the same property in test/integration/fast-reply-validation.test.ts.
import { describe, expect, test } from "bun:test";
import { seededRandom } from "../../src/bench/random.ts";
import { Status } from "../../src/core/types.ts";
import { decodesAsPrepare, lyingPrepares, mutatedPrepare, wellFormedPrepare, type PrepareTarget } from "../lying-prepares.ts";
import { FastPathModel, fastReplyAccepts } from "./fast-model.ts";

/** The model's codec uses this cluster id (fast-model.ts). */
const clusterId = 0x5eed;

/** Follower 1 of 3, normal in view 4 (as the model is told: led by replica 0), with 10 ops. */
function follower(): FastPathModel {
  const model = new FastPathModel(1, 1, 77, 16);
  model.writeState({ status: Status.Normal, view: 4, leader: 0, lastOp: 10 });
  return model;
}

const target: PrepareTarget = { clusterId, view: 4, sender: 0, first: 11 };

describe("fast reply validates the whole Prepare before it acks", () => {
  for (const lie of lyingPrepares(target)) {
    test(`${lie.name}: the codec rejects it, the kernel passes it up, the next well-formed one is acked`, () => {
      expect(decodesAsPrepare(lie.datagram, clusterId)).toBe(false);
      const model = follower();
      expect(model.onPrepareDatagram(lie.datagram)).toBeUndefined();
      expect(model.counters.fastInvalid).toBe(1);
      expect(model.ringLength).toBe(0);
      const ack = model.onPrepareDatagram(wellFormedPrepare(target, 2));
      expect(ack?.opNum).toBe(12);
      expect(model.counters.fastAcked).toBe(1);
    });
  }

  test("the model's checks and the codec agree on random near-valid Prepares", () => {
    const random = seededRandom(2024);
    let valid = 0;
    let invalid = 0;
    for (let i = 0; i < 20_000; i++) {
      const d = mutatedPrepare(target, random);
      const decodes = decodesAsPrepare(d, clusterId);
      if (fastReplyAccepts(d) !== decodes) throw new Error(`model ${fastReplyAccepts(d)} vs codec ${decodes} for ${Buffer.from(d).toString("hex")}`);
      if (decodes) valid++;
      else invalid++;
    }
    // Both sides of the property were exercised.
    expect(valid).toBeGreaterThan(2000);
    expect(invalid).toBeGreaterThan(5000);
  });

  test("every record the model hands over decodes (the link would stop the replica otherwise)", () => {
    const random = seededRandom(99);
    const model = follower();
    let end = 10;
    for (let i = 0; i < 5000; i++) {
      model.writeState({ status: Status.Normal, view: 4, leader: 0, lastOp: end });
      const ack = model.onPrepareDatagram(mutatedPrepare({ ...target, first: end + 1 }, random));
      // Hand the record over: KernelLink stops the replica (throws) on one it cannot read.
      expect(model.link.takeReady({ status: Status.Normal, view: 4, opNum: end }).length).toBe(ack ? 1 : 0);
      if (ack) end = ack.opNum;
    }
    expect(model.counters.fastAcked).toBeGreaterThan(100);
    expect(model.nodeStats.dropped["fast-record"]).toBe(0);
  });
});
