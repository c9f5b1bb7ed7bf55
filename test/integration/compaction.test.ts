// Checkpoints and compaction on a real namespace cluster (all fast paths): with small
// checkpoint_ops the replicas drop their log every few hundred ops, so a follower restarted after
// the history moved on must receive the leader's checkpoint and then the log above it. The leader
// is killed right after that follower acks again: the two survivors (one of them just rebuilt from
// a checkpoint) must elect a leader, serve, and have lost nothing: every acknowledged put reads
// back, and the kv history across all of it is linearizable.

import { afterAll, describe, expect, test } from "bun:test";
import { dirname, join } from "node:path";
import type { RunningCluster } from "../../src/local/processes.ts";
import { binary, bench, isRoot, startCluster, type Harness } from "./harness.ts";

const extraConfig = { checkpoint_ops: 300, log_retain_ops: 50, client: { timeout_ms: 500 } };

async function check(file: string): Promise<{ linearizable: boolean; ok: number }> {
  const proc = Bun.spawn([binary, "check", file, "--json", "--timeout", "60"], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`check exited ${code}: ${stderr}\n${stdout}`);
  return JSON.parse(stdout);
}

/** `electrode client info --json` from the client namespace. */
async function info(cluster: RunningCluster): Promise<Record<string, number | string | boolean>[]> {
  const out = await cluster.client(["info", "--json"]);
  return (JSON.parse(out.stdout) as { replicas: Record<string, number | string | boolean>[] }).replicas;
}

describe.skipIf(!isRoot)("compaction on a namespace cluster", () => {
  let h: Harness | undefined;
  afterAll(async () => {
    await h?.close();
  });

  test("a follower restarted past compaction points recovers from a checkpoint; the leader dies right after; nothing is lost", async () => {
    h = await startCluster(3, { setup: true, extraConfig });
    const cluster = h.cluster;
    const acked: [string, string][] = [];
    const put = async (key: string, value: string) => {
      const out = await cluster.client(["put", key, value]);
      expect(out.stderr).toBe("");
      acked.push([key, value]);
    };
    for (let i = 0; i < 3; i++) await put(`early-${i}`, `e${i}`);
    await cluster.kill(3);
    // Thousands of ops without replica 3: many checkpoints, the log compacted far past where it stopped.
    const history = join(dirname(cluster.configPath), "history.jsonl");
    const load = bench(cluster, ["--clients", "8", "--duration", "6", "--warmup", "0", "--workload", "kv", "--history", history]);
    await Bun.sleep(2000);
    const before = await info(cluster);
    expect(Number(before[0]!.log_first_op)).toBeGreaterThan(1000); // the leader's log no longer reaches back
    cluster.start(3);
    // It acks again once it is a normal follower (it installed the checkpoint and took the log above it).
    const deadline = Date.now() + 20_000;
    let log = "";
    while (Date.now() < deadline && !/view \d+: follower/.test(log)) {
      await Bun.sleep(50);
      log = (await Bun.file(cluster.replicas[2]!.logFile).text()).slice(cluster.replicas[2]!.logFrom);
    }
    expect(log).toMatch(/installed checkpoint \d+ \(\d+ bytes\) from a peer/);
    expect(log).toMatch(/view \d+: follower/);
    await cluster.kill(1); // right away: replicas 2 and 3 must carry on
    const during = await load;
    expect(during.ops).toBeGreaterThan(1000);
    for (let i = 0; i < 3; i++) await put(`late-${i}`, `l${i}`);
    for (const [key, value] of acked) expect((await cluster.client(["get", key])).stdout.trim()).toBe(value);
    expect(await check(history)).toMatchObject({ linearizable: true });
    const after = (await info(cluster)).filter((r) => r.answered);
    expect(after.map((r) => r.id)).toEqual([2, 3]);
    expect(after.every((r) => r.status === "normal" && Number(r.checkpoint_op) > 0)).toBe(true);
  }, 90_000);
});
