// Replicas always start without memory (recovering). A cluster whose replicas start together, in
// any order and spread over several view-change timeouts, must find out that nobody holds anything,
// start afresh, elect a leader and commit.

import { expect, test } from "bun:test";
import { Replica } from "../../src/core/replica.ts";
import { defaultLimits, Status, type Effect } from "../../src/core/types.ts";
import { MessageType } from "../../src/wire/layout.ts";
import type { Message, ReplicaMessage } from "../../src/wire/messages.ts";
import { KvMachine } from "../../src/app/kv.ts";

const timing = { viewChangeTimeoutTicks: 40, heartbeatTicks: 8, resendTicks: 10, pipelineMax: 64, batchMax: 8, ...defaultLimits };

/** `eager`: a client sends its request to replica 0 (view 0's leader) on every tick from the start,
 * so a leader that started afresh before the others has an uncommitted entry when they ask. */
function run(n: number, startAt: number[], eager = false): { ticks: number; replicas: Replica[] } {
  const replicas: (Replica | undefined)[] = new Array(n).fill(undefined);
  let inbox: { to: number; msg: Message }[] = [];
  let replied = false;
  const apply = (from: number, effects: Effect[]) => {
    for (const e of effects) {
      if (e.kind === "send") {
        inbox.push({ to: e.to, msg: e.msg });
      } else if (e.kind === "broadcast") {
        for (let to = 0; to < n; to++) if (to !== from) inbox.push({ to, msg: e.msg });
      } else if (e.kind === "reply") {
        replied = true;
      }
    }
  };
  for (let tick = 0; tick < 5000; tick++) {
    for (let i = 0; i < n; i++) {
      if (tick === startAt[i]) replicas[i] = new Replica({ replicaCount: n, index: i, recovering: true, nonce: 1000 * (i + 1), ...timing }, new KvMachine());
    }
    // A registration: the first op any client commits.
    if (eager && !replied) inbox.push({ to: 0, msg: { type: MessageType.Request, view: 0, clientId: 7, requestNum: 0, session: 0, op: new Uint8Array(0) } });
    const due = inbox;
    inbox = [];
    for (const { to, msg } of due) {
      const r = replicas[to];
      if (!r) continue;
      apply(to, r.step(msg.type === MessageType.Request ? { kind: "request", msg } : { kind: "message", msg: msg as ReplicaMessage }));
      apply(to, r.step({ kind: "flush" }));
    }
    for (let i = 0; i < n; i++) if (replicas[i]) apply(i, replicas[i]!.step({ kind: "tick" }));
    const all = replicas.every((r) => r && r.status === Status.Normal);
    if (all) {
      const leader = replicas.find((r) => r!.isLeader);
      if (leader && !replied) inbox.push({ to: leader.index, msg: { type: MessageType.Request, view: leader.view, clientId: 7, requestNum: 0, session: 0, op: new Uint8Array(0) } });
      if (replied) return { ticks: tick, replicas: replicas as Replica[] };
    }
  }
  throw new Error(`cluster of ${n} did not start: ${replicas.map((r, i) => (r ? `${i}:${Status[r.status]} v${r.view}` : `${i}:-`)).join(" ")}`);
}

for (const n of [3, 5, 7]) {
  test(`${n} replicas started together, in order and spread out, begin afresh and commit`, () => {
    for (const spread of [0, 1, 25, 60, 150]) {
      const inOrder = Array.from({ length: n }, (_, i) => i * spread);
      const reversed = [...inOrder].reverse();
      for (const startAt of [inOrder, reversed]) {
        const { replicas } = run(n, startAt);
        expect(new Set(replicas.map((r) => r.view)).size).toBe(1);
      }
    }
  });
}

for (const n of [3, 5, 7]) {
  test(`${n} replicas started together while a client already asks: the early leader's uncommitted request does not keep the rest waiting`, () => {
    for (const spread of [0, 1, 10, 25, 60]) {
      const inOrder = Array.from({ length: n }, (_, i) => i * spread);
      for (const startAt of [inOrder, [...inOrder].reverse()]) {
        const { replicas } = run(n, startAt, true);
        expect(new Set(replicas.map((r) => r.view)).size).toBe(1);
      }
    }
  });
}
