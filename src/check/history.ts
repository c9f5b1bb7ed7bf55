// Reading a history file (../../shared/DESIGN.md, "History"): one JSON object a line,
//   {"process", "type": invoke|ok|fail|info, "f": put|get, "key", "value", "time_ns"}
// into operations with an interval [invoke, return]. An `info` completion, or an invoke that never
// completes, has an unknown outcome: its return time is +Infinity (it may take effect at any time
// after its invoke, or never). A `fail` completion certainly did not take effect and is dropped.
// A get marked "stale": true (electrode client get --stale, --reads stale) was served by any
// replica from what it had executed, serializable only: it is counted, not checked.

/** A line that is not a well-formed history event: exit code 2, naming the line. */
export class HistoryError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

export type OpKind = "put" | "get";

/** One operation of the history, as the checker sees it. */
export interface Op {
  readonly process: string;
  readonly f: OpKind;
  readonly key: string;
  /** put: the value written. get: the value read (null: not found), or null when unknown. */
  readonly value: string | null;
  readonly invokeNs: number;
  /** +Infinity when the outcome is unknown. */
  readonly returnNs: number;
  readonly outcome: "ok" | "info";
  /** 1-based line numbers in the file (returnLine null: never completed). */
  readonly invokeLine: number;
  readonly returnLine: number | null;
}

export interface History {
  /** Operations that may have taken effect (ok and info), in invoke order. */
  readonly ops: Op[];
  /** Puts that certainly did not take effect (kept only to explain reads of their values). */
  readonly failed: Op[];
  readonly counts: {
    readonly invokes: number;
    readonly ok: number;
    readonly fail: number;
    readonly info: number;
    /** Invokes with no completion (end of file, or the process invoked again): unknown outcome. */
    readonly unmatched: number;
    /** Stale gets (invokes), left out of `ops`. */
    readonly stale: number;
  };
  /** The earliest time in the file, to print times relative to it. */
  readonly startNs: number;
}

interface Event {
  readonly process: string;
  readonly type: "invoke" | "ok" | "fail" | "info";
  readonly f: OpKind;
  readonly key: string;
  readonly value: string | null;
  readonly timeNs: number;
  readonly stale: boolean;
}

const types = new Set(["invoke", "ok", "fail", "info"]);

function parseEvent(text: string, line: number): Event {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new HistoryError(line, `not JSON: ${text.length > 60 ? `${text.slice(0, 60)}...` : text}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new HistoryError(line, "expected a JSON object");
  const o = raw as Record<string, unknown>;
  const { process, type, f, key, value, time_ns: timeNs, stale } = o;
  if (typeof process !== "number" && typeof process !== "string") throw new HistoryError(line, "\"process\": expected a number or a string");
  if (typeof type !== "string" || !types.has(type)) throw new HistoryError(line, `"type": expected invoke, ok, fail or info, got ${JSON.stringify(type)}`);
  if (f !== "put" && f !== "get") throw new HistoryError(line, `"f": expected put or get, got ${JSON.stringify(f)}`);
  if (typeof key !== "string") throw new HistoryError(line, "\"key\": expected a string");
  if (value !== null && value !== undefined && typeof value !== "string") throw new HistoryError(line, "\"value\": expected a string or null");
  if (typeof timeNs !== "number" || !Number.isFinite(timeNs) || timeNs < 0) throw new HistoryError(line, "\"time_ns\": expected a non-negative number");
  if (f === "put" && type === "invoke" && typeof value !== "string") throw new HistoryError(line, "a put's invoke needs a string \"value\"");
  if (f === "get" && type === "ok" && value === undefined) throw new HistoryError(line, "a get's ok needs \"value\" (the value read, or null)");
  if (stale !== undefined && (typeof stale !== "boolean" || f !== "get")) throw new HistoryError(line, "\"stale\": expected true or false, on a get only");
  return { process: String(process), type: type as Event["type"], f, key, value: value ?? null, timeNs, stale: stale === true };
}

interface Pending {
  readonly event: Event;
  readonly line: number;
}

/** Parses a whole history; throws HistoryError on the first malformed line. */
export function parseHistory(text: string): History {
  const ops: Op[] = [];
  const failed: Op[] = [];
  const pending = new Map<string, Pending>();
  const counts = { invokes: 0, ok: 0, fail: 0, info: 0, unmatched: 0, stale: 0 };
  let startNs = Infinity;
  const unknown = (p: Pending) => {
    counts.unmatched += 1;
    const e = p.event;
    if (e.stale) return;
    ops.push({ process: e.process, f: e.f, key: e.key, value: e.f === "put" ? e.value : null, invokeNs: e.timeNs, returnNs: Infinity, outcome: "info", invokeLine: p.line, returnLine: null });
  };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const body = lines[i]!.trim();
    if (body === "") continue;
    const line = i + 1;
    const e = parseEvent(body, line);
    startNs = Math.min(startNs, e.timeNs);
    if (e.type === "invoke") {
      counts.invokes += 1;
      if (e.stale) counts.stale += 1;
      const before = pending.get(e.process);
      if (before) unknown(before); // the process moved on without a completion: outcome unknown
      pending.set(e.process, { event: e, line });
      continue;
    }
    const inv = pending.get(e.process);
    if (!inv) throw new HistoryError(line, `${e.type} for process ${e.process}, which has no operation in progress`);
    if (inv.event.f !== e.f || inv.event.key !== e.key || inv.event.stale !== e.stale) {
      throw new HistoryError(line, `${e.type} ${e.f} ${JSON.stringify(e.key)} does not match the invoke on line ${inv.line} (${inv.event.f} ${JSON.stringify(inv.event.key)})`);
    }
    if (e.f === "put" && e.value !== null && e.value !== inv.event.value) {
      throw new HistoryError(line, `put value ${JSON.stringify(e.value)} differs from its invoke's on line ${inv.line}`);
    }
    if (e.timeNs < inv.event.timeNs) throw new HistoryError(line, `completes at ${e.timeNs} ns, before its invoke on line ${inv.line}`);
    pending.delete(e.process);
    counts[e.type] += 1;
    const op: Op = {
      process: e.process,
      f: e.f,
      key: e.key,
      value: e.f === "put" ? inv.event.value : e.type === "ok" ? e.value : null,
      invokeNs: inv.event.timeNs,
      returnNs: e.type === "ok" ? e.timeNs : Infinity,
      outcome: e.type === "ok" ? "ok" : "info",
      invokeLine: inv.line,
      returnLine: line,
    };
    if (inv.event.stale) continue; // not linearizable: counted, not checked
    if (e.type === "fail") failed.push(op);
    else ops.push(op);
  }
  for (const p of pending.values()) unknown(p);
  ops.sort((a, b) => a.invokeNs - b.invokeNs || a.invokeLine - b.invokeLine);
  return { ops, failed, counts, startNs: startNs === Infinity ? 0 : startNs };
}

/** Whether `a` certainly finished before `b` began: by time, and at equal times by line order. */
export function precedes(a: Op, b: Op): boolean {
  return a.returnNs < b.invokeNs || (a.returnNs === b.invokeNs && a.returnLine !== null && a.returnLine < b.invokeLine);
}
