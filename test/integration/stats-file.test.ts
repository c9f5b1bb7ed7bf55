// `electrode replica --stats-file FILE` writes the socket's syscall and datagram counters and the
// commit count when stopped with SIGTERM (scripts/bench-modes.ts reads them).

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot, startCluster, type Harness } from "./harness.ts";

interface Counters {
  sends_syscalls: number;
  datagrams_sent: number;
  send_drops: number;
  datagrams_received: number;
  committed_ops: number;
  leader: boolean;
  messages: { sent: number; received: number; replies: number; byType: Record<string, number> };
}

describe.skipIf(!isRoot)("replica --stats-file", () => {
  const dir = mkdtempSync(join(tmpdir(), "electrode-stats-"));
  let h: Harness | undefined;
  afterAll(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("SIGTERM writes each replica's counters; the leader's cover its sends and commits", async () => {
    const file = (id: number) => join(dir, `r${id}.json`);
    h = await startCluster(3, { replicaArgs: (id) => ["--stats-file", file(id)] });
    for (let i = 0; i < 5; i++) expect((await h.cluster.client(["put", `k${i}`, "v"])).code).toBe(0);
    await h.cluster.stopAll();
    const all = h.cluster.replicas.map((r) => JSON.parse(readFileSync(file(r.id), "utf8")) as Counters);
    const leaders = all.filter((c) => c.leader);
    expect(leaders.length).toBe(1);
    const leader = leaders[0]!;
    expect(leader.committed_ops).toBeGreaterThanOrEqual(6); // waitServing's put and ours
    expect(leader.messages.replies).toBeGreaterThanOrEqual(6);
    // Every queued message left in some syscall; sendmmsg sends several per call.
    expect(leader.datagrams_sent + leader.send_drops).toBe(leader.messages.sent);
    expect(leader.sends_syscalls).toBeGreaterThan(0);
    expect(leader.sends_syscalls).toBeLessThanOrEqual(leader.datagrams_sent);
    for (const c of all) {
      expect(c.datagrams_received).toBe(c.messages.received);
      if (c !== leader) expect(c.messages.byType.Prepare).toBeGreaterThan(0);
    }
  }, 120_000);
});
