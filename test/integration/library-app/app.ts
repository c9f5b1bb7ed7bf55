// An application using the client library as one would from another package: it imports
// "electrode/client" (the test links this directory's node_modules/electrode to the repository).
// Usage: bun app.ts CONFIG PHASE, PHASE one of ops | after-failover | no-quorum. Prints one JSON
// line of what it saw.

import { connect, KvSizeError, UnknownOutcomeError, kvKeyBytesMax, type CasResult } from "electrode/client";
import { readFileSync } from "node:fs";
import { parse } from "yaml";

const [configArg, phase] = process.argv.slice(2);
if (!configArg || !phase) throw new Error("usage: app.ts CONFIG ops|after-failover|no-quorum");
const configPath: string = configArg;

/** A cas result as JSON can show it (bytes as an array). */
const shown = (r: CasResult) => (r.swapped ? r : { ...r, current: r.current && [...r.current] });

async function ops() {
  const kv = connect({ config: configPath, timeoutMs: 5000 });
  const seen: Record<string, unknown> = {};
  await kv.put("lib-color", "blue");
  seen.get = await kv.get("lib-color");
  seen.missing = await kv.get("lib-nothing");
  seen.casWrong = shown(await kv.cas("lib-color", "red", "green"));
  seen.casRight = shown(await kv.cas("lib-color", "blue", "green"));
  seen.afterCas = await kv.get("lib-color");
  seen.casAbsentOnPresent = shown(await kv.cas("lib-color", null, "x"));
  seen.deleted = await kv.delete("lib-color");
  seen.deletedAgain = await kv.delete("lib-color");
  seen.afterDelete = await kv.get("lib-color");
  seen.casAbsent = shown(await kv.cas("lib-color", null, "fresh"));
  seen.afterCasAbsent = await kv.get("lib-color");
  await kv.put(new Uint8Array([0xff, 0]), new Uint8Array([1, 2, 0xfe]));
  seen.bytes = [...(await kv.getBytes(new Uint8Array([0xff, 0])))!];
  try {
    await kv.put("k".repeat(kvKeyBytesMax + 1), "v");
  } catch (e) {
    seen.tooBig = e instanceof KvSizeError ? e.message : `wrong error: ${e}`;
  }
  // Many at once: more operations than sessions, each exactly once. A counter raised by cas
  // retries from concurrent writers ends at exactly the number of increments.
  await kv.put("lib-counter", "0");
  const increment = async () => {
    for (;;) {
      const now = (await kv.get("lib-counter"))!;
      if ((await kv.cas("lib-counter", now, String(Number(now) + 1))).swapped) return;
    }
  };
  await Promise.all(Array.from({ length: 20 }, increment));
  seen.counter = await kv.get("lib-counter");
  seen.leader = kv.leaderId;
  kv.close();
  // The config as an object (the YAML document's shape) works the same.
  const fromObject = connect({ config: parse(readFileSync(configPath, "utf8")) });
  seen.fromObject = await fromObject.get("lib-counter");
  fromObject.close();
  return seen;
}

async function afterFailover() {
  // A fresh client starts out believing view 0's leader (replica 1, now dead) leads; after
  // retry_ms it asks everyone, and the new leader's reply tells it who leads.
  const kv = connect({ config: configPath, timeoutMs: 10_000 });
  const before = kv.leaderId;
  await kv.put("lib-failover", "yes");
  const got = await kv.get("lib-failover");
  const counter = await kv.get("lib-counter");
  const seen = { before, after: kv.leaderId, got, counter };
  kv.close();
  return seen;
}

async function noQuorum() {
  const kv = connect({ config: configPath, timeoutMs: 800 });
  const t0 = performance.now();
  try {
    await kv.put("lib-lost", "maybe");
    return { threw: false };
  } catch (e) {
    const u = e instanceof UnknownOutcomeError;
    return { threw: true, unknownOutcome: u, reason: u ? e.reason : undefined, message: (e as Error).message, waitedMs: Math.round(performance.now() - t0) };
  } finally {
    kv.close();
  }
}

const run = { ops, "after-failover": afterFailover, "no-quorum": noQuorum }[phase];
if (!run) throw new Error(`unknown phase ${phase}`);
console.log(JSON.stringify(await run()));
