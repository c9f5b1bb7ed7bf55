// The leader's read-index queue (src/core/read-index.ts): what confirms a read, in which order
// reads are answered, one round in flight, resends, and a view change.
import { describe, expect, test } from "bun:test";
import { ReadIndex, readsPendingMax, type PendingRead } from "../../src/core/read-index.ts";

const read = (readIndex: number, confirmOp: number, requestNum = 1) => ({ clientId: 7, requestNum, session: 1, op: new Uint8Array([2, 0, 0]), readIndex, confirmOp });

function ready(q: ReadIndex, commit: number): number[] {
  const out: PendingRead[] = [];
  q.takeReady(commit, out);
  return out.map((r) => r.requestNum);
}

describe("read index", () => {
  test("a round confirms with f follower acks (5 replicas: 2), not with the leader's own or a stale round", () => {
    const q = new ReadIndex(0, 5, 2);
    q.add(read(3, 10));
    expect(q.roundToSend()).toBe(1);
    q.onAck(0, 1); // the leader itself: never counts
    q.onAck(1, 1);
    expect(ready(q, 5)).toEqual([]);
    q.onAck(2, 2); // a round not sent yet: ignored
    expect(ready(q, 5)).toEqual([]);
    q.onAck(3, 1);
    expect(ready(q, 5)).toEqual([1]);
  });

  test("confirmed, it still waits for the commit to reach its index", () => {
    const q = new ReadIndex(0, 3, 1);
    q.add(read(8, 9));
    q.onAck(1, q.roundToSend());
    expect(ready(q, 7)).toEqual([]);
    expect(ready(q, 8)).toEqual([1]);
  });

  test("committing an op appended after the read confirms it without a round", () => {
    const q = new ReadIndex(0, 3, 1);
    q.add(read(4, 6));
    expect(ready(q, 5)).toEqual([]); // op 5 was in the log before the read arrived
    expect(ready(q, 6)).toEqual([1]);
  });

  test("one round in flight: later reads wait for the next, which covers every read before it", () => {
    const q = new ReadIndex(0, 3, 1);
    q.add(read(1, 2, 1));
    expect(q.roundToSend()).toBe(1);
    q.add(read(1, 2, 2));
    expect(q.roundToSend()).toBe(0);
    q.onAck(2, 1);
    expect(ready(q, 1)).toEqual([1]); // read 2 arrived after round 1 was sent
    expect(q.roundToSend()).toBe(2);
    q.onAck(2, 2);
    expect(ready(q, 1)).toEqual([2]);
    expect(q.pending).toBe(0);
  });

  test("a round unanswered for resendTicks is replaced by a newer one", () => {
    const q = new ReadIndex(0, 3, 1);
    q.add(read(1, 2));
    q.roundToSend();
    expect([q.roundToResend(3), q.roundToResend(3)]).toEqual([0, 0]);
    expect(q.roundToResend(3)).toBe(2);
    q.onAck(1, 2);
    expect(ready(q, 1)).toEqual([1]);
  });

  test("a view change drops pending reads and the old view's acks", () => {
    const q = new ReadIndex(0, 3, 1);
    q.add(read(1, 2));
    const round = q.roundToSend();
    q.reset();
    expect(q.pending).toBe(0);
    q.onAck(1, round); // a late ack of an old round: rounds only grow, it confirms no later one
    q.add(read(1, 5));
    expect(ready(q, 1)).toEqual([]);
    expect(q.roundToSend()).toBe(round + 1);
  });

  test("alone (f = 0) a read is answered at its index; the queue is bounded", () => {
    const q = new ReadIndex(0, 1, 0);
    q.add(read(2, 3));
    expect(ready(q, 2)).toEqual([1]);
    for (let i = 0; i < readsPendingMax; i++) expect(q.add(read(5, 6))).toBe(true);
    expect(q.add(read(5, 6))).toBe(false);
  });
});
