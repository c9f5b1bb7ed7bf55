// Nanoseconds per encode and per decode of the messages on the hot path, through the API the
// replica and client use (Codec.read on a receive slot, Codec.encode into a send buffer). For
// before/after comparisons: run it on two checkouts, several times each (the machine is noisy).
//
// Usage: bun run scripts/codec-bench.ts [--rounds 5]

import { parseArgs } from "node:util";
import { entriesOf } from "../src/wire/entries.ts";
import { Codec } from "../src/wire/codec.ts";
import { datagramBytesMax, MessageType } from "../src/wire/layout.ts";
import type { Message } from "../src/wire/messages.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "5" } } });
const rounds = Number(values.rounds);

const codec = new Codec(7);
const op = new Uint8Array(16); // the null workload's op
const samples: Record<string, Message> = {
  Request: { type: MessageType.Request, view: 0, clientId: 12345678, requestNum: 42, session: 7, op },
  PrepareOk: { type: MessageType.PrepareOk, view: 0, sender: 1, opNum: 1000 },
  "Prepare (20 entries)": {
    type: MessageType.Prepare,
    view: 0,
    sender: 0,
    opNum: 1000,
    commit: 980,
    entries: entriesOf(Array.from({ length: 20 }, (_, i) => ({ clientId: i + 1, requestNum: 5, op }))),
  },
  Reply: { type: MessageType.Reply, view: 0, sender: 0, opNum: 1000, clientId: 12345678, requestNum: 42, session: 7, result: new Uint8Array(0) },
};

// A receive buffer laid out like the socket's: slots of 2048 bytes, the datagram in slot 3.
const rx = new Uint8Array(2048 * 64);
const slot = rx.subarray(2048 * 3, 2048 * 4);
const tx = new Uint8Array(datagramBytesMax);
// Checkouts from before Codec.read (up to d49a29b) decoded a fresh subarray per datagram: the
// same script measures them the way their socket and codec worked.
const legacy = codec as unknown as { read?: unknown; decode(b: Uint8Array): { ok: boolean; msg?: Message; error?: string } };
const read = (len: number): Message | string => {
  if (legacy.read) return codec.read(slot, len);
  const d = legacy.decode(rx.subarray(2048 * 3, 2048 * 3 + len));
  return d.ok ? d.msg! : d.error!;
};
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log("| message | bytes | encode ns | decode ns |");
console.log("|---|---|---|---|");
let sink = 0;
for (const [name, msg] of Object.entries(samples)) {
  const len = codec.encode(msg, tx);
  slot.set(tx.subarray(0, len));
  const n = Math.round(2e6 / (len / 32));
  const enc: number[] = [];
  const dec: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let t = Bun.nanoseconds();
    for (let i = 0; i < n; i++) sink += codec.encode(msg, tx);
    enc.push((Bun.nanoseconds() - t) / n);
    t = Bun.nanoseconds();
    for (let i = 0; i < n; i++) {
      const m = read(len);
      if (typeof m === "string") throw new Error(`decode failed: ${m}`);
      sink += m.type;
    }
    dec.push((Bun.nanoseconds() - t) / n);
  }
  console.log(`| ${name} | ${len} | ${median(enc).toFixed(0)} | ${median(dec).toFixed(0)} |`);
}
if (sink === 0) console.log("(nothing encoded)");
