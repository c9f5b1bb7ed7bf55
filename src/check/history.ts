// Reading a history file (../../shared/DESIGN.md, "History", extended in docs/history.md): one
// JSON object a line,
//   {"process", "type": invoke|ok|fail|info, "f": put|get|delete|cas, "key", "value", "time_ns"}
// and, for a cas, "expected" (the value it compares with, null: absent), into operations with an
// interval [invoke, return]. An `info` completion, or an invoke that never completes, has an
// unknown outcome: its return time is +Infinity (it may take effect at any time after its invoke,
// or never). A `fail` completion certainly did not take effect: a failed put or delete is dropped;
// a failed cas is kept, since "not swapped" says the key held something other than `expected`.
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

export type OpKind = "put" | "get" | "delete" | "cas";

/** One operation of the history, as the checker sees it. */
export interface Op {
  readonly process: string;
  readonly f: OpKind;
  readonly key: string;
  /** put and cas: the value written. get: the value read (null: not found), or null when
   * unknown. delete: null. */
  readonly value: string | null;
  /** cas: the value compared with (null: the key absent). Other ops: null. */
  readonly expected: string | null;
  readonly invokeNs: number;
  /** +Infinity when the outcome is unknown. */
  readonly returnNs: number;
  /** `fail` only for a cas: it compared and did not swap. */
  readonly outcome: "ok" | "info" | "fail";
  /** 1-based line numbers in the file (returnLine null: never completed). */
  readonly invokeLine: number;
  readonly returnLine: number | null;
}

export interface History {
  /** Operations that may have taken effect (ok and info), and failed cas ops, in invoke order. */
  readonly ops: Op[];
  /** Puts and deletes that certainly did not take effect (kept only to explain reads of values). */
  readonly failed: Op[];
  readonly counts: {
    readonly invokes: number;
    readonly ok: number;
    readonly fail: number;
    /** Of the fails: cas ops that compared and did not swap. */
    readonly casNotSwapped: number;
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
  /** cas: the expected value (null: absent); undefined when the line does not say. */
  readonly expected: string | null | undefined;
  readonly timeNs: number;
  readonly stale: boolean;
}

const types = new Set(["invoke", "ok", "fail", "info"]);
const kinds = new Set(["put", "get", "delete", "cas"]);

function parseEvent(text: string, line: number): Event {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new HistoryError(line, `not JSON: ${text.length > 60 ? `${text.slice(0, 60)}...` : text}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new HistoryError(line, "expected a JSON object");
  const o = raw as Record<string, unknown>;
  const { process, type, f, key, value, expected, time_ns: timeNs, stale } = o;
  if (typeof process !== "number" && typeof process !== "string") throw new HistoryError(line, "\"process\": expected a number or a string");
  if (typeof type !== "string" || !types.has(type)) throw new HistoryError(line, `"type": expected invoke, ok, fail or info, got ${JSON.stringify(type)}`);
  if (typeof f !== "string" || !kinds.has(f)) throw new HistoryError(line, `"f": expected put, get, delete or cas, got ${JSON.stringify(f)}`);
  if (typeof key !== "string") throw new HistoryError(line, "\"key\": expected a string");
  if (value !== null && value !== undefined && typeof value !== "string") throw new HistoryError(line, "\"value\": expected a string or null");
  if (typeof timeNs !== "number" || !Number.isFinite(timeNs) || timeNs < 0) throw new HistoryError(line, "\"time_ns\": expected a non-negative number");
  if (expected !== null && expected !== undefined && typeof expected !== "string") throw new HistoryError(line, "\"expected\": expected a string or null");
  if ((f === "put" || f === "cas") && type === "invoke" && typeof value !== "string") throw new HistoryError(line, `a ${f}'s invoke needs a string "value"`);
  if (f === "cas" && type === "invoke" && expected === undefined) throw new HistoryError(line, "a cas's invoke needs \"expected\" (a string, or null: the key absent)");
  if (f === "get" && type === "ok" && value === undefined) throw new HistoryError(line, "a get's ok needs \"value\" (the value read, or null)");
  if (stale !== undefined && (typeof stale !== "boolean" || f !== "get")) throw new HistoryError(line, "\"stale\": expected true or false, on a get only");
  return { process: String(process), type: type as Event["type"], f: f as OpKind, key, value: value ?? null, expected: expected as string | null | undefined, timeNs, stale: stale === true };
}

/** Whether ops of this kind carry the value they write. */
function writes(f: OpKind): boolean {
  return f === "put" || f === "cas";
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
  const counts = { invokes: 0, ok: 0, fail: 0, casNotSwapped: 0, info: 0, unmatched: 0, stale: 0 };
  let startNs = Infinity;
  const unknown = (p: Pending) => {
    counts.unmatched += 1;
    const e = p.event;
    if (e.stale) return;
    ops.push({ process: e.process, f: e.f, key: e.key, value: writes(e.f) ? e.value : null, expected: e.expected ?? null, invokeNs: e.timeNs, returnNs: Infinity, outcome: "info", invokeLine: p.line, returnLine: null });
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
    if (writes(e.f) && e.value !== null && e.value !== inv.event.value) {
      throw new HistoryError(line, `${e.f} value ${JSON.stringify(e.value)} differs from its invoke's on line ${inv.line}`);
    }
    if (e.f === "cas" && e.expected !== undefined && e.expected !== inv.event.expected) {
      throw new HistoryError(line, `cas expected ${JSON.stringify(e.expected)} differs from its invoke's on line ${inv.line}`);
    }
    if (e.timeNs < inv.event.timeNs) throw new HistoryError(line, `completes at ${e.timeNs} ns, before its invoke on line ${inv.line}`);
    pending.delete(e.process);
    counts[e.type] += 1;
    // A failed cas compared and did not swap: it happened, at a known time.
    const casFailed = e.type === "fail" && e.f === "cas";
    const op: Op = {
      process: e.process,
      f: e.f,
      key: e.key,
      value: writes(e.f) ? inv.event.value : e.f === "get" && e.type === "ok" ? e.value : null,
      expected: inv.event.expected ?? null,
      invokeNs: inv.event.timeNs,
      returnNs: e.type === "ok" || casFailed ? e.timeNs : Infinity,
      outcome: e.type === "ok" ? "ok" : casFailed ? "fail" : "info",
      invokeLine: inv.line,
      returnLine: line,
    };
    if (inv.event.stale) continue; // not linearizable: counted, not checked
    if (casFailed) counts.casNotSwapped += 1;
    if (e.type === "fail" && !casFailed) failed.push(op);
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
