// Hand-written fault scenarios on the simulated cluster. The Checker (checker.ts) checks safety
// after every step here too; each scenario adds assertions about what must happen. A client's first
// request is preceded by its registration (src/core/client-table.ts), which takes an op of its own:
// op counts below include it.

import { describe, expect, test } from "bun:test";
import { encodeGet, encodePut } from "../../src/app/kv.ts";
import { Status, type Effect } from "../../src/core/types.ts";
import { MessageType } from "../../src/wire/layout.ts";
import type { Message } from "../../src/wire/messages.ts";
import { Cluster, type Packet, type SimClient } from "./cluster.ts";

const big = (key: string, size = 600) => encodePut(key, "v".repeat(size));

/** Submits `count` ops from `client` one after another, each within `limit` ticks. */
function commitOps(c: Cluster, client: SimClient, count: number, op: (i: number) => Uint8Array = (i) => encodePut(`k${i % 5}`, `v${i}`), limit = 500): void {
  for (let i = 0; i < count; i++) {
    c.submit(client, op(i));
    c.runUntil(() => !client.pending, limit, `op ${i} of client ${client.clientId}`);
  }
}

/** Records every message each replica sends, with the status it announced at that moment. */
function recordSends(c: Cluster): { index: number; status: Status | undefined; msg: Message }[] {
  const sent: { index: number; status: Status | undefined; msg: Message }[] = [];
  c.observer = (index: number, effect: Effect) => {
    if (effect.kind === "send" || effect.kind === "broadcast") sent.push({ index, status: c.checker.kernelOf(index)?.status, msg: effect.msg });
  };
  return sent;
}

const toReplica = (p: Packet, i: number) => "replica" in p.to && p.to.replica === i;

describe("scenarios", () => {
  test("leader crash: a view change elects the next replica, nothing committed is lost", () => {
    const c = new Cluster({ replicas: 3, seed: 1, net: { delayMax: 2 } });
    const client = c.addClient();
    commitOps(c, client, 20);
    const committed = c.checker.committed.length;
    c.crash(0);
    commitOps(c, client, 20, (i) => encodePut(`k${i % 5}`, `after${i}`), 1000);
    expect(c.replicas[1]!.isLeader).toBe(true);
    expect(c.replicas[1]!.view).toBe(1);
    expect(c.checker.committed.length).toBe(committed + 20);
    // The old leader comes back without memory, recovers, and ends up with the same log.
    c.restart(0);
    commitOps(c, client, 5);
    c.runUntil(() => c.converged(), 1000, "convergence");
    expect(c.replicas[0]!.opNum).toBe(committed + 25);
    c.checker.recheckAll(c.replicas);
  });

  test("a follower far behind catches up by state transfer, in many NewState chunks", () => {
    const c = new Cluster({ replicas: 3, seed: 2, net: { delayMax: 2 } });
    const client = c.addClient();
    const sent = recordSends(c);
    // Cut off and stalled (so it does not start view changes of its own, which a partitioned
    // follower would: VR has no pre-vote), then back: a gap of 60 ops.
    c.partition([[0, 1], [2]]);
    c.pause(2, 100_000);
    commitOps(c, client, 60, (i) => big(`k${i}`));
    expect(c.replicas[2]!.opNum).toBe(0);
    c.heal();
    c.pausedUntil[2] = 0;
    c.runUntil(() => c.replicas[2]!.commit === 61, 2000, "follower catch-up"); // 60 and the registration
    const newStates = sent.filter((s) => s.index === 0 && s.msg.type === MessageType.NewState && "entries" in s.msg && s.msg.entries.count > 0);
    expect(newStates.length).toBeGreaterThanOrEqual(30); // two 600-byte ops fit one NewState
    expect(c.replicas[2]!.status).toBe(Status.Normal);
    expect(c.replicas[2]!.view).toBe(0); // no view change was needed
    c.checker.recheckAll(c.replicas);
  });

  test("a recovering replica never acks or votes; the leader killed during its recovery", () => {
    const c = new Cluster({ replicas: 5, seed: 3, net: { delayMax: 2 } });
    const client = c.addClient();
    const sent = recordSends(c);
    commitOps(c, client, 10);
    c.crash(4);
    commitOps(c, client, 10);
    c.restart(4);
    c.run(1); // it has broadcast its Recovery; now its leader dies
    c.crash(0);
    commitOps(c, client, 10, (i) => encodePut(`k${i}`, `late${i}`), 2000);
    c.runUntil(() => c.replicas[4]!.status === Status.Normal && c.converged(), 2000, "replica 4 recovered");
    expect(c.replicas[4]!.view).toBeGreaterThanOrEqual(1);
    expect(c.replicas[4]!.opNum).toBe(31);
    const byFour = sent.filter((s) => s.index === 4);
    const whileRecovering = byFour.filter((s) => s.status === Status.Recovering).map((s) => s.msg.type);
    expect(whileRecovering.length).toBeGreaterThan(0);
    const allowed = new Set([MessageType.Recovery, MessageType.RecoveryResponse, MessageType.GetState]);
    expect(whileRecovering.filter((t) => !allowed.has(t))).toEqual([]);
    c.checker.recheckAll(c.replicas);
  });

  test("3 replicas, one recovering and the leader dead: no quorum, so nothing happens (and nothing is lost)", () => {
    const c = new Cluster({ replicas: 3, seed: 4, net: { delayMax: 2 } });
    const client = c.addClient();
    const sent = recordSends(c);
    c.crash(2);
    commitOps(c, client, 10); // committed by 0 and 1 only
    c.restart(2);
    c.run(1);
    c.crash(0);
    c.run(1000);
    // Replica 1 alone cannot finish a view change, and replica 2 must not help it with an empty log.
    expect(c.replicas[2]!.status).toBe(Status.Recovering);
    expect(c.replicas[1]!.status).toBe(Status.ViewChange);
    const votes = sent.filter((s) => s.index === 2 && [MessageType.PrepareOk, MessageType.StartViewChange, MessageType.DoViewChange].includes(s.msg.type));
    expect(votes).toEqual([]);
    expect(c.replicas[1]!.opNum).toBe(11);
  });

  test("a replica still joining a view does not claim it: a later view change keeps a committed op", () => {
    // Claiming the view (lastNormalView) at StartView with a truncated log would lose op 1 here.
    const c = new Cluster({ replicas: 5, seed: 11 });
    const client = c.addClient();
    // View 0: op 1 reaches only 1 and 2, is committed by 0 and answered; then 0 dies.
    c.filter = (p) => !(p.from === 0 && (toReplica(p, 3) || toReplica(p, 4)));
    c.submit(client, encodePut("precious", "1"));
    c.runUntil(() => !client.pending, 100, "op 1 committed and answered");
    c.crash(0);
    // View 1 (leader 1, which holds op 1) starts, but nobody can fetch its log.
    c.filter = (p) => !(p.from === 1 && p.msg.type === MessageType.NewState);
    c.runUntil(() => c.replicas[1]!.isLeader && [2, 3, 4].every((i) => c.replicas[i]!.view === 1 && c.replicas[i]!.joining), 500, "view 1 started, the others joining");
    expect([2, 3, 4].map((i) => c.replicas[i]!.lastNormalView)).toEqual([0, 0, 0]);
    // Its leader dies too: 2, 3 and 4 must elect a leader of view 2 that still holds op 1.
    c.crash(1);
    c.filter = undefined;
    c.runUntil(() => c.replicas[2]!.isLeader && c.replicas[2]!.commit >= 1, 1000, "view 2 commits op 1");
    expect(c.replicas[2]!.entryAt(1)!.clientId).toBe(client.clientId);
    c.submit(client, encodeGet("precious"));
    c.runUntil(() => !client.pending, 1000, "get");
    expect(new TextDecoder().decode(client.replies[1]!.result.subarray(1))).toBe("1");
  });

  test("a retried request executes once (lost replies, duplicated requests, retry across a view change)", () => {
    const c = new Cluster({ replicas: 3, seed: 5, net: { delayMax: 3, duplication: 0.5 } });
    const client = c.addClient();
    let dropReplies = true;
    c.filter = (p) => !(dropReplies && p.msg.type === MessageType.Reply);
    c.submit(client, encodePut("x", "1"));
    c.run(100); // several retries, all answered from the client table after the first execution
    expect(c.checker.committed.length).toBe(1); // the registration: its reply is dropped too
    dropReplies = false;
    c.runUntil(() => !client.pending, 200, "reply");
    expect(client.replies[0]!.opNum).toBe(2);
    // Committed by leader 0, which dies before its reply gets out; the client retries to all.
    c.filter = (p) => !(p.from === 0 && p.msg.type === MessageType.Reply);
    c.submit(client, encodePut("x", "2"));
    c.runUntil(() => c.replicas[0]!.commit === 3, 100, "second put committed at 0");
    c.crash(0);
    c.runUntil(() => !client.pending, 1000, "reply from the new leader");
    expect(client.replies[1]!.opNum).toBe(3);
    expect(client.replies[1]!.view).toBeGreaterThanOrEqual(1);
    c.submit(client, encodeGet("x"));
    c.runUntil(() => !client.pending, 500, "get");
    expect(new TextDecoder().decode(client.replies[2]!.result.subarray(1))).toBe("2");
    expect(c.checker.committed.map((e) => e.requestNum)).toEqual([0, 1, 2, 3]);
    c.runUntil(() => c.converged(), 500, "followers learn the last commit");
    for (const i of [1, 2]) expect(c.apps[i]!.executed).toBe(3);
  });

  test("a stale leader waking up after a partition is ignored, then joins the new view", () => {
    const c = new Cluster({ replicas: 3, seed: 6, net: { delayMax: 2 } });
    const client = c.addClient();
    const sent = recordSends(c);
    commitOps(c, client, 5);
    c.partition([[0], [1, 2]]);
    // A client reaches 0, which logs its request but cannot commit it; the client gives up.
    const other = c.addClient();
    c.register(other); // logged at 0, never committed: the client gives up
    c.run(3);
    other.pending = undefined;
    expect(c.replicas[0]!.opNum).toBe(7);
    c.runUntil(() => c.replicas[1]!.isLeader, 500, "view 1 among 1 and 2");
    commitOps(c, client, 5, (i) => encodePut(`new${i}`, "v"), 1000);
    expect(c.replicas[0]!.isLeader).toBe(true); // still believes it leads view 0
    const startOfHeal = sent.length;
    c.heal();
    c.runUntil(() => c.converged(), 1000, "old leader joins the new view");
    expect(c.replicas[0]!.view).toBeGreaterThanOrEqual(1);
    expect(c.replicas[0]!.isLeader).toBe(false);
    // Nobody acknowledged the old view after healing, and its uncommitted entry was replaced.
    expect(c.checker.committed.some((e) => e.clientId === other.clientId)).toBe(false);
    expect(sent.slice(startOfHeal).filter((s) => s.msg.type === MessageType.PrepareOk && s.msg.view === 0)).toEqual([]);
    expect(c.replicas[0]!.entryAt(7)!.clientId).toBe(client.clientId);
    c.checker.recheckAll(c.replicas);
  });

  test("a paused leader (a long stall) is replaced and then follows", () => {
    const c = new Cluster({ replicas: 5, seed: 7, net: { delayMax: 3 } });
    const client = c.addClient();
    commitOps(c, client, 10);
    c.pause(0, 300);
    commitOps(c, client, 10, (i) => encodePut(`p${i}`, "v"), 1000);
    expect(c.replicas[0]!.isLeader).toBe(true); // it has not noticed anything yet
    c.run(300);
    c.runUntil(() => c.converged(), 1000, "convergence");
    expect(c.replicas[0]!.isLeader).toBe(false);
    c.checker.recheckAll(c.replicas);
  });

  test("recovery that restarts after a partial fetch does not keep the old leader's uncommitted entries", () => {
    const c = new Cluster({ replicas: 5, seed: 8 });
    const client = c.addClient();
    commitOps(c, client, 3, (i) => big(`k${i}`)); // ops 1 (its registration) to 4
    const ghost = c.addClient();
    c.register(ghost); // op 5
    c.runUntil(() => !ghost.pending, 200, "ghost registered");
    // Leader 0 logs two ops nobody else ever sees (its messages to 1..3 are cut).
    const cut = (p: Packet) => p.from === 0 && !toReplica(p, 4) && !("client" in p.to);
    c.filter = (p) => !cut(p);
    c.crash(4);
    for (let i = 0; i < 2; i++) {
      c.submit(ghost, big(`ghost${i}`));
      c.run(3);
      ghost.pending = undefined; // a client that gives up: nobody retries these
    }
    expect(c.replicas[0]!.opNum).toBe(7);
    // Replica 4 restarts and gets two NewState chunks from 0 (ops 1-3, then 4-6: op 6 is a ghost)...
    c.restart(4);
    let chunks = 0;
    c.filter = (p) => !cut(p) && !(p.from === 0 && toReplica(p, 4) && p.msg.type === MessageType.NewState && ++chunks > 2);
    c.runUntil(() => chunks > 2, 200, "partial fetch");
    // ...then 0 dies. The others elect a new leader and commit other ops at 6, 7 and 8.
    c.crash(0);
    c.filter = undefined;
    commitOps(c, client, 3, (i) => big(`new${i}`), 2000);
    c.runUntil(() => c.replicas[4]!.status === Status.Normal && c.converged(), 2000, "replica 4 recovered");
    expect(c.replicas[4]!.entryAt(6)!.clientId).toBe(client.clientId);
    c.checker.recheckAll(c.replicas);
  });

  test("an op too large for state transfer is refused, the largest allowed one goes through", async () => {
    const { requestOpBytesMax } = await import("../../src/core/replica.ts");
    const c = new Cluster({ replicas: 3, seed: 9, codec: true });
    const client = c.addClient();
    // Built by hand: the encoder itself refuses an op longer than requestOpBytesMax.
    const put = (bytes: number) => {
      const op = new Uint8Array(bytes).fill(118); // put "k" = "vvv..."
      op.set([1, 1, 0, 107]);
      return op;
    };
    c.register(client);
    c.runUntil(() => !client.pending, 100, "registered");
    c.submit(client, put(requestOpBytesMax + 1));
    c.run(100);
    expect(c.checker.committed.length).toBe(1); // the registration only
    client.pending = undefined;
    c.partition([[0, 1], [2]]);
    commitOps(c, client, 3, () => put(requestOpBytesMax));
    c.heal();
    c.runUntil(() => c.replicas[2]!.commit === 4, 500, "state transfer of maximal ops");
  });

  test("every replica of a cluster that lost everything restarts empty (fresh start)", () => {
    const c = new Cluster({ replicas: 3, seed: 10 });
    for (let i = 0; i < 3; i++) c.restart(i);
    const client = c.addClient();
    c.runUntil(() => c.replicas.every((r) => r!.status === Status.Normal), 500, "fresh start");
    commitOps(c, client, 5);
    c.runUntil(() => c.converged(), 500, "convergence");
  });
});
