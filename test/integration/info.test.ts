// The info exchange on a namespace cluster: replicas started with different --opt say what each
// runs (`electrode client info`), and the bench JSON's opt is what they answered, not the label the
// user typed: "mixed" with a per-replica field when they disagree, their common mode when they
// agree (a disagreeing --opt only warns), the answering replicas' mode when one is down.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RunningCluster } from "../../src/local/processes.ts";
import type { ReplicaInfo } from "../../src/node/info.ts";
import { binary, isRoot, withSetupCluster } from "./harness.ts";

type InfoJson = { cluster: string; replicas: (Partial<ReplicaInfo> & { id: number; answered: boolean })[] };

async function info(cluster: RunningCluster, extra: string[] = []): Promise<{ code: number; json: InfoJson; stderr: string }> {
  const out = await cluster.client(["info", "--json", ...extra]);
  return { code: out.code, json: JSON.parse(out.stdout) as InfoJson, stderr: out.stderr };
}

async function bench(cluster: RunningCluster, extra: string[] = []): Promise<{ json: Record<string, unknown>; stderr: string }> {
  const out = await cluster.client(["--bench", "--clients", "2", "--duration", "0.5", "--warmup", "0.2", "--json", "-", "--quiet", ...extra]);
  if (out.code !== 0) throw new Error(`bench failed (${out.code}): ${out.stderr}`);
  return { json: JSON.parse(out.stdout) as Record<string, unknown>, stderr: out.stderr };
}

/** Runs `body` with replicas started with `opt(id)` on the set-up cluster, and stops them after. */
async function withReplicas(setUp: RunningCluster, dir: string, opt: (id: number) => string, body: (c: RunningCluster) => Promise<void>): Promise<void> {
  const cluster = new RunningCluster(setUp.local, { dir, command: [binary], replicaArgs: (id) => ["--opt", opt(id)] });
  try {
    cluster.startAll();
    await cluster.waitServing();
    await body(cluster);
  } finally {
    await cluster.stopAll();
  }
}

describe.skipIf(!isRoot)("client info, and the bench's opt from the replicas", () => {
  test("different --opt per replica, then the same on all, then one down, then none up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "electrode-info-"));
    try {
      await withSetupCluster(3, async (setUp) => {
        const mixed: Record<number, string> = { 1: "all", 2: "none", 3: "tc-broadcast,quorum-prune" };
        await withReplicas(setUp, dir, (id) => mixed[id]!, async (cluster) => {
          const { code, json } = await info(cluster);
          expect(code).toBe(0);
          expect(json.cluster).toBe(cluster.config.name);
          const byId = Object.fromEntries(json.replicas.map((r) => [r.id, r]));
          expect(json.replicas.map((r) => [r.id, r.answered, r.opt, r.status, r.leader, r.app])).toEqual([
            [1, true, "all", "normal", true, "kv"], // replica 1 leads view 0
            [2, true, "none", "normal", false, "kv"],
            [3, true, "tc-broadcast,quorum-prune", "normal", false, "kv"],
          ]);
          expect(byId[1]!.fast_paths).toEqual(["tc-broadcast", "quorum-prune", "fast-reply"]);
          expect(byId[2]!.fast_paths).toEqual([]);
          for (const r of json.replicas) {
            expect(r.view).toBe(0);
            expect(r.op).toBeGreaterThanOrEqual(1); // waitServing's put
            expect(r.commit).toBeLessThanOrEqual(r.op!);
          }
          const text = await cluster.client(["info"]);
          expect(text.code).toBe(0);
          const lines = text.stdout.trim().split("\n");
          expect(lines.length).toBe(3);
          expect(lines[0]).toMatch(/^replica 1 \(.*\): normal, view 0, leader, fast paths all, op \d+, commit \d+, checkpoint \d+, log \d+\.\.\d+ \(\d+ KiB\), \d+ sessions?, app kv, memory only, up \d+s$/);
          expect(lines[1]).toContain("fast paths none");

          const run = await bench(cluster, ["--opt", "all"]);
          expect(run.json.opt).toBe("mixed");
          expect(run.json.opt_by_replica).toEqual({ "1": "all", "2": "none", "3": "tc-broadcast,quorum-prune" });
          expect(run.stderr).toContain("the replicas run different fast paths (1: all, 2: none, 3: tc-broadcast,quorum-prune)");
        });

        await withReplicas(setUp, dir, () => "tc-broadcast", async (cluster) => {
          const agreed = await bench(cluster);
          expect(agreed.json.opt).toBe("tc-broadcast");
          expect(agreed.stderr).toBe(""); // --quiet: agreement is no warning
          // A label that disagrees only warns: the result says what the replicas run.
          const labelled = await bench(cluster, ["--opt", "tc-broadcast,quorum-prune,fast-reply"]);
          expect(labelled.json.opt).toBe("tc-broadcast");
          expect(labelled.stderr).toContain("--opt all given, but the replicas run tc-broadcast");
          // The printed result (no --json -) says it too.
          const printed = await cluster.client(["--bench", "--clients", "1", "--duration", "0.3", "--warmup", "0", "--quiet"]);
          expect(printed.code).toBe(0);
          expect(printed.stdout).toContain("fast paths: tc-broadcast, as every replica reports");

          await cluster.kill(3);
          const partial = await bench(cluster);
          expect(partial.json.opt).toBe("tc-broadcast");
          expect(partial.json.opt_by_replica).toEqual({ "1": "tc-broadcast", "2": "tc-broadcast", "3": null });
          expect(partial.stderr).toContain("replica 3 did not answer within");
          const down = await info(cluster, ["--timeout", "300"]);
          expect(down.code).toBe(1);
          expect(down.json.replicas.map((r) => r.answered)).toEqual([true, true, false]);
          expect(down.stderr).toContain("replica 3 did not answer within 300 ms");
        });

        // Nobody runs: info says so for every replica.
        const none = await info(setUp, ["--timeout", "300"]);
        expect(none.code).toBe(1);
        expect(none.json.replicas.map((r) => r.answered)).toEqual([false, false, false]);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
