// The namespace cluster used by the demo and every integration test.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { cleanupStale, createCluster, sh, type LocalCluster } from "../../src/local/cluster.ts";
import { isRoot } from "./harness.ts";

function namespacesOf(name: string): string[] {
  return sh(["ip", "netns", "list"]).split("\n").map((l) => l.split(" ")[0]!).filter((ns) => ns.startsWith(`el-${name}-`));
}

/** Sends one UDP datagram from `from` to ip:port and checks it arrives in `to`. */
async function reaches(cluster: LocalCluster, from: string, to: string, ip: string): Promise<boolean> {
  const port = 40000 + Math.floor(Math.random() * 20000);
  const listener = Bun.spawn(cluster.nsExec(to, ["timeout", "3", process.execPath, "-e", `const s=await Bun.udpSocket({port:${port},hostname:"${ip}",socket:{data(){console.log("got");process.exit(0)}}});`]), { stdout: "pipe" });
  await Bun.sleep(300);
  cluster.run(from, [process.execPath, "-e", `const s=await Bun.udpSocket({}); s.send("x", ${port}, "${ip}"); s.close();`]);
  const out = await new Response(listener.stdout).text();
  await listener.exited;
  return out.includes("got");
}

describe.skipIf(!isRoot)("local namespace cluster", () => {
  const created: LocalCluster[] = [];
  afterAll(async () => {
    for (const c of created) await c.destroy();
  });

  test("3 replicas: every pair and the client reach each other; MACs and addresses match", async () => {
    const cluster = await createCluster({ replicas: 3 });
    created.push(cluster);
    expect(namespacesOf(cluster.name).length).toBe(5);
    for (const r of cluster.replicas) {
      const link = JSON.parse(cluster.run(r.ns, ["ip", "-j", "addr", "show", "eth0"]))[0];
      expect(link.address).toBe(r.mac);
      expect(link.addr_info.some((a: { local: string }) => a.local === r.ip)).toBe(true);
    }
    const nodes = [...cluster.replicas, ...cluster.clients];
    for (const a of nodes) {
      for (const b of cluster.replicas) {
        if (a === b) continue;
        expect(await reaches(cluster, a.ns, b.ns, b.ip)).toBe(true);
      }
    }
    await cluster.destroy();
    await cluster.destroy(); // idempotent
    expect(namespacesOf(cluster.name)).toEqual([]);
    expect(existsSync(`/run/electrode-local/${cluster.name}.json`)).toBe(false);
  }, 60_000);

  test("15 replicas are created and destroyed", async () => {
    const cluster = await createCluster({ replicas: 15 });
    created.push(cluster);
    expect(new Set(cluster.replicas.map((r) => r.mac)).size).toBe(15);
    expect(await reaches(cluster, cluster.replicas[14]!.ns, cluster.replicas[0]!.ns, cluster.replicas[0]!.ip)).toBe(true);
    await cluster.destroy();
    expect(namespacesOf(cluster.name)).toEqual([]);
  }, 60_000);

  test("a cluster whose owner died is removed by cleanupStale", async () => {
    const cluster = await createCluster({ replicas: 1 });
    created.push(cluster);
    const marker = `/run/electrode-local/${cluster.name}.json`;
    const dead = Bun.spawnSync(["true"]).pid; // a PID that has exited
    writeFileSync(marker, JSON.stringify({ ...(await Bun.file(marker).json()), pid: dead }));
    expect(cleanupStale()).toContain(cluster.name);
    expect(namespacesOf(cluster.name)).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  }, 30_000);
});
