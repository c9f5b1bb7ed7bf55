// Hundreds of seeded simulations of the real core under loss, duplication, reordering,
// partitions, crashes and restarts. A failure prints the seed and the command that replays it.

import { describe, expect, test } from "bun:test";
import { defaultSim, Simulator } from "./simulator.ts";

const plan: [replicas: number, seeds: number][] = [
  [1, 10],
  [3, 150],
  [5, 100],
  [7, 40],
];

describe("simulation", () => {
  for (const [replicas, seeds] of plan) {
    test(`${replicas} replicas, ${seeds} seeds`, () => {
      let replies = 0;
      let crashes = 0;
      let viewChanges = 0;
      for (let seed = 1; seed <= seeds; seed++) {
        const sim = new Simulator({ ...defaultSim, seed: seed * 7919 + replicas, replicas });
        sim.run();
        replies += sim.stats.replies;
        crashes += sim.stats.crashes;
        viewChanges += sim.stats.viewChanges;
      }
      // The faults really happened and the cluster really served.
      expect(replies).toBeGreaterThan(seeds * 50);
      if (replicas > 1) {
        expect(crashes).toBeGreaterThan(seeds / 2);
        expect(viewChanges).toBeGreaterThan(seeds / 2);
      }
    }, 120_000);
  }
});
