// Durable storage in the simulator: every replica's data directory on a simulated disk
// (mem-files.ts: a crash keeps what was synced plus maybe a torn piece of the rest), run by the
// real Store; crashes are power cuts of a machine, and whole-cluster power cuts strike among the
// other faults. With fsync always no acknowledged op may ever be lost (the checker's agreement and
// durability checks, every step); with syncing switched off the same runs must lose some, or the
// checks could not tell.

import { describe, expect, test } from "bun:test";
import { SimFailure } from "./checker.ts";
import { planFor, runSeeds, Simulation } from "./simulator.ts";

const scale = Number(process.env.SIM_SEEDS ?? 0);

describe("storage in the simulator", () => {
  for (const replicas of [3, 5]) {
    for (let group = 0; group < 2; group++) {
      const first = 70_000 + replicas * 1000 + group * 25;
      test(`${replicas} replicas, fsync always, power cuts of the whole cluster: nothing acknowledged is lost (seeds ${first}..${first + 24})`, () => {
        const total = runSeeds(replicas, first, scale || 25, { storage: "always" });
        expect(total.powerCuts).toBeGreaterThan(5);
        expect(total.replies).toBeGreaterThan(0);
      }, 300_000);
    }
  }

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
