// The kernel fast paths (modelled in fast-model.ts) against the plain protocol: the same seeded
// workload commits the same log and gets the same replies with them on and off; under faults they
// keep every safety property; and no replica's kernel ever acks for a view it has left.
import { describe, expect, test } from "bun:test";
import { encodeGet, encodePut } from "../../src/app/kv.ts";
import { Status } from "../../src/core/types.ts";
import { MessageType } from "../../src/wire/layout.ts";
import { Cluster, simTiming } from "./cluster.ts";
import { runSeeds } from "./simulator.ts";

/**
 * A fault-free run: every client does `ops` operations, one at a time. Quorum prune counts acks per
 * op where the core counts them cumulatively, so with reordered acks and f > 1 it may commit a
 * little later (correctly, just later) and the runs would diverge in timing: reordering only for 3.
 */
function workload(replicas: number, seed: number, fastPaths: boolean, ops = 40) {
  const delayMax = replicas === 3 ? 4 : 1;
  const c = new Cluster({ replicas, seed, fastPaths, net: { delayMax }, timing: { batchMax: 4, pipelineMax: 16 } });
  const clients = Array.from({ length: 4 }, () => c.addClient());
  let submitted = 0;
  c.runUntil(
    () => {
      for (const client of clients) {
        if (client.pending || client.requestNum >= ops) continue;
        const k = `k${(client.clientId + client.requestNum) % 3}`;
        c.submit(client, client.requestNum % 3 === 2 ? encodeGet(k) : encodePut(k, `${client.clientId}.${client.requestNum}`));
        submitted++;
      }
      return clients.every((cl) => cl.requestNum >= ops && !cl.pending);
    },
    20_000,
    "workload completes",
  );
  c.runUntil(() => c.converged(), 2000, "converged");
  const log = Array.from({ length: c.replicas[0]!.commit }, (_, i) => {
    const e = c.replicas[0]!.entryAt(i + 1)!;
    return `${e.clientId}/${e.requestNum}`;
  });
  const replies = clients.map((cl) => cl.replies.map((r) => `${r.requestNum}@${r.opNum}:${new TextDecoder().decode(r.result)}`));
  const counters = c.fast.reduce((sum, m) => ({ fastAcked: sum.fastAcked + (m?.counters.fastAcked ?? 0), quorum: sum.quorum + (m?.counters.quorum ?? 0), pruned: sum.pruned + (m?.counters.pruned ?? 0) }), { fastAcked: 0, quorum: 0, pruned: 0 });
  return { log, replies, counters, submitted };
}

describe("fast paths in the simulator", () => {
  for (const n of [3, 5, 7]) {
    test(`${n} replicas: the same workload commits the same log and replies with fast paths on and off`, () => {
      for (const seed of [1, 2, 3, 4, 5]) {
        const off = workload(n, seed, false);
        const on = workload(n, seed, true);
        expect(on.log).toEqual(off.log);
        expect(on.replies).toEqual(off.replies);
        expect(on.log.length).toBe(off.submitted + 4); // and each of the 4 clients' registration
        // Each path did its work.
        expect(on.counters.fastAcked).toBeGreaterThan(on.log.length / 8);
        expect(on.counters.quorum).toBeGreaterThan(0);
        if (n > 3) expect(on.counters.pruned).toBeGreaterThan(0);
        expect(off.counters.fastAcked).toBe(0);
      }
    });
  }

  test("faults with fast paths on: 3, 5 and 7 replicas keep every safety property and stay live", () => {
    for (const n of [3, 5, 7]) {
      const total = runSeeds(n, 40_000 + n * 100, 25, { fastPaths: true });
      expect(total.replies).toBeGreaterThan(0);
      expect(total.viewChanges).toBeGreaterThan(0);
    }
  }, 120_000);

  test("a stale leader: after the others changed view, their kernels pass its Prepares up", () => {
    const c = new Cluster({ replicas: 3, seed: 9, fastPaths: true });
    const client = c.addClient();
    c.submit(client, encodePut("a", "1"));
    c.runUntil(() => !client.pending, 200, "first put");
    expect(c.fast[1]!.counters.fastAcked + c.fast[2]!.counters.fastAcked).toBeGreaterThan(0);
    // b is prepared (and fast-acked) but its acks never reach leader 0, which then stalls.
    const toOldLeader = (p: { from: number; to: { replica: number } | { client: number } }) => p.from >= 0 && "replica" in p.to && p.to.replica === 0;
    c.filter = (p) => !toOldLeader(p);
    c.submit(client, encodePut("b", "2"));
    c.run(5);
    c.pause(0, 300);
    c.runUntil(() => [1, 2].every((i) => c.replicas[i]!.view >= 1 && c.replicas[i]!.status === Status.Normal), 400, "view change without the leader");
    const staleAcks: number[] = [];
    c.observer = (index, effect) => {
      if (effect.kind === "send" && effect.msg.type === MessageType.PrepareOk && effect.msg.view === 0) staleAcks.push(index);
    };
    // 0 wakes up still believing it leads view 0 (it hears nobody), and a client that also still
    // believes so sends it a request: 0 prepares it in view 0.
    c.runUntil(() => c.now > 330, 400, "the old leader awake");
    const passedBefore = c.fast[1]!.counters.fastPassed + c.fast[2]!.counters.fastPassed;
    const stale = c.addClient();
    c.submit(stale, encodePut("c", "3"));
    c.run(20);
    expect(c.replicas[0]!.view).toBe(0);
    expect(c.fast[1]!.counters.fastPassed + c.fast[2]!.counters.fastPassed).toBeGreaterThan(passedBefore);
    // Cluster.kernelPath fails the run on a fast ack for a view the replica left; no core acks
    // for view 0 either.
    expect(staleAcks).toEqual([]);
    c.filter = undefined;
    c.runUntil(() => !client.pending && c.replicas[0]!.view >= 1 && c.replicas[0]!.status === Status.Normal, 2000, "b completes, 0 joins the new view");
    c.submit(client, encodeGet("b"));
    c.runUntil(() => !client.pending, 1000, "get b");
    expect(new TextDecoder().decode(client.replies.at(-1)!.result.subarray(1))).toBe("2");
  });

  /** Ticks within which an op whose marked quorum ack was lost commits anyway: the leader's next
   * heartbeat (at most heartbeatTicks after its last send) shows it uncommitted, the followers
   * re-ack, the kernel passes a re-ack up marked, and the reply goes out; a tick per hop. */
  const lostQuorumAckCommitTicksMax = simTiming.heartbeatTicks + 4;

  for (const n of [3, 5]) {
    test(`${n} replicas: a lost marked quorum ack with no later traffic still commits within ${lostQuorumAckCommitTicksMax} ticks`, () => {
      const c = new Cluster({ replicas: n, seed: 31, fastPaths: true });
      const client = c.addClient();
      c.submit(client, encodePut("warm", "up"));
      c.runUntil(() => !client.pending, 200, "warm-up put");
      // The one ack that completes x's quorum is passed up marked by the leader's kernel, then lost
      // before its process reads it (a full socket buffer). Nothing else is lost; no request follows.
      let lostAt: number | undefined;
      c.socketFilter = (_p, via) => {
        if (via !== "quorum" || lostAt !== undefined) return true;
        lostAt = c.now;
        return false;
      };
      const leader = c.fast[0]!;
      const repeatsBefore = leader.counters.quorumRepeat;
      c.submit(client, encodePut("x", "1"));
      c.runUntil(() => lostAt !== undefined, 20, "the marked ack passed up and lost");
      c.runUntil(() => !client.pending, lostQuorumAckCommitTicksMax, "x commits without later traffic");
      expect(leader.counters.quorumRepeat).toBeGreaterThan(repeatsBefore);
      expect(c.stats.lostAfterKernel).toBe(1);
      c.runUntil(() => c.converged(), 100, "converged");
    });
  }

  test("in steady state the leader's process still sees about one ack per op", () => {
    const c = new Cluster({ replicas: 5, seed: 32, fastPaths: true, timing: { batchMax: 1 } });
    const clients = Array.from({ length: 4 }, () => c.addClient());
    let ops = 0;
    c.run(2000, () => {
      for (const client of clients) {
        if (client.pending) continue;
        c.submit(client, encodePut(`k${client.clientId}`, `${ops++}`));
      }
    });
    const leader = c.fast[0]!.counters;
    expect(ops).toBeGreaterThan(1000);
    expect(leader.quorum).toBeGreaterThan(ops * 0.9);
    expect(leader.quorumRepeat).toBeLessThan(ops * 0.02);
  });

  /** Prepare x reaches only follower 1, whose kernel acks it (the leader commits and answers)
   * while 1's user space has not taken it from the ring yet; then the leader dies. */
  function fenceScenario(brokenFence: boolean): void {
    const c = new Cluster({ replicas: 3, seed: 12, fastPaths: true });
    const client = c.addClient();
    c.submit(client, encodePut("warm", "up"));
    c.runUntil(() => !client.pending, 200, "warm-up put");
    c.fast[1]!.holdRing = true;
    c.fast[1]!.brokenFence = brokenFence;
    c.filter = (p) => !(p.from === 0 && "replica" in p.to && p.to.replica === 2);
    c.submit(client, encodePut("x", "acked"));
    c.runUntil(() => !client.pending, 200, "x committed on the kernel's ack and answered");
    expect(c.fast[1]!.ringLength).toBeGreaterThan(0);
    c.crash(0);
    c.filter = undefined;
    c.runUntil(() => c.replicas[1]!.isLeader, 1000, "view change to 1");
    c.fast[1]!.holdRing = false;
    c.submit(client, encodePut("y", "later"));
    c.runUntil(() => !client.pending, 1000, "a later put");
    c.submit(client, encodeGet("x"));
    c.runUntil(() => !client.pending, 1000, "get x");
    expect(new TextDecoder().decode(client.replies.at(-1)!.result.subarray(1))).toBe("acked");
  }

  test("a follower leaving its view first takes in what its kernel acked (the fence)", () => {
    fenceScenario(false);
  });

  test("the fence is needed: one that forgets the kernel's acks loses an acknowledged write", () => {
    expect(() => fenceScenario(true)).toThrow();
  });
});
