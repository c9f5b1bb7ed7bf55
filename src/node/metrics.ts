// Prometheus metrics of one replica, without disturbing its loop.
//
// The replica loop blocks in poll(2) through ffi, so it cannot answer HTTP itself. Instead it
// writes its counters with plain stores into a SharedArrayBuffer (a Float64Array: exact up to
// 2^53, and an aligned 8-byte store does not tear on the machines we run on), and a Bun Worker
// (metrics-worker.ts) serves /metrics from that memory. No message crosses per update: the only
// messages are the worker's start-up and the rare change of the fast-path counter names.
//
// This file holds the layout of that memory, the writer the loop uses (MetricsRecorder), the
// renderer the worker uses (text exposition format 0.0.4), and the server handle.

import type { Effect, Event } from "../core/types.ts";
import { Status } from "../core/types.ts";
import { MessageType } from "../wire/layout.ts";
import type { FsyncMode } from "../config/config.ts";
import { fsyncBucketsS } from "../storage/store.ts";

/** Commit latency buckets (request arrival at the leader -> reply), in seconds. */
export const latencyBucketsS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** Slots for fast-path counters (BPF map counters); names beyond this are not exported. */
export const fastPathCountersMax = 64;

/** Requests whose arrival time is remembered at once (one per client); beyond this we forget all. */
const arrivalsMax = 1 << 16;

const scalarNames = [
  "status",
  "view",
  "leaderIndex",
  "opNum",
  "commit",
  "viewChanges",
  "requests",
  "replies",
  "datagramsReceived",
  "datagramsSent",
  "ticks",
  "lastTickS",
  "startTimeS",
  "fastPathUpdatedS",
  "latencySum",
  "latencyCount",
  "logEntries",
  "logBytes",
  "logFirstOp",
  "checkpointOp",
  "checkpointBytes",
  "checkpointSnapshotS",
  "checkpointsTaken",
  "checkpointsInstalled",
  "snapshotChunksSent",
  "snapshotChunksReceived",
  "clientSessions",
  "clientEvictions",
  "readsAnswered",
  "readsByLease",
  "readRounds",
  "storageMode",
  "storageFsyncs",
  "storageFsyncSumS",
  "storageBytesWritten",
  "storageRecords",
  "storageWalBytes",
  "storageSegments",
  "storageRecoveryS",
  "storageStalled",
  "storageWriteErrors",
  "storageHeldBack",
  "storageCheckpointsWritten",
  "storageDiskStartDroppedOps",
] as const;
type ScalarName = (typeof scalarNames)[number];

/** Message type names, in enum order (Request, Reply, Prepare...). */
export const messageTypeNames: readonly string[] = Object.values(MessageType).filter((v): v is string => typeof v === "string");

/** Where each value sits in the shared Float64Array. Plain data: it is cloned to the worker. */
export interface MetricsLayout {
  readonly size: number;
  readonly info: Readonly<Record<string, string>>;
  readonly selfIndex: number;
  /** Replica id of each config position, to name the leader. */
  readonly replicaIds: readonly number[];
  readonly scalar: Readonly<Record<ScalarName, number>>;
  readonly received: Readonly<Record<string, number>>;
  readonly sent: Readonly<Record<string, number>>;
  readonly dropped: Readonly<Record<string, number>>;
  /** First of latencyBucketsS.length + 1 slots (the last is +Inf), not cumulative. */
  readonly latencyBuckets: number;
  /** First of fsyncBucketsS.length + 1 slots, likewise. */
  readonly fsyncBuckets: number;
  readonly fastPath: number;
}

export function createLayout(opts: {
  info: Record<string, string>;
  selfIndex: number;
  replicaIds: readonly number[];
  dropReasons: readonly string[];
}): MetricsLayout {
  let next = 0;
  const take = () => next++;
  const table = (names: readonly string[]) => Object.fromEntries(names.map((n) => [n, take()]));
  const scalar = table(scalarNames) as Record<ScalarName, number>;
  const received = table(messageTypeNames);
  const sent = table(messageTypeNames);
  const dropped = table(opts.dropReasons);
  const latencyBuckets = next;
  next += latencyBucketsS.length + 1;
  const fsyncBuckets = next;
  next += fsyncBucketsS.length + 1;
  const fastPath = next;
  next += fastPathCountersMax;
  return { size: next, info: opts.info, selfIndex: opts.selfIndex, replicaIds: opts.replicaIds, scalar, received, sent, dropped, latencyBuckets, fsyncBuckets, fastPath };
}

/** What the replica node exposes as counters (ReplicaNode.stats). */
export interface NodeStats {
  readonly received: number;
  readonly sent: number;
  readonly requests: number;
  readonly replies: number;
  readonly ticks: number;
  readonly dropped: Readonly<Record<string, number>>;
  readonly byType: Readonly<Record<string, number>>;
}

/** What the replica holds in memory: its log, its latest checkpoint, its client table. */
export interface StateStats {
  readonly logEntries: number;
  readonly logBytes: number;
  readonly logFirstOp: number;
  readonly checkpointOp: number;
  readonly checkpointBytes: number;
  /** How long the app's snapshot for the latest checkpoint took (0 for one installed). */
  readonly checkpointSnapshotMs: number;
  readonly checkpointsTaken: number;
  readonly checkpointsInstalled: number;
  readonly snapshotChunksSent: number;
  readonly snapshotChunksReceived: number;
  readonly clientSessions: number;
  readonly clientEvictions: number;
  /** Linearizable reads answered without a log write, those the lease confirmed, and read rounds sent (leader). */
  readonly readsAnswered: number;
  readonly readsByLease: number;
  readonly readRounds: number;
}

/** A source of fast-path counters (e.g. a BPF map), read about once a second by the loop. */
/** The data directory's counters (src/storage/store.ts, ReplicaNode.storageStats). */
export interface StorageStats {
  readonly mode: FsyncMode;
  readonly fsyncs: number;
  /** Per fsyncBucketsS bucket (the last +Inf), not cumulative. */
  readonly fsyncBuckets: readonly number[];
  readonly fsyncSumS: number;
  readonly bytesWritten: number;
  readonly records: number;
  readonly walBytes: number;
  readonly segments: number;
  readonly recoveryS: number;
  readonly stalled: boolean;
  readonly writeErrors: number;
  readonly heldBack: number;
  readonly checkpointsWritten: number;
  /** At a whole-cluster restart from this replica's disk: ops another disk held above the log it
   * resumed from (none recorded as committed); 0 otherwise. */
  readonly diskStartDroppedOps: number;
}

const storageModes: Record<FsyncMode | "memory", number> = { memory: 0, off: 1, interval: 2, always: 3 };

export type FastPathCounters = () => Record<string, number> | undefined;

const fastPathSources = new Map<string, FastPathCounters>();

/**
 * Registers (or, with the same name, replaces) a reader of fast-path counters. The replica loop
 * calls every registered reader about once a second while metrics are on; each returns counter
 * name -> value (e.g. tc_broadcast_clones -> 123), exported as electrode_fast_path_total{counter}.
 */
export function registerFastPathCounters(name: string, read: FastPathCounters): void {
  fastPathSources.set(name, read);
}

export function unregisterFastPathCounters(name: string): void {
  fastPathSources.delete(name);
}

/** The loop's side: plain stores into the shared memory. */
export class MetricsRecorder {
  readonly buffer: SharedArrayBuffer;
  private readonly v: Float64Array;
  private readonly s: Readonly<Record<ScalarName, number>>;
  private readonly sentSlotByType: number[] = [];
  private readonly receivedSlots: [string, number][];
  private readonly droppedSlots: [string, number][];
  // Pending requests, one per client: clientId -> slot in two typed arrays (request number and
  // arrival time; time -1 once replied). Two map lookups per request, no allocation.
  private readonly arrivalSlot = new Map<number, number>();
  private readonly arrivalRequest = new Float64Array(arrivalsMax);
  private readonly arrivalNs = new Float64Array(arrivalsMax);
  /** Clock read once per receive batch: requests drained together share an arrival time. */
  private batchNs = 0;
  private lastView = -1;
  private nextFastPathNs = 0;
  private fastPathNames: string[] = [];
  private readonly reportedErrors = new Set<string>();

  /** Called when the set of fast-path counter names changes (the worker needs the names). */
  onFastPathNames: (names: string[]) => void = () => {};
  onFastPathError: (message: string) => void = () => {};

  constructor(
    readonly layout: MetricsLayout,
    private readonly peersCount: number,
  ) {
    this.buffer = new SharedArrayBuffer(layout.size * 8);
    this.v = new Float64Array(this.buffer);
    this.s = layout.scalar;
    for (const [name, slot] of Object.entries(layout.sent)) this.sentSlotByType[MessageType[name as keyof typeof MessageType]] = slot;
    this.receivedSlots = Object.entries(layout.received);
    this.droppedSlots = Object.entries(layout.dropped);
    this.v[this.s.startTimeS] = Date.now() / 1000;
  }

  /** Looks at one core step: the event that went in and the effects that came out. */
  observe(event: Event, effects: readonly Effect[]): void {
    if (event.kind === "request") this.noteArrival(event.msg.clientId, event.msg.requestNum);
    else this.batchNs = 0; // a flush or tick ends the receive batch
    let nowNs = 0;
    for (const effect of effects) {
      switch (effect.kind) {
        case "send":
          this.v[this.sentSlotByType[effect.msg.type]!]! += 1;
          break;
        case "broadcast":
          this.v[this.sentSlotByType[effect.msg.type]!]! += this.peersCount;
          break;
        case "reply": {
          this.v[this.sentSlotByType[MessageType.Reply]!]! += 1;
          const slot = this.arrivalSlot.get(effect.msg.clientId);
          if (slot === undefined || this.arrivalNs[slot]! < 0 || this.arrivalRequest[slot] !== effect.msg.requestNum) break;
          if (nowNs === 0) nowNs = Bun.nanoseconds();
          this.recordLatency((nowNs - this.arrivalNs[slot]!) / 1e9);
          this.arrivalNs[slot] = -1;
          break;
        }
        case "kernelState": {
          const st = effect.state;
          if (this.lastView >= 0 && st.view > this.lastView) this.v[this.s.viewChanges]! += 1;
          this.lastView = st.view;
          this.v[this.s.status] = st.status;
          this.v[this.s.view] = st.view;
          this.v[this.s.leaderIndex] = st.leader;
          this.v[this.s.opNum] = st.lastOp;
          this.v[this.s.commit] = st.commit;
          break;
        }
      }
    }
  }

  /** Copies the node's counters (once per tick) and, once a second, the fast-path counters. */
  syncStats(stats: NodeStats, state?: StateStats): void {
    const v = this.v;
    const s = this.s;
    if (state) this.syncState(state);
    v[s.requests] = stats.requests;
    v[s.replies] = stats.replies;
    v[s.datagramsReceived] = stats.received;
    v[s.datagramsSent] = stats.sent;
    v[s.ticks] = stats.ticks;
    for (const [name, slot] of this.receivedSlots) v[slot] = stats.byType[name] ?? 0;
    for (const [name, slot] of this.droppedSlots) v[slot] = stats.dropped[name] ?? 0;
    const nowNs = Bun.nanoseconds();
    v[s.lastTickS] = Date.now() / 1000;
    if (nowNs >= this.nextFastPathNs) {
      this.nextFastPathNs = nowNs + 1e9;
      this.refreshFastPath();
    }
  }

  /** The data directory's counters (none: memory only). */
  syncStorage(st: StorageStats | undefined): void {
    const v = this.v;
    const s = this.s;
    v[s.storageMode] = storageModes[st?.mode ?? "memory"];
    if (!st) return;
    v[s.storageFsyncs] = st.fsyncs;
    v[s.storageFsyncSumS] = st.fsyncSumS;
    v[s.storageBytesWritten] = st.bytesWritten;
    v[s.storageRecords] = st.records;
    v[s.storageWalBytes] = st.walBytes;
    v[s.storageSegments] = st.segments;
    v[s.storageRecoveryS] = st.recoveryS;
    v[s.storageStalled] = st.stalled ? 1 : 0;
    v[s.storageWriteErrors] = st.writeErrors;
    v[s.storageHeldBack] = st.heldBack;
    v[s.storageCheckpointsWritten] = st.checkpointsWritten;
    v[s.storageDiskStartDroppedOps] = st.diskStartDroppedOps;
    st.fsyncBuckets.forEach((n, i) => (v[this.layout.fsyncBuckets + i] = n));
  }

  private syncState(st: StateStats): void {
    const v = this.v;
    const s = this.s;
    v[s.logEntries] = st.logEntries;
    v[s.logBytes] = st.logBytes;
    v[s.logFirstOp] = st.logFirstOp;
    v[s.checkpointOp] = st.checkpointOp;
    v[s.checkpointBytes] = st.checkpointBytes;
    v[s.checkpointSnapshotS] = st.checkpointSnapshotMs / 1000;
    v[s.checkpointsTaken] = st.checkpointsTaken;
    v[s.checkpointsInstalled] = st.checkpointsInstalled;
    v[s.snapshotChunksSent] = st.snapshotChunksSent;
    v[s.snapshotChunksReceived] = st.snapshotChunksReceived;
    v[s.clientSessions] = st.clientSessions;
    v[s.clientEvictions] = st.clientEvictions;
    v[s.readsAnswered] = st.readsAnswered;
    v[s.readsByLease] = st.readsByLease;
    v[s.readRounds] = st.readRounds;
  }

  /** Reads every registered fast-path source and stores the values (names go to the worker). */
  refreshFastPath(): void {
    const merged: [string, number][] = [];
    for (const [source, read] of fastPathSources) {
      try {
        for (const [name, value] of Object.entries(read() ?? {})) merged.push([name, value]);
      } catch (e) {
        const message = `fast-path counters '${source}': ${(e as Error).message.split("\n")[0]}`;
        if (!this.reportedErrors.has(message)) this.onFastPathError(message);
        this.reportedErrors.add(message);
      }
    }
    const kept = merged.slice(0, fastPathCountersMax);
    const names = kept.map(([name]) => name);
    if (names.join("\n") !== this.fastPathNames.join("\n")) {
      this.fastPathNames = names;
      this.onFastPathNames(names);
    }
    kept.forEach(([, value], i) => (this.v[this.layout.fastPath + i] = value));
    this.v[this.s.fastPathUpdatedS] = Date.now() / 1000;
  }

  get currentFastPathNames(): readonly string[] {
    return this.fastPathNames;
  }

  private noteArrival(clientId: number, requestNum: number): void {
    let slot = this.arrivalSlot.get(clientId);
    if (slot === undefined) {
      if (this.arrivalSlot.size >= arrivalsMax) this.arrivalSlot.clear(); // many clients came and went
      slot = this.arrivalSlot.size;
      this.arrivalSlot.set(clientId, slot);
    } else if (this.arrivalRequest[slot] === requestNum) {
      return; // a retry: the first arrival counts (and a retry after the reply is not timed)
    }
    if (this.batchNs === 0) this.batchNs = Bun.nanoseconds();
    this.arrivalRequest[slot] = requestNum;
    this.arrivalNs[slot] = this.batchNs;
  }

  private recordLatency(seconds: number): void {
    let i = 0;
    while (i < latencyBucketsS.length && seconds > latencyBucketsS[i]!) i++;
    this.v[this.layout.latencyBuckets + i]! += 1;
    this.v[this.s.latencySum]! += seconds;
    this.v[this.s.latencyCount]! += 1;
  }
}

/** The part of ReplicaNode the metrics need: its counters and its core's step. */
export interface MeteredNode {
  readonly stats: NodeStats;
  readonly core: { step(event: Event): Effect[] };
  stateStats?(): StateStats;
  storageStats?(): StorageStats | undefined;
}

/**
 * Hooks the recorder onto a replica node: every core step (datagrams, ticks, requests) passes
 * through it, so the replica loop (replica-node.ts) needs no metrics code. On each tick the
 * node's counters are copied; the rest comes from the step's event and effects.
 */
export function instrumentNode(node: MeteredNode, recorder: MetricsRecorder): void {
  const core = node.core;
  const step = core.step.bind(core);
  core.step = (event: Event): Effect[] => {
    const effects = step(event);
    recorder.observe(event, effects);
    if (event.kind === "tick") {
      recorder.syncStats(node.stats, node.stateStats?.());
      recorder.syncStorage(node.storageStats?.());
    }
    return effects;
  };
}

// ---- Rendering (in the worker): Prometheus text exposition format 0.0.4. ----

export const contentType = "text/plain; version=0.0.4; charset=utf-8";

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labels(pairs: Record<string, string>): string {
  const parts = Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function num(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "+Inf";
  if (x === -Infinity) return "-Inf";
  return String(x);
}

class Exposition {
  private readonly lines: string[] = [];

  family(name: string, type: "gauge" | "counter" | "histogram", help: string): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, value: number, pairs: Record<string, string> = {}): this {
    this.lines.push(`${name}${labels(pairs)} ${num(value)}`);
    return this;
  }

  text(): string {
    return this.lines.join("\n") + "\n";
  }
}

const roles = ["leader", "follower", "view_change", "recovering"] as const;

function roleOf(layout: MetricsLayout, v: Float64Array): (typeof roles)[number] {
  const status = v[layout.scalar.status]!;
  if (status === Status.ViewChange) return "view_change";
  if (status === Status.Recovering) return "recovering";
  return v[layout.scalar.leaderIndex] === layout.selfIndex ? "leader" : "follower";
}

/** The /metrics page from the shared memory. */
export function renderMetrics(layout: MetricsLayout, v: Float64Array, fastPathNames: readonly string[]): string {
  const s = layout.scalar;
  const out = new Exposition();
  out.family("electrode_info", "gauge", "Build and identity of this replica (always 1).").sample("electrode_info", 1, { ...layout.info });
  out.family("electrode_start_time_seconds", "gauge", "When this replica process started, in Unix seconds.").sample("electrode_start_time_seconds", v[s.startTimeS]!);
  const role = roleOf(layout, v);
  out.family("electrode_role", "gauge", "1 for the role this replica is in now (leader, follower, view_change, recovering), else 0.");
  for (const r of roles) out.sample("electrode_role", r === role ? 1 : 0, { role: r });
  out.family("electrode_status", "gauge", "VR status: 0 normal, 1 view change, 2 recovering.").sample("electrode_status", v[s.status]!);
  out.family("electrode_view", "gauge", "Current view number.").sample("electrode_view", v[s.view]!);
  out.family("electrode_leader_replica_id", "gauge", "Replica id of the leader of the current view.");
  out.sample("electrode_leader_replica_id", layout.replicaIds[v[s.leaderIndex]!] ?? -1);
  out.family("electrode_op_number", "gauge", "Op-number of the last entry in this replica's log.").sample("electrode_op_number", v[s.opNum]!);
  out.family("electrode_commit_number", "gauge", "Op-number up to which this replica knows the log is committed.").sample("electrode_commit_number", v[s.commit]!);
  out.family("electrode_view_changes_total", "counter", "Views this replica moved to after its first (elections, and catching up after recovery).");
  out.sample("electrode_view_changes_total", v[s.viewChanges]!);
  out.family("electrode_requests_total", "counter", "Client requests received (every replica receives retries; the leader acts on them).");
  out.sample("electrode_requests_total", v[s.requests]!);
  out.family("electrode_replies_total", "counter", "Replies sent to clients.").sample("electrode_replies_total", v[s.replies]!);
  out.family("electrode_datagrams_received_total", "counter", "Datagrams received by the replica socket.").sample("electrode_datagrams_received_total", v[s.datagramsReceived]!);
  out.family("electrode_datagrams_sent_total", "counter", "Datagrams sent by the replica socket (one per marked tc broadcast).");
  out.sample("electrode_datagrams_sent_total", v[s.datagramsSent]!);
  out.family("electrode_messages_received_total", "counter", "Decoded messages received, by type.");
  for (const [type, slot] of Object.entries(layout.received)) out.sample("electrode_messages_received_total", v[slot]!, { type });
  out.family("electrode_messages_sent_total", "counter", "Protocol messages sent, by type, one per destination (tc broadcast clones included).");
  for (const [type, slot] of Object.entries(layout.sent)) out.sample("electrode_messages_sent_total", v[slot]!, { type });
  out.family("electrode_dropped_total", "counter", "Datagrams dropped by the replica, by reason.");
  for (const [reason, slot] of Object.entries(layout.dropped)) out.sample("electrode_dropped_total", v[slot]!, { reason });
  renderLatency(out, layout, v);
  renderState(out, s, v);
  renderStorage(out, layout, v);
  out.family("electrode_fast_path_total", "counter", "eBPF fast-path counters (summed over CPUs), refreshed about once a second.");
  fastPathNames.forEach((name, i) => out.sample("electrode_fast_path_total", v[layout.fastPath + i]!, { counter: name }));
  out.family("electrode_loop_last_tick_seconds", "gauge", "Unix time of the replica loop's last tick (stale means a stuck loop).");
  out.sample("electrode_loop_last_tick_seconds", v[s.lastTickS]!);
  out.family("electrode_loop_ticks_total", "counter", "Protocol ticks run by the replica loop.").sample("electrode_loop_ticks_total", v[s.ticks]!);
  return out.text();
}

function renderState(out: Exposition, s: Readonly<Record<ScalarName, number>>, v: Float64Array): void {
  out.family("electrode_log_entries", "gauge", "Log entries held in memory (compaction drops those below the latest checkpoint minus log_retain_ops).");
  out.sample("electrode_log_entries", v[s.logEntries]!);
  out.family("electrode_log_bytes", "gauge", "Bytes of the log entries held in memory.").sample("electrode_log_bytes", v[s.logBytes]!);
  out.family("electrode_log_first_op", "gauge", "Op-number of the oldest log entry held in memory.").sample("electrode_log_first_op", v[s.logFirstOp]!);
  out.family("electrode_checkpoint_op", "gauge", "Op-number of the latest checkpoint (taken here or installed from a peer).").sample("electrode_checkpoint_op", v[s.checkpointOp]!);
  out.family("electrode_checkpoint_bytes", "gauge", "Bytes of the latest checkpoint.").sample("electrode_checkpoint_bytes", v[s.checkpointBytes]!);
  out.family("electrode_checkpoint_snapshot_seconds", "gauge", "How long the app's snapshot for the latest checkpoint taken here took (the replica stalls that long).");
  out.sample("electrode_checkpoint_snapshot_seconds", v[s.checkpointSnapshotS]!);
  out.family("electrode_checkpoints_total", "counter", "Checkpoints taken here, and installed from a peer (state transfer by snapshot).");
  out.sample("electrode_checkpoints_total", v[s.checkpointsTaken]!, { kind: "taken" });
  out.sample("electrode_checkpoints_total", v[s.checkpointsInstalled]!, { kind: "installed" });
  out.family("electrode_snapshot_chunks_total", "counter", "Checkpoint chunks sent to and received from peers.");
  out.sample("electrode_snapshot_chunks_total", v[s.snapshotChunksSent]!, { direction: "sent" });
  out.sample("electrode_snapshot_chunks_total", v[s.snapshotChunksReceived]!, { direction: "received" });
  out.family("electrode_client_sessions", "gauge", "Client sessions in the client table (at most clients_max).").sample("electrode_client_sessions", v[s.clientSessions]!);
  out.family("electrode_client_evictions_total", "counter", "Client sessions this replica evicted to make room (the same on every replica).");
  out.sample("electrode_client_evictions_total", v[s.clientEvictions]!);
  out.family("electrode_index_reads_total", "counter", "Linearizable reads this replica answered as leader without a log write, and how many of them its lease confirmed (the others waited for a read round or a commit).");
  out.sample("electrode_index_reads_total", v[s.readsAnswered]!, { confirmed_by: "any" });
  out.sample("electrode_index_reads_total", v[s.readsByLease]!, { confirmed_by: "lease" });
  out.family("electrode_read_rounds_total", "counter", "ReadIndex rounds this replica sent as leader (to confirm reads, or to renew its lease).").sample("electrode_read_rounds_total", v[s.readRounds]!);
}

function renderStorage(out: Exposition, layout: MetricsLayout, v: Float64Array): void {
  const s = layout.scalar;
  const mode = (Object.keys(storageModes) as (keyof typeof storageModes)[]).find((m) => storageModes[m] === v[s.storageMode]) ?? "memory";
  out.family("electrode_storage_info", "gauge", "Where this replica keeps its log: memory only, or a data directory with this fsync mode.").sample("electrode_storage_info", 1, { mode });
  if (mode === "memory") return;
  const name = "electrode_storage_fsync_seconds";
  out.family(name, "histogram", "Duration of each fsync of the data directory (one covers every record appended since the last: group commit).");
  let cumulative = 0;
  for (let i = 0; i <= fsyncBucketsS.length; i++) {
    cumulative += v[layout.fsyncBuckets + i]!;
    out.sample(`${name}_bucket`, cumulative, { le: i < fsyncBucketsS.length ? String(fsyncBucketsS[i]) : "+Inf" });
  }
  out.sample(`${name}_sum`, v[s.storageFsyncSumS]!);
  out.sample(`${name}_count`, v[s.storageFsyncs]!);
  out.family("electrode_storage_bytes_written_total", "counter", "Bytes written to the write-ahead log.").sample("electrode_storage_bytes_written_total", v[s.storageBytesWritten]!);
  out.family("electrode_storage_records_total", "counter", "Records appended to the write-ahead log.").sample("electrode_storage_records_total", v[s.storageRecords]!);
  out.family("electrode_storage_wal_bytes", "gauge", "Bytes of the write-ahead log's segments on disk.").sample("electrode_storage_wal_bytes", v[s.storageWalBytes]!);
  out.family("electrode_storage_wal_segments", "gauge", "Write-ahead log segments on disk (those a checkpoint covers are removed).").sample("electrode_storage_wal_segments", v[s.storageSegments]!);
  out.family("electrode_storage_checkpoints_written_total", "counter", "Checkpoints written to the data directory.").sample("electrode_storage_checkpoints_written_total", v[s.storageCheckpointsWritten]!);
  out.family("electrode_storage_recovery_seconds", "gauge", "How long reading the data directory took at start.").sample("electrode_storage_recovery_seconds", v[s.storageRecoveryS]!);
  out.family("electrode_storage_stalled", "gauge", "1 while writes to the data directory fail: the replica then sends nothing (it never acknowledges what it could not write).").sample("electrode_storage_stalled", v[s.storageStalled]!);
  out.family("electrode_storage_write_errors_total", "counter", "Failed writes and fsyncs of the data directory.").sample("electrode_storage_write_errors_total", v[s.storageWriteErrors]!);
  out.family("electrode_storage_held_back_total", "counter", "Datagrams not sent because the data directory could not be written.").sample("electrode_storage_held_back_total", v[s.storageHeldBack]!);
  out
    .family("electrode_storage_disk_start_dropped_ops", "gauge", "After the whole cluster restarted from this replica's disk: ops another disk held above the log it resumed from, none recorded as committed (ops committed after the last commit any disk recorded cannot be counted; docs/storage.md).")
    .sample("electrode_storage_disk_start_dropped_ops", v[s.storageDiskStartDroppedOps]!);
}

function renderLatency(out: Exposition, layout: MetricsLayout, v: Float64Array): void {
  const name = "electrode_commit_latency_seconds";
  out.family(name, "histogram", "Time from a request's arrival at the leader to its reply, in seconds.");
  let cumulative = 0;
  for (let i = 0; i <= latencyBucketsS.length; i++) {
    cumulative += v[layout.latencyBuckets + i]!;
    out.sample(`${name}_bucket`, cumulative, { le: i < latencyBucketsS.length ? String(latencyBucketsS[i]) : "+Inf" });
  }
  out.sample(`${name}_sum`, v[layout.scalar.latencySum]!);
  out.sample(`${name}_count`, v[layout.scalar.latencyCount]!);
}

// ---- Messages between the replica and the metrics worker. ----

export type ToWorker =
  | { readonly kind: "start"; readonly layout: MetricsLayout; readonly buffer: SharedArrayBuffer; readonly host: string; readonly port: number }
  | { readonly kind: "fastPathNames"; readonly names: string[] };

export type FromWorker = { readonly kind: "listening"; readonly port: number } | { readonly kind: "error"; readonly message: string };

/**
 * The worker's entry point. In the compiled executable every entry point is bundled under
 * /$bunfs/root/ by its path below src/ (scripts/build.ts lists this one); from source, the file.
 */
function workerEntry(): string {
  if (Bun.main.startsWith("/$bunfs/")) return "/$bunfs/root/node/metrics-worker.js";
  return new URL("./metrics-worker.ts", import.meta.url).href;
}

/** Serves /metrics from a worker thread; resolves once it listens, rejects if it cannot. */
export class MetricsServer {
  private constructor(
    private readonly worker: Worker,
    readonly url: string,
  ) {}

  static async start(
    recorder: MetricsRecorder,
    host: string,
    port: number,
    opts: { timeoutMs?: number; onError?: (message: string) => void } = {},
  ): Promise<MetricsServer> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const worker = new Worker(workerEntry());
    const started = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the metrics worker did not start within ${timeoutMs} ms`)), timeoutMs);
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        clearTimeout(timer);
        if (e.data.kind === "listening") resolve(e.data.port);
        else reject(new Error(e.data.message));
      };
      worker.onerror = (e) => {
        clearTimeout(timer);
        reject(new Error(`metrics worker failed: ${e.message}`));
      };
    });
    worker.postMessage({ kind: "start", layout: recorder.layout, buffer: recorder.buffer, host, port } satisfies ToWorker);
    let bound: number;
    try {
      bound = await started;
    } catch (e) {
      worker.terminate();
      throw e;
    }
    worker.onmessage = null;
    worker.onerror = (e) => opts.onError?.(`metrics worker failed: ${e.message}`); // the replica keeps running
    const server = new MetricsServer(worker, `http://${host}:${bound}/metrics`);
    recorder.onFastPathNames = (names) => worker.postMessage({ kind: "fastPathNames", names } satisfies ToWorker);
    if (recorder.currentFastPathNames.length) recorder.onFastPathNames([...recorder.currentFastPathNames]);
    worker.unref();
    return server;
  }

  stop(): void {
    this.worker.terminate();
  }
}
