// The kv workload under a nemesis: a bench with --history in a client namespace, stopped cleanly
// when the fault schedule is done; a read-back of every key once the cluster is healed; and the
// linearizability check.
//
// Read-back: after the last heal, one get of every key of a history is appended to that history,
// later than everything in it. A write acknowledged in the run and lost afterwards (by a fault
// that came after the run ended, in a soak of several runs) then fails the check too.

import { appendFileSync, readFileSync } from "node:fs";
import { checkHistory, type Verdict } from "../check/check.ts";
import { parseHistory } from "../check/history.ts";
import { formatVerdict, verdictJson } from "../check/report.ts";
import type { RunningCluster } from "./processes.ts";

export interface BenchJson {
  readonly ops: number;
  readonly errors: number;
  readonly throughput_ops_s: number;
  readonly duration_s: number;
  readonly [field: string]: unknown;
}

/** A kv bench running in a client namespace until stop() (or `maxS`). */
export class BenchRun {
  private constructor(
    private readonly proc: ReturnType<typeof Bun.spawn>,
    private readonly output: Promise<[string, string, number]>,
    readonly historyFile: string,
  ) {}

  /** `benchArgs`: more bench flags (the kv mix, e.g. --read-ratio 0.9 --reads index, --cas-ratio 0.4). */
  static start(cluster: RunningCluster, opts: { historyFile: string; clients?: number; maxS?: number; clientIndex?: number; benchArgs?: readonly string[] }): BenchRun {
    const local = cluster.local;
    const ns = local.clients[opts.clientIndex ?? 0]!.ns;
    const args = ["client", "--bench", "--workload", "kv", "--json", "-", "--quiet", "--warmup", "0"];
    args.push("--clients", String(opts.clients ?? 8), "--duration", String(opts.maxS ?? 3600), "--history", opts.historyFile, "--config", cluster.configPath, ...(opts.benchArgs ?? []));
    const proc = Bun.spawn(local.nsExec(ns, [...cluster.command, ...args]), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const output = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return new BenchRun(proc, output, opts.historyFile);
  }

  /** Ends the run (SIGTERM: requests in flight finish) and returns the bench JSON. */
  async stop(): Promise<BenchJson> {
    this.proc.kill("SIGTERM");
    return this.result();
  }

  /** Kills the bench outright (cleanup after a failure). */
  kill(): void {
    this.proc.kill("SIGKILL");
  }

  async result(): Promise<BenchJson> {
    const [stdout, stderr, code] = await this.output;
    if (code !== 0) throw new Error(`bench exited ${code}: ${stderr.trim()}`);
    return JSON.parse(stdout) as BenchJson;
  }
}

/** The keys of a history file, and the latest time in it. */
function keysOf(file: string): { keys: string[]; lastNs: number } {
  const keys = new Set<string>();
  let lastNs = 0;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    const e = JSON.parse(line) as { key: string; time_ns: number };
    keys.add(e.key);
    lastNs = Math.max(lastNs, e.time_ns);
  }
  return { keys: [...keys].sort(), lastNs };
}

/**
 * Appends a get of every key of `file`, read now through the cluster, as operations after all
 * others. Returns how many reads succeeded (a read that got no answer is appended as unknown).
 */
export async function readBack(cluster: RunningCluster, file: string): Promise<number> {
  const { keys, lastNs } = keysOf(file);
  let t = lastNs;
  let ok = 0;
  const lines: string[] = [];
  for (const key of keys) {
    const out = await cluster.client(["get", key, "--json", "--timeout", "3000"]);
    let value: string | null | undefined;
    try {
      value = (JSON.parse(out.stdout) as { value: string | null }).value;
    } catch {
      value = undefined; // no answer: outcome unknown
    }
    lines.push(JSON.stringify({ process: "read-back", type: "invoke", f: "get", key, value: null, time_ns: ++t }));
    lines.push(JSON.stringify({ process: "read-back", type: value === undefined ? "info" : "ok", f: "get", key, value: value ?? null, time_ns: ++t }));
    if (value !== undefined) ok++;
  }
  appendFileSync(file, lines.map((l) => l + "\n").join(""));
  return ok;
}

export interface CheckResult {
  readonly verdict: Verdict;
  /** The checker's report for people (one line, or the failure explained). */
  readonly text: string;
  readonly json: ReturnType<typeof verdictJson>;
}

/** The linearizability checker (src/check) on a history file. */
export function checkFile(file: string, timeoutMs = 120_000): CheckResult {
  const history = parseHistory(readFileSync(file, "utf8"));
  const verdict = checkHistory(history, { timeoutMs });
  return { verdict, text: formatVerdict(verdict, history.startNs), json: verdictJson(verdict) };
}
