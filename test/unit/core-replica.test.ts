// One Replica driven step by step with hand-made messages: the rules of each handler, exactly.
//
// Clients register before their first request (src/core/client-table.ts): a leader made by
// `leader()` has clients 1..9 registered at ops 1..9 (so client k's session is k), and a follower
// made by `follower()` holds client 1's registration at op 1 before its `ops` requests.

import { describe, expect, test } from "bun:test";
import { Replica, requestOpBytesMax } from "../../src/core/replica.ts";
import { defaultLimits, Status, type Effect, type Event, type ReplicaOptions, type StateMachine } from "../../src/core/types.ts";
import { entriesOf, entryList } from "../../src/wire/entries.ts";
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
  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify(this.ops));
  }
  restore(snapshot: Uint8Array): void {
    this.ops.splice(0, this.ops.length, ...(JSON.parse(dec.decode(snapshot)) as string[]));
  }
}

function make(n: number, index: number, extra: Partial<ReplicaOptions> = {}) {
  const app = new Recorder();
  const opts: ReplicaOptions = { replicaCount: n, index, recovering: false, nonce: 100, viewChangeTimeoutTicks: 10, heartbeatTicks: 3, resendTicks: 4, pipelineMax: 100, batchMax: 64, ...defaultLimits, ...extra };
  return { r: new Replica(opts, app), app };
}

/** Clients 1..9 register with a new leader of view 0, at ops 1..9 (client k's session is k). */
const registered = 9;
function leader(n: number, extra: Partial<ReplicaOptions> = {}) {
  const l = make(n, 0, extra);
  for (let id = 1; id <= registered; id++) {
    l.r.step(request(id, 0, ""));
    l.r.step(flush);
    l.r.step(durable(id)); // its disk holds it (counts only with durableVotes)
    for (let i = 1; i < n; i++) l.r.step(ok(0, i, id));
  }
  expect(l.r.commit).toBe(registered);
  return l;
}

const entry = (clientId: number, requestNum: number, text: string): Entry => ({ clientId, requestNum, op: enc.encode(text) });
/** Request `requestNum` of client `clientId` (session `clientId`: see `leader`). */
const request = (clientId: number, requestNum: number, text: string, session = requestNum === 0 ? 0 : clientId): Event => ({
  kind: "request",
  msg: { type: MessageType.Request, view: 0, clientId, requestNum, session, op: enc.encode(text) },
});
const message = (msg: ReplicaMessage): Event => ({ kind: "message", msg });
const tick: Event = { kind: "tick" };
const flush: Event = { kind: "flush" };
const durable = (op: number): Event => ({ kind: "durable", op });
const ok = (view: number, sender: number, opNum: number) => message({ type: MessageType.PrepareOk, view, sender, opNum });
const prepare = (view: number, sender: number, opNum: number, commit: number, entries: Entry[]) => message({ type: MessageType.Prepare, view, sender, opNum, commit, entries: entriesOf(entries) });
const newState = (view: number, sender: number, opNum: number, commit: number, fromOp: number, entries: Entry[]) => message({ type: MessageType.NewState, view, sender, opNum, commit, fromOp, entries: entriesOf(entries) });
const reg = (clientId: number): Entry => entry(clientId, 0, "");

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

/** A follower of view 0 holding client 1's registration (op 1) and then `ops` requests of it
 * ("op2" at op 2, ...), of which everything up to op `commit` is committed. */
function follower(n: number, index: number, ops: number, commit: number, extra: Partial<ReplicaOptions> = {}) {
  const f = make(n, index, extra);
  const entries = [reg(1), ...Array.from({ length: ops }, (_, i) => entry(1, i + 1, `op${i + 2}`))];
  f.r.step(prepare(0, 0, ops + 1, commit, entries));
  return f;
}

describe("leader, normal case", () => {
  test("requests wait for the flush, go out as one Prepare, commit on f acks and are answered once", () => {
    const { r, app } = leader(3);
    expect(sent(r.step(request(1, 1, "a")))).toEqual([]);
    r.step(request(2, 1, "b"));
    const [p] = sent(r.step(flush));
    expect(p![0]).toBe("Prepare");
    expect(p![1]).toMatchObject({ view: 0, opNum: 11, commit: 9 });
    expect(p![1].type === MessageType.Prepare && entryList(p![1].entries).map((e) => e.clientId)).toEqual([1, 2]);
    expect(app.ops).toEqual([]);
    const effects = r.step(ok(0, 1, 11));
    expect(replies(effects).map((m) => [m.clientId, m.opNum, m.session, dec.decode(m.result)])).toEqual([
      [1, 10, 1, "r:a"],
      [2, 11, 2, "r:b"],
    ]);
    expect(r.commit).toBe(11);
    expect(r.step(ok(0, 1, 11))).toEqual([]); // duplicate ack: nothing
    expect(app.ops).toEqual(["a", "b"]);
  });

  test("a registration commits like a request, executes nothing and is answered with its op as the session", () => {
    const { r, app } = make(3, 0);
    r.step(request(5, 0, ""));
    r.step(flush);
    const [reply] = replies(r.step(ok(0, 2, 1)));
    expect(reply).toMatchObject({ clientId: 5, requestNum: 0, opNum: 1, session: 1 });
    expect(app.ops).toEqual([]);
    expect(r.clientStats.sessions).toBe(1);
    // Its retry gets the cached answer; a registration that carries an op is dropped.
    expect(replies(r.step(request(5, 0, ""))).map((m) => m.session)).toEqual([1]);
    expect(r.step(request(6, 0, "x"))).toEqual([]);
    expect(r.opNum).toBe(1);
  });

  test("a request without a session, or naming another session, is answered Evicted and not logged", () => {
    const { r } = leader(3);
    expect(r.step(request(42, 1, "a"))).toEqual([{ kind: "evicted", clientId: 42, requestNum: 1 }]);
    expect(r.step(request(3, 1, "a", 7))).toEqual([{ kind: "evicted", clientId: 3, requestNum: 1 }]);
    expect(r.opNum).toBe(registered);
  });

  test("a full client table evicts the least recently committed session; its requests then fail", () => {
    const { r } = leader(3, { clientsMax: registered });
    r.step(request(1, 1, "keep"));
    r.step(flush);
    r.step(ok(0, 1, 10)); // client 1 is now the most recent; client 2 the least
    r.step(request(20, 0, ""));
    r.step(flush);
    const effects = r.step(ok(0, 1, 11));
    expect(effects.filter((e) => e.kind === "evicted")).toEqual([{ kind: "evicted", clientId: 2, requestNum: 0 }]);
    expect(replies(effects).map((m) => [m.clientId, m.session])).toEqual([[20, 11]]);
    expect(r.clientStats).toEqual({ sessions: registered, evictions: 1 });
    expect(r.step(request(2, 1, "late"))).toEqual([{ kind: "evicted", clientId: 2, requestNum: 1 }]);
  });

  test("a request logged for a session that is evicted before it executes never executes", () => {
    const { r, app } = leader(3, { clientsMax: registered });
    r.step(request(20, 0, "")); // op 10: evicts client 1, the least recently committed...
    r.step(request(1, 1, "doomed")); // op 11: ...whose session still exists when this is logged
    r.step(flush);
    const effects = r.step(ok(0, 1, 11));
    expect(effects.filter((e) => e.kind === "evicted")).toEqual([
      { kind: "evicted", clientId: 1, requestNum: 0 },
      { kind: "evicted", clientId: 1, requestNum: 1 },
    ]);
    expect(replies(effects).map((m) => m.clientId)).toEqual([20]);
    expect(app.ops).toEqual([]);
    expect(r.commit).toBe(11);
  });

  test("n=5: two acks from the same follower do not make a quorum", () => {
    const { r } = leader(5);
    r.step(request(1, 1, "a"));
    r.step(flush);
    r.step(ok(0, 1, 10));
    r.step(ok(0, 1, 10));
    expect(r.commit).toBe(9);
    r.step(ok(0, 3, 10));
    expect(r.commit).toBe(10);
  });

  test("acks are cumulative, and acks for another view or beyond the log are ignored", () => {
    const { r } = leader(3);
    for (let i = 1; i <= 3; i++) r.step(request(i, 1, `x${i}`));
    r.step(flush);
    r.step(ok(1, 1, 12)); // another view
    r.step(ok(0, 2, 19)); // beyond the log
    expect(r.commit).toBe(9);
    r.step(ok(0, 2, 12));
    expect(r.commit).toBe(12);
  });

  test("a batch is sent as soon as it reaches batchMax entries or a datagram's bytes", () => {
    const { r } = leader(3, { batchMax: 2 });
    expect(sent(r.step(request(1, 1, "a")))).toEqual([]);
    expect(sent(r.step(request(2, 1, "b"))).map(([, m]) => m.type === MessageType.Prepare && [m.opNum, m.entries.count])).toEqual([[11, 2]]);
    const large = leader(3);
    const big = "x".repeat(900);
    expect(sent(large.r.step(request(1, 1, big)))).toEqual([]);
    const out = sent(large.r.step(request(2, 1, big))); // would overflow: the first goes alone
    expect(out.map(([, m]) => m.type === MessageType.Prepare && [m.opNum, m.entries.count])).toEqual([[10, 1]]);
    expect(sent(large.r.step(flush)).map(([, m]) => m.type === MessageType.Prepare && [m.opNum, m.entries.count])).toEqual([[11, 1]]);
  });

  test("client table at the leader: in flight ignored, executed answered from cache, older ignored", () => {
    const { r } = leader(3);
    r.step(request(1, 5, "a"));
    expect(r.step(request(1, 5, "a"))).toEqual([]); // in the log, not executed yet
    r.step(flush);
    r.step(ok(0, 1, 10));
    const again = replies(r.step(request(1, 5, "a")));
    expect(again.map((m) => [m.opNum, dec.decode(m.result)])).toEqual([[10, "r:a"]]);
    expect(r.step(request(1, 4, "old"))).toEqual([]);
    expect(r.opNum).toBe(10);
    r.step(request(1, 6, "b"));
    expect(r.opNum).toBe(11);
  });

  test("pipelineMax bounds uncommitted ops; oversize ops are refused; followers drop requests", () => {
    const { r } = leader(3, { pipelineMax: 2 });
    for (let i = 1; i <= 3; i++) r.step(request(i, 1, `x${i}`));
    expect(r.opNum).toBe(11);
    r.step(request(9, 1, "y".repeat(requestOpBytesMax + 1)));
    expect(r.opNum).toBe(11);
    const f = make(3, 1);
    f.r.step(request(1, 0, ""));
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
    expect(replies(r.step(request(1, 0, ""))).map((m) => m.opNum)).toEqual([1]);
    const effects = r.step(request(1, 1, "solo", 1));
    expect(replies(effects).map((m) => m.opNum)).toEqual([2]);
    expect(r.commit).toBe(2);
    expect(app.ops).toEqual(["solo"]);
    expect(sent(effects)).toEqual([]);
  });
});

// fsync always: the leader's Prepares leave before its own fsync, so its vote counts only as far as
// the driver says its disk holds the log (`durable`); f+1 durable replicas commit an op, the
// leader among them or not.
describe("leader with durableVotes: its own vote follows its disk", () => {
  test("f acks do not commit until `durable` covers the op; then it commits and replies", () => {
    const { r } = leader(3, { durableVotes: true });
    r.step(request(1, 1, "a"));
    r.step(request(2, 1, "b"));
    r.step(flush);
    expect(replies(r.step(ok(0, 1, 11)))).toEqual([]);
    expect(r.commit).toBe(9);
    expect(replies(r.step(durable(10))).map((m) => m.opNum)).toEqual([10]); // only as far as the disk
    expect(r.commit).toBe(10);
    r.step(durable(11));
    expect(r.commit).toBe(11);
  });

  test("`durable` first, then the ack commits; f+1 followers commit without the leader's disk", () => {
    const { r } = leader(5, { durableVotes: true });
    r.step(request(1, 1, "a"));
    r.step(flush);
    r.step(durable(10));
    r.step(ok(0, 1, 10));
    expect(r.commit).toBe(9); // the leader and one follower: 2 of the 3 needed
    r.step(ok(0, 2, 10));
    expect(r.commit).toBe(10);
    r.step(request(2, 1, "b"));
    r.step(flush);
    for (const i of [1, 2]) r.step(ok(0, i, 11));
    expect(r.commit).toBe(10); // two followers and a leader whose disk lacks op 11
    r.step(ok(0, 3, 11));
    expect(r.commit).toBe(11); // three followers hold it durably: a quorum without the leader
  });

  test("quorum prune: the kernel's quorum ack commits only as far as the leader's disk; the rest at `durable`", () => {
    const { r } = leader(3, { durableVotes: true });
    for (let i = 1; i <= 3; i++) r.step(request(i, 1, `x${i}`));
    r.step(flush);
    r.step(durable(10));
    r.step({ kind: "message", msg: { type: MessageType.PrepareOk, view: 0, sender: 1, opNum: 12 }, via: "quorum" });
    expect(r.commit).toBe(10);
    r.step(durable(12));
    expect(r.commit).toBe(12); // the last quorum ack is remembered
  });

  test("n=1 commits on its own durable vote alone", () => {
    const { r } = make(1, 0, { durableVotes: true });
    r.step(request(1, 0, ""));
    r.step(flush);
    expect(r.commit).toBe(0);
    expect(replies(r.step(durable(1))).map((m) => m.clientId)).toEqual([1]);
    expect(r.commit).toBe(1);
  });

  test("without durableVotes `durable` means nothing and the leader counts all it prepared", () => {
    const { r } = leader(3);
    r.step(request(1, 1, "a"));
    r.step(flush);
    r.step(ok(0, 1, 10));
    expect(r.commit).toBe(10);
  });

  test("a new leader's own vote starts from nothing: durable as a follower or in an earlier view does not count", () => {
    const { r } = follower(3, 1, 5, 3, { durableVotes: true });
    r.step(durable(6)); // a follower: ignored
    r.step(message({ type: MessageType.StartViewChange, view: 4, sender: 2 }));
    r.step(message({ type: MessageType.DoViewChange, view: 4, sender: 2, lastNormalView: 0, opNum: 5, commit: 3 }));
    expect(r.isLeader).toBe(true);
    expect(r.durableOp).toBe(0);
    r.step(ok(4, 2, 6));
    expect(r.commit).toBe(3);
    r.step(durable(6)); // the driver fsynced the adopted log before the StartView left
    expect(r.commit).toBe(6);
  });
});

describe("follower, normal case", () => {
  test("appends a contiguous Prepare and acks; executes only up to the leader's commit", () => {
    const { r, app } = follower(3, 1, 0, 0);
    const out = sent(r.step(prepare(0, 0, 3, 0, [entry(1, 1, "a"), entry(1, 2, "b")])));
    expect(out).toEqual([["PrepareOk", { type: MessageType.PrepareOk, view: 0, sender: 1, opNum: 3 }, 0]]);
    expect(app.ops).toEqual([]); // nothing committed yet: nothing executed
    r.step(prepare(0, 0, 4, 2, [entry(1, 3, "c")]));
    expect(app.ops).toEqual(["a"]);
    r.step({ kind: "message", msg: { type: MessageType.Commit, view: 0, sender: 0, opNum: 4, commit: 4 } });
    expect(app.ops).toEqual(["a", "b", "c"]);
  });

  test("a duplicate Prepare is acked with the follower's own op; a gap asks for state, no ack", () => {
    const { r } = follower(3, 1, 3, 0);
    expect(sent(r.step(prepare(0, 0, 3, 0, [entry(1, 2, "op3")])))[0]![1]).toMatchObject({ type: MessageType.PrepareOk, opNum: 4 });
    const gap = sent(r.step(prepare(0, 0, 7, 0, [entry(1, 6, "op7")])));
    expect(gap).toEqual([["GetState", { type: MessageType.GetState, view: 0, sender: 1, fromOp: 5 }, 0]]);
    expect(r.opNum).toBe(4);
    const fill = r.step(newState(0, 0, 7, 6, 5, [entry(1, 4, "op5"), entry(1, 5, "op6"), entry(1, 6, "op7")]));
    expect(sent(fill)).toEqual([["PrepareOk", { type: MessageType.PrepareOk, view: 0, sender: 1, opNum: 7 }, 0]]);
    expect(r.commit).toBe(6);
  });

  test("Prepares from another sender, an older view or a non-leader are dropped", () => {
    const { r } = make(3, 1);
    expect(r.step(prepare(0, 2, 1, 0, [reg(1)]))).toEqual([{ kind: "kernelState", state: r.kernelState }]);
    expect(r.opNum).toBe(0);
  });

  test("a silent leader: view change, kernel state announced before the StartViewChange", () => {
    const { r } = make(3, 1);
    let effects: Effect[] = [];
    for (let t = 0; t < 10; t++) effects = r.step(tick);
    expect(types(effects)).toEqual(["kernelState", "StartViewChange"]);
    expect(effects[0]).toEqual({ kind: "kernelState", state: { status: Status.ViewChange, view: 1, leader: 1, lastOp: 0, commit: 0 } });
  });
});

describe("view change", () => {
  test("the new leader adopts a SHORTER log from a later view, fetched aside, then starts the view", () => {
    // Replica 1 leads view 4 of 3 replicas. It holds 6 ops of view 0 (3 committed).
    const { r, app } = follower(3, 1, 5, 3);
    r.step(message({ type: MessageType.StartViewChange, view: 4, sender: 2 }));
    expect(r.status).toBe(Status.ViewChange);
    const effects = r.step(message({ type: MessageType.DoViewChange, view: 4, sender: 2, lastNormalView: 3, opNum: 5, commit: 3 }));
    expect(sent(effects)).toEqual([["GetState", { type: MessageType.GetState, view: 4, sender: 1, fromOp: 4 }, 2]]);
    expect(r.opNum).toBe(6); // untouched until the chosen log is complete
    const done = r.step(newState(4, 2, 5, 4, 4, [entry(9, 1, "n4"), entry(9, 2, "n5")]));
    expect(types(done)).toEqual(["kernelState", "StartView"]);
    expect(sent(done)[0]![1]).toMatchObject({ type: MessageType.StartView, view: 4, opNum: 5, commit: 3 });
    expect(r.isLeader).toBe(true);
    expect(r.lastNormalView).toBe(4);
    expect([2, 3, 4, 5].map((op) => dec.decode(r.entryAt(op)!.op))).toEqual(["op2", "op3", "n4", "n5"]);
    expect(app.ops).toEqual(["op2", "op3"]); // the DoViewChanges' highest commit is 3
  });

  test("a view change that fails half-way leaves the log and lastNormalView as they were", () => {
    const { r } = follower(3, 1, 5, 3);
    r.step(message({ type: MessageType.DoViewChange, view: 4, sender: 2, lastNormalView: 3, opNum: 5, commit: 3 }));
    r.step(newState(4, 2, 5, 3, 4, [entry(9, 1, "n4")]));
    for (let t = 0; t < 10; t++) r.step(tick); // the view change to 4 times out: on to view 5
    expect(r.view).toBe(5);
    const dvc = sent(r.step(message({ type: MessageType.StartViewChange, view: 5, sender: 0 }))).find(([t]) => t === "DoViewChange");
    expect(dvc?.[1]).toMatchObject({ view: 5, lastNormalView: 0, opNum: 6, commit: 3 });
  });

  test("a replica joining a started view keeps its log until it holds the leader's, then acks", () => {
    const { r } = follower(3, 2, 4, 3);
    const effects = r.step(message({ type: MessageType.StartView, view: 1, sender: 1, opNum: 6, commit: 4 }));
    expect(types(effects)).toEqual(["kernelState", "GetState"]);
    expect(effects[0]).toMatchObject({ state: { status: Status.ViewChange, view: 1 } });
    expect(sent(effects)[0]![1]).toMatchObject({ view: 1, fromOp: 4 });
    // Prepares of the new view are not acked while joining.
    expect(sent(r.step(prepare(1, 1, 7, 4, [entry(5, 1, "x")])))).toEqual([]);
    expect(r.opNum).toBe(5);
    const done = r.step(newState(1, 1, 7, 4, 4, [entry(7, 1, "a"), entry(7, 2, "b"), entry(7, 3, "c")]));
    expect(types(done)[0]).toBe("kernelState");
    expect(sent(done)).toEqual([["PrepareOk", { type: MessageType.PrepareOk, view: 1, sender: 2, opNum: 6 }, 1]]);
    expect(r.status).toBe(Status.Normal);
    expect(r.lastNormalView).toBe(1);
    expect(r.commit).toBe(4);
    expect(dec.decode(r.entryAt(4)!.op)).toBe("a");
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
      { type: MessageType.Prepare, view: 0, sender: 0, opNum: 1, commit: 0, entries: entriesOf([reg(1)]) },
      { type: MessageType.Commit, view: 0, sender: 0, opNum: 1, commit: 1 },
      { type: MessageType.StartViewChange, view: 1, sender: 0 },
      { type: MessageType.DoViewChange, view: 2, sender: 0, lastNormalView: 0, opNum: 0, commit: 0 },
      { type: MessageType.StartView, view: 1, sender: 1, opNum: 0, commit: 0 },
      { type: MessageType.GetState, view: 0, sender: 0, fromOp: 1 },
      { type: MessageType.GetSnapshot, view: 0, sender: 0, checkpointOp: 1, offset: 0 },
    ];
    for (const m of quiet) expect(sent(r.step(message(m)))).toEqual([]);
    expect(r.status).toBe(Status.Recovering);
    const answer = sent(r.step(message({ type: MessageType.Recovery, sender: 0, nonce: 55 })));
    expect(answer).toEqual([["RecoveryResponse", { type: MessageType.RecoveryResponse, view: 0, sender: 2, nonce: 55, recovering: true, lastNormalView: 0, opNum: 0, commit: 0 }, 0]]);
  });

  test("recovers from the latest view's leader once f+1 normal replicas answered, then acks", () => {
    const { r, app } = make(3, 2, { recovering: true });
    const [bc] = sent(r.step(tick));
    expect(bc![0]).toBe("Recovery");
    const nonce = (bc![1] as { nonce: number }).nonce;
    const answer = (sender: number, view: number) => message({ type: MessageType.RecoveryResponse, view, sender, nonce, recovering: false, lastNormalView: 0, opNum: 3, commit: 2 });
    expect(sent(r.step(answer(0, 1)))).toEqual([]); // only one answer
    const ask = r.step(answer(1, 1)); // f+1 = 2, including view 1's leader (1)
    expect(sent(ask)).toEqual([["GetState", { type: MessageType.GetState, view: 1, sender: 2, fromOp: 1 }, 1]]);
    expect(r.status).toBe(Status.Recovering);
    const done = r.step(newState(1, 1, 3, 2, 1, [reg(1), entry(1, 1, "a"), entry(1, 2, "b")]));
    expect(types(done)).toEqual(["kernelState", "PrepareOk", "kernelState"]);
    expect(r.status).toBe(Status.Normal);
    expect(r.view).toBe(1);
    expect(app.ops).toEqual(["a"]);
  });

  test("answers from the wrong round or not naming the leader are not enough", () => {
    const { r } = make(3, 2, { recovering: true });
    r.step(tick);
    const answer = (sender: number, view: number, nonce: number) => message({ type: MessageType.RecoveryResponse, view, sender, nonce, recovering: false, lastNormalView: 0, opNum: 0, commit: 0 });
    expect(sent(r.step(answer(0, 1, 7)))).toEqual([]); // not our nonce
    expect(sent(r.step(answer(1, 1, 7)))).toEqual([]);
    expect(r.status).toBe(Status.Recovering);
  });

  test("with a data directory, a view change that f+1 recovering replicas make impossible is given up: it recovers too, its log kept as its claim", () => {
    const inViewChange = (dataDirectory: boolean) => {
      const { r } = follower(5, 3, 2, 1, { dataDirectory }); // a log of 3 ops (an empty one answers as recovering)
      r.step(message({ type: MessageType.StartViewChange, view: 1, sender: 2 }));
      expect(r.status).toBe(Status.ViewChange);
      return r;
    };
    const recovery = (sender: number) => message({ type: MessageType.Recovery, sender, nonce: 70 + sender });
    const r = inViewChange(true);
    expect(sent(r.step(recovery(0)))).toEqual([]);
    expect(sent(r.step(recovery(0)))).toEqual([]); // the same replica twice counts once
    expect(sent(r.step(recovery(4)))).toEqual([]);
    expect(r.status).toBe(Status.ViewChange); // two of f+1 = 3
    const gaveUp = sent(r.step(recovery(2)));
    expect(r.status).toBe(Status.Recovering);
    expect(r.view).toBe(1); // the view it promised stays its claim's
    expect(gaveUp.map(([type, , to]) => `${type} ${to}`)).toEqual(["RecoveryResponse 2"]);
    expect(gaveUp[0]![1]).toMatchObject({ recovering: true, view: 1, opNum: 3 }); // its claim: the log it holds
    expect(sent(r.step(tick)).map(([type, , to]) => `${type} ${to}`)).toEqual(["Recovery all"]); // and it asks, as any recovering replica
    // Without a data directory VR waits, as for any f+1 replicas without memory.
    const memory = inViewChange(false);
    for (const sender of [0, 2, 4]) expect(sent(memory.step(recovery(sender)))).toEqual([]);
    expect(memory.status).toBe(Status.ViewChange);
  });

  test("a recovering replica reminds the leader of an earlier view of the view it promised, once per message, with no log", () => {
    const { r } = make(3, 2, { recovering: true, dataDirectory: true });
    r.loadDurable({ checkpoint: undefined, entries: [], view: 4, lastNormalView: 3, commit: 0 });
    const out = sent(r.step(message({ type: MessageType.Commit, view: 3, sender: 0, opNum: 5, commit: 5 })));
    expect(out).toEqual([["StartViewChange", { type: MessageType.StartViewChange, view: 4, sender: 2 }, 0]]);
    expect(sent(r.step(message({ type: MessageType.Commit, view: 4, sender: 1, opNum: 5, commit: 5 })))).toEqual([]); // its own view: nothing to remind
    expect(r.status).toBe(Status.Recovering);
  });

  test("a single replica that restarts starts afresh (nothing to recover from)", () => {
    const { r } = make(1, 0, { recovering: true });
    r.step(tick);
    expect(r.isLeader).toBe(true);
  });
});
