// The tc broadcast fast path on a namespace cluster: setup attaches it, the leader's one marked
// send becomes exactly n-1 clones, and teardown leaves nothing behind.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { bench, isRoot, startCluster, type Harness } from "./harness.ts";

function pinsOf(cluster: string): string[] {
  const dir = `/sys/fs/bpf/electrode/${cluster}`;
  return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String) : [];
}

describe.skipIf(!isRoot)("tc broadcast", () => {
  for (const n of [3, 5, 7]) {
    describe(`${n} replicas`, () => {
      let h: Harness | undefined;
      afterAll(async () => {
        await h?.close();
      });

      test("bench passes with tc-broadcast; every marked send became exactly n-1 clones", async () => {
        h = await startCluster(n, { setup: true });
        const result = await bench(h.cluster, ["--clients", "8", "--duration", "2", "--warmup", "0.5", "--opt", "tc-broadcast"]);
        expect(result.errors).toBe(0);
        expect(result.ops).toBeGreaterThan(100);
        let matched = 0;
        let clones = 0;
        for (let i = 0; i < n; i++) {
          const row = await h.cluster.status(i + 1);
          expect(row.tc_broadcast.attached).toBe(true);
          expect(row.counters.tc_broadcast_clone_errors).toBe(0);
          matched += row.counters.tc_broadcast_matched!;
          clones += row.counters.tc_broadcast_clones!;
        }
        expect(matched).toBeGreaterThan(50); // the leader really used the fast path
        expect(clones).toBe(matched * (n - 1));
      });

      test("setup run again replaces cleanly; nothing is pinned; teardown removes everything", async () => {
        const cluster = h!.cluster;
        await cluster.setupAll(); // second run over a live attachment
        const out = await cluster.client(["put", "after-resetup", "ok"]);
        expect(out.code).toBe(0);
        expect(pinsOf(cluster.config.name)).toEqual([]);
        await cluster.stopAll();
        await cluster.setupAll(true);
        expect(pinsOf(cluster.config.name)).toEqual([]);
        expect(existsSync(`/run/electrode/${cluster.config.name}`)).toBe(false);
        for (const r of cluster.local.replicas) {
          const filters = cluster.local.run(r.ns, ["tc", "filter", "show", "dev", "eth0", "egress"]);
          expect(filters).not.toContain("electrode");
          expect(cluster.local.run(r.ns, ["tc", "qdisc", "show", "dev", "eth0"])).not.toContain("clsact");
        }
      });
    });
  }
});
