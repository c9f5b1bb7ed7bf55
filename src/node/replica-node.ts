// The replica process: one UDP socket, the pure core, and a loop that feeds datagrams and ticks
// into the core and turns its effects into sends. Everything protocol-related lives in src/core.

import type { Config, ReplicaConfig } from "../config/config.ts";
import { ticks } from "../config/config.ts";
import { createApp, type AppName } from "../app/index.ts";
import { Replica } from "../core/replica.ts";
import type { DurableState, Effect, Event, FastPathVia, KernelState, StateMachine } from "../core/types.ts";
import type { Store } from "../storage/store.ts";
import { ClientAddresses } from "./client-addresses.ts";
import type { StateStats } from "./metrics.ts";
import { Status } from "../core/types.ts";
import { Codec, type DecodeError } from "../wire/codec.ts";
import { datagramBytesMax, Flag, MessageType } from "../wire/layout.ts";
import type { Message, ReplicaMessage } from "../wire/messages.ts";
import { KernelLink, type FastPathPort } from "./kernel-link.ts";
import { fastPathBitsOf, infoReply, type StorageName } from "./info.ts";
import { addrKey, parseAddr, UdpSocket, type Addr } from "../net/udp.ts";

export interface ReplicaNodeOptions {
  readonly config: Config;
  readonly self: ReplicaConfig;
  readonly app: AppName;
  /** Start with empty memory and run VR recovery before serving (see core/recovery). */
  readonly recovering: boolean;
  readonly nonce: number;
  /** tc broadcast is attached (setup): Prepare and Commit leave as ONE marked datagram. */
  readonly tcBroadcast: boolean;
  /** The XDP fast paths (quorum prune, fast reply), attached for as long as this node runs
   * (src/kernel/fast-path.ts; a ring over plain memory in tests). */
  readonly fastPath?: FastPathPort;
  readonly log: { info(msg: string): void; warn(msg: string): void; debug(msg: string): void; error?(msg: string): void };
  /** The data directory (src/storage/store.ts), opened and loaded; memory only without it. */
  readonly store?: Store;
  /** What it held, given to the core before the first step, and whether it rejoins with it. */
  readonly durable?: DurableState;
  readonly rejoin?: boolean;
}

export interface ReplicaStats {
  received: number;
  sent: number;
  requests: number;
  replies: number;
  ticks: number;
  dropped: Record<DecodeError | "foreign" | "unexpected" | "no-client" | "fast-record", number>;
  /** Prepares the kernel acked and handed over (fast reply), and quorum acks it passed up. */
  fastReplied: number;
  quorumAcks: number;
  /** Evicted messages sent to clients without a session. */
  evictedSent: number;
  /** Kernel state writes (bpf syscalls). */
  kernelWrites: number;
  byType: Record<string, number>;
}

/** The app, with the time its last snapshot took (the core has no clock). Everything else goes
 * straight through: a wrapper that left out readOnly/query sent every read through the log. */
class TimedApp implements StateMachine {
  lastSnapshotMs = 0;
  readonly readOnly: StateMachine["readOnly"];
  readonly query: StateMachine["query"];
  constructor(private readonly inner: StateMachine) {
    this.readOnly = inner.readOnly?.bind(inner);
    this.query = inner.query?.bind(inner);
  }
  execute(op: Uint8Array): Uint8Array {
    return this.inner.execute(op);
  }
  snapshot(): Uint8Array {
    const start = Bun.nanoseconds();
    const bytes = this.inner.snapshot();
    this.lastSnapshotMs = (Bun.nanoseconds() - start) / 1e6;
    return bytes;
  }
  restore(snapshot: Uint8Array): void {
    this.inner.restore(snapshot);
  }
}

/** Reused: each carries the monotonic clock, read just before the step (core/lease.ts). */
const tickEvent: { kind: "tick"; nowMs: number } = { kind: "tick", nowMs: 0 };
const flushEvent: { kind: "flush"; nowMs: number } = { kind: "flush", nowMs: 0 };
const clockMs = () => Bun.nanoseconds() / 1e6; // CLOCK_MONOTONIC: it runs on through SIGSTOP

export class ReplicaNode {
  readonly stats: ReplicaStats = {
    received: 0,
    sent: 0,
    requests: 0,
    replies: 0,
    ticks: 0,
    dropped: { short: 0, magic: 0, version: 0, type: 0, length: 0, cluster: 0, range: 0, oversize: 0, foreign: 0, unexpected: 0, "no-client": 0, "fast-record": 0 },
    byType: {},
    fastReplied: 0,
    quorumAcks: 0,
    evictedSent: 0,
    kernelWrites: 0,
  };
  readonly core: Replica;
  private readonly codec: Codec;
  private readonly socket: UdpSocket;
  private readonly peers: Addr[];
  private readonly peerKeys: number[];
  private readonly clients: ClientAddresses;
  /** The app, timed around its snapshots (checkpoint metrics). */
  private readonly app: TimedApp;
  /** Checkpoints taken and installed, with the last one's size and the time its snapshot took. */
  readonly checkpoints = { taken: 0, installed: 0, lastOp: 0, lastBytes: 0, lastSnapshotMs: 0 };
  private readonly txBuf = new Uint8Array(datagramBytesMax);
  private readonly onDatagram = (slot: Uint8Array, len: number, from: Addr) => this.handleDatagram(slot, len, from);
  private stopped = false;
  private lastKernelState: KernelState | undefined;
  private readonly fast: KernelLink | undefined;
  private readonly startedNs = Bun.nanoseconds();
  /** InfoFastPath bits of the fast paths this process runs, for InfoReply. */
  private readonly fastPathBits: number;

  constructor(private readonly opts: ReplicaNodeOptions) {
    const { config, self } = opts;
    this.codec = new Codec(config.clusterId);
    this.peers = config.replicas.map((r) => parseAddr(r.addr));
    this.peerKeys = this.peers.map(addrKey);
    this.socket = UdpSocket.bind(self.host, self.port, { rcvbufBytes: 8 << 20, sndbufBytes: 8 << 20 });
    this.fast = opts.fastPath && new KernelLink(opts.fastPath, self.index, this.codec, this.stats);
    const running = [opts.tcBroadcast && "tc-broadcast", this.fast?.prune && "quorum-prune", this.fast?.fastReply && "fast-reply"];
    this.fastPathBits = fastPathBitsOf(running.filter((n): n is string => typeof n === "string"));
    this.clients = new ClientAddresses(Math.max(64, 2 * config.clientsMax));
    this.app = new TimedApp(createApp(opts.app));
    this.core = new Replica(
      {
        replicaCount: config.replicas.length,
        index: self.index,
        recovering: opts.recovering,
        nonce: opts.nonce,
        viewChangeTimeoutTicks: ticks(config.timing.viewChangeMs, config.timing),
        heartbeatTicks: ticks(config.timing.heartbeatMs, config.timing),
        resendTicks: ticks(config.timing.resendMs, config.timing),
        pipelineMax: config.pipelineMax,
        batchMax: config.batchMax,
        checkpointOps: config.checkpointOps,
        logRetainOps: config.logRetainOps,
        clientsMax: config.clientsMax,
        leaseMs: config.timing.leaseMs,
        clockDriftPpm: config.timing.clockDriftPpm,
        dataDirectory: opts.store !== undefined,
        durableVotes: opts.store?.mode === "always",
        fence: this.fast?.fastReply ? (next) => this.fast!.fence(next) : undefined,
      },
      this.app,
    );
    if (opts.durable) this.core.loadDurable(opts.durable, opts.rejoin);
    if (opts.store) this.socket.beforeFlush = () => this.persist(false);
    this.leaderSendsFirst = opts.store?.mode === "always";
  }

  /**
   * Writes what the core did to the data directory (fsync as its mode says) before anything is
   * sent; false while the disk refuses writes (nothing is sent then: store.ts).
   *
   * One exception, under fsync always: a normal leader whose disk lacks only its own appended
   * entries and commit-numbers sends first (`full` false: the send path), and flush() writes and
   * fsyncs right after, then tells the core how far its disk holds its log (`durable`), so its
   * fsync runs in parallel with its followers' instead of before them. Its own vote counts only
   * from then on (core: ReplicaOptions.durableVotes), so nothing commits on an entry only its
   * memory holds; a follower's ack, a view change's records and anything after a failed write
   * still wait for the disk.
   */
  private persist(full = true): boolean {
    const store = this.opts.store!;
    if (!store.capture(this.core)) return this.persisted(false);
    if (!full && this.leaderSendsFirst && this.core.isLeader && store.onlyAppended) return true;
    return this.persisted(store.sync());
  }

  private persisted(ok: boolean): boolean {
    const store = this.opts.store!;
    if (!ok) this.noteStalled(store.stalled ?? "unknown error");
    else if (this.stalledSince !== undefined) {
      this.opts.log.info(`storage: writes succeed again after ${((performance.now() - this.stalledSince) / 1000).toFixed(1)} s; sending again`);
      this.stalledSince = undefined;
    }
    return ok;
  }

  /** fsync always: the leader's Prepares may leave before its own fsync (persist). */
  private readonly leaderSendsFirst: boolean;

  /**
   * Sends what is queued. Then, when a leader's own entries left before its disk held them
   * (persist), writes and fsyncs them and tells the core (`durable`: its own vote), and sends what
   * that step made (commits' replies). The core is told only right after a capture and fsync of
   * its log as it is now, so `durable` never speaks of a log the core has since cut.
   */
  private flush(): void {
    this.socket.flush();
    if (!this.leaderSendsFirst) return;
    const core = this.core;
    const store = this.opts.store!;
    // While stalled nothing leaves before a write succeeds: the tick's persist() retries.
    while (core.isLeader && core.durableOp < core.opNum && store.stalled === undefined) {
      if (!this.persist()) return; // the write failed: stalled from now on (noted)
      const op = store.syncedOp;
      if (op <= core.durableOp) return; // nothing new on disk (cannot happen after a full capture and fsync)
      this.apply(core.step({ kind: "durable", op }));
      this.socket.flush();
    }
  }

  private stalledSince: number | undefined;
  private stalledSaidAt = 0;

  private noteStalled(why: string): void {
    const now = performance.now();
    this.stalledSince ??= now;
    if (now - this.stalledSaidAt < 10_000) return;
    this.stalledSaidAt = now;
    const say = this.opts.log.error ?? this.opts.log.warn;
    say.call(this.opts.log, `storage: cannot write to ${this.opts.store!.dir} (${why}): this replica acknowledges nothing and sends nothing until a write succeeds`);
  }

  /** The data directory's counters (undefined: memory only). */
  storageStats() {
    const store = this.opts.store;
    if (!store) return undefined;
    return { mode: store.mode, dir: store.dir, walBytes: store.walBytes, segments: store.segmentCount, stalled: store.stalled !== undefined, heldBack: this.socket.heldBack, diskStartDroppedOps: this.diskStartDroppedOps, ...store.metrics };
  }

  /** Log, checkpoint and client table in memory (metrics, Info, --stats-file). */
  stateStats(): StateStats {
    const core = this.core;
    const log = core.logStats;
    const clients = core.clientStats;
    const c = core.counters;
    return {
      logEntries: log.entries,
      logBytes: log.bytes,
      logFirstOp: log.firstOp,
      checkpointOp: core.checkpoint?.op ?? 0,
      checkpointBytes: core.checkpoint?.bytes.length ?? 0,
      checkpointSnapshotMs: this.checkpoints.lastSnapshotMs,
      checkpointsTaken: c.checkpointsTaken,
      checkpointsInstalled: c.checkpointsInstalled,
      snapshotChunksSent: c.snapshotChunksSent,
      snapshotChunksReceived: c.snapshotChunksReceived,
      clientSessions: clients.sessions,
      clientEvictions: clients.evictions,
      readsAnswered: c.readsAnswered,
      readsByLease: c.readsByLease,
      readRounds: c.readRounds,
    };
  }

  get kernelState(): KernelState | undefined {
    return this.lastKernelState;
  }

  stop(): void {
    this.stopped = true;
  }

  /** Counters for `electrode replica --stats-file`: the socket's syscalls and datagrams, the core's
   * progress, and the message counters. */
  counters() {
    const s = this.socket;
    return {
      sends_syscalls: s.sendSyscalls,
      datagrams_sent: s.datagramsSent,
      send_drops: s.sendDrops,
      receive_syscalls: s.receiveSyscalls,
      datagrams_received: s.datagramsReceived,
      committed_ops: this.core.commit,
      committed_ops_digest: this.core.digest,
      state: this.stateStats(),
      view: this.core.view,
      leader: this.core.isLeader,
      tc_broadcast: this.opts.tcBroadcast,
      storage: this.storageStats(),
      messages: this.stats,
    };
  }

  /** Runs until stop(). Yields to Bun's event loop once per tick so signals and timers run. */
  async run(): Promise<void> {
    const tickNs = this.opts.config.timing.tickMs * 1e6;
    let nextTick = Bun.nanoseconds() + tickNs;
    this.stepTimed(tickEvent);
    this.flush();
    while (!this.stopped) {
      // Prepares the kernel acked come first: later datagrams may depend on them.
      const handed = this.fast?.fastReply ? this.drainFast(this.fast) : 0;
      const received = this.socket.receive(this.onDatagram, 64) + handed;
      if (received > 0) this.stepTimed(flushEvent);
      let now = Bun.nanoseconds();
      if (now >= nextTick) {
        this.stats.ticks += 1;
        this.stepTimed(tickEvent);
        // The interval's fsync, a stalled write's retry, and with `always` a leader's commit-numbers
        // (flush() fsyncs its entries at once, the Commit records that follow them only here).
        if (this.opts.store) this.persist();
        // After a stall (GC, SIGSTOP) do not replay missed ticks in a burst: time moves on.
        nextTick = now - nextTick > tickNs * 10 ? now + tickNs : nextTick + tickNs;
        this.flush();
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.stopped) break;
        now = Bun.nanoseconds();
      }
      this.flush();
      if (received === 0) this.socket.wait(Math.max(0, Math.ceil((nextTick - now) / 1e6)));
    }
    this.flush();
  }

  /** A tick or flush, with the clock read now: after everything received so far arrived. */
  private stepTimed(event: typeof tickEvent | typeof flushEvent): void {
    event.nowMs = clockMs();
    this.apply(this.core.step(event));
  }

  close(): void {
    this.opts.store?.close();
    this.fast?.close();
    this.socket.close();
  }

  /** Gives the core every Prepare the kernel acked that it can take now, in op order. */
  private drainFast(link: KernelLink): number {
    const ready = link.takeReady(this.core);
    for (const msg of ready) {
      this.stats.byType.Prepare = (this.stats.byType.Prepare ?? 0) + 1;
      this.apply(this.core.step({ kind: "message", msg, via: "fast-reply" }));
    }
    return ready.length;
  }

  private handleDatagram(slot: Uint8Array, len: number, from: Addr): void {
    this.stats.received += 1;
    const msg = this.codec.read(slot, len);
    if (typeof msg === "string") {
      this.stats.dropped[msg] += 1;
      return;
    }
    this.stats.byType[MessageType[msg.type]!] = (this.stats.byType[MessageType[msg.type]!] ?? 0) + 1;
    if (msg.type === MessageType.Request) {
      this.stats.requests += 1;
      this.clients.saw(msg.clientId, from);
      this.apply(this.core.step({ kind: "request", msg }));
      return;
    }
    if (msg.type === MessageType.Info) {
      this.answerInfo(msg.nonce, from);
      return;
    }
    if (msg.type === MessageType.Reply || msg.type === MessageType.InfoReply || msg.type === MessageType.Evicted) {
      this.stats.dropped.unexpected += 1;
      return;
    }
    // Replica messages count only from the configured peer at the claimed index.
    if (msg.sender >= this.peers.length || this.peerKeys[msg.sender] !== addrKey(from) || msg.sender === this.opts.self.index) {
      this.stats.dropped.foreign += 1;
      return;
    }
    // Only the XDP quorum prune sets the Quorum flag (it drops datagrams that arrive with it).
    let via: FastPathVia | undefined;
    if (msg.type === MessageType.PrepareOk && this.fast?.prune && (this.codec.flags & Flag.Quorum) !== 0) {
      via = "quorum";
      this.stats.quorumAcks += 1;
    }
    this.apply(this.core.step({ kind: "message", msg: msg as ReplicaMessage, via }));
  }

  private apply(effects: readonly Effect[]): void {
    // Checkpoints first: a datagram queued below may flush, and the store writes the log then,
    // which must already continue after a checkpoint installed (or cover one compacted) meanwhile.
    const store = this.opts.store;
    if (store) {
      for (const e of effects) if (e.kind === "checkpoint" && !store.checkpoint(e.checkpoint, e.installed, this.core)) this.noteStalled(store.stalled ?? "checkpoint");
    }
    for (const effect of effects) {
      switch (effect.kind) {
        case "send":
          this.sendTo(this.peers[effect.to]!, effect.msg);
          break;
        case "broadcast": {
          const type = effect.msg.type;
          if (this.opts.tcBroadcast && (type === MessageType.Prepare || type === MessageType.Commit)) {
            // One copy, addressed to the next replica so routing picks the NIC; the tc egress
            // program clones it to every peer and drops this original.
            const len = this.codec.encode(effect.msg, this.txBuf, Flag.Broadcast);
            this.socket.queue(this.peers[(this.opts.self.index + 1) % this.peers.length]!, this.txBuf, len);
            this.stats.sent += 1;
            break;
          }
          const len = this.codec.encode(effect.msg, this.txBuf);
          for (let i = 0; i < this.peers.length; i++) {
            if (i === this.opts.self.index) continue;
            this.socket.queue(this.peers[i]!, this.txBuf, len);
            this.stats.sent += 1;
          }
          break;
        }
        case "reply": {
          const client = this.clients.get(effect.msg.clientId);
          if (!client) {
            this.stats.dropped["no-client"] += 1;
            break;
          }
          this.stats.replies += 1;
          this.sendTo(client, effect.msg);
          break;
        }
        case "kernelState":
          this.fast?.sync(effect.state);
          this.noteKernelState(effect.state);
          break;
        case "evicted": {
          const client = this.clients.get(effect.clientId);
          if (!client) break;
          const { view, index } = { view: this.core.view, index: this.opts.self.index };
          this.sendTo(client, { type: MessageType.Evicted, view, sender: index, clientId: effect.clientId, requestNum: effect.requestNum });
          this.clients.forget(effect.clientId);
          this.stats.evictedSent += 1;
          break;
        }
        case "checkpoint":
          this.noteCheckpoint(effect.checkpoint.op, effect.checkpoint.bytes.length, effect.installed);
          break;
        case "diskStart":
          this.sayDiskStart(effect);
          break;
      }
    }
  }

  /** Ops another disk held above the log a whole-cluster restart resumed from (metrics). */
  private diskStartDroppedOps = 0;

  /** What a whole-cluster restart from this replica's disk kept and what it could not know. No
   * op any disk recorded as committed is lost (core/recovery.ts chooses among the logs that reach
   * the highest such op); what may be lost was committed after the last commit any disk recorded,
   * so no disk can count it: the log says where that window starts. */
  private sayDiskStart(effect: Extract<Effect, { kind: "diskStart" }>): void {
    const store = this.opts.store;
    this.diskStartDroppedOps = Math.max(0, effect.bestOtherOp - effect.opNum);
    const dropped = this.diskStartDroppedOps > 0 ? `; ${this.diskStartDroppedOps} ops another disk held above op ${effect.opNum} were dropped (no disk recorded them as committed)` : "";
    const window =
      store?.mode === "interval"
        ? `; ops committed after op ${effect.commitMax} that no disk holds (acknowledged in the last ${store.intervalMs} ms before the crash) may be missing, and no disk can count them`
        : store?.mode === "off"
          ? "; with fsync off, writes not yet written back by the kernel before a power loss may be missing"
          : "";
    const promoted = effect.opNum > effect.commitMax ? `; ops ${effect.commitMax + 1}..${effect.opNum}, not recorded as committed anywhere, are committed now` : "";
    this.opts.log.info(
      `whole cluster restarted: this replica's disk holds the best log of the ${effect.claims} (op ${effect.opNum}; the longest other disk held op ${effect.bestOtherOp}); leading view ${effect.view} with it. ` +
        `It holds every op a disk recorded as committed (up to op ${effect.commitMax}): 0 ops known committed were lost${promoted}${dropped}${window}`,
    );
  }

  private noteCheckpoint(op: number, bytes: number, installed: boolean): void {
    const c = this.checkpoints;
    if (installed) c.installed += 1;
    else c.taken += 1;
    c.lastOp = op;
    c.lastBytes = bytes;
    c.lastSnapshotMs = installed ? 0 : this.app.lastSnapshotMs;
    if (installed) this.opts.log.info(`installed checkpoint ${op} (${bytes} bytes) from a peer: the log continues after it`);
    else this.opts.log.debug(`checkpoint ${op}: ${bytes} bytes, app snapshot ${c.lastSnapshotMs.toFixed(1)} ms`);
  }

  /** Any address may ask (src/node/info.ts says why that is fine); the answer goes to the asker. */
  private answerInfo(nonce: number, from: Addr): void {
    const core = this.core;
    const st = this.stateStats();
    const memory = { checkpointOp: st.checkpointOp, logFirstOp: st.logFirstOp, logBytes: st.logBytes, sessions: st.clientSessions, evictions: st.clientEvictions };
    const storage: StorageName = this.opts.store?.mode ?? "memory";
    const self = { index: this.opts.self.index, status: core.status, view: core.view, opNum: core.opNum, commit: core.commit, fastPaths: this.fastPathBits, app: this.opts.app, storage, uptimeS: (Bun.nanoseconds() - this.startedNs) / 1e9, ...memory };
    this.sendTo(from, infoReply(nonce, self));
  }

  private sendTo(addr: Addr, msg: Message): void {
    const len = this.codec.encode(msg, this.txBuf);
    this.socket.queue(addr, this.txBuf, len);
    this.stats.sent += 1;
  }

  private noteKernelState(state: KernelState): void {
    const before = this.lastKernelState;
    this.lastKernelState = state;
    if (before && before.view === state.view && before.status === state.status) return;
    const role = state.status !== Status.Normal ? Status[state.status] : state.leader === this.opts.self.index ? "leader" : "follower";
    this.opts.log.info(`view ${state.view}: ${role} (leader is replica ${this.opts.config.replicas[state.leader]?.id ?? "?"}), op ${state.lastOp}, commit ${state.commit}`);
  }
}
