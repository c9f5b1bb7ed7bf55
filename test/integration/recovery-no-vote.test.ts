// A restarted replica has lost its memory: until its recovery completes it must neither ack (in
// user space or, with the fast paths on, in its kernel) nor vote, or a view change could drop
// acknowledged writes. Fast paths on (tc broadcast, quorum prune, fast reply, native XDP).
//
// 3 replicas, deterministic: a follower F (whose acks, XDP_TX'd ones included, the bridge is
// seen to count first) is restarted while the bridge drops every
// RecoveryResponse to it, so it stays Recovering while the leader keeps sending it Prepares under
// load. Counting F's datagrams by type on the bridge (nftables): no PrepareOk, StartViewChange or
// DoViewChange, and its XDP program passed the Prepares up instead of acking them. Then the leader
// is killed: the one normal replica left must not form a view with F (it cannot without F's
// vote), so the cluster stops serving instead of losing writes. Its history stays linearizable.
//
// 5 replicas, the scenario itself: restart a follower and kill the leader right after, three
// times, under load; the cluster serves again and the history, with a read-back of every key at
// the end, is linearizable: no acknowledged write was lost.

import { afterEach, describe, expect, test } from "bun:test";
import { dirname, join } from "node:path";
import { Nemesis } from "../../src/local/nemesis.ts";
import type { RunningCluster } from "../../src/local/processes.ts";
import { scenarioConfig } from "../../src/local/scenario.ts";
import { BenchRun, checkFile, readBack } from "../../src/local/workload.ts";
import { MessageType } from "../../src/wire/layout.ts";
import { isRoot, startCluster, type Harness } from "./harness.ts";

const table = "el_norecvote";
/** Bit offset of the electrode header's type byte from the start of the UDP header. */
const typeBits = (8 + 3) * 8;
const counted = { PrepareOk: MessageType.PrepareOk, StartViewChange: MessageType.StartViewChange, DoViewChange: MessageType.DoViewChange, Recovery: MessageType.Recovery } as const;

function nft(cluster: RunningCluster, script: string): string {
  const local = cluster.local;
  const out = Bun.spawnSync(local.nsExec(local.bridgeNs, ["nft", "-f", "-"]), { stdin: Buffer.from(script + "\n"), stdout: "pipe", stderr: "pipe" });
  if (out.exitCode !== 0) throw new Error(`nft: ${out.stderr.toString().trim()}`);
  return out.stdout.toString();
}

/** Counts F's datagrams of the types above and drops every RecoveryResponse to F. */
function watch(cluster: RunningCluster, ip: string): void {
  const rules = Object.entries(counted).map(([name, type]) => `add rule bridge ${table} c ip saddr ${ip} udp dport 12345 @th,${typeBits},8 ${type} counter comment "${name}"`);
  nft(cluster, [
    `add table bridge ${table}`,
    `add chain bridge ${table} c { type filter hook forward priority -300; policy accept; }`,
    ...rules,
    `add rule bridge ${table} c ip daddr ${ip} udp sport 12345 @th,${typeBits},8 ${MessageType.RecoveryResponse} counter drop comment "RecoveryResponseDropped"`,
  ].join("\n"));
}

function counters(cluster: RunningCluster): Record<string, number> {
  const local = cluster.local;
  const out = local.run(local.bridgeNs, ["nft", "-j", "list", "table", "bridge", table]);
  const rows = (JSON.parse(out) as { nftables: { rule?: { comment?: string; expr: { counter?: { packets: number } }[] } }[] }).nftables;
  const result: Record<string, number> = {};
  for (const row of rows) {
    if (!row.rule?.comment) continue;
    result[row.rule.comment] = row.rule.expr.find((e) => e.counter)?.counter?.packets ?? 0;
  }
  return result;
}

async function xdp(cluster: RunningCluster, id: number): Promise<Record<string, number>> {
  return (await cluster.status(id)).counters;
}

describe.skipIf(!isRoot)("a restarted replica neither acks nor votes before its recovery completes (fast paths on)", () => {
  let h: Harness | undefined;
  let nemesis: Nemesis | undefined;
  let load: BenchRun | undefined;
  afterEach(async () => {
    load?.kill();
    load = undefined;
    await nemesis?.close();
    nemesis = undefined;
    if (h) Bun.spawnSync(h.cluster.local.nsExec(h.cluster.local.bridgeNs, ["nft", "delete", "table", "bridge", table]), { stderr: "ignore" });
    await h?.close();
    h = undefined;
  });

  test("3 replicas: a follower held in recovery sends no ack and no vote; with the leader gone the cluster stops instead of losing writes", async () => {
    h = await startCluster(3, { setup: true, extraConfig: scenarioConfig });
    const cluster = h.cluster;
    nemesis = new Nemesis(cluster);
    const history = join(dirname(cluster.configPath), "history.jsonl");
    load = BenchRun.start(cluster, { historyFile: history, clients: 4 });
    await Bun.sleep(500);
    const leader = (await nemesis.waitLeader())!;
    const follower = nemesis.followers()[0]!;
    // Control: the bridge sees a normal follower's acks (most of them XDP_TX'd by its fast reply).
    watch(cluster, cluster.local.replicas.find((r) => r.id === follower)!.ip);
    await Bun.sleep(1000);
    expect(counters(cluster).PrepareOk!).toBeGreaterThan(100);
    expect((await xdp(cluster, follower)).xdp_fast_acked!).toBeGreaterThan(100);

    await cluster.kill(follower);
    const base = counters(cluster); // what the killed process sent, as it should have
    const since = () => Object.fromEntries(Object.entries(counters(cluster)).map(([k, n]) => [k, n - (base[k] ?? 0)]));
    cluster.start(follower);
    await Bun.sleep(500); // started, attached its XDP program, asking for recovery
    const before = await xdp(cluster, follower);
    await Bun.sleep(2000); // the leader keeps committing with the other follower, and sending F Prepares
    const after = await xdp(cluster, follower);
    expect(nemesis.status(follower)?.role).toBe("Recovering");
    expect(after.xdp_fast_acked! - before.xdp_fast_acked!).toBe(0);
    expect(after.xdp_fast_pass_state! - before.xdp_fast_pass_state!).toBeGreaterThan(100); // Prepares it declined
    const held = since();
    expect(held).toMatchObject({ PrepareOk: 0, StartViewChange: 0, DoViewChange: 0 });
    expect(held.Recovery!).toBeGreaterThan(0);
    expect(held.RecoveryResponseDropped!).toBeGreaterThan(0);

    await cluster.kill(leader);
    await Bun.sleep(1500); // view changes of the last normal replica, which F must not join
    const probe = await cluster.client(["put", "after-leader-killed", "x", "--timeout", "1500"]);
    expect(probe.code).toBe(1); // no quorum: F neither voted nor acked
    expect(since()).toMatchObject({ PrepareOk: 0, StartViewChange: 0, DoViewChange: 0 });
    expect(nemesis.status(follower)?.role).toBe("Recovering");

    await load.stop();
    load = undefined;
    const verdict = checkFile(history);
    expect(verdict.text).toStartWith("linearizable");
    expect(verdict.verdict.counts.ok).toBeGreaterThan(1000);
  }, 90_000);

  test("5 replicas: restart a follower and kill the leader right after, three times: no acknowledged write lost", async () => {
    h = await startCluster(5, { setup: true, extraConfig: scenarioConfig });
    const cluster = h.cluster;
    nemesis = new Nemesis(cluster);
    const history = join(dirname(cluster.configPath), "history.jsonl");
    load = BenchRun.start(cluster, { historyFile: history, clients: 8 });
    for (let round = 0; round < 3; round++) {
      await Bun.sleep(1000);
      const leader = (await nemesis.waitLeader())!;
      expect(leader).toBeDefined();
      const follower = nemesis.followers()[round % 2]!;
      const restarted = await nemesis.kill(follower, "now", "a follower");
      const killed = await nemesis.kill(leader, "at-heal", "the leader, right after");
      await Bun.sleep(2000);
      await killed.heal();
      await restarted.heal();
      expect(nemesis.recovered(follower) && nemesis.recovered(leader)).toBe(true);
      expect(await nemesis.timeToServe(10_000)).toBeLessThan(10_000);
    }
    const result = await load.stop();
    load = undefined;
    expect(await readBack(cluster, history)).toBe(16);
    const verdict = checkFile(history);
    expect(verdict.text).toStartWith("linearizable");
    expect(result.ops).toBeGreaterThan(1000);
    nemesis.checkAlive();
    expect(nemesis.unexpectedExits).toEqual([]);
  }, 120_000);
});
