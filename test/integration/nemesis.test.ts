// Proven under faults, the CI schedule: 3 and 5 replicas, fast paths on (all, native XDP,
// partitions on the bridge) and off (--opt none, partitions with iptables in the replica
// namespaces), each with a fixed schedule that together cover every fault kind of
// src/local/schedule.ts. A kv bench runs throughout; afterwards every history (with the read-back
// of its keys) must be linearizable, no replica may have crashed on its own, and the cluster must
// serve again within 10 s of each heal. A failing run keeps its files (logs, histories) and says
// where; ELECTRODE_NEMESIS_LOG=1 prints the log of every run. The bench's gets are served by the
// leader's read index (no log write, src/core/read-index.ts); two more schedules run a read-heavy
// mix (90% gets) with fast paths on and off, freezing the leader (SIGSTOP)
// while clients read and thawing it after the others changed view, and cutting it off from the
// other replicas while clients still reach it, among partitions and a kill. Two short schedules
// run a workload of compare-and-swaps and deletes beside the gets and puts, on few keys (so that
// cas ops contend), fast paths on and off.

import { describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PartitionMethod } from "../../src/local/nemesis.ts";
import { runScenario } from "../../src/local/scenario.ts";
import { applicable, faultKinds, type FaultKind, type Step } from "../../src/local/schedule.ts";
import { binary, isRoot, requireBinary } from "./harness.ts";

const serveLimitMs = 10_000;

function steps(kinds: readonly (FaultKind | readonly FaultKind[])[]): Step[] {
  return kinds.map((k, i) => ({ faults: typeof k === "string" ? [k] : k, holdMs: 1500, gapMs: 300, dropPct: 10, dupPct: 15, pick: 1000 + i }));
}

/** Gets, puts, deletes and cas ops on 4 keys: many cas ops swap, many find another value. */
const casMix = ["--keys", "4", "--read-ratio", "0.3", "--delete-ratio", "0.1", "--cas-ratio", "0.4"];
const readHeavy = ["--read-ratio", "0.9", "--reads", "index"];

const schedules: { name: string; replicas: number; opt: "all" | "none"; partition: PartitionMethod; steps: Step[]; benchArgs?: readonly string[] }[] = [
  {
    name: "3 replicas, fast paths on",
    replicas: 3,
    opt: "all",
    partition: "bridge",
    steps: steps(["kill-follower", "kill-leader", "kill-leader-twice", "pause-leader", "pause-follower", "isolate-leader", "one-way-from-leader", "one-way-to-leader", "loss", "dup", ["loss-dup", "kill-follower"]]),
  },
  {
    name: "3 replicas, fast paths off",
    replicas: 3,
    opt: "none",
    partition: "iptables",
    steps: steps(["kill-leader", "isolate-follower", "split-leader-majority", "one-way-to-leader", "pause-leader", "loss-dup", "kill-leader-twice"]),
  },
  {
    name: "5 replicas, fast paths on",
    replicas: 5,
    opt: "all",
    partition: "bridge",
    steps: steps(["ring", "restart-follower-kill-leader", "split-leader-minority", "split-leader-majority", "isolate-follower", ["loss-dup", "pause-follower"], "kill-leader-twice", ["kill-leader", "kill-follower"]]),
  },
  {
    name: "5 replicas, fast paths off",
    replicas: 5,
    opt: "none",
    partition: "iptables",
    steps: steps(["ring", "restart-follower-kill-leader", "split-leader-minority", "one-way-from-leader", "isolate-leader", "loss", "dup", "pause-leader"]),
  },
  {
    name: "3 replicas, fast paths on, cas and delete mix",
    replicas: 3,
    opt: "all",
    partition: "bridge",
    steps: steps(["kill-leader", "isolate-leader", ["loss-dup", "pause-follower"]]),
    benchArgs: casMix,
  },
  {
    name: "3 replicas, fast paths off, cas and delete mix",
    replicas: 3,
    opt: "none",
    partition: "iptables",
    steps: steps(["kill-leader", "one-way-to-leader", ["loss-dup", "kill-follower"]]),
    benchArgs: casMix,
  },
  {
    name: "3 replicas, fast paths on, 90% reads by read index",
    replicas: 3,
    opt: "all",
    partition: "bridge",
    steps: steps(["pause-leader", "isolate-leader", ["pause-leader", "isolate-leader"], "one-way-from-leader", ["loss-dup", "pause-leader"], "kill-leader", "dup"]),
    benchArgs: readHeavy,
  },
  {
    name: "3 replicas, fast paths off, 90% reads by read index",
    replicas: 3,
    opt: "none",
    partition: "iptables",
    steps: steps(["pause-leader", "isolate-leader", ["pause-leader", "split-leader-minority"], "one-way-to-leader", ["loss-dup", "pause-leader"], "kill-leader-twice", "loss"]),
    benchArgs: readHeavy,
  },
];

describe("the CI schedules", () => {
  test("cover every fault kind, each where it applies", () => {
    const covered = new Set(schedules.flatMap((s) => s.steps.flatMap((step) => step.faults)));
    expect(faultKinds.filter((k) => !covered.has(k))).toEqual([]);
    for (const s of schedules) for (const step of s.steps) for (const k of step.faults) expect(applicable(k, s.replicas)).toBe(true);
  });
});

describe.skipIf(!isRoot)("proven under faults", () => {
  for (const schedule of schedules) {
    test(`${schedule.name}: ${schedule.steps.map((s) => s.faults.join("+")).join(", ")}`, async () => {
      requireBinary();
      const dir = mkdtempSync(join(tmpdir(), "electrode-nemesis-"));
      const lines: string[] = [];
      let passed = false;
      try {
        const result = await runScenario({
          replicas: schedule.replicas,
          opt: schedule.opt,
          partition: schedule.partition,
          steps: schedule.steps,
          benchArgs: schedule.benchArgs,
          dir,
          command: [binary],
          log: (line) => lines.push(line),
        });
        const failures = result.segments.filter((s) => s.check.verdict.kind !== "linearizable").map((s) => s.check.text);
        expect(failures).toEqual([]);
        expect(result.crashed).toEqual([]);
        expect(result.steps.flatMap((s) => s.skipped)).toEqual([]);
        for (const step of result.steps) expect({ step: step.index, serveMs: step.serveMs !== undefined && step.serveMs <= serveLimitMs }).toEqual({ step: step.index, serveMs: true });
        expect(result.finalServeMs).toBeLessThanOrEqual(serveLimitMs);
        expect(result.segments.every((s) => s.readBackOk === s.check.verdict.keys)).toBe(true);
        expect(result.ops).toBeGreaterThan(1000);
        // The loss and duplication steps really lost and duplicated frames.
        expect(result.chaos).toMatchObject({ dupErrors: 0 });
        expect(result.chaos!.dropped).toBeGreaterThan(0);
        expect(result.chaos!.duplicated).toBeGreaterThan(0);
        if (schedule.benchArgs === casMix) expect(result.segments.every((s) => (s.bench.cas as { swapped: number; not_swapped: number }).swapped > 0 && (s.bench.cas as { not_swapped: number }).not_swapped > 0)).toBe(true);
        passed = true;
        if (process.env.ELECTRODE_NEMESIS_LOG) console.log(lines.join("\n"));
      } finally {
        if (passed) rmSync(dir, { recursive: true, force: true });
        else {
          const kept = `${dir}-failed`;
          cpSync(dir, kept, { recursive: true });
          rmSync(dir, { recursive: true, force: true });
          // CI keeps only what is printed: the end of every replica's log too.
          const tails = readdirSync(kept)
            .filter((f) => /^replica-\d+\.log$/.test(f))
            .map((f) => `-- ${f} (last 30 lines)\n${readFileSync(join(kept, f), "utf8").trimEnd().split("\n").slice(-30).join("\n")}`);
          console.error(`nemesis run failed; its log:\n${lines.join("\n")}\nfiles kept in ${kept}\n${tails.join("\n")}`);
        }
      }
    }, 240_000);
  }
});
