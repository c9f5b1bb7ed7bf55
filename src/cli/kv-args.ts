// The kv workload's flags (`electrode client --bench --workload kv`, and the etcd load generator of
// scripts/vs-etcd.ts): parsed and checked once, with a usage error (exit 2) naming the flag.

import type { ArgsDef } from "citty";
import { keyDists, kvKeysMax, kvWorkloadDefaults, valueTagBytes, zipfSkew, type KeyDist, type KvWorkload } from "../bench/kv-workload.ts";
import { kvCasHeadBytes } from "../app/kv.ts";
import { requestOpBytesMax } from "../core/log.ts";
import { intArg, numberArg, UsageError } from "./common.ts";

/** The kv op's own head: opcode and key length (src/app/kv.ts). */
const kvOpHeadBytes = 3;
/** The bench's keys are "<8-character run id>.k<index>". */
const runIdChars = 8;

export const kvWorkloadArgs = {
  "read-ratio": { type: "string", description: `kv: fraction of operations that are gets, 0..1 (default ${kvWorkloadDefaults.readRatio})`, valueHint: "R" },
  keys: { type: "string", description: `kv: number of keys (default ${kvWorkloadDefaults.keys})`, valueHint: "N" },
  "value-bytes": { type: "string", description: `kv: size of each put's value, ${valueTagBytes} or more (it begins with a tag unique in the run; default: unsized, '<run>.<client>.<request>')`, valueHint: "B" },
  "key-dist": { type: "string", description: `kv: uniform, or zipf (YCSB's skew s=${zipfSkew}, key k0 the hottest) (default ${kvWorkloadDefaults.keyDist})`, valueHint: "uniform|zipf" },
  seed: { type: "string", description: "kv: seed of the keys and op kinds each client draws (default: the clock)", valueHint: "N" },
} as const satisfies ArgsDef;

/** Flags of operations only electrode's own bench runs (the etcd load generator has no cas). */
export const kvMixArgs = {
  "delete-ratio": { type: "string", description: "kv: fraction of operations that are deletes, 0..1 (default 0)", valueHint: "R" },
  "cas-ratio": { type: "string", description: "kv: fraction of operations that are compare-and-swaps (expecting the value the client last saw), 0..1 (default 0)", valueHint: "R" },
} as const satisfies ArgsDef;

/** Bytes of the longest key with `keys` keys. */
export function kvKeyBytesMax(keys: number): number {
  return runIdChars + 2 + String(keys - 1).length;
}

/** The largest value that fits in one op beside a key of `keyBytes` (the op travels in one
 * datagram, and a replica refuses an op longer than requestOpBytesMax). */
export function kvValueBytesMax(keyBytes: number): number {
  return requestOpBytesMax - kvOpHeadBytes - keyBytes;
}

export interface KvFlags {
  readonly "read-ratio"?: unknown;
  readonly keys?: unknown;
  readonly "value-bytes"?: unknown;
  readonly "key-dist"?: unknown;
  readonly seed?: unknown;
  readonly "delete-ratio"?: unknown;
  readonly "cas-ratio"?: unknown;
}

/** The kv flags that were given (by their names as typed). */
export function givenKvFlags(a: KvFlags): string[] {
  return [...Object.keys(kvWorkloadArgs), ...Object.keys(kvMixArgs)].filter((name) => a[name as keyof KvFlags] !== undefined);
}

/** The workload the flags describe; defaults for those not given. `now` seeds when --seed is absent. */
export function parseKvWorkload(a: KvFlags, now: number = Date.now()): KvWorkload {
  const readRatio = a["read-ratio"] === undefined ? kvWorkloadDefaults.readRatio : numberArg(a["read-ratio"], "read-ratio", 0, 1);
  const keys = a.keys === undefined ? kvWorkloadDefaults.keys : intArg(a.keys, "keys", 1, kvKeysMax);
  const keyDist = a["key-dist"] === undefined ? kvWorkloadDefaults.keyDist : String(a["key-dist"]);
  if (!keyDists.includes(keyDist as KeyDist)) throw new UsageError(`--key-dist: expected ${keyDists.join(" or ")}, got '${keyDist}'`);
  const mix = parseMix(a, readRatio);
  // A cas carries two values (the expected one and the new one) beside its key.
  const keyBytes = kvKeyBytesMax(keys);
  const valueBytesMax = mix.casRatio ? Math.floor((requestOpBytesMax - kvCasHeadBytes - keyBytes) / 2) : kvValueBytesMax(keyBytes);
  const valueBytes = a["value-bytes"] === undefined ? undefined : intArg(a["value-bytes"], "value-bytes", valueTagBytes, valueBytesMax);
  const seed = a.seed === undefined ? now >>> 0 : intArg(a.seed, "seed", 0, 2 ** 32 - 1);
  return { readRatio, keys, keyDist: keyDist as KeyDist, seed, ...(valueBytes !== undefined && { valueBytes }), ...mix };
}

/** --delete-ratio and --cas-ratio (only those given), which leave room for the reads. */
function parseMix(a: KvFlags, readRatio: number): { deleteRatio?: number; casRatio?: number } {
  const deleteRatio = a["delete-ratio"] === undefined ? undefined : numberArg(a["delete-ratio"], "delete-ratio", 0, 1);
  const casRatio = a["cas-ratio"] === undefined ? undefined : numberArg(a["cas-ratio"], "cas-ratio", 0, 1);
  if (readRatio + (deleteRatio ?? 0) + (casRatio ?? 0) > 1 + 1e-9) {
    throw new UsageError(`--read-ratio ${readRatio}, --delete-ratio ${deleteRatio ?? 0} and --cas-ratio ${casRatio ?? 0} add up to more than 1`);
  }
  return { ...(deleteRatio !== undefined && { deleteRatio }), ...(casRatio !== undefined && { casRatio }) };
}
