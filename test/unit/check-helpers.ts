// Compact histories for the checker's tests: one row per operation,
//   [process, "put" | "get", value, invokeNs, returnNs | "info" | "fail" | "open"]
// on key "x" unless a key is given. Rows become history lines, so tests go through the parser.

import { checkHistory, type Verdict } from "../../src/check/check.ts";
import type { HistoryEvent } from "../../src/check/generate.ts";
import { parseHistory } from "../../src/check/history.ts";

export type Row = [process: number, f: "put" | "get", value: string | null, invokeNs: number, end: number | "info" | "fail" | "open", key?: string];

export function eventsOf(rows: readonly Row[]): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  rows.forEach(([process, f, value, invokeNs, end, key = "x"]) => {
    events.push({ process, type: "invoke", f, key, value: f === "put" ? value : null, time_ns: invokeNs });
    if (end === "open") return;
    if (typeof end === "number") events.push({ process, type: "ok", f, key, value, time_ns: end });
    // A completion without a known time: place it after every time in the rows.
    else events.push({ process, type: end, f, key, value: f === "put" ? value : null, time_ns: 1e12 });
  });
  // Lines in time order, as a client would write them; at equal times, in the order of the rows.
  return events.map((e, i) => [e, i] as const).sort(([a, i], [b, j]) => a.time_ns - b.time_ns || i - j).map(([e]) => e);
}

export function textOf(events: readonly HistoryEvent[]): string {
  return events.map((e) => JSON.stringify(e)).join("\n") + "\n";
}

export function check(rows: readonly Row[]): Verdict {
  return checkHistory(parseHistory(textOf(eventsOf(rows))));
}
