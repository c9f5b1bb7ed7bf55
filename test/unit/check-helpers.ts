// Compact histories for the checker's tests: one row per operation,
//   [process, "put" | "get" | "delete", value, invokeNs, returnNs | "info" | "fail" | "open", key?]
//   [process, "cas", [expected, value, "ok" | "fail"], invokeNs, returnNs | "info" | "open", key?]
// on key "x" unless a key is given. A cas with a return time ends ok (swapped) or fail (compared,
// not swapped) as its third item says. Rows become history lines, so tests go through the parser.

import { checkHistory, type Verdict } from "../../src/check/check.ts";
import type { HistoryEvent } from "../../src/check/generate.ts";
import { parseHistory } from "../../src/check/history.ts";

type End = number | "info" | "fail" | "open";
export type CasRow = [process: number, f: "cas", swap: [expected: string | null, value: string, outcome: "ok" | "fail"], invokeNs: number, end: number | "info" | "open", key?: string];
export type Row = [process: number, f: "put" | "get" | "delete", value: string | null, invokeNs: number, end: End, key?: string] | CasRow;

export function eventsOf(rows: readonly Row[]): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  for (const row of rows) {
    const [process, f, , invokeNs, end, key = "x"] = row;
    const cas = row[1] === "cas" ? { expected: row[2][0] } : {};
    const value = row[1] === "cas" ? row[2][1] : row[2];
    const written = f === "put" || f === "cas" ? value : null;
    events.push({ process, type: "invoke", f, key, value: written, ...cas, time_ns: invokeNs });
    if (end === "open") continue;
    if (typeof end === "number") {
      const type = row[1] === "cas" ? row[2][2] : "ok";
      events.push({ process, type, f, key, value: f === "get" ? value : written, ...cas, time_ns: end });
    }
    // A completion without a known time: place it after every time in the rows.
    else events.push({ process, type: end, f, key, value: written, ...cas, time_ns: 1e12 });
  }
  // Lines in time order, as a client would write them; at equal times, in the order of the rows.
  return events.map((e, i) => [e, i] as const).sort(([a, i], [b, j]) => a.time_ns - b.time_ns || i - j).map(([e]) => e);
}

export function textOf(events: readonly HistoryEvent[]): string {
  return events.map((e) => JSON.stringify(e)).join("\n") + "\n";
}

export function check(rows: readonly Row[]): Verdict {
  return checkHistory(parseHistory(textOf(eventsOf(rows))));
}
