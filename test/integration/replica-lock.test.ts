// One `electrode replica` per replica id and node. A second one started by mistake while the id
// runs must exit 1 naming the pid that holds the lock, before it touches the kernel state or the
// ring: otherwise it writes Recovering with a new epoch into the XDP state and drains the running
// replica's ring (Prepares its kernel acked), which then dies of the gap. Also: a non-root run
// falls back to a lock directory it can write, and says where.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binary, bench, isRoot, requireBinary, startCluster, type Harness } from "./harness.ts";

const heldLine = /^electrode: replica (\d+) of cluster (\S+) already runs on this node: pid (\d+) holds (\S+\.lock)$/;

async function run(argv: string[], timeoutMs = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

describe.skipIf(!isRoot)("a second replica process with a running id", () => {
  const dir = mkdtempSync(join(tmpdir(), "electrode-lock-it-"));
  let h: Harness | undefined;
  afterAll(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("under load with all fast paths: it exits 1 naming the holder's pid; nobody dies, the cluster serves, the logs agree", async () => {
    const statsFile = (id: number) => join(dir, `stats-${id}.json`);
    h = await startCluster(3, { setup: true, replicaArgs: (id) => ["--stats-file", statsFile(id)] });
    const cluster = h.cluster;
    for (const r of cluster.replicas) expect(await Bun.file(r.logFile).text()).toContain("fast paths: tc-broadcast, quorum-prune, fast-reply");
    const load = bench(cluster, ["--clients", "8", "--duration", "5", "--warmup", "0", "--workload", "kv"]);
    await Bun.sleep(1000);
    // Followers first (their rings hold what their kernels acked), then the leader, then again.
    for (const id of [2, 3, 1, 2, 3]) {
      const r = cluster.replicas.find((x) => x.id === id)!;
      const second = await run(cluster.local.nsExec(r.ns, [binary, "replica", "--id", String(id), "--config", cluster.configPath]));
      expect(second.code).toBe(1);
      const lines = second.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      const m = heldLine.exec(lines[0]!);
      expect(m).not.toBeNull();
      expect(Number(m![1])).toBe(id);
      expect(m![2]).toBe(cluster.config.name);
      expect(Number(m![3])).toBe(cluster.pid(id)!);
      expect(m![4]).toBe(`/run/electrode/${cluster.config.name}/${id}.lock`);
      expect(readFileSync(m![4]!, "utf8")).toBe(`${cluster.pid(id)}\n`);
      await Bun.sleep(300);
    }
    const result = await load;
    expect(result.errors).toBe(0);
    expect(result.ops).toBeGreaterThan(500);
    for (const r of cluster.replicas) expect(r.proc?.exitCode).toBeNull(); // still running
    expect((await cluster.client(["put", "after", "yes"])).code).toBe(0);
    await Bun.sleep(300); // a heartbeat tells the followers the last commit
    await cluster.stopAll();
    const stats = cluster.replicas.map((r) => JSON.parse(readFileSync(statsFile(r.id), "utf8")) as { committed_ops: number; committed_ops_digest: string });
    expect(new Set(stats.map((s) => s.committed_ops)).size).toBe(1);
    // Gets are read by the leader's read index, outside the log: every put is in it.
    expect(stats[0]!.committed_ops).toBeGreaterThan((result as unknown as { writes: { ops: number } }).writes.ops);
    expect(new Set(stats.map((s) => s.committed_ops_digest)).size).toBe(1);
    const logs = await Promise.all(cluster.replicas.map((r) => Bun.file(r.logFile).text()));
    for (const log of logs) expect(log).not.toContain("invariant");
    // A normal exit removes the lock file.
    for (const r of cluster.replicas) expect(existsSync(`/run/electrode/${cluster.config.name}/${r.id}.lock`)).toBe(false);
  }, 120_000);

  test("the lock file of a killed replica stays but is free: the restarted replica takes it", async () => {
    const cluster = h!.cluster;
    cluster.startAll();
    await cluster.waitServing();
    const path = `/run/electrode/${cluster.config.name}/3.lock`;
    const killed = cluster.pid(3)!;
    await cluster.kill(3);
    expect(readFileSync(path, "utf8")).toBe(`${killed}\n`);
    cluster.start(3);
    const r3 = cluster.replicas.find((r) => r.id === 3)!;
    for (let t = 0; t < 100 && !/view \d+: follower/.test((await Bun.file(r3.logFile).text()).slice(r3.logFrom)); t++) await Bun.sleep(100);
    expect((await Bun.file(r3.logFile).text()).slice(r3.logFrom)).toMatch(/view \d+: follower/);
    expect(readFileSync(path, "utf8")).toBe(`${cluster.pid(3)}\n`);
    expect((await cluster.client(["put", "restarted", "yes"])).code).toBe(0);
  }, 60_000);
});

describe.skipIf(!isRoot)("replica lock without root", () => {
  test("--opt none as nobody: the lock goes to the temp directory, said so; a second process is refused", async () => {
    requireBinary();
    const dir = mkdtempSync(join(tmpdir(), "electrode-lock-nobody-"));
    const tmp = join(dir, "tmp");
    mkdirSync(tmp);
    chmodSync(dir, 0o755);
    chmodSync(tmp, 0o1777);
    const name = `lock-nobody-${process.pid}`;
    const base = 20000 + Math.floor(Math.random() * 40000);
    const configPath = join(dir, "cluster.yaml");
    writeFileSync(configPath, `name: ${name}\nf: 1\nreplicas:\n${[0, 1, 2].map((i) => `  - { id: ${i + 1}, addr: 127.0.0.1:${base + i} }`).join("\n")}\n`);
    chmodSync(configPath, 0o644);
    const asNobody = (argv: string[]) => ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "env", "-u", "XDG_RUNTIME_DIR", `TMPDIR=${tmp}`, ...argv];
    const argv = asNobody([binary, "replica", "--id", "1", "--config", configPath, "--opt", "none"]);
    const first = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    try {
      const lockPath = `${tmp}/electrode-65534/${name}/1.lock`;
      for (let t = 0; t < 100 && !existsSync(lockPath); t++) await Bun.sleep(50);
      expect(readFileSync(lockPath, "utf8")).toBe(`${first.pid}\n`);
      const second = await run(argv);
      expect(second.code).toBe(1);
      expect(second.stderr.trim()).toBe(`electrode: replica 1 of cluster ${name} already runs on this node: pid ${first.pid} holds ${lockPath}`);
      first.kill("SIGTERM");
      expect(await first.exited).toBe(0);
      expect(await new Response(first.stderr).text()).toContain(`lock: ${lockPath} (/run/electrode/${name} not writable)`);
      expect(existsSync(lockPath)).toBe(false);
    } finally {
      first.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      rmSync(`/run/electrode/${name}`, { recursive: true, force: true });
    }
  }, 30_000);
});
