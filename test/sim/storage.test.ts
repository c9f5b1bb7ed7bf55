// Durable storage in the simulator: every replica's data directory on a simulated disk
// (mem-files.ts: a crash keeps what was synced plus maybe a torn piece of the rest), run by the
// real Store; crashes are power cuts of a machine, and whole-cluster power cuts strike among the
// other faults. With fsync always no acknowledged op may ever be lost (the checker's agreement and
// durability checks, every step); with fsync interval only what the last window acknowledged
// (loss-window.ts); with syncing switched off the same runs must lose some, or the checks could
// not tell.

import { describe, expect, test } from "bun:test";
import { SimFailure } from "./checker.ts";
import { planFor, runSeeds, Simulation } from "./simulator.ts";

const scale = Number(process.env.SIM_SEEDS ?? 0);

describe("storage in the simulator", () => {
  for (const replicas of [3, 5]) {
    for (let group = 0; group < 2; group++) {
      const first = 70_000 + replicas * 1000 + group * 25;
      test(`${replicas} replicas, fsync always, power cuts of the whole cluster: nothing acknowledged is lost (seeds ${first}..${first + 24})`, () => {
        // The leader's own entries leave before its fsync (cluster.ts persist): a power cut between
        // the send and the fsync must find them, and lose nothing committed.
        let sentFirst = 0;
        let cutBeforeSync = 0;
        const total = runSeeds(replicas, first, scale || 25, { storage: "always" }, (sim) => {
          sentFirst += sim.cluster.stats.leaderSyncsAfterSend;
          cutBeforeSync += sim.cluster.stats.crashesBeforeLeaderSync;
        });
        expect(total.powerCuts).toBeGreaterThan(5);
        expect(total.replies).toBeGreaterThan(0);
        expect(sentFirst).toBeGreaterThan(total.replies / 10);
        expect(cutBeforeSync).toBeGreaterThan(0);
      }, 300_000);
    }
  }

  // fsync interval: a whole-cluster power cut may lose what was acknowledged within the store's
  // write delay plus the interval before it (loss-window.ts), nothing older, and never an op a disk
  // recorded as committed; the checker then goes on from the prefix that survived, with all its
  // checks.
  for (let group = 0; group < 2; group++) {
    const first = 80_000 + group * 25;
    test(`3 replicas, fsync interval (20 ticks), power cuts of the whole cluster: only the last window is lost (seeds ${first}..${first + 24})`, () => {
      let lossy = 0;
      const total = runSeeds(3, first, scale || 25, { storage: "interval" }, (sim) => (lossy += sim.cluster.checker.losses.length));
      expect(total.powerCuts).toBeGreaterThan(20);
      expect(lossy).toBeGreaterThan(3); // the allowance was used, so the check had something to judge
    }, 300_000);
  }

  // 5 and 7 replicas: after a disk start the leader and its first followers are fewer than f+1,
  // and cutting the leader off then left a view change nobody could complete until the replicas in
  // it gave it up (core/recovery.ts, "Giving up a view change"; seeds 80015, 80016, 80019 at 5,
  // 80002 and 80087 at 7 hung before).
  for (const [replicas, count] of [[5, 60], [7, 40]] as const) {
    test(`${replicas} replicas, fsync interval, power cuts of the whole cluster: every restart makes progress (seeds 80000..${80_000 + count - 1})`, () => {
      let lossy = 0;
      const total = runSeeds(replicas, 80_000, scale || count, { storage: "interval" }, (sim) => (lossy += sim.cluster.checker.losses.length));
      expect(total.powerCuts).toBeGreaterThan(20);
      expect(lossy).toBeGreaterThan(3);
    }, 300_000);
  }

  test("fsync interval, checked against a window narrower than the real one: the checker notices", () => {
    let caught = 0;
    for (let seed = 80_000; seed < 80_040 && caught < 3; seed++) {
      const sim = new Simulation({ ...planFor(seed, 3), storage: "interval", fsyncIntervalTicks: 60, lossWindowTicks: 22 });
      try {
        sim.run();
      } catch (e) {
        if (!(e instanceof SimFailure) || !/durability \(fsync interval\)/.test(e.message)) throw e;
        caught += 1;
      }
    }
    expect(caught).toBeGreaterThan(0);
  }, 300_000);

  // The leader's rule under fsync always: its own vote counts only once its disk holds the entry.
  // A driver that tells it so before its fsync (it sends first, so a power cut can find a commit
  // that only its memory and f followers held) must be caught.
  test("fsync always, the leader's vote counted before its fsync: the checker notices", () => {
    let caught = 0;
    for (let seed = 73_100; seed < 73_400 && caught < 1; seed++) {
      const sim = new Simulation({ ...planFor(seed, 3), storage: "always", leaderVoteBeforeSync: true });
      try {
        sim.run();
      } catch (e) {
        if (!(e instanceof SimFailure) || !/agreement|durability|linearizability: read .* was acknowledged before/.test(e.message)) throw e;
        caught += 1;
      }
    }
    expect(caught).toBeGreaterThan(0);
  }, 300_000);

  test("without fsync the same runs lose acknowledged ops: the checker notices", () => {
    let caught = 0;
    let cuts = 0;
    for (let seed = 71_000; seed < 71_040 && caught < 3; seed++) {
      const sim = new Simulation({ ...planFor(seed, 3), storage: "off" });
      try {
        sim.run();
      } catch (e) {
        // Lost for the reason looked for: a committed op replaced (agreement), a reply's op gone
        // (durability), or an index read that no longer sees an op acknowledged before it.
        if (!(e instanceof SimFailure) || !/agreement|durability|linearizability: read .* was acknowledged before/.test(e.message)) throw e;
        caught += 1;
      }
      cuts += sim.powerCuts;
    }
    expect(cuts).toBeGreaterThan(0);
    expect(caught).toBeGreaterThan(0);
  }, 300_000);
});
