// The replicated state's live heap over a long history, in one process without network: the log
// (slabs, compacted as a replica compacts), the client table, the kv app over a bounded key space
// and a checkpoint every checkpoint_ops, driven by as many puts as asked. After each --every ops
// a full collection (Bun.gc(true)) and bun:jsc's heapStats: the heap and object count that
// survive, the most numerous object types, and the process's RSS. A leak in what a replica keeps
// shows as objects or heap growing with the ops; garbage (what a replica at full load carries
// between collections) does not survive the collection. Not covered: the node's sockets and
// buffers, the leader's pipeline and the kernel state (scripts/memory-bench.ts measures the whole
// process).
//
// Usage: bun run scripts/heap-growth.ts [--ops 3000000] [--every 500000] [--keys 1000] [--clients 64]

import { heapStats } from "bun:jsc";
import { parseArgs } from "node:util";
import { encodePut, KvMachine } from "../src/app/kv.ts";
import { takeCheckpoint } from "../src/core/checkpoint.ts";
import { ClientTable } from "../src/core/client-table.ts";
import { Digest } from "../src/core/digest.ts";
import { Log } from "../src/core/log.ts";

const checkpointOps = 100_000;
const logRetainOps = 20_000;
const clientsMax = 4096;

function usage(message: string): never {
  console.error(`heap-growth: ${message}`);
  process.exit(2);
}

function flags() {
  try {
    return parseArgs({ options: { ops: { type: "string", default: "3000000" }, every: { type: "string", default: "500000" }, keys: { type: "string", default: "1000" }, clients: { type: "string", default: "64" } } }).values;
  } catch (e) {
    usage((e as Error).message);
  }
}
const values = flags();
const whole = (name: "ops" | "every" | "keys" | "clients") => {
  const x = Number(values[name]);
  if (!Number.isInteger(x) || x < 1) usage(`--${name}: expected a whole number >= 1, got ${values[name]}`);
  return x;
};
const [ops, every, keys, clients] = [whole("ops"), whole("every"), whole("keys"), whole("clients")];

const log = new Log();
const table = new ClientTable(clientsMax);
const kv = new KvMachine();
const digest = new Digest();
for (let c = 1; c <= clients; c++) table.register(c, 0);
console.log(`${ops} puts over ${keys} keys from ${clients} clients; checkpoint every ${checkpointOps}, ${logRetainOps} entries retained`);
console.log("| ops | live heap MiB | objects | RSS MiB | log entries | slabs | most numerous |");
console.log("| --- | --- | --- | --- | --- | --- | --- |");
let checkpointBytes = 0;
for (let op = 1; op <= ops; op++) {
  const client = (op % clients) + 1;
  const bytes = encodePut(`run.k${op % keys}`, `v${op}.${client}`);
  log.append(client, op, bytes);
  digest.add(bytes);
  table.recordExecuted(client, op, op, kv.execute(log.opAt(op)));
  if (op % checkpointOps === 0) {
    checkpointBytes = takeCheckpoint(op, digest, table, kv).bytes.length;
    log.compact(op - logRetainOps);
  }
  if (op % every === 0) {
    Bun.gc(true);
    const h = heapStats();
    const top = Object.entries(h.objectTypeCounts).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${v}`).join(", ");
    const mib = (b: number) => (b / 1048576).toFixed(1);
    console.log(`| ${op} | ${mib(h.heapSize)} | ${h.objectCount} | ${mib(process.memoryUsage().rss)} | ${log.entriesHeld} | ${log.slabsHeld} | ${top} |`);
  }
}
console.log(`latest checkpoint: ${checkpointBytes} bytes`);
