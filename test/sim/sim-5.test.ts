// Seeded fault simulations of 5 replicas (see simulator.ts and sim-3.test.ts).
import { expect, test } from "bun:test";
import { runSeeds } from "./simulator.ts";

const scale = Number(process.env.SIM_SEEDS ?? 0);

for (let group = 0; group < 6; group++) {
  test(`5 replicas, seeds ${5_000 + group * 20}..${5_000 + group * 20 + 19}`, () => {
    const total = runSeeds(5, 5_000 + group * 20, scale || 20);
    expect(total.replies).toBeGreaterThan(0);
    expect(total.crashes).toBeGreaterThan(0);
    expect(total.viewChanges).toBeGreaterThan(0);
    expect(Math.min(total.deletes, total.casSwapped, total.casNotSwapped)).toBeGreaterThan(0);
  }, 120_000);
}
