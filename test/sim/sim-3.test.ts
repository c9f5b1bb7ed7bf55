// Seeded fault simulations of 1 and 3 replicas (see simulator.ts). A failure names the seed and
// the command that replays it. SIM_SEEDS=N runs N seeds per group instead (a longer soak).
import { expect, test } from "bun:test";
import { runSeeds } from "./simulator.ts";

const scale = Number(process.env.SIM_SEEDS ?? 0);

test("1 replica, 10 seeds", () => {
  expect(runSeeds(1, 1_000, scale || 10).replies).toBeGreaterThan(0);
});

for (let group = 0; group < 8; group++) {
  test(`3 replicas, seeds ${3_000 + group * 20}..${3_000 + group * 20 + 19}`, () => {
    const total = runSeeds(3, 3_000 + group * 20, scale || 20);
    expect(total.replies).toBeGreaterThan(0);
    expect(total.crashes).toBeGreaterThan(0);
    expect(total.viewChanges).toBeGreaterThan(0);
    // Deletes and cas ops (both outcomes) ran, their results checked against the reference.
    expect(Math.min(total.deletes, total.casSwapped, total.casNotSwapped)).toBeGreaterThan(0);
    expect(total.indexReads).toBeGreaterThan(0);
    expect(total.leaseReads).toBeGreaterThan(0); // some of them by the leader's lease
  }, 120_000);
}
