// Seeded fault simulations of 7 replicas (see simulator.ts and sim-3.test.ts).
import { expect, test } from "bun:test";
import { runSeeds } from "./simulator.ts";

const scale = Number(process.env.SIM_SEEDS ?? 0);

for (let group = 0; group < 3; group++) {
  test(`7 replicas, seeds ${7_000 + group * 20}..${7_000 + group * 20 + 19}`, () => {
    const total = runSeeds(7, 7_000 + group * 20, scale || 20);
    expect(total.replies).toBeGreaterThan(0);
    expect(total.crashes).toBeGreaterThan(0);
    expect(total.viewChanges).toBeGreaterThan(0);
  }, 120_000);
}
