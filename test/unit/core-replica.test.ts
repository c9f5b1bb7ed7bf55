// One Replica driven step by step with hand-made messages: the rules of each handler, exactly.

import { describe, expect, test } from "bun:test";
import { Replica, requestOpBytesMax } from "../../src/core/replica.ts";
import { Status, type Effect, type Event, type ReplicaOptions, type StateMachine } from "../../src/core/types.ts";
import { MessageType } from "../../src/wire/layout.ts";
import type { Entry, Message, ReplicaMessage } from "../../src/wire/messages.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

class Recorder implements StateMachine {
  readonly ops: string[] = [];
  execute(op: Uint8Array): Uint8Array {
    this.ops.push(dec.decode(op));
    return enc.encode(`r:${dec.decode(op)}`);
  }
}

function make(n: number, index: number, extra: Partial<ReplicaOptions> = {}) {
  const app = new Recorder();
  const opts: ReplicaOptions = { replicaCount: n, index, recovering: false, nonce: 100, viewChangeTimeoutTicks: 10, heartbeatTicks: 3, resendTicks: 4, pipelineMax: 100, batchMax: 64, ...extra };
  return { r: new Replica(opts, app), app };
}

const entry = (clientId: number, requestNum: number, text: string): Entry => ({ clientId, requestNum, op: enc.encode(text) });
const request = (clientId: number, requestNum: number, text: string): Event => ({ kind: "request", msg: { type: MessageType.Request, view: 0, clientId, requestNum, op: enc.encode(text) } });
const message = (msg: ReplicaMessage): Event => ({ kind: "message", msg });
const tick: Event = { kind: "tick" };
const flush: Event = { kind: "flush" };
const ok = (view: number, sender: number, opNum: number) => message({ type: MessageType.PrepareOk, view, sender, opNum });
const prepare = (view: number, sender: number, opNum: number, commit: number, entries: Entry[]) => message({ type: MessageType.Prepare, view, sender, opNum, commit, entries });

/** Messages sent (send and broadcast), in order, as [type name, message, destination or "all"]. */
function sent(effects: Effect[]): [string, Message, number | "all"][] {
  const out: [string, Message, number | "all"][] = [];
  for (const e of effects) {
    if (e.kind === "send") out.push([MessageType[e.msg.type]!, e.msg, e.to]);
    if (e.kind === "broadcast") out.push([MessageType[e.msg.type]!, e.msg, "all"]);
  }
  return out;
}
const types = (effects: Effect[]) => effects.map((e) => (e.kind === "send" || e.kind === "broadcast" ? MessageType[e.msg.type] : e.kind));
const replies = (effects: Effect[]) => effects.flatMap((e) => (e.kind === "reply" ? [e.msg] : []));

/** A follower of view 0 holding `ops` entries, of which `commit` are committed. */
function follower(n: number, index: number, ops: number, commit: number, extra: Partial<ReplicaOptions> = {}) {
  const f = make(n, index, extra);
  const entries = Array.from({ length: ops }, (_, i) => entry(1, i + 1, `op${i + 1}`));
  if (ops > 0) f.r.step(prepare(0, 0, ops, commit, entries));
  return f;
}

describe("leader, normal case", () => {
  test("requests wait for the flush, go out as one Prepare, commit on f acks and are answered once", () => {
    const { r, app } = make(3, 0);
    expect(sent(r.step(request(1, 1, "a")))).toEqual([]);
    r.step(request(2, 1, "b"));
    const [p] = sent(r.step(flush));
    expect(p![0]).toBe("Prepare");
    expect(p![1]).toMatchObject({ view: 0, opNum: 2, commit: 0 });
    expect(p![1].type === MessageType.Prepare && p![1].entries.map((e) => e.clientId)).toEqual([1, 2]);
    expect(app.ops).toEqual([]);
    const effects = r.step(ok(0, 1, 2));
    expect(replies(effects).map((m) => [m.clientId, m.opNum, dec.decode(m.result)])).toEqual([
      [1, 1, "r:a"],
      [2, 2, "r:b"],
    ]);
    expect(r.commit).toBe(2);
    expect(r.step(ok(0, 1, 2))).toEqual([]); // duplicate ack: nothing
    expect(app.ops).toEqual(["a", "b"]);
  });

  test("n=5: two acks from the same follower do not make a quorum", () => {
    const { r } = make(5, 0);
    r.step(request(1, 1, "a"));
    r.step(flush);
    r.step(ok(0, 1, 1));
    r.step(ok(0, 1, 1));
    expect(r.commit).toBe(0);
    r.step(ok(0, 3, 1));
    expect(r.commit).toBe(1);
  });

  test("acks are cumulative, and acks for another view or beyond the log are ignored", () => {
    const { r } = make(3, 0);
    for (let i = 1; i <= 3; i++) r.step(request(i, 1, `x${i}`));
    r.step(flush);
    r.step(ok(1, 1, 3)); // another view
    r.step(ok(0, 2, 9)); // beyond the log
    expect(r.commit).toBe(0);
    r.step(ok(0, 2, 3));
    expect(r.commit).toBe(3);
  });

  test("a batch is sent as soon as it reaches batchMax entries or a datagram's bytes", () => {
    const { r } = make(3, 0, { batchMax: 2 });
    expect(sent(r.step(request(1, 1, "a")))).toEqual([]);
    expect(sent(r.step(request(2, 1, "b"))).map(([, m]) => m.type === MessageType.Prepare && [m.opNum, m.entries.length])).toEqual([[2, 2]]);
    const large = make(3, 0);
    const big = "x".repeat(900);
    expect(sent(large.r.step(request(1, 1, big)))).toEqual([]);
    const out = sent(large.r.step(request(2, 1, big))); // would overflow: the first goes alone
    expect(out.map(([, m]) => m.type === MessageType.Prepare && [m.opNum, m.entries.length])).toEqual([[1, 1]]);
    expect(sent(large.r.step(flush)).map(([, m]) => m.type === MessageType.Prepare && [m.opNum, m.entries.length])).toEqual([[2, 1]]);
  });

  test("client table at the leader: in flight ignored, executed answered from cache, older ignored", () => {
    const { r } = make(3, 0);
    r.step(request(1, 5, "a"));
    expect(r.step(request(1, 5, "a"))).toEqual([]); // in the log, not executed yet
    r.step(flush);
    r.step(ok(0, 1, 1));
    const again = replies(r.step(request(1, 5, "a")));
    expect(again.map((m) => [m.opNum, dec.decode(m.result)])).toEqual([[1, "r:a"]]);
    expect(r.step(request(1, 4, "old"))).toEqual([]);
    expect(r.opNum).toBe(1);
    r.step(request(1, 6, "b"));
    expect(r.opNum).toBe(2);
  });

  test("pipelineMax bounds uncommitted ops; oversize ops are refused; followers drop requests", () => {
    const { r } = make(3, 0, { pipelineMax: 2 });
    for (let i = 1; i <= 3; i++) r.step(request(i, 1, `x${i}`));
    expect(r.opNum).toBe(2);
    r.step(request(9, 1, "y".repeat(requestOpBytesMax + 1)));
    expect(r.opNum).toBe(2);
    const f = make(3, 1);
    f.r.step(request(1, 1, "a"));
    expect(f.r.opNum).toBe(0);
  });

  test("an idle leader sends Commit heartbeats", () => {
    const { r } = make(3, 0);
    r.step(tick);
    r.step(tick);
    expect(sent(r.step(tick)).map(([t, m]) => [t, m])).toEqual([["Commit", { type: MessageType.Commit, view: 0, sender: 0, opNum: 0, commit: 0 }]]);
  });

  test("a single replica commits and answers in the same step", () => {
    const { r, app } = make(1, 0);
    const effects = r.step(request(1, 1, "solo"));
    expect(replies(effects).map((m) => m.opNum)).toEqual([1]);
    expect(r.commit).toBe(1);
    expect(app.ops).toEqual(["solo"]);
    expect(sent(effects)).toEqual([]);
  });
});

describe("follower, normal case", () => {
  test("appends a contiguous Prepare and acks; executes only up to the leader's commit", () => {
    const { r, app } = follower(3, 1, 0, 0);
    const out = sent(r.step(prepare(0, 0, 2, 0, [entry(1, 1, "a"), entry(1, 2, "b")])));
    expect(out).toEqual([["PrepareOk", { type: MessageType.PrepareOk, view: 0, sender: 1, opNum: 2 }, 0]]);
    expect(app.ops).toEqual([]); // nothing committed yet: nothing executed
    r.step(prepare(0, 0, 3, 1, [entry(1, 3, "c")]));
    expect(app.ops).toEqual(["a"]);
    r.step({ kind: "message", msg: { type: MessageType.Commit, view: 0, sender: 0, opNum: 3, commit: 3 } });
    expect(app.ops).toEqual(["a", "b", "c"]);
  });

  test("a duplicate Prepare is acked with the follower's own op; a gap asks for state, no ack", () => {
    const { r } = follower(3, 1, 3, 0);
    expect(sent(r.step(prepare(0, 0, 2, 0, [entry(1, 2, "op2")])))[0]![1]).toMatchObject({ type: MessageType.PrepareOk, opNum: 3 });
    const gap = sent(r.step(prepare(0, 0, 6, 0, [entry(1, 6, "op6")])));
    expect(gap).toEqual([["GetState", { type: MessageType.GetState, view: 0, sender: 1, fromOp: 4 }, 0]]);
    expect(r.opNum).toBe(3);
    const fill = r.step(message({ type: MessageType.NewState, view: 0, sender: 0, opNum: 6, commit: 5, fromOp: 4, entries: [entry(1, 4, "op4"), entry(1, 5, "op5"), entry(1, 6, "op6")] }));
    expect(sent(fill)).toEqual([["PrepareOk", { type: MessageType.PrepareOk, view: 0, sender: 1, opNum: 6 }, 0]]);
    expect(r.commit).toBe(5);
  });

  test("Prepares from another sender, an older view or a non-leader are dropped", () => {
    const { r } = follower(3, 1, 0, 0);
    expect(r.step(prepare(0, 2, 1, 0, [entry(1, 1, "a")]))).toEqual([{ kind: "kernelState", state: r.kernelState }]);
    expect(r.opNum).toBe(0);
  });

  test("a silent leader: view change, kernel state announced before the StartViewChange", () => {
    const { r } = follower(3, 1, 0, 0);
    let effects: Effect[] = [];
    for (let t = 0; t < 10; t++) effects = r.step(tick);
    expect(types(effects)).toEqual(["kernelState", "StartViewChange"]);
    expect(effects[0]).toEqual({ kind: "kernelState", state: { status: Status.ViewChange, view: 1, leader: 1, lastOp: 0, commit: 0 } });
  });
});

describe("view change", () => {
  test("the new leader adopts a SHORTER log from a later view, fetched aside, then starts the view", () => {
    // Replica 1 leads view 4 of 3 replicas. It holds 5 ops of view 0 (2 committed).
    const { r, app } = follower(3, 1, 5, 2);
    r.step(message({ type: MessageType.StartViewChange, view: 4, sender: 2 }));
    expect(r.status).toBe(Status.ViewChange);
    const effects = r.step(message({ type: MessageType.DoViewChange, view: 4, sender: 2, lastNormalView: 3, opNum: 4, commit: 2 }));
    expect(sent(effects)).toEqual([["GetState", { type: MessageType.GetState, view: 4, sender: 1, fromOp: 3 }, 2]]);
    expect(r.opNum).toBe(5); // untouched until the chosen log is complete
    const done = r.step(message({ type: MessageType.NewState, view: 4, sender: 2, opNum: 4, commit: 3, fromOp: 3, entries: [entry(9, 1, "n3"), entry(9, 2, "n4")] }));
    expect(types(done)).toEqual(["kernelState", "StartView"]);
    expect(sent(done)[0]![1]).toMatchObject({ type: MessageType.StartView, view: 4, opNum: 4, commit: 2 });
    expect(r.isLeader).toBe(true);
    expect(r.lastNormalView).toBe(4);
    expect([1, 2, 3, 4].map((op) => dec.decode(r.entryAt(op)!.op))).toEqual(["op1", "op2", "n3", "n4"]);
    expect(app.ops).toEqual(["op1", "op2"]); // the DoViewChanges' highest commit is 2
  });

  test("a view change that fails half-way leaves the log and lastNormalView as they were", () => {
    const { r } = follower(3, 1, 5, 2);
    r.step(message({ type: MessageType.DoViewChange, view: 4, sender: 2, lastNormalView: 3, opNum: 4, commit: 2 }));
    r.step(message({ type: MessageType.NewState, view: 4, sender: 2, opNum: 4, commit: 2, fromOp: 3, entries: [entry(9, 1, "n3")] }));
    for (let t = 0; t < 10; t++) r.step(tick); // the view change to 4 times out: on to view 5
    expect(r.view).toBe(5);
    const dvc = sent(r.step(message({ type: MessageType.StartViewChange, view: 5, sender: 0 }))).find(([t]) => t === "DoViewChange");
    expect(dvc?.[1]).toMatchObject({ view: 5, lastNormalView: 0, opNum: 5, commit: 2 });
  });

  test("a replica joining a started view keeps its log until it holds the leader's, then acks", () => {
    const { r } = follower(3, 2, 4, 2);
    const effects = r.step(message({ type: MessageType.StartView, view: 1, sender: 1, opNum: 5, commit: 3 }));
    expect(types(effects)).toEqual(["kernelState", "GetState"]);
    expect(effects[0]).toMatchObject({ state: { status: Status.ViewChange, view: 1 } });
    expect(sent(effects)[0]![1]).toMatchObject({ view: 1, fromOp: 3 });
    // Prepares of the new view are not acked while joining.
    expect(sent(r.step(prepare(1, 1, 6, 3, [entry(5, 1, "x")])))).toEqual([]);
    expect(r.opNum).toBe(4);
    const done = r.step(message({ type: MessageType.NewState, view: 1, sender: 1, opNum: 6, commit: 3, fromOp: 3, entries: [entry(7, 1, "a"), entry(7, 2, "b"), entry(7, 3, "c")] }));
    expect(types(done)[0]).toBe("kernelState");
    expect(sent(done)).toEqual([["PrepareOk", { type: MessageType.PrepareOk, view: 1, sender: 2, opNum: 5 }, 1]]);
    expect(r.status).toBe(Status.Normal);
    expect(r.lastNormalView).toBe(1);
    expect(r.commit).toBe(3);
    expect(dec.decode(r.entryAt(3)!.op)).toBe("a");
  });

  test("the leader of a started view answers a late StartViewChange or DoViewChange with StartView", () => {
    const { r } = make(3, 0);
    r.step(message({ type: MessageType.StartViewChange, view: 3, sender: 1 }));
    r.step(message({ type: MessageType.DoViewChange, view: 3, sender: 1, lastNormalView: 0, opNum: 0, commit: 0 }));
    expect(r.isLeader).toBe(true);
    expect(sent(r.step(message({ type: MessageType.StartViewChange, view: 3, sender: 2 })))[0]![0]).toBe("StartView");
    expect(sent(r.step(message({ type: MessageType.DoViewChange, view: 3, sender: 2, lastNormalView: 0, opNum: 0, commit: 0 })))[0]![0]).toBe("StartView");
  });
});

describe("recovery", () => {
  test("a recovering replica neither acks, votes nor serves; it answers Recovery as recovering", () => {
    const { r } = make(3, 2, { recovering: true });
    expect(r.status).toBe(Status.Recovering);
    const quiet: ReplicaMessage[] = [
      { type: MessageType.Prepare, view: 0, sender: 0, opNum: 1, commit: 0, entries: [entry(1, 1, "a")] },
      { type: MessageType.Commit, view: 0, sender: 0, opNum: 1, commit: 1 },
      { type: MessageType.StartViewChange, view: 1, sender: 0 },
      { type: MessageType.DoViewChange, view: 2, sender: 0, lastNormalView: 0, opNum: 0, commit: 0 },
      { type: MessageType.StartView, view: 1, sender: 1, opNum: 0, commit: 0 },
      { type: MessageType.GetState, view: 0, sender: 0, fromOp: 1 },
    ];
    for (const m of quiet) expect(sent(r.step(message(m)))).toEqual([]);
    expect(r.status).toBe(Status.Recovering);
    const answer = sent(r.step(message({ type: MessageType.Recovery, sender: 0, nonce: 55 })));
    expect(answer).toEqual([["RecoveryResponse", { type: MessageType.RecoveryResponse, view: 0, sender: 2, nonce: 55, recovering: true, opNum: 0, commit: 0 }, 0]]);
  });

  test("recovers from the latest view's leader once f+1 normal replicas answered, then acks", () => {
    const { r, app } = make(3, 2, { recovering: true });
    const [bc] = sent(r.step(tick));
    expect(bc![0]).toBe("Recovery");
    const nonce = (bc![1] as { nonce: number }).nonce;
    const answer = (sender: number, view: number) => message({ type: MessageType.RecoveryResponse, view, sender, nonce, recovering: false, opNum: 2, commit: 1 });
    expect(sent(r.step(answer(0, 1)))).toEqual([]); // only one answer
    const ask = r.step(answer(1, 1)); // f+1 = 2, including view 1's leader (1)
    expect(sent(ask)).toEqual([["GetState", { type: MessageType.GetState, view: 1, sender: 2, fromOp: 1 }, 1]]);
    expect(r.status).toBe(Status.Recovering);
    const done = r.step(message({ type: MessageType.NewState, view: 1, sender: 1, opNum: 2, commit: 1, fromOp: 1, entries: [entry(1, 1, "a"), entry(1, 2, "b")] }));
    expect(types(done)).toEqual(["kernelState", "PrepareOk", "kernelState"]);
    expect(r.status).toBe(Status.Normal);
    expect(r.view).toBe(1);
    expect(app.ops).toEqual(["a"]);
  });

  test("answers from the wrong round or not naming the leader are not enough", () => {
    const { r } = make(3, 2, { recovering: true });
    r.step(tick);
    const answer = (sender: number, view: number, nonce: number) => message({ type: MessageType.RecoveryResponse, view, sender, nonce, recovering: false, opNum: 0, commit: 0 });
    expect(sent(r.step(answer(0, 1, 7)))).toEqual([]); // not our nonce
    expect(sent(r.step(answer(1, 1, 7)))).toEqual([]);
    expect(r.status).toBe(Status.Recovering);
  });

  test("a single replica that restarts starts afresh (nothing to recover from)", () => {
    const { r } = make(1, 0, { recovering: true });
    r.step(tick);
    expect(r.isLeader).toBe(true);
  });
});
