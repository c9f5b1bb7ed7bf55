// The example systemd units, run without systemd: their ExecStart/ExecStop lines (instance id and
// paths substituted) on a namespace cluster attach the fast paths, serve, stop cleanly on the
// unit's KillSignal within TimeoutStopSec, and tear down to nothing.

import { afterAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCluster, type LocalCluster } from "../../src/local/cluster.ts";
import { RunningCluster } from "../../src/local/processes.ts";
import { binary, isRoot, requireBinary } from "./harness.ts";

const unitDir = new URL("../../configs/systemd/", import.meta.url).pathname;
const installedBinary = "/usr/local/bin/electrode";
const installedConfig = "/etc/electrode/cluster.yaml";

/** The [Service] settings of a unit file (last one wins, as for systemd's single-value keys). */
function serviceSettings(file: string): Map<string, string> {
  const settings = new Map<string, string>();
  let section = "";
  for (const raw of readFileSync(join(unitDir, file), "utf8").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf("=");
    if (section === "Service" && eq > 0) settings.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return settings;
}

/**
 * A command line as systemd would run it for instance `id`: %i is the instance, $VAR and ${VAR}
 * are split into words from `env` (absent means empty), and the installed paths are ours.
 */
function commandLine(line: string, id: number, configPath: string, env: Record<string, string> = {}): string[] {
  return line
    .replace(/^[-@:+!]+/, "")
    .split(/\s+/)
    .flatMap((word) => {
      const variable = /^\$\{?(\w+)\}?$/.exec(word);
      if (variable) return (env[variable[1]!] ?? "").split(/\s+/).filter(Boolean);
      return [word.replaceAll("%i", String(id))];
    })
    .map((word) => (word === installedBinary ? binary : word === installedConfig ? configPath : word));
}

async function run(local: LocalCluster, ns: string, argv: string[]) {
  const proc = Bun.spawn(local.nsExec(ns, argv), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

describe("example systemd units", () => {
  const replicaUnit = serviceSettings("electrode-replica@.service");
  const setupUnit = serviceSettings("electrode-setup@.service");

  test("the units name the installed binary and config, and a stop signal and timeout", () => {
    expect(replicaUnit.get("ExecStart")!.startsWith(`${installedBinary} replica --id %i --config ${installedConfig}`)).toBe(true);
    expect(setupUnit.get("ExecStart")).toBe(`${installedBinary} setup --id %i --config ${installedConfig}`);
    expect(setupUnit.get("ExecStop")).toBe(`${installedBinary} setup --id %i --config ${installedConfig} --teardown`);
    expect(replicaUnit.get("KillSignal")).toBe("SIGTERM");
    expect(Number(replicaUnit.get("TimeoutStopSec"))).toBeGreaterThan(0);
  });

  test.skipIf(!Bun.which("systemd-analyze"))("systemd-analyze verify finds nothing to say", () => {
    requireBinary();
    const dir = mkdtempSync(join(tmpdir(), "electrode-units-"));
    try {
      for (const file of ["electrode-replica@.service", "electrode-setup@.service"]) {
        writeFileSync(join(dir, file), readFileSync(join(unitDir, file), "utf8").replaceAll(installedBinary, binary));
      }
      const out = Bun.spawnSync(["systemd-analyze", "verify", "--man=no", "electrode-replica@1.service", "electrode-setup@1.service"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
      const said = (out.stdout.toString() + out.stderr.toString())
        .split("\n")
        .filter((l) => l.includes("electrode-"))
        .join("\n");
      expect(said).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe.skipIf(!isRoot)("on a 3-replica namespace cluster, without systemd", () => {
    let local: LocalCluster | undefined;
    let cluster: RunningCluster | undefined;
    const procs = new Map<number, Subprocess>();
    const dir = mkdtempSync(join(tmpdir(), "electrode-unit-it-"));
    afterAll(async () => {
      for (const proc of procs.values()) proc.kill("SIGKILL");
      await Promise.all([...procs.values()].map((p) => p.exited));
      await cluster?.close(); // setup: true, so this also tears down whatever is still attached
      await local?.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    test("ExecStart of setup, then of the replica: the cluster serves with tc broadcast; SIGTERM stops it; ExecStop removes everything", async () => {
      requireBinary();
      local = await createCluster({ replicas: 3 });
      cluster = new RunningCluster(local, { dir, command: [binary], setup: true });
      const configPath = cluster.configPath;
      for (const r of local.replicas) {
        const out = await run(local, r.ns, commandLine(setupUnit.get("ExecStart")!, r.id, configPath));
        expect(out.stderr).toContain("tc broadcast attached");
        expect(out.code).toBe(0);
      }
      for (const r of local.replicas) {
        const argv = commandLine(replicaUnit.get("ExecStart")!, r.id, configPath, { ELECTRODE_ARGS: "--app kv" });
        const log = Bun.file(join(dir, `unit-replica-${r.id}.log`));
        procs.set(r.id, Bun.spawn(local.nsExec(r.ns, argv), { stdout: log, stderr: log, stdin: "ignore" }));
      }
      try {
        await cluster.waitServing();
      } catch (e) {
        const logs = await Promise.all(local.replicas.map(async (r) => `--- replica ${r.id}\n${await Bun.file(join(dir, `unit-replica-${r.id}.log`)).text()}`));
        throw new Error(`${(e as Error).message}\n${logs.join("\n")}`);
      }
      expect((await cluster.client(["put", "unit", "works"])).code).toBe(0);
      expect((await cluster.client(["get", "unit"])).stdout.trim()).toBe("works");
      const startLog = await Bun.file(join(dir, "unit-replica-1.log")).text();
      expect(startLog).toContain("fast paths: tc-broadcast");

      const timeoutMs = Number(replicaUnit.get("TimeoutStopSec")) * 1000;
      for (const [id, proc] of procs) {
        proc.kill(replicaUnit.get("KillSignal") as NodeJS.Signals);
        const code = await Promise.race([proc.exited, Bun.sleep(timeoutMs).then(() => "timeout" as const)]);
        expect(code).toBe(0);
        procs.delete(id);
        const log = await Bun.file(join(dir, `unit-replica-${id}.log`)).text();
        expect(log).toContain("SIGTERM: stopping; tc-broadcast stays attached on eth0");
        expect(log.trimEnd().endsWith("stopped")).toBe(true);
      }
      for (const r of local.replicas) {
        const out = await run(local, r.ns, commandLine(setupUnit.get("ExecStop")!, r.id, configPath));
        expect(out.code).toBe(0);
      }
      expect(existsSync(`/sys/fs/bpf/electrode/${cluster.config.name}`)).toBe(false);
      expect(existsSync(`/run/electrode/${cluster.config.name}`)).toBe(false);
    });
  });
});
