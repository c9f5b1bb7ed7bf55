// Hostile input: while a 3-replica cluster serves a kv bench, a sender in the client namespace
// throws random and mutated datagrams at every replica (src/local/fuzz.ts: wrong views, huge
// op-numbers, forged senders, truncated bodies, wrong cluster ids, the Quorum flag from outside...),
// with the fast paths on and off. The bench mixes compare-and-swaps and deletes into its gets and
// puts, on few keys. Afterwards no replica crashed, the history is linearizable, and
// the counters show the drops: the replicas' --stats-file by reason, and with the fast paths on
// the XDP program's xdp_foreign (the Quorum flag from outside is dropped there).

import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fuzzCases, sendFuzz } from "../../src/local/fuzz.ts";
import type { RunningCluster } from "../../src/local/processes.ts";
import { scenarioConfig } from "../../src/local/scenario.ts";
import { BenchRun, checkFile } from "../../src/local/workload.ts";
import { isRoot, startCluster, type Harness } from "./harness.ts";

async function xdpCounters(cluster: RunningCluster, id: number): Promise<Record<string, number>> {
  return (await cluster.status(id)).counters;
}

/** Drop reasons every fuzz run must hit (summed over the replicas). */
const reasons = ["short", "magic", "version", "type", "length", "cluster", "range", "oversize", "foreign", "unexpected"];

describe.skipIf(!isRoot)("hostile datagrams while serving", () => {
  let h: Harness | undefined;
  let statsDir: string | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
    if (statsDir) rmSync(statsDir, { recursive: true, force: true });
  });

  for (const fast of [true, false]) {
    test(`fast paths ${fast ? "on" : "off"}: no crash, linearizable, drops counted`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "electrode-fuzz-"));
      statsDir = dir;
      const statsFile = (id: number) => join(dir, `stats-${id}.json`);
      h = await startCluster(3, {
        setup: fast,
        extraConfig: scenarioConfig,
        replicaArgs: (id) => [...(fast ? [] : ["--opt", "none"]), "--stats-file", statsFile(id)],
      });
      const cluster = h.cluster;
      const ids = cluster.replicas.map((r) => r.id);
      const xdpBefore = fast ? await Promise.all(ids.map((id) => xdpCounters(cluster, id))) : [];

      const history = join(dir, "history.jsonl");
      const benchArgs = ["--keys", "4", "--read-ratio", "0.3", "--delete-ratio", "0.1", "--cas-ratio", "0.4"];
      const load = BenchRun.start(cluster, { historyFile: history, clients: 4, benchArgs });
      let sent;
      let benchJson;
      try {
        await Bun.sleep(300);
        sent = await sendFuzz(cluster, { seed: fast ? 11 : 12, durationS: 5, rate: 4000 });
      } finally {
        benchJson = await load.stop();
      }
      expect(sent.total).toBeGreaterThan(10_000);
      for (const c of fuzzCases) expect(sent[c]).toBeGreaterThan(0);

      // Nobody crashed, and the cluster still serves.
      expect(cluster.replicas.map((r) => (r.proc ? r.proc.exitCode : "gone"))).toEqual(ids.map(() => null));
      await cluster.waitServing(10_000);
      const verdict = checkFile(history);
      expect(verdict.text).toStartWith("linearizable");
      expect(verdict.verdict.ops).toBeGreaterThan(500);
      const cas = benchJson!.cas as { swapped: number; not_swapped: number };
      expect(cas.swapped).toBeGreaterThan(0);
      expect(cas.not_swapped).toBeGreaterThan(0);

      let xdpForeign: number[] = [];
      if (fast) {
        const xdpAfter = await Promise.all(ids.map((id) => xdpCounters(cluster, id)));
        xdpForeign = ids.map((_, i) => xdpAfter[i]!.xdp_foreign! - xdpBefore[i]!.xdp_foreign!);
        expect(xdpForeign.every((n) => n > 0)).toBe(true);
      }

      // Stop them cleanly (SIGTERM writes the stats file) and read the drops by reason.
      const codes = await Promise.all(cluster.replicas.map(async (r) => {
        r.proc!.kill("SIGTERM");
        const code = await r.proc!.exited;
        r.proc = undefined;
        return code;
      }));
      expect(codes).toEqual(ids.map(() => 0));
      const dropped: Record<string, number> = {};
      for (const id of ids) {
        const stats = JSON.parse(readFileSync(statsFile(id), "utf8")) as { messages: { dropped: Record<string, number> } };
        for (const [reason, n] of Object.entries(stats.messages.dropped)) dropped[reason] = (dropped[reason] ?? 0) + n;
      }
      console.log(`fast paths ${fast ? "on" : "off"}: sent ${sent.total} hostile datagrams; ${verdict.text}; dropped in user space ${JSON.stringify(dropped)}${fast ? `; xdp_foreign per replica ${xdpForeign.join(", ")}` : ""}`);
      expect(reasons.filter((r) => !(dropped[r]! > 0))).toEqual([]);
      expect(dropped["fast-record"]).toBe(0);
    }, 90_000);
  }
});
