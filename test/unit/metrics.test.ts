// The replica's Prometheus metrics: what the loop stores and what the worker renders.

import { describe, expect, test } from "bun:test";
import { noEntries } from "../../src/wire/entries.ts";
import type { Effect, Event } from "../../src/core/types.ts";
import { Status } from "../../src/core/types.ts";
import {
  createLayout,
  fastPathCountersMax,
  instrumentNode,
  latencyBucketsS,
  MetricsRecorder,
  registerFastPathCounters,
  renderMetrics,
  unregisterFastPathCounters,
  type NodeStats,
  type StorageStats,
} from "../../src/node/metrics.ts";
import { fsyncBucketsS } from "../../src/storage/store.ts";
import { MessageType } from "../../src/wire/layout.ts";
import { parseExposition } from "../prometheus.ts";

const dropReasons = ["short", "magic", "foreign"];

function setup() {
  const layout = createLayout({ info: { version: "9.9.9", cluster: "t", replica: "1" }, selfIndex: 0, replicaIds: [1, 2, 3], dropReasons });
  const recorder = new MetricsRecorder(layout, 2);
  const values = new Float64Array(recorder.buffer);
  return { layout, recorder, values, render: (names: readonly string[] = recorder.currentFastPathNames) => parseExposition(renderMetrics(layout, values, names)) };
}

const request = (clientId: number, requestNum: number): Event => ({
  kind: "request",
  msg: { type: MessageType.Request, view: 0, clientId, requestNum, session: 1, op: new Uint8Array() },
});
const reply = (clientId: number, requestNum: number): Effect => ({
  kind: "reply",
  msg: { type: MessageType.Reply, view: 0, sender: 0, opNum: 1, clientId, requestNum, session: 1, result: new Uint8Array() },
});
const kernelState = (view: number, status: Status, leader: number, op: number): Effect => ({ kind: "kernelState", state: { status, view, leader, lastOp: op, commit: op } });
const flush: Event = { kind: "flush" };
const tick: Event = { kind: "tick" };

describe("metrics", () => {
  test("role, view, op and commit follow the kernel-state effects; view changes are counted", () => {
    const { recorder, render } = setup();
    recorder.observe(tick, [kernelState(0, Status.Recovering, 0, 0)]);
    let m = render();
    expect(m.get('electrode_role{role="recovering"}')).toBe(1);
    expect(m.get('electrode_role{role="leader"}')).toBe(0);
    recorder.observe(tick, [kernelState(0, Status.Normal, 0, 5)]);
    m = render();
    expect(m.get('electrode_role{role="leader"}')).toBe(1);
    expect(m.get("electrode_op_number")).toBe(5);
    expect(m.get("electrode_commit_number")).toBe(5);
    expect(m.get("electrode_leader_replica_id")).toBe(1);
    recorder.observe(tick, [kernelState(1, Status.ViewChange, 1, 5)]);
    recorder.observe(tick, [kernelState(1, Status.Normal, 1, 5)]);
    m = render();
    expect(m.get('electrode_role{role="follower"}')).toBe(1);
    expect(m.get("electrode_view")).toBe(1);
    expect(m.get("electrode_leader_replica_id")).toBe(2);
    expect(m.get("electrode_view_changes_total")).toBe(1);
    expect(m.get("electrode_info{version=\"9.9.9\",cluster=\"t\",replica=\"1\"}")).toBe(1);
  });

  test("sent messages by type: send counts one, broadcast one per peer, reply one", () => {
    const { recorder, render } = setup();
    const prepare = { type: MessageType.Prepare, view: 0, sender: 0, opNum: 1, commit: 0, entries: noEntries } as const;
    recorder.observe(flush, [{ kind: "broadcast", msg: prepare }, { kind: "send", to: 1, msg: prepare }]);
    recorder.observe(request(7, 1), []);
    recorder.observe(flush, [reply(7, 1)]);
    const m = render();
    expect(m.get('electrode_messages_sent_total{type="Prepare"}')).toBe(3);
    expect(m.get('electrode_messages_sent_total{type="Reply"}')).toBe(1);
  });

  test("commit latency: arrival to reply, retries keep the first arrival, replies to unknown requests are not timed", async () => {
    const { recorder, render } = setup();
    recorder.observe(request(1, 10), []);
    recorder.observe(flush, []);
    await Bun.sleep(3);
    recorder.observe(request(1, 10), []); // retry
    recorder.observe(flush, [reply(1, 10)]);
    recorder.observe(flush, [reply(1, 10)]); // cached reply to a retry: not timed again
    recorder.observe(flush, [reply(2, 1)]); // never seen
    const m = render();
    expect(m.get("electrode_commit_latency_seconds_count")).toBe(1);
    expect(m.get("electrode_commit_latency_seconds_sum")!).toBeGreaterThanOrEqual(0.003);
    expect(m.get('electrode_commit_latency_seconds_bucket{le="0.001"}')).toBe(0);
    expect(m.get('electrode_commit_latency_seconds_bucket{le="+Inf"}')).toBe(1);
    // Buckets are cumulative and end at +Inf.
    let previous = 0;
    for (const le of [...latencyBucketsS.map(String), "+Inf"]) {
      const v = m.get(`electrode_commit_latency_seconds_bucket{le="${le}"}`)!;
      expect(v).toBeGreaterThanOrEqual(previous);
      previous = v;
    }
  });

  test("node counters are copied on ticks, through the step hook", () => {
    const { recorder, render } = setup();
    const stats: NodeStats & { requests: number } = {
      received: 10, sent: 20, requests: 3, replies: 2, ticks: 1,
      dropped: { short: 1, magic: 0, foreign: 4 },
      byType: { Request: 3, PrepareOk: 7 },
    };
    const steps: Event[] = [];
    const node = { stats, core: { step: (e: Event): Effect[] => (steps.push(e), []) } };
    instrumentNode(node, recorder);
    node.core.step(tick);
    expect(steps.length).toBe(1); // the original step still runs
    const m = render();
    expect(m.get("electrode_requests_total")).toBe(3);
    expect(m.get("electrode_replies_total")).toBe(2);
    expect(m.get("electrode_datagrams_received_total")).toBe(10);
    expect(m.get('electrode_dropped_total{reason="foreign"}')).toBe(4);
    expect(m.get('electrode_messages_received_total{type="PrepareOk"}')).toBe(7);
    expect(m.get("electrode_loop_last_tick_seconds")!).toBeGreaterThan(Date.now() / 1000 - 60);
  });

  test("storage: memory only says so; a data directory's fsync histogram (cumulative buckets), bytes, WAL, stall", () => {
    const { recorder, render } = setup();
    const stats: NodeStats = { received: 0, sent: 0, requests: 0, replies: 0, ticks: 1, dropped: {}, byType: {} };
    let storage: StorageStats | undefined;
    const node = { stats, core: { step: (_: Event): Effect[] => [] }, storageStats: () => storage };
    instrumentNode(node, recorder);
    node.core.step(tick);
    let m = render();
    expect(m.get('electrode_storage_info{mode="memory"}')).toBe(1);
    expect(m.has("electrode_storage_fsync_seconds_count")).toBe(false);
    const buckets = new Array<number>(fsyncBucketsS.length + 1).fill(0);
    buckets[0] = 3; // <= 100 us
    buckets[3] = 2; // <= 1 ms
    buckets[fsyncBucketsS.length] = 1; // above every bound
    storage = { mode: "always", fsyncs: 6, fsyncBuckets: buckets, fsyncSumS: 2.5, bytesWritten: 4096, records: 40, walBytes: 5000, segments: 2, recoveryS: 0.25, stalled: true, writeErrors: 1, heldBack: 9, checkpointsWritten: 3, diskStartDroppedOps: 4 };
    node.core.step(tick);
    m = render();
    expect(m.get('electrode_storage_info{mode="always"}')).toBe(1);
    expect(m.get('electrode_storage_fsync_seconds_bucket{le="0.0001"}')).toBe(3);
    expect(m.get('electrode_storage_fsync_seconds_bucket{le="0.001"}')).toBe(5);
    expect(m.get('electrode_storage_fsync_seconds_bucket{le="+Inf"}')).toBe(6);
    expect(m.get("electrode_storage_fsync_seconds_count")).toBe(6);
    expect(m.get("electrode_storage_fsync_seconds_sum")).toBe(2.5);
    expect(m.get("electrode_storage_bytes_written_total")).toBe(4096);
    expect(m.get("electrode_storage_wal_bytes")).toBe(5000);
    expect(m.get("electrode_storage_recovery_seconds")).toBe(0.25);
    expect(m.get("electrode_storage_stalled")).toBe(1);
    expect(m.get("electrode_storage_held_back_total")).toBe(9);
    expect(m.get("electrode_storage_disk_start_dropped_ops")).toBe(4);
  });

  test("fast-path counters come from registered sources, names announced only when they change", () => {
    const { recorder, render } = setup();
    const announced: string[][] = [];
    recorder.onFastPathNames = (names) => announced.push(names);
    let clones = 5;
    registerFastPathCounters("test-a", () => ({ tc_broadcast_clones: clones, tc_broadcast_passed: 1 }));
    registerFastPathCounters("test-broken", () => {
      throw new Error("map gone");
    });
    const errors: string[] = [];
    recorder.onFastPathError = (e) => errors.push(e);
    try {
      recorder.refreshFastPath();
      clones = 9;
      recorder.refreshFastPath();
      const m = render();
      expect(m.get('electrode_fast_path_total{counter="tc_broadcast_clones"}')).toBe(9);
      expect(m.get('electrode_fast_path_total{counter="tc_broadcast_passed"}')).toBe(1);
      expect(announced).toEqual([["tc_broadcast_clones", "tc_broadcast_passed"]]);
      expect(errors.length).toBe(1);
      expect(errors[0]).toContain("map gone");
    } finally {
      unregisterFastPathCounters("test-a");
      unregisterFastPathCounters("test-broken");
    }
  });

  test("more fast-path counters than slots: the rest are left out, not written out of bounds", () => {
    const { recorder, layout, values } = setup();
    const many = Object.fromEntries(Array.from({ length: fastPathCountersMax + 5 }, (_, i) => [`c${i}`, i + 1]));
    registerFastPathCounters("test-many", () => many);
    try {
      recorder.refreshFastPath();
      expect(recorder.currentFastPathNames.length).toBe(fastPathCountersMax);
      expect(values.length).toBe(layout.size);
      expect(values[layout.fastPath + fastPathCountersMax - 1]).toBe(fastPathCountersMax);
    } finally {
      unregisterFastPathCounters("test-many");
    }
  });

  test("label values are escaped", () => {
    const layout = createLayout({ info: { cluster: 'a"b\\c\nd' }, selfIndex: 0, replicaIds: [1], dropReasons: [] });
    const text = renderMetrics(layout, new Float64Array(layout.size), []);
    expect(text).toContain('electrode_info{cluster="a\\"b\\\\c\\nd"} 1');
  });
});
