// Closed-loop load on an etcd cluster, the same workload as `electrode client --bench --workload kv`:
// the same flags (src/cli/kv-args.ts), the same keys, values and per-client seeded mix
// (src/bench/kv-workload.ts), the same measurement (an op counts when it was sent inside the
// measured window, after the warm-up; clients send nothing new after it), the same JSON fields
// (ops, errors, throughput_ops_s, latency_us, reads, writes, kv). scripts/vs-etcd.ts runs it in the
// namespace cluster's client namespace, as it runs electrode's bench there.
//
// Usage: bun run scripts/etcd/bench.ts --endpoints http://10.199.1.1:2379,... [--clients 16]
//        [--duration 3] [--warmup 3] [--conns 1] [--timeout 5000] [kv flags: --read-ratio R --keys N
//        --value-bytes B --key-dist uniform|zipf --seed N]
//        bun run scripts/etcd/bench.ts --endpoints ... --wait-leader MS   (exit 0 once every member
//        answers Status and they agree on a leader; prints the statuses as JSON)

import { parseArgs } from "node:util";
import { latencyUs, newRunId, OpCounter } from "../../src/bench/bench.ts";
import { keyPicker, putValue, sessionRandom, type KvWorkload } from "../../src/bench/kv-workload.ts";
import { kvWorkloadJson, opStatsJson } from "../../src/bench/report.ts";
import { intArg, numberArg, UsageError } from "../../src/cli/common.ts";
import { kvWorkloadArgs, parseKvWorkload } from "../../src/cli/kv-args.ts";
import { EtcdKv, leaderOf, memberStatuses, walFsyncs, type MemberStatus } from "./kv-client.ts";

const encoder = new TextEncoder();

/** Written to stderr when the clock starts (warm-up begins): scripts/etcd/cells.ts times its CPU
 * window from it. */
export const clockStartedLine = "etcd bench: clock started\n";

export interface EtcdBenchOptions {
  readonly endpoints: readonly string[];
  readonly clients: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly conns: number;
  readonly timeoutMs: number;
  readonly kv: KvWorkload;
}

/** Polls Status until the members agree on a leader; its endpoint and every status. */
export async function waitLeader(endpoints: readonly string[], timeoutMs: number): Promise<{ leader: string; statuses: MemberStatus[] }> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    try {
      const statuses = await memberStatuses(endpoints, 1000);
      const leader = leaderOf(statuses);
      if (leader) return { leader, statuses };
      last = "the members do not agree on a leader yet";
    } catch (e) {
      last = (e as Error).message;
    }
    await Bun.sleep(100);
  }
  throw new Error(`etcd: no leader within ${timeoutMs} ms (${last})`);
}

export async function runEtcdBench(opts: EtcdBenchOptions) {
  const { leader, statuses } = await waitLeader(opts.endpoints, 10_000);
  const kv = await EtcdKv.connect(leader, { conns: opts.conns, timeoutMs: opts.timeoutMs });
  const fsyncsBefore = await Promise.all(opts.endpoints.map(walFsyncs));
  const w = opts.kv;
  const runId = newRunId();
  const pickKey = keyPicker(w);
  const keys = Array.from({ length: w.keys }, (_, i) => encoder.encode(`${runId}.k${i}`));
  const all = new OpCounter();
  const reads = new OpCounter();
  const writes = new OpCounter();
  process.stderr.write(clockStartedLine);
  const t0 = Bun.nanoseconds();
  const measureFrom = t0 + opts.warmupS * 1e9;
  const endAt = measureFrom + opts.durationS * 1e9;

  const client = async (index: number) => {
    const random = sessionRandom(w.seed, index);
    let requestNum = 0;
    for (;;) {
      const sentNs = Bun.nanoseconds();
      if (sentNs >= endAt) return;
      const key = keys[pickKey(random)]!;
      const isPut = random() >= w.readRatio;
      requestNum += 1;
      const kind = isPut ? writes : reads;
      let ok = true;
      try {
        if (isPut) await kv.put(index, key, encoder.encode(putValue(runId, index, requestNum, w.valueBytes)));
        else await kv.get(index, key);
      } catch {
        ok = false;
      }
      if (sentNs < measureFrom) continue;
      const latencyNs = Bun.nanoseconds() - sentNs;
      if (ok) {
        all.ok(latencyNs);
        kind.ok(latencyNs);
      } else {
        all.errors += 1;
        kind.errors += 1;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.clients }, (_, i) => client(i)));
  } finally {
    kv.close();
  }
  const measuredS = opts.durationS;
  const total = all.stats(measuredS);
  const fsyncsAfter = await Promise.all(opts.endpoints.map(walFsyncs));
  const fsyncs = fsyncsAfter.reduce((sum, a, i) => sum + a.count - fsyncsBefore[i]!.count, 0);
  const fsyncSeconds = fsyncsAfter.reduce((sum, a, i) => sum + a.seconds - fsyncsBefore[i]!.seconds, 0);
  return {
    system: "etcd",
    etcd_version: statuses[0]!.status.version,
    endpoints: opts.endpoints,
    leader,
    clients: opts.clients,
    conns: opts.conns,
    duration_s: measuredS,
    ops: total.ops,
    errors: total.errors,
    throughput_ops_s: total.throughputOpsS,
    latency_us: latencyUs(all.latency),
    reads: opStatsJson(reads.stats(measuredS)),
    writes: opStatsJson(writes.stats(measuredS)),
    kv: kvWorkloadJson(w),
    /** WAL fsyncs of all members during the run (warm-up included), and the seconds they took. */
    wal_fsyncs: fsyncs,
    wal_fsync_s: Math.round(fsyncSeconds * 1000) / 1000,
  };
}

const options = {
  endpoints: { type: "string" },
  clients: { type: "string", default: "16" },
  duration: { type: "string", default: "3" },
  warmup: { type: "string", default: "3" },
  conns: { type: "string", default: "1" },
  timeout: { type: "string", default: "5000" },
  "wait-leader": { type: "string" },
  ...Object.fromEntries(Object.keys(kvWorkloadArgs).map((name) => [name, { type: "string" }])),
} as const;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: options as Record<string, { type: "string"; default?: string }>, strict: true });
  if (!values.endpoints) throw new UsageError("--endpoints: the members' client URLs, comma-separated");
  const endpoints = String(values.endpoints).split(",");
  if (values["wait-leader"] !== undefined) {
    const found = await waitLeader(endpoints, intArg(values["wait-leader"], "wait-leader", 1, 600_000));
    console.log(JSON.stringify({ leader: found.leader, members: found.statuses.map((s) => ({ endpoint: s.endpoint, version: s.status.version, member_id: String(s.status.header.memberId), leader: String(s.status.leader), raft_term: s.status.raftTerm })) }));
    return;
  }
  const result = await runEtcdBench({
    endpoints,
    clients: intArg(values.clients, "clients", 1, 4096),
    durationS: numberArg(values.duration, "duration", 0.1, 86_400),
    warmupS: numberArg(values.warmup, "warmup", 0, 3600),
    conns: intArg(values.conns, "conns", 1, 1024),
    timeoutMs: intArg(values.timeout, "timeout", 1, 600_000),
    kv: parseKvWorkload(values),
  });
  console.log(JSON.stringify(result, null, 2));
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`etcd bench: ${(e as Error).message}`);
    process.exit(e instanceof UsageError || (e as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ? 2 : 1);
  }
}
