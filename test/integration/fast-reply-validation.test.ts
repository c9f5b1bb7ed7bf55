// Fast reply acks only what user space can read. The real XDP program, run on crafted frames
// (BPF_PROG_TEST_RUN), acks exactly the Prepares the codec decodes that extend the log, and passes
// every lie of test/lying-prepares.ts up, counted as xdp_fast_pass_invalid; then, on a namespace
// cluster, the same lies sent from the leader's configured address get no fast ack, and the
// leader's next real Prepare is still acked in XDP (a lie left the kernel's cursor alone).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BPF_F_LOCK, check, libbpf, ptr } from "../../ffi/libbpf.ts";
import { seededRandom } from "../../src/bench/random.ts";
import { openProgramMap } from "../../src/kernel/ids.ts";
import { closeFd } from "../../src/kernel/maps.ts";
import { kstateValueBytes } from "../../src/kernel/xdp.ts";
import type { RunningCluster } from "../../src/local/processes.ts";
import { Codec } from "../../src/wire/codec.ts";
import { header, MessageType, prepareBody } from "../../src/wire/layout.ts";
import { decodesAsPrepare, lyingPrepares, mutatedPrepare, wellFormedPrepare, type PrepareTarget } from "../lying-prepares.ts";
import { hex, udpFrame } from "./frame-check.ts";
import { isRoot, startCluster } from "./harness.ts";
import { rawSend } from "./raw-send.ts";
import { XDP_PASS, XDP_TX, XdpUnderTest } from "./xdp-test-run.ts";

const clusterId = 0x1dea;
const port = 12345;
const leader = { index: 0, ip: "10.99.0.1", port };
const self = { index: 1, ip: "10.99.0.2", port };
const view = 6;

/** The ops a datagram that decodes as a Prepare covers (header op, count). */
function opsOf(d: Uint8Array): { first: number; op: number } {
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const op = Number(v.getBigUint64(header.fields.op.offset, true));
  return { first: op - v.getUint16(header.size + prepareBody.fields.count.offset, true) + 1, op };
}

describe.skipIf(!isRoot)("the XDP program on crafted frames (BPF_PROG_TEST_RUN)", () => {
  let xdp: XdpUnderTest;
  let epoch = 1;
  beforeAll(async () => {
    xdp = await XdpUnderTest.load({ clusterId, selfIndex: self.index, replicaCount: 3, port, peers: [leader, self, { index: 2, ip: "10.99.0.3", port }] });
  });
  afterAll(() => xdp?.close());

  /** A fresh epoch each time: the cursor of the last run does not count, the log ends at lastOp. */
  function follower(lastOp: number): PrepareTarget {
    xdp.setState({ view, leader: leader.index, lastOp, epoch: epoch++ });
    return { clusterId, view, sender: leader.index, first: lastOp + 1 };
  }

  test("every lie is passed up and counted; the well-formed Prepare after it is acked", () => {
    const target = follower(40);
    for (const lie of lyingPrepares(target)) {
      const before = xdp.counters();
      expect(xdp.run(udpFrame(leader, self, lie.datagram)).verdict, lie.name).toBe(XDP_PASS);
      const after = xdp.counters();
      expect(after.xdp_fast_pass_invalid! - before.xdp_fast_pass_invalid!, lie.name).toBe(1);
      expect(after.xdp_fast_acked, lie.name).toBe(before.xdp_fast_acked);
    }
    const { verdict, out } = xdp.run(udpFrame(leader, self, wellFormedPrepare(target, 2)));
    expect(verdict).toBe(XDP_TX);
    const ack = new Codec(clusterId).decode(out.subarray(14 + 20 + 8));
    expect(ack.ok && ack.msg.type === MessageType.PrepareOk && ack.msg.opNum).toBe(42);
  });

  test("IP and UDP lengths that disagree are passed up", () => {
    const target = follower(7);
    const before = xdp.counters();
    expect(xdp.run(udpFrame(leader, self, wellFormedPrepare(target), 4)).verdict).toBe(XDP_PASS);
    expect(xdp.counters().xdp_fast_pass_invalid! - before.xdp_fast_pass_invalid!).toBe(1);
    expect(xdp.run(udpFrame(leader, self, wellFormedPrepare(target))).verdict).toBe(XDP_TX);
  });

  test("on random near-valid Prepares it acks exactly those the codec decodes that extend the log", () => {
    const random = seededRandom(77);
    const tally = { acked: 0, decodedNotNext: 0, rejected: 0 };
    // The ring is never drained here: 2,000 runs stay well within its 4 MiB.
    for (let i = 0; i < 2000; i++) {
      const target = follower(1 + Math.floor(random() * 1000));
      const d = mutatedPrepare(target, random);
      const decodes = decodesAsPrepare(d, clusterId);
      const next = decodes && opsOf(d).first === target.first;
      const { verdict, out } = xdp.run(udpFrame(leader, self, d));
      if ((verdict === XDP_TX) !== next) throw new Error(`verdict ${verdict}, codec ${decodes}, next ${next}: ${Buffer.from(d).toString("hex")}`);
      if (verdict === XDP_TX) {
        const ack = new Codec(clusterId).decode(out.subarray(14 + 20 + 8));
        expect(ack.ok && ack.msg.type === MessageType.PrepareOk && ack.msg.opNum).toBe(opsOf(d).op);
        tally.acked++;
      } else if (decodes) tally.decodedNotNext++;
      else tally.rejected++;
    }
    console.log(`crafted Prepares: ${JSON.stringify(tally)}`);
    expect(tally.acked).toBeGreaterThan(300);
    expect(tally.rejected).toBeGreaterThan(500);
    expect(xdp.counters().xdp_fast_pass_ring_full).toBe(0);
  });
});

/** One map value of program `progId` (found by id: nothing is pinned) read under its spin lock. */
function lookupLocked(progId: number, map: string, bytes: number): DataView {
  const fd = openProgramMap(progId, map);
  if (fd === undefined) throw new Error(`program ${progId} has no map ${map}`);
  try {
    const key = new Uint32Array(new ArrayBuffer(4));
    const value = new Uint8Array(new ArrayBuffer(bytes));
    check(`lookup ${map}`, libbpf().bpf_map_lookup_elem_flags(fd, ptr(key), ptr(value), BPF_F_LOCK));
    return new DataView(value.buffer);
  } finally {
    closeFd(fd);
  }
}

/** The last op replica `index`'s XDP program holds in its view (a Prepare from op+1 on extends
 * it): the cursor when it is ahead of the log end user space wrote, as claim() in the C decides. */
async function kernelHeldOp(cluster: RunningCluster, index: number): Promise<{ view: number; op: number }> {
  // The replica's own XDP instance, as status (run in its namespace) finds it on its interface.
  const progId = (await cluster.status(index + 1)).xdp.program_id;
  if (!progId) throw new Error(`replica ${index + 1} has no XDP program attached`);
  const st = lookupLocked(progId, "el_xdp_state", kstateValueBytes); // lock and pad, then struct electrode_kstate
  const state = { view: st.getUint32(8 + 4, true), epoch: st.getUint32(8 + 12, true), lastOp: Number(st.getBigUint64(8 + 16, true)) };
  const c = lookupLocked(progId, "el_xdp_cursor", 24); // lock, view, epoch, pad, op
  const cursor = { view: c.getUint32(4, true), epoch: c.getUint32(8, true), op: Number(c.getBigUint64(16, true)) };
  const ahead = cursor.epoch === state.epoch && cursor.view === state.view && cursor.op > state.lastOp;
  return { view: state.view, op: ahead ? cursor.op : state.lastOp };
}

/** Replica at `index`'s XDP counters (of its running process's instance). */
async function counters(cluster: RunningCluster, index: number): Promise<Record<string, number>> {
  return (await cluster.status(index + 1)).counters;
}

describe.skipIf(!isRoot)("lying Prepares from the leader's address on a namespace cluster", () => {
  test("get no fast ack and go up counted; the leader's next Prepare is still fast-acked", async () => {
    const h = await startCluster(3, { setup: true });
    try {
      const cluster = h.cluster;
      const config = cluster.config;
      for (let i = 0; i < 3; i++) expect((await cluster.client(["put", `k${i}`, `v${i}`])).code).toBe(0);
      await Bun.sleep(300); // idle: heartbeats (Commits) only from now on
      const leaderNode = cluster.local.replicas[0]!; // replica 1 leads view 0
      const from = { ip: leaderNode.ip, port: config.replicas[0]!.port };
      for (const index of [1, 2]) {
        const held = await kernelHeldOp(cluster, index);
        expect(held.view).toBe(0);
        const lies = lyingPrepares({ clusterId: config.clusterId, view: 0, sender: 0, first: held.op + 1 });
        const before = await counters(cluster, index);
        const to = { ip: cluster.local.replicas[index]!.ip, port: config.replicas[index]!.port };
        expect(await rawSend({ ns: leaderNode.ns, from, to, payloadsHex: lies.map((l) => hex(l.datagram)), gapMs: 2 })).toBe(lies.length);
        await Bun.sleep(200);
        const after = await counters(cluster, index);
        expect(after.xdp_fast_acked).toBe(before.xdp_fast_acked!);
        expect(after.xdp_fast_pass_invalid! - before.xdp_fast_pass_invalid!).toBe(lies.length);
        expect(await kernelHeldOp(cluster, index)).toEqual(held);
      }
      // The leader's next Prepare extends every follower's log as before: acked in XDP.
      const before = await Promise.all([1, 2].map((i) => counters(cluster, i)));
      expect((await cluster.client(["put", "after", "lies"])).code).toBe(0);
      const after = await Promise.all([1, 2].map((i) => counters(cluster, i)));
      for (const i of [0, 1]) expect(after[i]!.xdp_fast_acked!).toBeGreaterThan(before[i]!.xdp_fast_acked!);
      expect((await cluster.client(["get", "after"])).stdout.trim()).toBe("lies");
      // Every replica still runs (one that got an acked record it cannot read stops).
      expect(cluster.replicas.map((r) => (r.proc ? r.proc.exitCode : "gone"))).toEqual([null, null, null]);
    } finally {
      await h.close();
    }
  }, 60_000);
});
