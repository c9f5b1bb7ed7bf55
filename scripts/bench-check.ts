// How fast is `electrode check`? Generates a seeded history of a linearizable store (default: 100k
// ops, 8 processes, 64 keys, 1% unknown outcomes, 0.5% failed) and times parsing and checking.
//
// Usage: bun run scripts/bench-check.ts [--ops N] [--processes P] [--keys K] [--seed S]
//        [--cas-ratio R] [--delete-ratio R]   (fractions of cas ops and deletes, default 0)

import { parseArgs } from "node:util";
import { checkHistory } from "../src/check/check.ts";
import { generateHistory, historyText } from "../src/check/generate.ts";
import { parseHistory } from "../src/check/history.ts";

const { values } = parseArgs({
  options: {
    ops: { type: "string", default: "100000" },
    processes: { type: "string", default: "8" },
    keys: { type: "string", default: "64" },
    seed: { type: "string", default: "1" },
    "cas-ratio": { type: "string", default: "0" },
    "delete-ratio": { type: "string", default: "0" },
  },
});
const opts = { ops: Number(values.ops), processes: Number(values.processes), keys: Number(values.keys), seed: Number(values.seed), infoRate: 0.01, failRate: 0.005, casRatio: Number(values["cas-ratio"]), deleteRatio: Number(values["delete-ratio"]) };

const text = historyText(generateHistory(opts));
const t0 = performance.now();
const history = parseHistory(text);
const t1 = performance.now();
const verdict = checkHistory(history);
const t2 = performance.now();
if (verdict.kind !== "linearizable") throw new Error(`generated history judged ${verdict.kind}: ${verdict.failure?.explanation ?? ""}`);

const rate = (ms: number) => Math.round(opts.ops / (ms / 1000)).toLocaleString("en-US");
console.log(`${opts.ops} ops, ${opts.processes} processes, ${opts.keys} keys, ${(text.length / 1e6).toFixed(1)} MB`);
console.log(`parse ${Math.round(t1 - t0)} ms, check ${Math.round(t2 - t1)} ms (${rate(t2 - t1)} ops/s), total ${Math.round(t2 - t0)} ms (${rate(t2 - t0)} ops/s)`);
