// Durable storage's user-facing errors, with the compiled binary: a directory that is not this
// replica's (foreign files, another replica's, another format) is refused with one line and exit
// 2 and nothing in it changes; a bad storage: in the config is a config error; a full disk (a small
// tmpfs of the test's own) stops the replica from acknowledging and it says why, while the other
// replicas serve on.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { $ } from "bun";
import { createCluster } from "../../src/local/cluster.ts";
import { RunningCluster } from "../../src/local/processes.ts";
import { binary, expectOneLineError, isRoot, requireBinary, runBinary } from "./harness.ts";

const dir = mkdtempSync(join(tmpdir(), "electrode-storage-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = join(dir, "cluster.yaml");
writeFileSync(
  config,
  `f: 1
replicas:
  - { id: 1, addr: 127.0.0.1:47201 }
  - { id: 2, addr: 127.0.0.1:47202 }
  - { id: 3, addr: 127.0.0.1:47203 }
`,
);

const run = (args: string[]) => runBinary(args, { cwd: dir });

describe("electrode replica --data-dir errors", () => {
  test("a directory with foreign files: exit 2, one line, nothing touched", async () => {
    const foreign = join(dir, "foreign");
    mkdirSync(foreign);
    writeFileSync(join(foreign, "photos.db"), "mine");
    expectOneLineError(await run(["replica", "--id", "1", "--config", config, "--quiet", "--opt", "none", "--data-dir", foreign]), 2, /not an electrode data directory; refusing to use it/);
    expect(readdirSync(foreign)).toEqual(["photos.db"]);
  });

  test("another replica's directory, and one of a newer format: exit 2 naming whose it is", async () => {
    const other = join(dir, "replica-2");
    mkdirSync(other);
    const cluster = Number.parseInt(JSON.parse(await $`${binary} config check --config ${config} --json`.text()).cluster_id, 16);
    writeFileSync(join(other, "electrode-data.json"), JSON.stringify({ format: 1, cluster_id: cluster, replica_id: 2 }));
    expectOneLineError(await run(["replica", "--id", "1", "--config", config, "--quiet", "--opt", "none", "--data-dir", other]), 2, /belongs to cluster 0x[0-9a-f]{8} replica 2, not to cluster 0x[0-9a-f]{8} replica 1/);
    writeFileSync(join(other, "electrode-data.json"), JSON.stringify({ format: 7, cluster_id: cluster, replica_id: 1 }));
    expectOneLineError(await run(["replica", "--id", "1", "--config", config, "--quiet", "--opt", "none", "--data-dir", other]), 2, /incompatible version \(format 7; this electrode reads format 2 and 1\)/);
  });

  test("storage: in the config is checked: exit 2 naming the field", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, `${readFileSync(config, "utf8")}storage: { fsync: sometimes }\n`);
    expectOneLineError(await run(["replica", "--id", "1", "--config", bad, "--quiet"]), 2, /storage\.fsync.*expected always, interval or off/);
    writeFileSync(bad, `${readFileSync(config, "utf8")}storage: { fsync: always }\n`);
    expectOneLineError(await run(["replica", "--id", "1", "--config", bad, "--quiet", "--opt", "none"]), 2, /storage: has no dir: give it one, or --data-dir DIR/);
  });
});

describe.skipIf(!isRoot)("a full disk", () => {
  test("a replica whose disk fills stops acknowledging and says why; the others serve on and nothing acknowledged is lost", async () => {
    requireBinary();
    const work = mkdtempSync(join(tmpdir(), "electrode-fulldisk-"));
    const small = join(work, "small");
    mkdirSync(small);
    await $`mount -t tmpfs -o size=1m tmpfs ${small}`;
    const local = await createCluster({ replicas: 3 });
    const cluster = new RunningCluster(local, {
      dir: work,
      command: [binary],
      extraConfig: { storage: { fsync: "always" }, checkpoint_ops: 1_000_000, client: { timeout_ms: 1000 } },
      replicaArgs: (id) => ["--opt", "none", "--data-dir", id === 2 ? join(small, "data") : join(work, `data-${id}`)],
    });
    try {
      cluster.startAll();
      await cluster.waitServing();
      // 1 MiB fills after a few thousand puts of 200-byte values.
      const value = "v".repeat(200);
      const deadline = Date.now() + 60_000;
      const log = () => readFileSync(cluster.replicas[1]!.logFile, "utf8");
      let acked = 0;
      while (!log().includes("storage: cannot write") && Date.now() < deadline) {
        const out = await cluster.client(["--bench", "--workload", "kv", "--value-bytes", "200", "--clients", "8", "--duration", "2", "--warmup", "0", "--json", "-", "--quiet"]);
        expect(out.code).toBe(0);
        acked += JSON.parse(out.stdout).ops;
      }
      expect(acked).toBeGreaterThan(1000);
      expect(log()).toMatch(/storage: cannot write to .*small\/data \(.*ENOSPC.*\): this replica acknowledges nothing and sends nothing until a write succeeds/);
      // The other two still commit.
      const put = await cluster.client(["put", "after-full", value]);
      expect(put.code).toBe(0);
      expect((await cluster.client(["get", "after-full"])).stdout.trim()).toBe(value);
      // It is alive but silent: its Info answers are held back too.
      expect(cluster.replicas[1]!.proc?.exitCode).toBeNull();
    } finally {
      await cluster.close();
      await local.destroy();
      await $`umount ${small}`.nothrow();
      rmSync(work, { recursive: true, force: true });
    }
  }, 120_000);
});
