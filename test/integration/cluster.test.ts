// The compiled binary on real namespace clusters of 3, 5 and 7 replicas.

import { afterAll, describe, expect, test } from "bun:test";
import { bench, isRoot, startCluster, type Harness } from "./harness.ts";

const sizes = [3, 5, 7];

describe.skipIf(!isRoot)("cluster of the compiled binary", () => {
  for (const n of sizes) {
    describe(`${n} replicas`, () => {
      let h: Harness | undefined;
      afterAll(async () => {
        await h?.close();
      });

      test("starts and serves put then get", async () => {
        h = await startCluster(n);
        const put = await h.cluster.client(["put", "color", `blue-${n}`]);
        expect(put.stderr).toBe("");
        expect(put.stdout.trim()).toBe("OK");
        const get = await h.cluster.client(["get", "color"]);
        expect(get.stdout.trim()).toBe(`blue-${n}`);
        const missing = await h.cluster.client(["get", "nothing-here"]);
        expect(missing.code).toBe(1);
        expect(missing.stderr).toContain("not found");
      });

      test("bench completes with zero errors", async () => {
        const result = await bench(h!.cluster, ["--clients", "8", "--duration", "2", "--warmup", "0.5"]);
        expect(result.errors).toBe(0);
        expect(result.ops).toBeGreaterThan(100);
        expect(result.replicas).toBe(n);
        expect((result.latency_us as { p50: number }).p50).toBeGreaterThan(0);
      });

      test("kill -9 of the leader under load: a new leader serves and no acknowledged put is lost", async () => {
        const cluster = h!.cluster;
        // Acknowledged writes before the crash.
        const acked: [string, string][] = [];
        for (let i = 0; i < 5; i++) {
          const out = await cluster.client(["put", `before-${i}`, `v${i}`]);
          expect(out.code).toBe(0);
          acked.push([`before-${i}`, `v${i}`]);
        }
        // Load in the background while the leader (replica 1, view 0) dies.
        const load = bench(cluster, ["--clients", "4", "--duration", "4", "--warmup", "0", "--workload", "kv"]);
        await Bun.sleep(1000);
        await cluster.kill(1);
        const during = await load;
        expect(during.ops).toBeGreaterThan(0);
        for (let i = 0; i < 3; i++) {
          const out = await cluster.client(["put", `after-${i}`, `w${i}`]);
          expect(out.stderr).toBe("");
          acked.push([`after-${i}`, `w${i}`]);
        }
        for (const [key, value] of acked) {
          const get = await cluster.client(["get", key]);
          expect(get.stdout.trim()).toBe(value);
        }
        // The crashed replica comes back, recovers its state from the others, and the cluster keeps serving.
        cluster.start(1);
        const out = await cluster.client(["put", "restarted", "yes"]);
        expect(out.code).toBe(0);
      }, 60_000);
    });
  }
});
