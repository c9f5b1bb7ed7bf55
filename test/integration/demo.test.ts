// `electrode demo`, the README's first command, from the compiled binary: the floor, the ceiling
// and four modes on one namespace cluster, the tables, the JSON and HTML report, and nothing left
// behind.

import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sh } from "../../src/local/cluster.ts";
import type { FloorResult } from "../../src/bench/floor.ts";
import type { ModeRun } from "../../src/local/mode-run.ts";
import { binary, isRoot, requireBinary } from "./harness.ts";

const namespaces = () => sh(["ip", "netns", "list"]).split("\n").map((l) => l.split(" ")[0]!).filter((ns) => ns.startsWith("el-"));
const pins = () => (existsSync("/sys/fs/bpf/electrode") ? readdirSync("/sys/fs/bpf/electrode") : []);

describe.skipIf(!isRoot)("electrode demo", () => {
  test("short runs: four modes measured with counters and CPU split, reports written, everything torn down", async () => {
    requireBinary();
    const dir = mkdtempSync(join(tmpdir(), "electrode-demo-test-"));
    const nsBefore = namespaces();
    const pinsBefore = pins();
    try {
      const proc = Bun.spawn([binary, "demo", "--clients", "4", "--duration", "1.5", "--warmup", "0.5", "--json", "d.json", "--html", "d.html"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });

      const report = JSON.parse(readFileSync(join(dir, "d.json"), "utf8")) as { floor?: FloorResult; ceiling?: FloorResult; runs: ModeRun[] };
      expect(report.floor!.latency_us.p50).toBeGreaterThan(0);
      expect(report.floor!.clients).toBe(1);
      // The ceiling: the bare echo with as many in flight as the bench has clients, both ends' CPU.
      const ceiling = report.ceiling!;
      expect(ceiling.clients).toBe(4);
      expect(ceiling.throughput_round_trips_s).toBeGreaterThan(0);
      expect(ceiling.cpu!.server).toBeGreaterThan(0);
      expect(ceiling.cpu!.client).toBeGreaterThan(0);
      for (const run of report.runs) expect(run.throughput_x_ceiling).toBe(Math.round((run.throughput_ops_s / ceiling.throughput_round_trips_s) * 1000) / 1000);
      expect(report.runs.map((r) => r.mode)).toEqual(["none", "tc-broadcast", "+quorum-prune", "all"]);
      // What the replicas said they ran (the bench asks them), not the label of the mode.
      expect(report.runs.map((r) => r.opt)).toEqual(["none", "tc-broadcast", "tc-broadcast,quorum-prune", "all"]);
      for (const run of report.runs) expect(run.opt_by_replica).toEqual({ "1": run.opt, "2": run.opt, "3": run.opt });
      for (const run of report.runs) {
        expect(run.replicas).toBe(3);
        expect(run.throughput_ops_s).toBeGreaterThan(0);
        expect(run.leader_id).toBe(1); // replica 1 leads view 0, and nothing failed
        expect(run.cpu!.cores.leader).toBeGreaterThan(0);
        expect(run.cpu!.us_per_op.total).toBeGreaterThan(0);
      }
      const [none, tc, prune, all] = report.runs.map((r) => r.fast_path_counters);
      expect(none!.tc_broadcast_clones ?? 0).toBe(0);
      expect(none!.xdp_fast_acked ?? 0).toBe(0);
      expect(tc!.tc_broadcast_clones).toBeGreaterThan(0);
      expect(prune!.xdp_pass_quorum).toBeGreaterThan(0);
      expect(prune!.xdp_fast_acked ?? 0).toBe(0);
      expect(all!.xdp_fast_acked).toBeGreaterThan(0);

      expect(stdout).toContain("tput x");
      expect(stdout).toContain("x floor");
      expect(stdout).toContain("x ceiling");
      expect(stdout).toContain("ceiling (bare UDP echo between two namespaces, recvmmsg/sendmmsg), 4 in flight: ");
      expect(stdout).toContain("where the CPU goes");
      const html = readFileSync(join(dir, "d.html"), "utf8");
      expect(html).toContain("<svg");
      expect(html).not.toContain("<script src"); // self-contained
      expect(html).toContain("floor p50 "); // the floor's median line is labelled
      expect(html).toContain("<th>tput x ceiling</th>");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(namespaces()).toEqual(nsBefore);
    expect(pins()).toEqual(pinsBefore);
  }, 120_000);
});
