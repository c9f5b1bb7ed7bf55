// All three fast paths on namespace clusters: the bench serves with zero errors and every path's
// counters show it working; kill -9 of the leader loses no acknowledged write; and a leader woken
// from SIGSTOP after the others changed view never gets a fast ack for the view they left.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCluster } from "../../src/local/cluster.ts";
import { RunningCluster } from "../../src/local/processes.ts";
import { startSniffer } from "./ack-sniffer.ts";
import { bench, binary, isRoot, startCluster, type Harness } from "./harness.ts";

type Counters = Record<string, number>;

/** Replica at `index`'s kernel counters; its XDP program must be attached (the replica runs). */
async function countersOf(cluster: RunningCluster, index: number): Promise<Counters> {
  const row = await cluster.status(index + 1);
  expect(row.xdp.attached).toBe(true);
  return row.counters;
}

function udpErrors(cluster: RunningCluster, index: number): { inErrors: number; csumErrors: number } {
  const lines = cluster.local.run(cluster.local.replicas[index]!.ns, ["cat", "/proc/net/snmp"]).split("\n").filter((l) => l.startsWith("Udp:"));
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/).map(Number);
  return { inErrors: values[names.indexOf("InErrors")]!, csumErrors: values[names.indexOf("InCsumErrors")]! };
}

describe.skipIf(!isRoot)("XDP fast paths (with tc broadcast)", () => {
  for (const n of [3, 5, 7]) {
    describe(`${n} replicas`, () => {
      let h: Harness | undefined;
      afterAll(async () => {
        await h?.close();
      });

      test("the bench serves with zero errors; quorum prune, fast reply and tc broadcast each count their work", async () => {
        h = await startCluster(n, { setup: true });
        const result = await bench(h.cluster, ["--clients", "8", "--duration", "2", "--warmup", "0.5"]);
        expect(result.errors).toBe(0);
        expect(result.ops).toBeGreaterThan(100);
        const counters = await Promise.all(Array.from({ length: n }, (_, i) => countersOf(h!.cluster, i)));
        const leader = counters[0]!; // replica 1 leads view 0
        expect(leader.tc_broadcast_clones).toBeGreaterThan(0);
        expect(leader.xdp_pass_quorum).toBeGreaterThan(50);
        // Followers acked in XDP; the leader's user space saw about one ack per op.
        const fastAcked = counters.slice(1).reduce((s, c) => s + c.xdp_fast_acked!, 0);
        expect(fastAcked).toBeGreaterThan(leader.xdp_pass_quorum!);
        const pruned = leader.xdp_prune_early! + leader.xdp_prune_late! + leader.xdp_prune_duplicate!;
        expect(pruned).toBeGreaterThan(0);
        if (n >= 5) expect(leader.xdp_prune_early).toBeGreaterThan(0); // f >= 2: acks before the quorum
        // Re-acks passed up marked again are the exception (a heartbeat found an op uncommitted).
        expect(leader.xdp_pass_quorum_repeat!).toBeLessThan(leader.xdp_pass_quorum! * 0.05);
        for (const c of counters) expect(c.xdp_foreign).toBe(0);
        for (const c of counters) expect(c.xdp_fast_pass_invalid).toBe(0);
        // Acks made in XDP carry checksums the receiving stack accepts.
        for (let i = 0; i < n; i++) expect(udpErrors(h.cluster, i).csumErrors).toBe(0);
      });

      if (n === 5) {
        test("kill -9 of the leader under load: the new view commits and no acknowledged put is lost", async () => {
          const cluster = h!.cluster;
          const acked: [string, string][] = [];
          for (let i = 0; i < 5; i++) {
            expect((await cluster.client(["put", `before-${i}`, `v${i}`])).code).toBe(0);
            acked.push([`before-${i}`, `v${i}`]);
          }
          const load = bench(cluster, ["--clients", "4", "--duration", "4", "--warmup", "0", "--workload", "kv"]);
          await Bun.sleep(1000);
          await cluster.kill(1);
          expect((await load).ops).toBeGreaterThan(0);
          for (let i = 0; i < 3; i++) {
            const out = await cluster.client(["put", `after-${i}`, `w${i}`]);
            expect(out.stderr).toBe("");
            acked.push([`after-${i}`, `w${i}`]);
          }
          for (const [key, value] of acked) expect((await cluster.client(["get", key])).stdout.trim()).toBe(value);
          const newLeader = await countersOf(cluster, 1); // replica 2 leads view 1
          expect(newLeader.xdp_pass_quorum).toBeGreaterThan(0);
          cluster.start(1);
          expect((await cluster.client(["put", "restarted", "yes"])).code).toBe(0);
        }, 60_000);
      }
    });
  }

  test("a leader woken from SIGSTOP after the others changed view gets no fast ack for its old view", async () => {
    const h = await startCluster(3, { setup: true });
    try {
      const cluster = h.cluster;
      const [r1, r2, r3] = cluster.local.replicas;
      expect((await cluster.client(["put", "warm", "up"])).code).toBe(0);
      cluster.signal(1, "SIGSTOP");
      // Replica 1 must not learn of view 1 when it wakes: its user space hears no replica from now
      // on (XDP runs before iptables, so its own kernel still sees and counts everything).
      for (const peer of [r2!, r3!]) cluster.local.run(r1!.ns, ["iptables", "-I", "INPUT", "-p", "udp", "-s", peer.ip, "-j", "DROP"]);
      // The others time out and start view 1 (led by replica 2); a put goes through them.
      expect((await cluster.client(["put", "during", "stop", "--timeout", "10000"])).code).toBe(0);
      const before = await Promise.all([1, 2].map((i) => countersOf(cluster, i)));
      const sniffer = startSniffer({ ns: r1!.ns, iface: "eth0", port: cluster.config.replicas[0]!.port, durationMs: 3000 });
      await sniffer.ready;
      cluster.signal(1, "SIGCONT");
      // A client that still believes in view 0 asks replica 1 first: it prepares in view 0.
      const stale = await cluster.client(["put", "stale", "yes", "--timeout", "2500"]);
      expect(stale.code).toBe(0); // answered by the view-1 leader after the client's retry
      const acks = await sniffer.done;
      const after = await Promise.all([1, 2].map((i) => countersOf(cluster, i)));
      // The followers' XDP saw the stale Prepares and passed them up instead of acking them.
      const passed = after.reduce((s, c, i) => s + c.xdp_fast_pass_state! - before[i]!.xdp_fast_pass_state!, 0);
      expect(passed).toBeGreaterThan(0);
      expect(acks.filter((a) => a.view === 0)).toEqual([]);
      // Healed, replica 1 joins view 1 and everything written is there.
      for (const peer of [r2!, r3!]) cluster.local.run(r1!.ns, ["iptables", "-D", "INPUT", "-p", "udp", "-s", peer.ip, "-j", "DROP"]);
      expect((await cluster.client(["put", "healed", "yes"])).code).toBe(0);
      for (const [key, value] of [["warm", "up"], ["during", "stop"], ["stale", "yes"], ["healed", "yes"]]) {
        expect((await cluster.client(["get", key!])).stdout.trim()).toBe(value!);
      }
    } finally {
      await h.close();
    }
  }, 60_000);

  test("the same sequential workload commits the same log and gets the same replies with fast paths on and off", async () => {
    const local = await createCluster({ replicas: 3 });
    const dir = mkdtempSync(join(tmpdir(), "electrode-it-"));
    try {
      await new RunningCluster(local, { dir, command: [binary] }).setupAll();
      const runs: { replies: string[]; digests: string[]; fastAcked: number }[] = [];
      for (const opt of ["none", "all"]) {
        const statsFile = (id: number) => join(dir, `stats-${opt}-${id}.json`);
        const cluster = new RunningCluster(local, { dir, command: [binary], replicaArgs: (id) => ["--opt", opt, "--stats-file", statsFile(id)] });
        const before = await cluster.fastPathCounters();
        cluster.startAll();
        // No probe put (its outcome could be unknown and commit later): wait until all are normal.
        for (const r of cluster.replicas) {
          for (let t = 0; t < 100 && !/view 0: (leader|follower)/.test(await Bun.file(r.logFile).text().catch(() => "")); t++) await Bun.sleep(100);
        }
        const replies: string[] = [];
        for (let i = 0; i < 45; i++) {
          const key = `k${i % 7}`;
          const isGet = i % 3 === 2;
          const out = isGet ? await cluster.client(["get", key]) : await cluster.client(["put", key, `v${i}`]);
          if (!isGet) expect(out.code).toBe(0);
          replies.push(`${out.code} ${out.stdout.trim()}`); // a get of a key never written: exit 1
        }
        await Bun.sleep(300); // a heartbeat tells the followers the last commit
        // Each replica process counts in its own XDP instance, which detaches when it stops.
        const after = await cluster.fastPathCounters();
        await cluster.stopAll(); // each replica writes its counters and committed-log digest
        const stats = cluster.replicas.map((r) => JSON.parse(readFileSync(statsFile(r.id), "utf8")) as { committed_ops: number; committed_ops_digest: string });
        // Every CLI call registers its own session first (45), then 30 puts; the 15 gets are read
        // by the leader's read index, outside the log.
        expect(stats.map((s) => s.committed_ops)).toEqual([75, 75, 75]);
        runs.push({ replies, digests: stats.map((s) => s.committed_ops_digest), fastAcked: (after.xdp_fast_acked ?? 0) - (before.xdp_fast_acked ?? 0) });
      }
      const [off, on] = runs;
      expect(on!.replies).toEqual(off!.replies);
      expect(new Set([...off!.digests, ...on!.digests]).size).toBe(1);
      expect(off!.fastAcked).toBe(0);
      expect(on!.fastAcked).toBeGreaterThan(0);
    } finally {
      await local.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  test("auto mode on a veth whose peer electrode cannot see: generic XDP, said so, and the fast paths work", async () => {
    const local = await createCluster({ replicas: 3 });
    const dir = mkdtempSync(join(tmpdir(), "electrode-it-"));
    const cluster = new RunningCluster(local, { dir, command: [binary] });
    try {
      await cluster.setupAll(false, { xdpMode: "auto" }); // no stub on the bridge side
      const status = await cluster.status(1);
      expect(status.xdp.mode).toBe("generic");
      expect(status.xdp.mode_reason).toContain("peer is in another namespace");
      cluster.startAll();
      await cluster.waitServing();
      const result = await bench(cluster, ["--clients", "4", "--duration", "1", "--warmup", "0.3"]);
      expect(result.errors).toBe(0);
      const counters = await cluster.fastPathCounters();
      expect(counters.xdp_fast_acked).toBeGreaterThan(0);
      expect(counters.xdp_pass_quorum).toBeGreaterThan(0);
    } finally {
      await cluster.close();
      await local.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  test("quorum prune without fast reply: followers pass every Prepare up without touching the ring", async () => {
    // The followers' XDP program runs (prune may be needed when one becomes leader) but their
    // process does not run fast reply: nobody drains the ring, so a Prepare copied into it would
    // only fill it (4 MiB, about 2,800 records) and then count as "ring full". Each process loads
    // its instance with only the paths it runs, so the program passes Prepares up as "other".
    const h = await startCluster(3, { setup: true, replicaArgs: ["--opt", "tc-broadcast,quorum-prune"] });
    try {
      const result = await bench(h.cluster, ["--clients", "8", "--duration", "2", "--warmup", "0.5"]);
      expect(result.errors).toBe(0);
      for (const index of [1, 2]) {
        const c = await countersOf(h.cluster, index);
        expect(c.xdp_fast_acked ?? 0).toBe(0);
        expect(c.xdp_fast_pass_ring_full ?? 0).toBe(0);
        expect(c.xdp_pass_other).toBeGreaterThan(3000);
      }
      expect((await countersOf(h.cluster, 0)).xdp_pass_quorum).toBeGreaterThan(0);
    } finally {
      await h.close();
    }
  }, 60_000);
});
