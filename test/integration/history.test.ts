// Linearizability of the real thing: the kv bench writes a history on a 3-replica namespace
// cluster and `electrode check` judges it, in calm weather and with the leader killed (-9)
// halfway through. The bench's keys and values carry a random id of the run, so a second run on
// the same cluster is checkable too (the checker assumes every key starts absent).

import { afterEach, describe, expect, test } from "bun:test";
import { dirname, join } from "node:path";
import type { BenchJson } from "../../src/bench/report.ts";
import { binary, bench, isRoot, startCluster, type Harness } from "./harness.ts";

/** A short client timeout, so that requests caught in the view change end with unknown outcome. */
const extraConfig = { client: { timeout_ms: 250 } };

async function check(file: string) {
  const proc = Bun.spawn([binary, "check", file, "--json", "--timeout", "60"], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`check exited ${code}: ${stderr}\n${stdout}`);
  return JSON.parse(stdout) as { linearizable: boolean; verdict: string; ops: number; keys: number; unknown_outcome: number; ok: number };
}

/** The leader named by the last view line of a replica's log ("view 3: ... (leader is replica 2)"). */
async function leaderSeenBy(h: Harness, id: number): Promise<number | undefined> {
  const log = await Bun.file(h.cluster.replicas.find((r) => r.id === id)!.logFile).text();
  const seen = [...log.matchAll(/leader is replica (\d+)/g)];
  const last = seen[seen.length - 1];
  return last ? Number(last[1]) : undefined;
}

describe.skipIf(!isRoot)("kv history of a 3-replica cluster is linearizable", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  test("steady load: every op checked", async () => {
    h = await startCluster(3, { extraConfig });
    const file = join(dirname(h.cluster.configPath), "history.jsonl");
    const result = await bench(h.cluster, ["--clients", "8", "--duration", "3", "--warmup", "0", "--workload", "kv", "--history", file]);
    const verdict = await check(file);
    expect(verdict).toMatchObject({ linearizable: true, verdict: "linearizable", keys: 16 });
    // With no warm-up, every invoke in the file is a measured op or an error.
    expect(verdict.ops).toBe(result.ops + result.errors);
    expect(verdict.unknown_outcome).toBe(result.errors);
    expect(verdict.ops).toBeGreaterThan(1000);
    // A second run on the same (no longer fresh) cluster: its own keys, so checkable on its own.
    const again = join(dirname(h.cluster.configPath), "history-2.jsonl");
    await bench(h.cluster, ["--clients", "4", "--duration", "1", "--warmup", "0", "--workload", "kv", "--history", again]);
    expect(await check(again)).toMatchObject({ linearizable: true, keys: 16 });
  });

  test("90% reads over zipf keys with 24-byte values: checkable, reads and writes reported apart", async () => {
    h = await startCluster(3, { extraConfig });
    const file = join(dirname(h.cluster.configPath), "history-reads.jsonl");
    const args = ["--clients", "8", "--duration", "2", "--warmup", "0", "--workload", "kv", "--read-ratio", "0.9", "--key-dist", "zipf", "--value-bytes", "24", "--seed", "5", "--history", file];
    const result = (await bench(h.cluster, args)) as unknown as BenchJson;
    const verdict = await check(file);
    expect(verdict).toMatchObject({ linearizable: true, verdict: "linearizable" });
    expect(verdict.ops).toBe(result.ops + result.errors);
    expect(result.reads!.ops + result.writes!.ops).toBe(result.ops);
    expect(result.reads!.ops / result.ops).toBeGreaterThan(0.85);
    expect(result.reads!.ops / result.ops).toBeLessThan(0.95);
    expect(result.kv).toMatchObject({ read_ratio: 0.9, keys: 16, value_bytes: 24, key_dist: "zipf", zipf_s: 0.99, seed: 5 });
    // Reads by read index write nothing to the log: it holds the writes (and registrations) only.
    const logEnd = async () => {
      const info = await h!.cluster.client(["info", "--json"]);
      return Math.max(...(JSON.parse(info.stdout) as { replicas: { op: number }[] }).replicas.map((r) => r.op));
    };
    const afterIndex = await logEnd();
    expect(afterIndex).toBeLessThan(result.writes!.ops + 100);
    // Stale reads neither: any replica answers them from what it executed.
    const stale = (await bench(h.cluster, ["--clients", "8", "--duration", "1", "--warmup", "0", "--workload", "kv", "--read-ratio", "1", "--reads", "stale"])) as unknown as BenchJson;
    expect(stale.errors).toBe(0);
    expect(stale.reads!.ops).toBeGreaterThan(500);
    expect((await logEnd()) - afterIndex).toBeLessThan(50); // the registrations of its sessions
    const lines = (await Bun.file(file).text()).trim().split("\n").map((l) => JSON.parse(l) as { f: string; type: string; key: string; value: string | null });
    const puts = lines.filter((l) => l.f === "put" && l.type === "invoke");
    expect(puts.length).toBeGreaterThan(0);
    for (const p of puts) expect(p.value!.length).toBe(24);
    // zipf: the hottest key (k0) is touched far more often than the coldest (k15).
    const touches = (k: string) => lines.filter((l) => l.type === "invoke" && l.key.endsWith(`.${k}`)).length;
    expect(touches("k0")).toBeGreaterThan(5 * touches("k15"));
  });

  test("deletes and cas ops in the mix, leader killed -9 halfway: linearizable; deletes and cas reported apart", async () => {
    h = await startCluster(3, { extraConfig });
    const file = join(dirname(h.cluster.configPath), "history-cas.jsonl");
    const args = ["--clients", "8", "--duration", "3", "--warmup", "0", "--workload", "kv", "--keys", "4", "--read-ratio", "0.3", "--delete-ratio", "0.1", "--cas-ratio", "0.4", "--seed", "7", "--history", file];
    const load = bench(h.cluster, args) as unknown as Promise<BenchJson>;
    await Bun.sleep(1500);
    await h.cluster.kill((await leaderSeenBy(h, 1)) ?? 1);
    const result = await load;
    const verdict = await check(file);
    expect(verdict).toMatchObject({ linearizable: true, verdict: "linearizable", keys: 4 });
    expect(verdict.ops).toBe(result.ops + result.errors);
    expect(result.kv).toEqual({ read_ratio: 0.3, delete_ratio: 0.1, cas_ratio: 0.4, keys: 4, value_bytes: null, key_dist: "uniform", seed: 7 });
    expect(result.reads!.ops + result.writes!.ops).toBe(result.ops);
    const cas = result.cas!;
    expect(cas.swapped + cas.not_swapped).toBe(cas.ops);
    expect(cas.ops / result.ops).toBeGreaterThan(0.3);
    expect(cas.swapped).toBeGreaterThan(0);
    expect(cas.not_swapped).toBeGreaterThan(0);
    expect(result.deletes!.ops).toBeGreaterThan(0);
    // The history says the same: cas ops end ok (swapped) or fail (not), deletes ok.
    const lines = (await Bun.file(file).text()).trim().split("\n").map((l) => JSON.parse(l) as { f: string; type: string });
    const count = (f: string, type: string) => lines.filter((l) => l.f === f && l.type === type).length;
    expect(count("cas", "ok") + count("cas", "fail")).toBeGreaterThanOrEqual(cas.ops);
    expect(count("cas", "fail")).toBeGreaterThan(0);
    expect(count("delete", "ok")).toBeGreaterThan(0);
  }, 60_000);

  test("leader killed -9 in the middle: still linearizable (unknown outcomes allowed)", async () => {
    h = await startCluster(3, { extraConfig });
    const cluster = h.cluster;
    const file = join(dirname(cluster.configPath), "history.jsonl");
    const load = bench(cluster, ["--clients", "8", "--duration", "4", "--warmup", "0", "--workload", "kv", "--history", file]);
    await Bun.sleep(1500);
    const leader = (await leaderSeenBy(h, 1)) ?? 1;
    await cluster.kill(leader);
    const result = await load;
    const survivor = cluster.replicas.find((r) => r.id !== leader)!.id;
    expect(await leaderSeenBy(h, survivor)).not.toBe(leader);
    const verdict = await check(file);
    expect(verdict).toMatchObject({ linearizable: true, verdict: "linearizable" });
    expect(verdict.ops).toBe(result.ops + result.errors);
    expect(verdict.ok).toBeGreaterThan(1000);
  }, 60_000);
});
