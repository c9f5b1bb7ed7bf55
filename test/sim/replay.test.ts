// Replays one simulation exactly: SIM_SEED=N SIM_REPLICAS=R bun test test/sim/replay.test.ts
// (SIM_TRACE=1 prints the run's event trace). Without SIM_SEED it checks that a run is
// deterministic: the same seed twice gives the same trace and statistics.
import { expect, test } from "bun:test";
import { planFor, Simulation } from "./simulator.ts";

const seed = Number(process.env.SIM_SEED ?? 3_001);
const replicas = Number(process.env.SIM_REPLICAS ?? 3);

test(`replay seed ${seed} with ${replicas} replicas`, () => {
  const a = new Simulation(planFor(seed, replicas));
  try {
    a.run();
  } finally {
    if (process.env.SIM_TRACE) console.log(a.cluster.trace.join("\n"));
  }
  const b = new Simulation(planFor(seed, replicas));
  b.run();
  expect(b.cluster.stats).toEqual(a.cluster.stats);
  expect(b.cluster.trace).toEqual(a.cluster.trace);
  expect(b.cluster.checker.committed.length).toBe(a.cluster.checker.committed.length);
});
