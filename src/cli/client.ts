import { defineCommand } from "citty";
import { writeFileSync } from "node:fs";
import { decodeKvResult, encodeCas, encodeDelete, encodeGet, encodePut, KvSizeError, KvStatus } from "../app/kv.ts";
import { readsVia, runBench, type Workload } from "../bench/bench.ts";
import { benchJson, formatBenchTable, formatOpSplit } from "../bench/report.ts";
import type { Config } from "../config/config.ts";
import { benchOpt, benchStorage } from "../bench/bench-opt.ts";
import { ClusterClient } from "../node/client.ts";
import { askInfo, infoTimeoutMsDefault, parseFastPaths, type ReplicaInfo } from "../node/info.ts";
import { givenKvFlags, kvMixArgs, kvWorkloadArgs, parseKvWorkload } from "./kv-args.ts";
import { ReadMode } from "../wire/layout.ts";
import { commonArgs, configFrom, createLogger, intArg, numberArg, rejectUnknownFlags, RuntimeError, UsageError } from "./common.ts";

const opArgs = {
  ...commonArgs,
  json: { type: "boolean", description: "Print the outcome as JSON" },
  timeout: { type: "string", description: "Give up after this many ms (outcome unknown)", valueHint: "MS" },
} as const;

/** The op `encode` makes; a key or value too big is a usage error (exit 2). */
function opOf(encode: () => Uint8Array): Uint8Array {
  try {
    return encode();
  } catch (e) {
    if (e instanceof KvSizeError) throw new UsageError(e.message);
    throw e;
  }
}

function callOnce(config: Config, timeoutArg: unknown, op: Uint8Array, read = ReadMode.Log) {
  const timeoutMs = timeoutArg === undefined ? undefined : intArg(timeoutArg, "timeout", 1, 3_600_000);
  const client = new ClusterClient(config, 1, { timeoutMs });
  try {
    const done = client.call(op, read);
    if (done.outcome.kind === "unknown") {
      const s = (timeoutMs ?? config.clientTimeoutMs) / 1000;
      throw new RuntimeError(`no reply within ${s}s: outcome unknown (is a majority of replicas running?)`);
    }
    if (done.outcome.kind === "evicted") {
      throw new RuntimeError(`session evicted by the cluster (more than clients_max = ${config.clientsMax} clients registered since): outcome unknown`);
    }
    return { result: decodeKvResult(done.outcome.result), opNum: done.outcome.opNum, latencyUs: done.latencyNs / 1000 };
  } finally {
    client.close();
  }
}

const putArgs = {
  ...opArgs,
  key: { type: "positional", description: "Key", required: true },
  value: { type: "positional", description: "Value", required: true },
} as const;

const put = defineCommand({
  meta: { name: "put", description: "Store VALUE under KEY: electrode client put color blue" },
  args: putArgs,
  run({ args: a }) {
    rejectUnknownFlags(a, putArgs);
    const out = callOnce(configFrom(a), a.timeout, opOf(() => encodePut(String(a.key), String(a.value))));
    if (out.result.status !== KvStatus.Ok) throw new RuntimeError(`put failed: status ${out.result.status}`);
    console.log(a.json ? JSON.stringify({ ok: true, key: a.key, value: a.value, op: out.opNum }) : "OK");
  },
});

const getArgs = {
  ...opArgs,
  key: { type: "positional", description: "Key", required: true },
  stale: { type: "boolean", description: "Read at any replica, from what it has executed: serializable, not linearizable (may miss recent puts)" },
  "through-log": { type: "boolean", description: "Read through the log like a put (default: the leader's read index, linearizable without a log write)" },
} as const;

const get = defineCommand({
  meta: { name: "get", description: "Print the value of KEY: electrode client get color (linearizable; --stale: any replica, may be stale)" },
  args: getArgs,
  run({ args: a }) {
    rejectUnknownFlags(a, getArgs);
    if (a.stale && a["through-log"]) throw new UsageError("--stale and --through-log exclude each other");
    const read = a.stale ? ReadMode.Stale : a["through-log"] ? ReadMode.Log : ReadMode.Index;
    const out = callOnce(configFrom(a), a.timeout, opOf(() => encodeGet(String(a.key))), read);
    const found = out.result.status === KvStatus.Ok;
    if (a.json) {
      const stale = a.stale ? { stale: true } : {};
      console.log(JSON.stringify({ ok: found, key: a.key, value: found ? out.result.value : null, op: out.opNum, ...stale }));
    } else if (found) {
      console.log(out.result.value);
    }
    if (!found) throw new RuntimeError(`${a.key}: not found`);
  },
});

const deleteArgs = { ...opArgs, key: { type: "positional", description: "Key", required: true } } as const;

const del = defineCommand({
  meta: { name: "delete", description: "Remove KEY (fine when it is absent already): electrode client delete color" },
  args: deleteArgs,
  run({ args: a }) {
    rejectUnknownFlags(a, deleteArgs);
    const out = callOnce(configFrom(a), a.timeout, opOf(() => encodeDelete(String(a.key))));
    const existed = out.result.status === KvStatus.Ok;
    if (!existed && out.result.status !== KvStatus.NotFound) throw new RuntimeError(`delete failed: status ${out.result.status}`);
    console.log(a.json ? JSON.stringify({ ok: true, key: a.key, existed, op: out.opNum }) : existed ? "OK" : "OK (it was not there)");
  },
});

const casArgs = {
  ...opArgs,
  key: { type: "positional", description: "Key", required: true },
  value: { type: "positional", description: "New value", required: true },
  expect: { type: "string", description: "Swap only if KEY holds this value", valueHint: "OLD" },
  absent: { type: "boolean", description: "Swap only if KEY is absent" },
} as const;

const cas = defineCommand({
  meta: { name: "cas", description: "Compare and swap: electrode client cas color red --expect blue (or --absent); exit 1 when it did not swap" },
  args: casArgs,
  run({ args: a }) {
    rejectUnknownFlags(a, casArgs);
    if ((a.expect === undefined) === !a.absent) throw new UsageError("cas: say what KEY must hold: --expect OLD, or --absent (one of them)");
    const expected = a.absent ? null : String(a.expect);
    const out = callOnce(configFrom(a), a.timeout, opOf(() => encodeCas(String(a.key), expected, String(a.value))));
    const { status, value: current } = out.result;
    if (status !== KvStatus.Ok && status !== KvStatus.Mismatch && status !== KvStatus.NotFound) throw new RuntimeError(`cas failed: status ${status}`);
    const swapped = status === KvStatus.Ok;
    const now = swapped ? undefined : status === KvStatus.Mismatch ? current : null;
    if (a.json) console.log(JSON.stringify({ ok: swapped, key: a.key, expected, value: a.value, ...(swapped ? {} : { current: now }), op: out.opNum }));
    else if (swapped) console.log("OK");
    if (!swapped) throw new RuntimeError(`not swapped: ${a.key} ${now === null ? "is absent" : `holds '${now}'`}`);
  },
});

const infoArgs = {
  ...commonArgs,
  json: { type: "boolean", description: "Print the answers as JSON" },
  timeout: { type: "string", description: `Wait this many ms for the answers (default ${infoTimeoutMsDefault})`, valueHint: "MS" },
} as const;

function infoLine(id: number, addr: string, a: ReplicaInfo | undefined, timeoutMs: number): string {
  if (!a) return `replica ${id} (${addr}): no answer within ${timeoutMs} ms`;
  const role = a.leader ? ", leader" : "";
  const memory = `checkpoint ${a.checkpoint_op}, log ${a.log_first_op}..${a.op} (${mib(a.log_bytes)}), ${a.sessions} sessions${a.evictions ? ` (${a.evictions} evicted)` : ""}`;
  return `replica ${id} (${addr}): ${a.status}, view ${a.view}${role}, fast paths ${a.opt}, op ${a.op}, commit ${a.commit}, ${memory}, app ${a.app}, ${a.storage === "memory" ? "memory only" : `storage fsync ${a.storage}`}, up ${a.uptime_s}s`;
}

function mib(bytes: number): string {
  return bytes < 1 << 20 ? `${Math.round(bytes / 1024)} KiB` : `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

const info = defineCommand({
  meta: { name: "info", description: "Ask every replica what it runs: status, view, leader, fast paths, op, commit" },
  args: infoArgs,
  run({ args: a }) {
    rejectUnknownFlags(a, infoArgs);
    const config = configFrom(a);
    const timeoutMs = a.timeout === undefined ? infoTimeoutMsDefault : intArg(a.timeout, "timeout", 1, 3_600_000);
    const answers = askInfo(config, { timeoutMs });
    if (a.json) {
      const replicas = config.replicas.map((r, i) => ({ answered: answers[i] !== undefined, ...(answers[i] ?? { id: r.id, addr: r.addr }) }));
      console.log(JSON.stringify({ cluster: config.name, replicas }, null, 2));
    } else {
      for (const [i, r] of config.replicas.entries()) console.log(infoLine(r.id, r.addr, answers[i], timeoutMs));
    }
    const silent = config.replicas.filter((_, i) => answers[i] === undefined).map((r) => r.id);
    if (silent.length > 0) throw new RuntimeError(`replica ${silent.join(", ")} did not answer within ${timeoutMs} ms (not running, or unreachable)`);
  },
});

function parseReads(value: unknown): ReadMode {
  if (value === undefined) return ReadMode.Index;
  const mode = [ReadMode.Index, ReadMode.Log, ReadMode.Stale].find((m) => readsVia[m] === String(value));
  if (mode === undefined) throw new UsageError(`--reads: expected index, log or stale, got '${String(value)}'`);
  return mode;
}

const benchArgs = {
  ...commonArgs,
  bench: { type: "boolean", description: "Run the closed-loop benchmark" },
  clients: { type: "string", description: "Concurrent closed-loop clients", default: "8", valueHint: "K" },
  duration: { type: "string", description: "Measured seconds", default: "5", valueHint: "SECONDS" },
  warmup: { type: "string", description: "Unmeasured seconds before", default: "1", valueHint: "SECONDS" },
  workload: { type: "string", description: "null (protocol only) or kv", default: "null", valueHint: "null|kv" },
  json: { type: "string", description: "Write the result as JSON to FILE (- for stdout)", valueHint: "FILE" },
  history: { type: "string", description: "Write the operation history (kv workload) to FILE", valueHint: "FILE" },
  ...kvWorkloadArgs,
  ...kvMixArgs,
  reads: {
    type: "string",
    description: "kv: how gets are served: index (the leader's read index: linearizable, no log write; default), log (through the log like puts), stale (any replica: serializable, marked \"stale\" in the history)",
    valueHint: "index|log|stale",
  },
  opt: {
    type: "string",
    description: "Fast paths you expect the replicas to run (none, all, or a list): checked against what they report; the result uses this only when no replica answers",
    valueHint: "LIST",
  },
} as const;

const subCommandNames = new Set(["put", "get", "delete", "cas", "info"]);

export default defineCommand({
  meta: {
    name: "client",
    description: "Talk to the cluster: electrode client --bench | put KEY VALUE | get KEY | delete KEY | cas KEY VALUE --expect OLD|--absent | info",
  },
  args: benchArgs,
  subCommands: { put, get, delete: del, cas, info },
  async run({ args: a, rawArgs }) {
    if (rawArgs.some((w) => subCommandNames.has(w))) return; // handled by the subcommand
    rejectUnknownFlags(a, benchArgs);
    if (!a.bench) throw new UsageError("say what to do: --bench, put KEY VALUE, get KEY, delete KEY, cas KEY VALUE --expect OLD|--absent, or info (see --help)");
    const label = a.opt === undefined ? undefined : parseFastPaths(a.opt);
    if (a.opt !== undefined && label === undefined) throw new UsageError(`--opt: expected none, all, or a list of tc-broadcast, quorum-prune, fast-reply, got '${a.opt}'`);
    const workload = a.workload as Workload;
    if (workload !== "null" && workload !== "kv") throw new UsageError(`--workload: expected null or kv, got '${a.workload}'`);
    if (a.history && workload !== "kv") throw new UsageError("--history needs --workload kv");
    const kvFlags = givenKvFlags(a);
    if (kvFlags.length > 0 && workload !== "kv") throw new UsageError(`--${kvFlags[0]} needs --workload kv`);
    const kv = workload === "kv" ? parseKvWorkload(a) : undefined;
    if (a.reads !== undefined && workload !== "kv") throw new UsageError("--reads needs --workload kv");
    const readMode = parseReads(a.reads);
    const config = configFrom(a);
    const log = createLogger(a, "bench");
    const clients = intArg(a.clients, "clients", 1, 4096);
    const durationS = numberArg(a.duration, "duration", 0.1, 86_400);
    const warmupS = numberArg(a.warmup, "warmup", 0, 3600);
    // What the replicas run, from them: the result names it instead of trusting a label.
    const answers = askInfo(config, { timeoutMs: infoTimeoutMsDefault });
    const mode = benchOpt(config.replicas.map((r) => r.id), answers, label, infoTimeoutMsDefault);
    const storage = benchStorage(answers);
    if (mode.warn) log.warn(mode.message);
    else log.info(mode.message);
    const writeMix = kv?.deleteRatio || kv?.casRatio ? `, ${kv.deleteRatio ?? 0} deletes, ${kv.casRatio ?? 0} cas` : "";
    const mix = kv ? ` (${kv.readRatio} reads by ${readsVia[readMode]}${writeMix}, ${kv.keys} keys ${kv.keyDist}, values ${kv.valueBytes ?? "unsized"}, seed ${kv.seed})` : "";
    log.info(`${clients} clients, ${warmupS}s warm-up, ${durationS}s measured, workload ${workload}${mix}`);
    // SIGINT/SIGTERM end the run early but cleanly: in-flight requests finish, the history and the
    // result are written (a soak or a test stops a long run when its fault schedule is done).
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const result = await runBench(config, {
      signal: stop.signal,
      clients,
      durationS,
      warmupS,
      workload,
      kv,
      historyFile: a.history,
      readMode,
      onProgress: (t, ops) => log.debug(`${t.toFixed(0)}s: ${ops} ops`),
    });
    const json = await benchJson(config, { opt: mode.opt, optByReplica: mode.byReplica, storage, clients, result });
    if (a.json === "-") console.log(JSON.stringify(json, null, 2));
    else {
      console.log(formatBenchTable([json]));
      if (json.reads && json.writes) console.log(formatOpSplit(json.reads, json.writes, json.deletes, json.cas));
      console.log(mode.message);
      if (a.json) writeFileSync(a.json, JSON.stringify(json, null, 2) + "\n");
    }
    if (result.errors > 0) log.warn(`${result.errors} requests got no reply in time (outcome unknown)`);
  },
});
