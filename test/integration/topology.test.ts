// The fast paths wherever setup could attach them, told by the kernel's own UDP counters: every
// command of a namespace cluster runs under `ip netns exec` (a private mount namespace per command,
// with a fresh /sys, the way most people run things in a namespace), or in a private mount
// namespace of its own with no BPF filesystem visible at all. Nothing electrode does may depend on
// a mount that outlives the command: setup's report must hold once it has exited, and the replica
// must run all three fast paths.
//
// Per committed op, with batch_max 1 (a Prepare per request) and the null workload, the UDP layer of
//   the leader receives 1 request + 1 ack (quorum prune drops the other n-2 acks in XDP): ~2 per op
//     without prune it is 1 + (n-1) = n;
//   a follower receives ~0 (fast reply answers each Prepare in XDP, the entries reach user space
//     through the ring, never through UDP); without it 1 Prepare per op;
//   the leader sends 1 Prepare + 1 reply (tc broadcast clones below UDP): ~2 per op; without it n.

import { afterAll, describe, expect, test } from "bun:test";
import type { EnterMode } from "../../src/local/cluster.ts";
import type { RunningCluster } from "../../src/local/processes.ts";
import { bench, isRoot, startCluster, type Harness } from "./harness.ts";

interface UdpCounters {
  readonly inDatagrams: number;
  readonly outDatagrams: number;
}

/** Udp InDatagrams and OutDatagrams of a namespace (/proc/net/snmp describes the reader's netns). */
function udpCounters(cluster: RunningCluster, ns: string): UdpCounters {
  const lines = cluster.local.run(ns, ["cat", "/proc/net/snmp"]).split("\n").filter((l) => l.startsWith("Udp:"));
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  const get = (name: string) => {
    const at = names.indexOf(name);
    if (at < 0) throw new Error(`no Udp ${name} in /proc/net/snmp of ${ns}`);
    return values[at]!;
  };
  return { inDatagrams: get("InDatagrams"), outDatagrams: get("OutDatagrams") };
}

const cases: { enter: EnterMode; replicas: number }[] = [
  { enter: "ip-netns-exec", replicas: 3 },
  { enter: "ip-netns-exec", replicas: 5 },
  { enter: "private-mounts", replicas: 3 },
];

describe.skipIf(!isRoot)("fast paths in any mount topology", () => {
  for (const { enter, replicas: n } of cases) {
    describe(`${n} replicas, every command under ${enter}`, () => {
      let h: Harness | undefined;
      afterAll(async () => {
        await h?.close();
      });

      test("setup's report holds after it exits; the replica runs all three fast paths; status says so", async () => {
        h = await startCluster(n, { enter, setup: true, extraConfig: { batch_max: 1 } });
        const cluster = h.cluster;
        for (const r of cluster.replicas) {
          const log = await Bun.file(r.logFile).text();
          expect(log).toContain("fast paths: tc-broadcast, quorum-prune, fast-reply");
          expect(log).not.toContain(": off");
          const row = await cluster.status(r.id);
          expect({ tc: row.tc_broadcast.attached, xdp: row.xdp.attached }).toEqual({ tc: true, xdp: true });
        }
      });

      test("the kernel's UDP counters show tc broadcast, quorum prune and fast reply at work", async () => {
        const cluster = h!.cluster;
        const leader = cluster.local.replicas[0]!; // view 0: the first replica leads
        const followers = cluster.local.replicas.slice(1);
        const before = new Map(cluster.local.replicas.map((r) => [r.ns, udpCounters(cluster, r.ns)]));
        const result = await bench(cluster, ["--clients", "8", "--duration", "2", "--warmup", "0"]);
        const after = new Map(cluster.local.replicas.map((r) => [r.ns, udpCounters(cluster, r.ns)]));
        expect(result.errors).toBe(0);
        expect(result.ops).toBeGreaterThan(500);
        const perOp = (ns: string, key: keyof UdpCounters) => (after.get(ns)![key] - before.get(ns)![key]) / result.ops;
        const seen = {
          leaderIn: perOp(leader.ns, "inDatagrams"),
          leaderOut: perOp(leader.ns, "outDatagrams"),
          followerIn: Math.max(...followers.map((f) => perOp(f.ns, "inDatagrams"))),
        };
        console.log(`${enter}, ${n} replicas, per op: leader in ${seen.leaderIn.toFixed(2)}, leader out ${seen.leaderOut.toFixed(2)}, follower in (max) ${seen.followerIn.toFixed(2)}`);
        // Thresholds halfway between the fast paths' ~2 / ~2 / ~0 and user space's n / n / 1.
        expect(seen.leaderIn).toBeLessThan(Math.min(2.5, (2 + n) / 2));
        expect(seen.leaderOut).toBeLessThan(Math.min(2.5, (2 + n) / 2));
        expect(seen.followerIn).toBeLessThan(0.5);
        expect(seen.leaderIn).toBeGreaterThan(1.5); // the requests and the quorum acks do arrive
      });
    });
  }
});
