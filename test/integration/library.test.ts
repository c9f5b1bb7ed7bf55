// The client library (package.json "exports": "./client") used by an application in its own
// directory, importing "electrode/client", against a real namespace cluster: put/get/delete/cas,
// concurrent cas increments counted exactly once, a config object, leader discovery after the
// leader dies, and an unknown outcome (UnknownOutcomeError) without a quorum. Also the CLI's
// delete and cas against the same cluster.

import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot, startCluster, type Harness } from "./harness.ts";

const repo = new URL("../..", import.meta.url).pathname;

/** An application directory whose node_modules/electrode is this repository. */
function appDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "electrode-app-"));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(repo, join(dir, "node_modules", "electrode"));
  symlinkSync(join(repo, "node_modules", "yaml"), join(dir, "node_modules", "yaml"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "an-app", type: "module", private: true, dependencies: { electrode: "*" } }));
  cpSync(new URL("library-app/app.ts", import.meta.url).pathname, join(dir, "app.ts"));
  return dir;
}

describe.skipIf(!isRoot)("client library", () => {
  let h: Harness | undefined;
  const dir = appDir();
  afterAll(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const app = async (phase: string) => {
    const cluster = h!.cluster;
    const argv = cluster.local.nsExec(cluster.local.clients[0]!.ns, [process.execPath, "run", join(dir, "app.ts"), cluster.configPath, phase]);
    const proc = Bun.spawn(argv, { cwd: dir, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new Error(`app ${phase} exited ${code}: ${stderr}`);
    return JSON.parse(stdout);
  };

  test("put, get, delete, cas from an application; concurrent cas increments each count once", async () => {
    h = await startCluster(3);
    const seen = await app("ops");
    expect(seen).toEqual({
      get: "blue",
      missing: null,
      casWrong: { swapped: false, current: [98, 108, 117, 101], currentText: "blue" },
      casRight: { swapped: true },
      afterCas: "green",
      casAbsentOnPresent: { swapped: false, current: [103, 114, 101, 101, 110], currentText: "green" },
      deleted: true,
      deletedAgain: false,
      afterDelete: null,
      casAbsent: { swapped: true },
      afterCasAbsent: "fresh",
      bytes: [1, 2, 0xfe],
      tooBig: "key of 1025 bytes: at most 1024",
      counter: "20",
      leader: 1,
      fromObject: "20",
    });
  }, 60_000);

  test("the CLI's delete and cas on the same cluster", async () => {
    const c = h!.cluster;
    expect((await c.client(["cas", "cli-k", "v1", "--absent"])).stdout.trim()).toBe("OK");
    const wrong = await c.client(["cas", "cli-k", "v2", "--expect", "v0", "--json"]);
    expect(wrong.code).toBe(1);
    expect(JSON.parse(wrong.stdout)).toMatchObject({ ok: false, key: "cli-k", expected: "v0", value: "v2", current: "v1" });
    expect(wrong.stderr).toContain("not swapped: cli-k holds 'v1'");
    expect((await c.client(["cas", "cli-k", "v2", "--expect", "v1"])).code).toBe(0);
    expect((await c.client(["get", "cli-k"])).stdout.trim()).toBe("v2");
    expect((await c.client(["delete", "cli-k"])).stdout.trim()).toBe("OK");
    expect(JSON.parse((await c.client(["delete", "cli-k", "--json"])).stdout)).toMatchObject({ ok: true, existed: false });
    const absent = await c.client(["cas", "cli-k", "v3", "--expect", "v2"]);
    expect(absent.code).toBe(1);
    expect(absent.stderr).toContain("not swapped: cli-k is absent");
    expect((await c.client(["cas", "cli-k", "v3"])).code).toBe(2);
  }, 60_000);

  test("leader discovery: with the leader dead, a fresh client finds the new one", async () => {
    await h!.cluster.kill(1);
    const seen = await app("after-failover");
    expect(seen).toEqual({ before: 1, after: 2, got: "yes", counter: "20" });
  }, 60_000);

  test("no quorum: an operation rejects with UnknownOutcomeError after the timeout", async () => {
    await h!.cluster.kill(2);
    const seen = await app("no-quorum");
    expect(seen).toMatchObject({ threw: true, unknownOutcome: true, reason: "timeout" });
    expect(seen.message).toMatch(/put "lib-lost": outcome unknown: no reply in time/);
    expect(seen.waitedMs).toBeGreaterThanOrEqual(700);
  }, 60_000);
});
