// Checkpoints, compaction and state transfer by snapshot in the simulator: a replica whose missing
// ops were compacted away everywhere receives the latest checkpoint and then the log above it, in
// every kind of fetch (catch-up, join, the new leader's view change, recovery), under loss and
// reordering. The Checker checks every step, every op executed and every checkpoint installed.

import { describe, expect, test } from "bun:test";
import { encodeGet, encodePut } from "../../src/app/kv.ts";
import { Status } from "../../src/core/types.ts";
import { MessageType } from "../../src/wire/layout.ts";
import { Cluster, type SimClient } from "./cluster.ts";

/** Small checkpoints, a short retained suffix, and a state of many keys so a checkpoint takes
 * many SnapshotChunk datagrams (about 1.4 KiB each). */
const timing = { checkpointOps: 16, logRetainOps: 4 };
const value = (i: number) => `${i}.`.padEnd(200, "v");

function commitOps(c: Cluster, client: SimClient, count: number, from = 0, limit = 2000): void {
  for (let i = from; i < from + count; i++) {
    c.submit(client, encodePut(`key${i % 97}`, value(i)));
    c.runUntil(() => !client.pending, limit, `op ${i}`);
  }
}

function chunksTo(c: Cluster, to: number): () => number {
  let chunks = 0;
  const before = c.observer;
  c.observer = (index, effect) => {
    before?.(index, effect);
    if (effect.kind === "send" && effect.to === to && effect.msg.type === MessageType.SnapshotChunk) chunks++;
  };
  return () => chunks;
}

describe("compaction and snapshots", () => {
  test("a lagging follower needs a snapshot: it receives the checkpoint in many chunks under loss, then the log", () => {
    const c = new Cluster({ replicas: 3, seed: 21, timing, net: { delayMax: 3 } });
    const client = c.addClient();
    const chunks = chunksTo(c, 2);
    c.partition([[0, 1], [2]]);
    c.pause(2, 100_000); // cut off and quiet (no view changes of its own)
    commitOps(c, client, 300);
    expect(c.replicas[0]!.logStats.firstOp).toBeGreaterThan(250); // the leader compacted
    expect(c.replicas[0]!.checkpoint!.bytes.length).toBeGreaterThan(15_000);
    c.net.loss = 0.2;
    c.net.duplication = 0.1;
    c.net.delayMax = 6;
    c.heal();
    c.pausedUntil[2] = 0;
    c.runUntil(() => c.replicas[2]!.commit >= 290, 20_000, "follower catches up through a snapshot");
    c.net.loss = 0;
    c.net.duplication = 0;
    c.runUntil(() => c.converged(), 3000, "converged");
    expect(c.replicas[2]!.view).toBe(0); // a catch-up, not a view change
    expect(c.stats.installs).toBeGreaterThanOrEqual(1);
    expect(chunks()).toBeGreaterThan(10);
    c.submit(client, encodeGet("key5"));
    c.runUntil(() => !client.pending, 1000, "get");
    expect(new TextDecoder().decode(client.replies.at(-1)!.result.subarray(1))).toBe(value(296));
    c.checker.recheckAll(c.replicas);
  });

  test("a new leader whose chosen log's holder compacted: its view-change fetch starts from a checkpoint", () => {
    const c = new Cluster({ replicas: 3, seed: 22, timing, net: { delayMax: 2 } });
    const client = c.addClient();
    commitOps(c, client, 5);
    // Replica 1, next view's leader, falls far behind; 0 and 2 go on and compact.
    c.partition([[0, 2], [1]]);
    c.pause(1, 100_000);
    commitOps(c, client, 200, 5);
    expect(c.replicas[2]!.logStats.firstOp).toBeGreaterThan(c.replicas[1]!.opNum + 1);
    c.crash(0);
    c.heal();
    c.pausedUntil[1] = 0;
    c.runUntil(() => c.replicas[1]!.isLeader, 5000, "replica 1 leads a later view");
    // It took 2's checkpoint (in many chunks), then the log above it, before starting the view.
    expect(c.replicas[1]!.counters.checkpointsInstalled).toBe(1);
    expect(c.replicas[1]!.counters.snapshotChunksReceived).toBeGreaterThan(10);
    commitOps(c, client, 5, 205, 3000);
    c.restart(0);
    c.runUntil(() => c.converged(), 5000, "converged, the old leader recovered");
    c.checker.recheckAll(c.replicas);
  });

  test("a replica joining a view, and one recovering after a restart, both start from the checkpoint", () => {
    const c = new Cluster({ replicas: 5, seed: 23, timing, net: { delayMax: 2 } });
    const client = c.addClient();
    commitOps(c, client, 5);
    c.partition([[0, 1, 2], [3], [4]]);
    c.pause(3, 100_000);
    c.crash(4);
    commitOps(c, client, 150, 5);
    c.crash(0); // view 1 (leader 1) starts among 1 and 2... and 3, which joins it from far behind
    c.heal();
    c.pausedUntil[3] = 0;
    c.restart(4); // ...and 4 recovers with nothing
    c.runUntil(() => [1, 2, 3, 4].every((i) => c.replicas[i]!.status === Status.Normal && c.replicas[i]!.view >= 1), 10_000, "all normal in the new view");
    expect([3, 4].map((i) => c.replicas[i]!.counters.checkpointsInstalled)).toEqual([1, 1]);
    commitOps(c, client, 5, 155, 3000);
    c.restart(0);
    c.runUntil(() => c.converged(), 5000, "converged");
    c.checker.recheckAll(c.replicas);
  });

  test("memory follows the live state: the log holds at most checkpoint_ops + retained entries", () => {
    const c = new Cluster({ replicas: 3, seed: 24, timing: { checkpointOps: 50, logRetainOps: 10, pipelineMax: 8 }, net: { delayMax: 2 } });
    const client = c.addClient();
    let most = 0;
    for (let i = 0; i < 600; i++) {
      c.submit(client, encodePut(`k${i % 7}`, "x"));
      c.runUntil(() => !client.pending, 500, `op ${i}`);
      for (const r of c.replicas) most = Math.max(most, r!.logStats.entries);
    }
    expect(most).toBeLessThanOrEqual(50 + 10 + 8 + 1);
    expect(c.replicas[0]!.checkpoint!.op).toBe(600);
  });
});
