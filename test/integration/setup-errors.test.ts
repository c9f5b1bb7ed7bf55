// `electrode setup` when something is wrong: one clear line and the contract's exit code (2 for a
// bad config, 1 at run time), nothing left behind; and a second setup over what a killed run
// left (a filter without its state file) repairs it, teardown removes the pins of an electrode
// before 0.2, and then nothing is left.

import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { RunningCluster } from "../../src/local/processes.ts";
import { bpffsMounted } from "../../src/kernel/netinfo.ts";
import { binary, isRoot, withSetupCluster } from "./harness.ts";

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `electrode setup --id 1 ...` in replica 1's namespace, optionally through `prefix`
 * (e.g. setpriv to drop root). */
async function setupOnFirst(cluster: RunningCluster, config: string, extra: string[] = [], prefix: string[] = []): Promise<Outcome> {
  const ns = cluster.local.replicas[0]!.ns;
  const argv = cluster.local.nsExec(ns, [...prefix, binary, "setup", "--id", "1", "--config", config, ...extra]);
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", stdin: "ignore", cwd: "/" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

function expectOneLineError(out: Outcome, code: number, pattern: RegExp): void {
  expect({ code: out.code, stderr: out.stderr.trim() }).toEqual({ code, stderr: expect.stringMatching(pattern) });
  expect(out.stderr.trim().split("\n").length).toBe(1);
  expect(out.stderr).not.toContain("    at ");
}

/** A variant of the cluster's config, same cluster name, written next to it. */
function variant(cluster: RunningCluster, file: string, edit: (yaml: string) => string): string {
  const path = join(dirname(cluster.configPath), file);
  const yaml = edit(readFileSync(cluster.configPath, "utf8"));
  expect(yaml).not.toBe(readFileSync(cluster.configPath, "utf8"));
  writeFileSync(path, yaml);
  return path;
}

/** Where electrode before 0.2 pinned replica 1's programs and maps (nothing is pinned now). */
function legacyPinDirOfFirst(cluster: RunningCluster): string {
  return `/sys/fs/bpf/electrode/${cluster.config.name}/1`;
}

function stateFileOfFirst(cluster: RunningCluster): string {
  return `/run/electrode/${cluster.config.name}/1.json`;
}

async function statusOfFirst(cluster: RunningCluster): Promise<{ attached: boolean; detail: string }> {
  return (await cluster.status(1)).tc_broadcast;
}

/** Nothing of electrode on replica 1: no pins, no state file, no filter, no clsact qdisc. */
function expectNothingOnFirst(cluster: RunningCluster): void {
  const ns = cluster.local.replicas[0]!.ns;
  expect(existsSync(legacyPinDirOfFirst(cluster))).toBe(false);
  expect(existsSync(stateFileOfFirst(cluster))).toBe(false);
  expect(cluster.local.run(ns, ["tc", "filter", "show", "dev", "eth0", "egress"])).not.toContain("electrode");
  expect(cluster.local.run(ns, ["tc", "qdisc", "show", "dev", "eth0"])).not.toContain("clsact");
}

describe.skipIf(!isRoot)("electrode setup errors and leftovers", () => {
  test("missing interface, no permission, unresolvable peer MAC: one line each, right exit code, nothing attached", async () => {
    await withSetupCluster(3, async (cluster) => {
      const noIface = variant(cluster, "no-iface.yaml", (y) => y.replace(/(\{ id: 1, addr: [^ ]+) \}/, "$1, iface: nosuch0 }"));
      expectOneLineError(await setupOnFirst(cluster, noIface), 2, /no-iface\.yaml: replicas\[0\]\.iface: no network interface 'nosuch0' on this host/);

      // As nobody: the config must be readable for the message to be about permission.
      chmodSync(dirname(cluster.configPath), 0o755);
      chmodSync(cluster.configPath, 0o644);
      const asNobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"];
      expectOneLineError(await setupOnFirst(cluster, cluster.configPath, [], asNobody), 1, /setup needs root/);
      expectOneLineError(await setupOnFirst(cluster, cluster.configPath, ["--teardown"], asNobody), 1, /setup needs root/);

      // Replica 3 at an address of the subnet that nobody holds: ARP gets no answer.
      const ghost = cluster.local.replicas[2]!.ip.replace(/\.\d+$/, ".50");
      const noMac = variant(cluster, "no-mac.yaml", (y) => y.replace(`${cluster.local.replicas[2]!.ip}:`, `${ghost}:`));
      const out = await setupOnFirst(cluster, noMac);
      const escaped = ghost.replaceAll(".", "\\.");
      expectOneLineError(out, 1, new RegExp(`MAC address of replica 3 \\(${escaped}\\) on eth0.*replicas\\[2\\]\\.mac in .*no-mac\\.yaml`));
      expectNothingOnFirst(cluster);
    }, { setup: false });
  }, 120_000);

  test("a second setup repairs a killed run's leftovers (a filter without its state file); teardown removes an old version's pins", async () => {
    const onExit: (() => void)[] = [];
    try {
      await withSetupCluster(3, async (cluster) => {
        // Filter present, state file gone (killed before writing it, or /run wiped).
        expect(existsSync(legacyPinDirOfFirst(cluster))).toBe(false); // nothing is pinned
        rmSync(stateFileOfFirst(cluster));
        const again = await setupOnFirst(cluster, cluster.configPath, ["--quiet"]);
        expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: "" });
        expect((await statusOfFirst(cluster)).attached).toBe(true);
        expect((await setupOnFirst(cluster, cluster.configPath, ["--teardown", "--quiet"])).code).toBe(0);
        expectNothingOnFirst(cluster);

        // State lost at once with the filter still there: teardown alone removes filter and qdisc.
        expect((await setupOnFirst(cluster, cluster.configPath, ["--quiet"])).code).toBe(0);
        rmSync(stateFileOfFirst(cluster));
        rmSync(`/run/electrode/${cluster.config.name}/1.xdp.json`);
        expect((await setupOnFirst(cluster, cluster.configPath, ["--teardown", "--quiet"])).code).toBe(0);
        expectNothingOnFirst(cluster);

        // An electrode before 0.2 pinned its maps: teardown removes those pins (a map stands in).
        const mounted = bpffsMounted();
        if (!mounted) expect(Bun.spawnSync(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"]).exitCode).toBe(0);
        onExit.push(() => {
          rmSync(`/sys/fs/bpf/electrode/${cluster.config.name}`, { recursive: true, force: true });
          if (!mounted) Bun.spawnSync(["umount", "/sys/fs/bpf"]);
        });
        mkdirSync(legacyPinDirOfFirst(cluster), { recursive: true });
        const legacy = `${legacyPinDirOfFirst(cluster)}/bcast_stats`;
        const made = Bun.spawnSync(["bpftool", "map", "create", legacy, "type", "array", "key", "4", "value", "8", "entries", "1", "name", "el_legacy"], { stderr: "pipe" });
        expect({ code: made.exitCode, stderr: made.stderr.toString() }).toEqual({ code: 0, stderr: "" });
        const removed = await setupOnFirst(cluster, cluster.configPath, ["--teardown"]);
        expect(removed.code).toBe(0);
        expect(removed.stdout + removed.stderr).toContain("pins of an earlier electrode version");
        expectNothingOnFirst(cluster);
      });
    } finally {
      for (const undo of onExit) undo();
    }
  }, 120_000);
});
