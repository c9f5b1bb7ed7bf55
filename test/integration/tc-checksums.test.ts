// The tc broadcast's clones as they arrive on the wire: one marked Prepare from the leader's
// namespace becomes exactly one frame at each follower, each with a right IP header checksum and
// a right, non-zero UDP checksum, the follower's MAC, IP and port, and the payload intact apart
// from the flags the program rewrites (BROADCAST cleared, CLONE set).
//
// TX checksum offload is turned OFF on the leader's NIC: with it on, veth carries the packet as
// CHECKSUM_PARTIAL and the receiver never verifies the sum, which would hide a wrong incremental
// update (the original artifact's bug). Frames are captured with AF_PACKET in each follower
// namespace (raw-capture.ts), so the checksums are seen exactly as they arrived.

import { describe, expect, test } from "bun:test";
import { entriesOf } from "../../src/wire/entries.ts";
import type { RunningCluster } from "../../src/local/processes.ts";
import { Codec } from "../../src/wire/codec.ts";
import { Flag, header, MessageType } from "../../src/wire/layout.ts";
import type { Prepare } from "../../src/wire/messages.ts";
import { hex, parseUdpFrame, unhex, type UdpFrame } from "./frame-check.ts";
import { isRoot, withSetupCluster } from "./harness.ts";
import { runCapture } from "./raw-capture.ts";

const port = 12345; // RunningCluster's default: every replica listens there

/** A real Prepare from the leader (index 0) with two entries; an odd length exercises the
 * checksum's padding of the last byte. */
function markedPrepare(codec: Codec): Uint8Array {
  const prepare: Prepare = {
    type: MessageType.Prepare,
    view: 0,
    sender: 0,
    opNum: 2,
    commit: 0,
    entries: entriesOf([
      { clientId: 0x1234_5678, requestNum: 1, op: new TextEncoder().encode("put color blue") },
      { clientId: 0x1234_5678, requestNum: 2, op: new Uint8Array([0xff, 0x00, 0xfe, 0x01, 0x80]) },
    ]),
  };
  const buf = new Uint8Array(1472);
  const len = codec.encode(prepare, buf, Flag.Broadcast);
  expect(len % 2).toBe(1);
  return buf.slice(0, len);
}

async function broadcastCounters(cluster: RunningCluster): Promise<Record<string, number>> {
  return (await cluster.status(cluster.local.replicas[0]!.id)).counters;
}

function expectIntactPayload(got: Uint8Array, sent: Uint8Array): void {
  const flagsAt = header.fields.flags.offset;
  expect(got.length).toBe(sent.length);
  expect(got[flagsAt]).toBe((sent[flagsAt]! & ~Flag.Broadcast) | Flag.Clone);
  const masked = (bytes: Uint8Array) => hex(bytes.subarray(0, flagsAt)) + hex(bytes.subarray(flagsAt + 1));
  expect(masked(got)).toBe(masked(sent));
}

/** The checker itself must see a broken sum: flip one payload byte, then one IP header byte. */
function expectCheckerCatchesCorruption(frameHex: string): void {
  const payloadByte = unhex(frameHex);
  payloadByte[payloadByte.length - 1]! ^= 0x01;
  expect(parseUdpFrame(payloadByte)!.udpChecksumOk).toBe(false);
  const ipByte = unhex(frameHex);
  ipByte[14 + 8]! ^= 0x01; // TTL
  expect(parseUdpFrame(ipByte)!.ipChecksumOk).toBe(false);
}

async function checkOneBroadcast(cluster: RunningCluster): Promise<void> {
  const [leader, ...followers] = cluster.local.replicas;
  cluster.local.run(leader!.ns, ["ethtool", "-K", "eth0", "tx", "off"]);
  expect(cluster.local.run(leader!.ns, ["ethtool", "-k", "eth0"])).toMatch(/^tx-checksumming: off/m);
  const sent = markedPrepare(new Codec(cluster.config.clusterId));
  const frames = await runCapture({
    captures: followers.map((f) => ({ ns: f.ns, iface: "eth0" })),
    send: { ns: leader!.ns, from: `${leader!.ip}:${port}`, to: `${followers[0]!.ip}:${port}`, payloadHex: hex(sent) },
    port,
    expect: followers.length,
    quietMs: 300,
    timeoutMs: 5000,
  });
  for (const f of followers) {
    const mine = frames.filter((c) => c.ns === f.ns);
    expect({ follower: f.ns, frames: mine.length }).toEqual({ follower: f.ns, frames: 1 });
    const frame: UdpFrame = parseUdpFrame(unhex(mine[0]!.hex))!;
    expect({ ...frame, payload: undefined }).toEqual({
      ...frame,
      payload: undefined,
      dstMac: f.mac,
      srcMac: leader!.mac,
      srcIp: leader!.ip,
      dstIp: f.ip,
      srcPort: port,
      dstPort: port,
      ipTotalLength: 20 + 8 + sent.length,
      udpLength: 8 + sent.length,
      ipChecksumOk: true,
      udpChecksumOk: true,
    });
    expect(frame.udpChecksum).not.toBe(0);
    expect(frame.fragment & 0x3fff).toBe(0);
    expectIntactPayload(frame.payload, sent);
    const decoded = new Codec(cluster.config.clusterId).decode(frame.payload);
    expect(decoded.ok && decoded.flags).toBe(Flag.Clone);
  }
  expect(frames.length).toBe(followers.length);
  expectCheckerCatchesCorruption(frames[0]!.hex);
  const counters = await broadcastCounters(cluster);
  expect(counters.tc_broadcast_matched).toBe(1);
  expect(counters.tc_broadcast_clones).toBe(followers.length);
  expect(counters.tc_broadcast_clone_errors).toBe(0);
}

describe.skipIf(!isRoot)("tc broadcast clones on the wire (TX checksum offload off)", () => {
  for (const n of [3, 5, 7, 9, 15]) {
    test(`${n} replicas: one marked Prepare arrives once at each of ${n - 1} followers, checksums right`, async () => {
      await withSetupCluster(n, checkOneBroadcast);
    }, 120_000);
  }
});
