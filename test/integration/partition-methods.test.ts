// What really cuts a link when the fast paths are on (3 replicas, all fast paths, native XDP).
//
// iptables in the replicas' namespaces (OUTPUT at the leader, INPUT at the follower, both ways)
// does not: the leader's marked Prepare is addressed to its next replica, so OUTPUT judges only
// that one copy, and tc clones it to the isolated follower after netfilter; there the XDP fast
// reply acks it and hands it to user space through its ring, before INPUT. The follower keeps
// acking Prepares in XDP (and so stays in the leader's view, under load). The nftables rule in
// the bridge namespace (the nemesis's default) cuts it all.

import { afterEach, describe, expect, test } from "bun:test";
import { dirname, join } from "node:path";
import { Nemesis, type PartitionMethod } from "../../src/local/nemesis.ts";
import type { RunningCluster } from "../../src/local/processes.ts";
import { BenchRun } from "../../src/local/workload.ts";
import { isRoot, startCluster, type Harness } from "./harness.ts";

async function fastAcked(cluster: RunningCluster, id: number): Promise<number> {
  return (await cluster.status(id)).counters.xdp_fast_acked!;
}

/** Prepares a follower acked in XDP during one second of load while `method` isolated it. */
async function ackedWhileIsolated(h: Harness, method: PartitionMethod): Promise<number> {
  const nemesis = new Nemesis(h.cluster, { partition: method });
  const load = BenchRun.start(h.cluster, { historyFile: join(dirname(h.cluster.configPath), `${method}.jsonl`), clients: 4 });
  try {
    await Bun.sleep(500);
    const leader = (await nemesis.waitLeader())!;
    expect(leader).toBeDefined();
    // Not the leader's next replica: the one marked copy leaves addressed to that one.
    const ids = nemesis.ids;
    const follower = ids[(ids.indexOf(leader) + 2) % ids.length]!;
    const fault = await nemesis.isolate(follower);
    await Bun.sleep(100); // frames already on their way
    const before = await fastAcked(h.cluster, follower);
    await Bun.sleep(1000);
    const acked = (await fastAcked(h.cluster, follower)) - before;
    await fault.heal();
    return acked;
  } finally {
    await load.stop().catch(() => undefined);
    await nemesis.close();
  }
}

describe.skipIf(!isRoot)("partitions with the fast paths on", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  test("iptables in the replica namespaces leaks through tc broadcast and XDP; the bridge rule does not", async () => {
    h = await startCluster(3, { setup: true, extraConfig: { client: { timeout_ms: 300 } } });
    expect(await ackedWhileIsolated(h, "iptables")).toBeGreaterThan(50);
    await h.cluster.waitServing();
    expect(await ackedWhileIsolated(h, "bridge")).toBe(0);
    // Nothing left behind: no nemesis chain in any replica namespace, no table on the bridge.
    for (const r of h.cluster.local.replicas) expect(h.cluster.local.run(r.ns, ["iptables", "-S"])).not.toContain("EL_NEMESIS");
    expect(h.cluster.local.run(h.cluster.local.bridgeNs, ["nft", "list", "ruleset"])).not.toContain("el_nemesis");
  }, 90_000);
});
