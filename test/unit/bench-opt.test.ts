// The bench's opt from the replicas' InfoReplies (src/bench/bench-opt.ts, src/node/info.ts): their
// common mode, "mixed" when they disagree, the --opt label only when nobody answered.

import { describe, expect, test } from "bun:test";
import { benchOpt } from "../../src/bench/bench-opt.ts";
import { fastPaths } from "../../src/cli/replica.ts";
import { Status } from "../../src/core/types.ts";
import { fastPathBits, fastPathsLabel, infoReply, parseFastPaths, type ReplicaInfo } from "../../src/node/info.ts";
import { InfoApp, InfoFastPath, InfoStorage } from "../../src/wire/layout.ts";

const ids = [1, 2, 3];
const memory = { checkpointOp: 0, logFirstOp: 1, logBytes: 0, sessions: 0, evictions: 0 };
const stored = { storage: "always" as const };
const answer = (id: number, opt: string): ReplicaInfo => ({
  id,
  addr: `10.0.0.${id}:12345`,
  status: "normal",
  view: 0,
  leader: id === 1,
  fast_paths: [],
  opt,
  op: 5,
  commit: 5,
  app: "kv",
  storage: "memory",
  uptime_s: 1,
  checkpoint_op: 0,
  log_first_op: 1,
  log_bytes: 0,
  sessions: 0,
  evictions: 0,
});
const all = parseFastPaths("all")!;

describe("fast-path names", () => {
  test("the same names, in the same order, as the replica's --opt", () => {
    expect(fastPathBits.map(([name]) => name)).toEqual([...fastPaths]);
  });

  test("labels: none, all, or the list in --opt order whatever order it was written in", () => {
    expect(fastPathsLabel(0)).toBe("none");
    expect(fastPathsLabel(all)).toBe("all");
    expect(fastPathsLabel(parseFastPaths("quorum-prune, tc-broadcast")!)).toBe("tc-broadcast,quorum-prune");
    expect(fastPathsLabel(parseFastPaths("tc-broadcast,quorum-prune,fast-reply")!)).toBe("all");
    expect(parseFastPaths("none")).toBe(0);
    expect(parseFastPaths("+quorum-prune")).toBeUndefined();
    expect(parseFastPaths("auto")).toBeUndefined();
  });

  test("the replica's answer: its state, its fast paths, its app; uptime whole seconds within u32", () => {
    const reply = infoReply(42, { index: 2, status: Status.ViewChange, view: 7, opNum: 30, commit: 28, fastPaths: InfoFastPath.FastReply, app: "null", uptimeS: 12.9, ...memory, ...stored });
    expect(reply).toMatchObject({ sender: 2, status: Status.ViewChange, view: 7, opNum: 30, commit: 28, nonce: 42, fastPaths: InfoFastPath.FastReply, app: InfoApp.Null, storage: InfoStorage.Always, uptimeS: 12 });
    expect(infoReply(1, { index: 0, status: Status.Normal, view: 0, opNum: 0, commit: 0, fastPaths: 0, app: "kv", storage: "memory", uptimeS: 2 ** 40, ...memory }).uptimeS).toBe(2 ** 32 - 1);
  });
});

describe("the bench's opt", () => {
  test("every replica agrees: their mode, no warning", () => {
    const got = benchOpt(ids, ids.map((id) => answer(id, "all")), undefined, 1000);
    expect(got).toEqual({ opt: "all", byReplica: { "1": "all", "2": "all", "3": "all" }, message: "fast paths: all, as every replica reports", warn: false });
  });

  test("a label that agrees is no warning; one that disagrees warns and loses", () => {
    expect(benchOpt(ids, ids.map((id) => answer(id, "tc-broadcast")), parseFastPaths("tc-broadcast"), 1000).warn).toBe(false);
    const got = benchOpt(ids, ids.map((id) => answer(id, "none")), all, 1000);
    expect(got.opt).toBe("none");
    expect(got.warn).toBe(true);
    expect(got.message).toBe("--opt all given, but the replicas run none: opt is none");
  });

  test("replicas that disagree: mixed, and each one's answer", () => {
    const got = benchOpt(ids, [answer(1, "all"), answer(2, "none"), undefined], all, 1000);
    expect(got.opt).toBe("mixed");
    expect(got.byReplica).toEqual({ "1": "all", "2": "none", "3": null });
    expect(got.message).toBe("the replicas run different fast paths (1: all, 2: none, 3: no answer): opt is mixed");
  });

  test("one replica silent: the mode of those that answered, and a warning naming it", () => {
    const got = benchOpt(ids, [answer(1, "all"), undefined, answer(3, "all")], undefined, 500);
    expect(got.opt).toBe("all");
    expect(got.byReplica).toEqual({ "1": "all", "2": null, "3": "all" });
    expect(got).toMatchObject({ warn: true, message: "fast paths: all, as the replicas that answered report; replica 2 did not answer within 500 ms" });
  });

  test("nobody answered: the label (in canonical form) or unknown, and says it could not ask", () => {
    const labelled = benchOpt(ids, [undefined, undefined, undefined], parseFastPaths("quorum-prune,tc-broadcast"), 1000);
    expect(labelled).toEqual({ opt: "tc-broadcast,quorum-prune", message: "could not ask the replicas which fast paths they run (no answer within 1000 ms): opt is the --opt given, tc-broadcast,quorum-prune", warn: true });
    const bare = benchOpt(ids, [undefined, undefined, undefined], undefined, 1000);
    expect(bare.opt).toBe("unknown");
    expect(bare.byReplica).toBeUndefined();
  });
});
