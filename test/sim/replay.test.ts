// Replays one simulation: SIM_SEED=N SIM_REPLICAS=R bun test test/sim/replay.test.ts
import { expect, test } from "bun:test";
import { defaultSim, Simulator } from "./simulator.ts";

const seed = Number(process.env.SIM_SEED ?? 1);
const replicas = Number(process.env.SIM_REPLICAS ?? 3);

test(`replay seed ${seed} with ${replicas} replicas`, () => {
  const a = new Simulator({ ...defaultSim, seed, replicas });
  a.run();
  // Determinism: the same seed gives the same run.
  const b = new Simulator({ ...defaultSim, seed, replicas });
  b.run();
  expect(b.stats).toEqual(a.stats);
});
