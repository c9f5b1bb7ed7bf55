// Durable storage, the way users run it: every replica with its own --data-dir, a kv workload
// with a history, kill -9 of EVERY replica at once in the middle, all restarted: one history
// across the crash must be linearizable, with a read-back of every key at the end (an
// acknowledged put that the restarted cluster lost makes the read-back contradict it).

import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCluster } from "../../src/local/cluster.ts";
import { RunningCluster } from "../../src/local/processes.ts";
import { BenchRun, checkFile, readBack } from "../../src/local/workload.ts";
import { binary, isRoot, requireBinary } from "./harness.ts";

async function wholeClusterCrash(replicas: number, fsync: "always" | "interval", opt: "none" | "all") {
  requireBinary();
  const dir = mkdtempSync(join(tmpdir(), "electrode-storage-"));
  const local = await createCluster({ replicas });
  const cluster = new RunningCluster(local, {
    dir,
    command: [binary],
    setup: opt === "all",
    // Small checkpoints: the crash falls between two, with segments removed behind them.
    extraConfig: { storage: { fsync, fsync_interval_ms: 50 }, checkpoint_ops: 3000, log_retain_ops: 500, client: { timeout_ms: 500 } },
    replicaArgs: (id) => ["--opt", opt, "--data-dir", join(dir, `data-${id}`)],
  });
  let bench: BenchRun | undefined;
  let passed = false;
  try {
    if (opt === "all") await cluster.setupAll();
    cluster.startAll();
    await cluster.waitServing();
    const history = join(dir, "history.jsonl");
    bench = BenchRun.start(cluster, { historyFile: history, clients: 8 });
    await Bun.sleep(2500);
    let result: Awaited<ReturnType<BenchRun["stop"]>> | undefined;
    if (fsync === "interval") {
      // The guarantee is "durable within fsync_interval_ms": stop the load, let one interval pass,
      // then crash: nothing acknowledged may be lost. (Up to an interval's acks before a crash may.)
      result = await bench.stop();
      bench = undefined;
      await Bun.sleep(200);
    }
    await Promise.all(cluster.replicas.map((r) => cluster.kill(r.id, "SIGKILL")));
    const crashedAt = performance.now();
    cluster.startAll();
    await cluster.waitServing(30_000);
    const servedAfterMs = performance.now() - crashedAt;
    await Bun.sleep(1500);
    result ??= await bench!.stop();
    bench = undefined;
    const readOk = await readBack(cluster, history);
    const check = checkFile(history);
    const logs = cluster.replicas.map((r) => readFileSync(r.logFile, "utf8"));
    expect(check.text.split("\n")[0]).toMatch(/^.*linearizable/);
    expect(check.verdict.kind).toBe("linearizable");
    expect(readOk).toBe(check.verdict.keys);
    expect(result.ops).toBeGreaterThan(500);
    expect(servedAfterMs).toBeLessThan(30_000);
    if (fsync === "always") {
      // Each disk holds all its replica acknowledged: every one rejoins (the old leader by a view change).
      for (const l of logs) expect(l).toContain("it rejoins its view");
    } else {
      // Each may lack an interval's acks: they recover, and the best disk starts the new view.
      for (const l of logs) expect(l).toContain("it recovers from its peers");
      expect(logs.filter((l) => l.includes("whole cluster restarted: this replica's disk holds the best log")).length).toBe(1);
      // It says what the disks knew: every op recorded as committed kept, and where the window starts.
      expect(logs.join("\n")).toMatch(/It holds every op a disk recorded as committed \(up to op \d+\): 0 ops known committed were lost.*ops committed after op \d+ that no disk holds \(acknowledged in the last 50 ms before the crash\) may be missing/);
    }
    for (const l of logs) expect(l).toMatch(/storage: .*fsync (always|interval)/);
    if (fsync === "always" && opt === "all") for (const l of logs) expect(l).toContain("fast-reply requested but unavailable: storage.fsync always");
    passed = true;
  } finally {
    bench?.kill();
    if (!passed) for (const r of cluster.replicas) console.error(`--- replica ${r.id}\n${readFileSync(r.logFile, "utf8").split("\n").slice(-40).join("\n")}`);
    await cluster.close();
    if (opt === "all") await cluster.setupAll(true).catch(() => undefined);
    await local.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `electrode client info --json`: what every replica says of itself. */
async function info(cluster: RunningCluster): Promise<{ id: number; status: string; view: number; leader: boolean; commit: number }[]> {
  const out = await cluster.client(["info", "--json"]);
  return (JSON.parse(out.stdout) as { replicas: { id: number; status: string; view: number; leader: boolean; commit: number }[] }).replicas;
}

describe.skipIf(!isRoot)("durable storage: a follower restarted with fsync always", () => {
  test("rejoins the view it left: no view change, the leader stays, every put before and after reads back", async () => {
    requireBinary();
    const dir = mkdtempSync(join(tmpdir(), "electrode-storage-"));
    const local = await createCluster({ replicas: 3 });
    const cluster = new RunningCluster(local, { dir, command: [binary], extraConfig: { storage: { fsync: "always" } }, replicaArgs: (id) => ["--opt", "none", "--data-dir", join(dir, `data-${id}`)] });
    let passed = false;
    try {
      cluster.startAll();
      await cluster.waitServing();
      for (let i = 0; i < 20; i++) expect((await cluster.client(["put", `k${i}`, `v${i}`])).code).toBe(0);
      const before = await info(cluster);
      const leader = before.find((r) => r.leader)!;
      const follower = before.find((r) => !r.leader)!;
      await cluster.kill(follower.id, "SIGKILL");
      for (let i = 20; i < 30; i++) expect((await cluster.client(["put", `k${i}`, `v${i}`])).code).toBe(0); // the other two serve
      cluster.start(follower.id);
      let back: Awaited<ReturnType<typeof info>> = [];
      for (let t = 0; t < 100; t++) {
        back = await info(cluster);
        if (back.find((r) => r.id === follower.id)?.status === "normal") break;
        await Bun.sleep(100);
      }
      const rejoined = back.find((r) => r.id === follower.id)!;
      expect(rejoined.status).toBe("normal");
      expect(rejoined.view).toBe(leader.view);
      expect(back.find((r) => r.leader)?.id).toBe(leader.id);
      for (let i = 30; i < 40; i++) expect((await cluster.client(["put", `k${i}`, `v${i}`])).code).toBe(0);
      for (let i = 0; i < 40; i++) expect((await cluster.client(["get", `k${i}`])).stdout.trim()).toBe(`v${i}`);
      expect((await info(cluster)).every((r) => r.view === leader.view && r.status === "normal")).toBe(true);
      expect(readFileSync(cluster.replicas.find((r) => r.id === follower.id)!.logFile, "utf8")).toContain("it rejoins its view");
      passed = true;
    } finally {
      if (!passed) for (const r of cluster.replicas) console.error(`--- replica ${r.id}\n${readFileSync(r.logFile, "utf8").split("\n").slice(-40).join("\n")}`);
      await cluster.close();
      await local.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});

describe.skipIf(!isRoot)("durable storage: kill -9 of every replica at once, all restarted", () => {
  test("3 replicas, fsync always, no fast paths: one linearizable history across the crash, every acknowledged put read back", () => wholeClusterCrash(3, "always", "none"), 90_000);
  test("5 replicas, fsync always, all fast paths (fast reply off and said so)", () => wholeClusterCrash(5, "always", "all"), 90_000);
  test("3 replicas, fsync interval: load stopped an interval before the crash, then nothing acknowledged is lost; the best disk starts the view and says what it resumed from", () => wholeClusterCrash(3, "interval", "none"), 90_000);
});
