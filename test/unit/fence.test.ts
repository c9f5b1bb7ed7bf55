// The fence through the whole chain of a replica process: a ReplicaNode on loopback whose XDP
// ring is plain memory with a producer on another thread (ring-producer.ts), test sockets as its
// peers. A follower leaving its view must take in the Prepare its kernel acked even when the
// program holds the record far longer than a scheduler hiccup; and when the record never comes,
// the replica stops (FenceStalled out of run(), exit 1 from the CLI) without sending a word of
// the view change.

import { afterEach, describe, expect, test } from "bun:test";
import { entriesOf } from "../../src/wire/entries.ts";
import { failure } from "../../src/cli/main.ts";
import { parseConfig, replicaById, type Config } from "../../src/config/config.ts";
import { Status, type KernelState } from "../../src/core/types.ts";
import { FenceStalled, RingReader } from "../../src/kernel/ring.ts";
import { UdpSocket, parseAddr } from "../../src/net/udp.ts";
import type { FastPathPort } from "../../src/node/kernel-link.ts";
import { ReplicaNode } from "../../src/node/replica-node.ts";
import { Codec } from "../../src/wire/codec.ts";
import { datagramBytesMax, MessageType } from "../../src/wire/layout.ts";
import type { Message, Prepare } from "../../src/wire/messages.ts";
import { fenceBegins, holdRecordInWorker, ringBuffers, ringMemory } from "./ring-producer.ts";

const quiet = { info() {}, warn() {}, debug() {} };
const enc = new TextEncoder();

/** The kernel side of a node whose ring is plain memory; says when the fence begins. */
class RingPort implements FastPathPort {
  readonly prune = false;
  readonly fastReply = true;
  readonly written: Pick<KernelState, "status" | "view">[] = [];
  fenceStartedAt = 0;
  constructor(
    private readonly reader: RingReader,
    private readonly control: Int32Array,
  ) {}
  writeState(s: Pick<KernelState, "status" | "view" | "leader" | "lastOp">): void {
    this.written.push({ status: s.status, view: s.view });
  }
  drain(onRecord: (datagram: Uint8Array) => void, fence = false): number {
    if (fence) {
      this.fenceStartedAt = performance.now();
      fenceBegins(this.control);
    }
    return this.reader.drain(onRecord, fence);
  }
  close(): void {}
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** Messages that arrive at `socket`, decoded. */
function inbox(socket: UdpSocket, codec: Codec): () => Message[] {
  const got: Message[] = [];
  return () => {
    socket.receive((slot, len) => {
      const d = codec.decode(slot.slice(0, len));
      if (d.ok) got.push(d.msg);
    });
    return got;
  };
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}

/**
 * Replica index 2 of 3 (a follower of view 0, fast reply on) with test sockets for replicas 0 (the
 * leader) and 1. The leader has prepared ops 1..2 the normal way; the node's kernel acked op 3 in
 * a ring record that a worker holds reserved until `holdMs` after the fence begins (null: forever).
 */
async function followerWithHeldRecord(holdMs: number | null, stallMs?: number) {
  const base = 20000 + Math.floor(Math.random() * 40000);
  const yaml = `f: 1\ntiming: { tick_ms: 5, heartbeat_ms: 20, view_change_ms: 100 }\nreplicas:\n${[0, 1, 2].map((i) => `  - { id: ${i + 1}, addr: 127.0.0.1:${base + i} }`).join("\n")}\n`;
  const config: Config = parseConfig(yaml);
  const codec = new Codec(config.clusterId);
  const peers = [0, 1].map((i) => UdpSocket.bind("127.0.0.1", base + i));
  for (const p of peers) cleanups.push(() => p.close());
  const to = parseAddr(`127.0.0.1:${base + 2}`);
  const send = (from: UdpSocket, msg: Message) => {
    const buf = new Uint8Array(datagramBytesMax);
    from.sendTo(to, buf, codec.encode(msg, buf));
  };
  const entry = (n: number) => ({ clientId: 7, requestNum: n, op: enc.encode(`op${n}`) });
  const prepare = (first: number, last: number): Prepare => ({ type: MessageType.Prepare, view: 0, sender: 0, opNum: last, commit: 0, entries: entriesOf(Array.from({ length: last - first + 1 }, (_, i) => entry(first + i))) });

  const buffers = ringBuffers(1 << 16);
  const acked = new Uint8Array(datagramBytesMax);
  const datagram = acked.slice(0, codec.encode(prepare(3, 3), acked));
  const { worker, control } = holdRecordInWorker({ buffers, datagram, reserveBytes: 8 + datagram.length, holdMs });
  cleanups.push(() => worker.terminate());
  const port = new RingPort(new RingReader(ringMemory(buffers), stallMs), control);
  const node = new ReplicaNode({ config, self: replicaById(config, 3), app: "kv", recovering: false, nonce: 1, tcBroadcast: false, fastPath: port, log: quiet });
  cleanups.push(() => node.close());
  const leader = inbox(peers[0]!, codec);
  const next = inbox(peers[1]!, codec);
  const running = node.run();
  cleanups.push(() => node.stop());
  send(peers[0]!, prepare(1, 2));
  await until("the PrepareOk for ops 1..2", () => leader().find((m) => m.type === MessageType.PrepareOk && m.opNum === 2));
  return { node, port, running, leader, next, peers, send };
}

const viewChangeFrom = (msgs: Message[]) => msgs.filter((m) => m.type === MessageType.StartViewChange || m.type === MessageType.DoViewChange);

describe("fence in a replica node", () => {
  test("a record held reserved 300 ms into the fence is taken in: the DoViewChange counts the op the kernel acked", async () => {
    const t = await followerWithHeldRecord(300);
    const svc = await until("the StartViewChange", () => t.leader().find((m) => m.type === MessageType.StartViewChange));
    expect(svc).toMatchObject({ view: 1, sender: 2 });
    expect(t.node.core.opNum).toBe(3);
    expect(performance.now() - t.port.fenceStartedAt).toBeGreaterThanOrEqual(290);
    // Replica 0 agrees to the view change; the node answers the new leader (replica 1).
    t.send(t.peers[0]!, { type: MessageType.StartViewChange, view: 1, sender: 0 });
    const dvc = await until("the DoViewChange", () => t.next().find((m) => m.type === MessageType.DoViewChange));
    expect(dvc).toMatchObject({ view: 1, sender: 2, opNum: 3 });
    t.node.stop();
    await t.running;
  });

  test("a record never submitted: run() ends with FenceStalled after the bound, and nothing of the view change is sent", async () => {
    const t = await followerWithHeldRecord(null, 300);
    const outcome = await t.running.then(
      () => "returned",
      (e: unknown) => e,
    );
    expect(outcome).toBeInstanceOf(FenceStalled);
    expect(performance.now() - t.port.fenceStartedAt).toBeGreaterThanOrEqual(300);
    // The kernel was told to stop acking in view 0 before the fence waited.
    expect(t.port.written.at(-1)).toEqual({ status: Status.ViewChange, view: 1 });
    t.node.close();
    await Bun.sleep(50); // anything sent would have arrived by now
    expect(viewChangeFrom(t.leader())).toEqual([]);
    expect(viewChangeFrom(t.next())).toEqual([]);
    expect(t.node.core.view).toBe(0);
  });

  test("the CLI turns FenceStalled into one line and exit code 1", () => {
    const { code, lines } = failure(new FenceStalled("fence stalled: test"), false);
    expect(code).toBe(1);
    expect(lines).toEqual(["electrode: fence stalled: test"]);
  });
});
