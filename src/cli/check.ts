import { defineCommand } from "citty";
import { readFileSync } from "node:fs";
import { checkHistory } from "../check/check.ts";
import { HistoryError, parseHistory } from "../check/history.ts";
import { formatVerdict, verdictJson } from "../check/report.ts";
import { numberArg, rejectUnknownFlags, RuntimeError, UsageError } from "./common.ts";

const args = {
  file: { type: "positional", description: "History file (electrode client --bench --workload kv --history FILE)", required: true },
  json: { type: "boolean", description: "Print the verdict as JSON" },
  timeout: { type: "string", description: "Give up after this many seconds (verdict unknown, exit 1)", default: "60", valueHint: "S" },
  verbose: { type: "boolean", description: "Stack traces on errors", alias: "v" },
} as const;

export default defineCommand({
  meta: {
    name: "check",
    description: "Is a kv history linearizable? Exit 0 yes, 1 no (or gave up), 2 bad input: electrode check FILE",
  },
  args,
  run({ args: a }) {
    rejectUnknownFlags(a, args);
    const timeoutS = numberArg(a.timeout, "timeout", 0.001, 86_400);
    const file = String(a.file);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new UsageError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    let history;
    try {
      history = parseHistory(text);
    } catch (e) {
      if (e instanceof HistoryError) throw new UsageError(`${file}: ${e.message}`);
      throw e;
    }
    const verdict = checkHistory(history, { timeoutMs: timeoutS * 1000 });
    console.log(a.json ? JSON.stringify(verdictJson(verdict), null, 2) : formatVerdict(verdict, history.startNs));
    if (verdict.kind === "not-linearizable") throw new RuntimeError(`${file}: not linearizable (key ${verdict.failure!.key})`);
    if (verdict.kind === "unknown") throw new RuntimeError(`${file}: gave up after ${timeoutS}s with ${verdict.undecidedKeys.length} key(s) undecided: linearizability unknown (try a larger --timeout)`);
  },
});
