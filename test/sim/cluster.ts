// A simulated cluster: n real Replica cores, clients, and a network that can lose, duplicate,
// delay (hence reorder) and partition messages, with crashes, restarts and pauses. Deterministic:
// all randomness comes from one seeded Prng. The random fault driver (simulator.ts) and the
// hand-written scenarios (scenarios.test.ts) both drive this.
//
// One tick: deliver every message due now (each to its replica, then a flush per replica that got
// any), then a tick to every replica, then client retries.

import { Replica } from "../../src/core/replica.ts";
import { Status, type Effect, type Event, type ReplicaOptions } from "../../src/core/types.ts";
import { Codec } from "../../src/wire/codec.ts";
import { datagramBytesMax, MessageType, ReadMode } from "../../src/wire/layout.ts";
import type { Evicted, Message, ReplicaMessage, Reply, Request } from "../../src/wire/messages.ts";
import { registerRequestNum } from "../../src/core/client-table.ts";
import { Checker, RecordingApp, SimFailure } from "./checker.ts";
import { FastPathModel } from "./fast-model.ts";
import { MemFiles } from "./mem-files.ts";
import { Store, writeDelayMs } from "../../src/storage/store.ts";
import { AckWindow } from "./loss-window.ts";
import { Prng } from "./prng.ts";

export type Timing = Omit<ReplicaOptions, "replicaCount" | "index" | "recovering" | "nonce">;

export const simTiming: Timing = {
  viewChangeTimeoutTicks: 40,
  heartbeatTicks: 8,
  resendTicks: 10,
  pipelineMax: 64,
  batchMax: 8,
  checkpointOps: 1000,
  logRetainOps: 20,
  clientsMax: 64,
};

export interface NetConditions {
  loss: number;
  duplication: number;
  /** Each message takes 1..delayMax ticks. */
  delayMax: number;
  /** Loss after the receiver's kernel fast path passed a message up, before its process reads it
   * (a full socket buffer): the kernel's verdict stands (a quorum slot marked done, say) while the
   * message is gone. Only with fast paths; drawn from the fast-path stream. */
  socketLoss: number;
}

/** Where a message goes: a replica index, or a client (by position). */
export type Address = { readonly replica: number } | { readonly client: number };

export interface Packet {
  readonly from: number; // replica index, or -1 for a client
  readonly to: Address;
  readonly msg: Message;
  /** Already through the receiver's kernel fast path (it waits for a paused process). */
  readonly kernel?: { readonly via: "quorum" | undefined };
  /** To a client: how many lossy whole-cluster restarts had happened when it was sent. */
  readonly epoch?: number;
}

export interface ClusterOptions {
  readonly replicas: number;
  readonly seed: number;
  readonly timing?: Partial<Timing>;
  readonly net?: Partial<NetConditions>;
  /** Round-trip every message through the real codec (catches oversize batches). */
  readonly codec?: boolean;
  /** Ticks a client waits for a reply before sending its request to every replica again. */
  readonly clientRetryTicks?: number;
  /** Model the kernel fast paths (quorum prune and fast reply, fast-model.ts) on every replica. */
  readonly fastPaths?: boolean;
  /** A data directory per replica on a simulated disk (mem-files.ts) run by the real Store:
   * "always" syncs before any effect leaves; "interval" every fsyncIntervalTicks (a whole-cluster
   * power cut may lose what loss-window.ts allows, no more); "off" never syncs (it must lose
   * acknowledged ops at a power cut: the check that the checker notices). */
  readonly storage?: "always" | "interval" | "off";
  /** fsync interval (storage "interval"), in ticks: the store's clock here (default 20). */
  readonly fsyncIntervalTicks?: number;
  /** What the interval check allows (default: the store's write delay + the interval); a test
   * that shows the check can fail narrows it. */
  readonly lossWindowTicks?: number;
  /** Tests only, storage "always": a driver that breaks the leader's rule, telling it `durable` at
   * the end of the tick it sent, before its fsync. The checks must notice (storage.test.ts). */
  readonly leaderVoteBeforeSync?: boolean;
  /** Leader leases (src/core/lease.ts): each replica's clock runs at its own rate, drawn within
   * the drift bound (often at its edges), from its own offset; one tick is one ms of real time. */
  readonly leases?: { readonly leaseMs: number; readonly driftPpm: number };
}

/** A machine's monotonic clock: keeps running through pauses and restarts of its replica. */
interface SimClock {
  readonly offsetMs: number;
  readonly rate: number;
}

const dataDir = "/data";

/** fsync always: a leader's own entries, sent first, are fsynced 0..this many ticks later (at the
 * end of that tick). A Prepare and its ack take at least 2 ticks, so beyond that the acks often
 * arrive before the leader's disk holds the entry: only then can a power cut find a commit that
 * counted the leader's vote too early (the check that the rule is tested: storage.test.ts). */
const leaderSyncTicksMax = 5;

/** The pending "op" of a client that only registers (Cluster.register). */
const registrationOnly = new Uint8Array(0);

export class SimClient {
  requestNum = 0;
  /** Registered (its request 0 answered); until then the pending request waits behind it. */
  registered = false;
  /** Its session number (the registration's op). */
  session = 0;
  view = 0;
  /** `read`: a read without a log write (ReadMode.Index); `floor`: the highest op any client had
   * acknowledged when it was submitted (a linearizable read must reflect at least that). */
  pending: { op: Uint8Array; firstSent: number; lastSent: number; read?: ReadMode; floor: number } | undefined;
  completed = 0;
  /** Requests that ended with Evicted (the client then starts over under a new id). */
  evicted = 0;
  readonly replies: Reply[] = [];

  constructor(
    readonly position: number,
    public clientId: number,
  ) {}
}

export class Cluster {
  readonly n: number;
  readonly f: number;
  readonly rand: Prng;
  readonly timing: Timing;
  readonly net: NetConditions;
  readonly checker: Checker;
  readonly replicas: (Replica | undefined)[] = [];
  /** The fast paths of each replica's current incarnation (fastPaths option). */
  readonly fast: (FastPathModel | undefined)[] = [];
  /** Draws of the fast-path model (when the ring is drained) from their own stream, so a run with
   * and without fast paths sees the same network. */
  private readonly fastRand: Prng;
  readonly apps: RecordingApp[] = [];
  /** Each replica's disk and its current incarnation's store (storage option). */
  readonly disks: MemFiles[] = [];
  private readonly stores: (Store | undefined)[] = [];
  /** fsync always: when a leader whose own entries left before its fsync fsyncs them and hears
   * `durable` (persist; end of that tick). */
  private readonly syncAt: (number | undefined)[] = [];
  readonly clients: SimClient[] = [];
  now = 0;
  /** Each replica's machine clock (leases option). */
  readonly clocks: SimClock[] = [];
  /** Tick of the last whole-cluster power cut. */
  lastPowerCut = -1;
  /** Op each lossy whole-cluster restart resumed from, in order (storage "interval"). */
  readonly resumedAt: number[] = [];
  /** blocked[a][b]: messages from replica a to replica b are lost. */
  blocked: boolean[][];
  /** Replica i neither receives nor ticks before pausedUntil[i]; its messages wait. */
  readonly pausedUntil: number[];
  /** Scenario hook: return false to drop a packet. */
  filter: ((p: Packet) => boolean) | undefined;
  /** Scenario hook: return false to lose a packet the receiver's kernel passed up (after its verdict). */
  socketFilter: ((p: Packet, via: "quorum" | undefined) => boolean) | undefined;
  /** Scenario hook: sees every effect of every step, with the replica's status before it. */
  observer: ((index: number, effect: Effect) => void) | undefined;
  readonly trace: string[] = [];
  readonly stats = { delivered: 0, lost: 0, lostAfterKernel: 0, crashes: 0, restarts: 0, replies: 0, viewChanges: 0, evicted: 0, checkpoints: 0, installs: 0, indexReads: 0, leaseReads: 0, leaderSyncsAfterSend: 0, crashesBeforeLeaderSync: 0 };
  /** Client ids: every client and every new session of an evicted one gets the next. */
  private nextClientId = 1000;
  private readonly queue = new Map<number, Packet[]>();
  private readonly codec: Codec | undefined;
  private readonly buf = new Uint8Array(datagramBytesMax);
  private readonly clientRetryTicks: number;

  constructor(readonly opts: ClusterOptions) {
    this.n = opts.replicas;
    this.f = (opts.replicas - 1) >> 1;
    this.rand = new Prng(opts.seed);
    this.fastRand = new Prng(opts.seed ^ 0x7a57);
    this.timing = { ...simTiming, ...opts.timing };
    this.net = { loss: 0, duplication: 0, delayMax: 1, socketLoss: 0, ...opts.net };
    this.codec = opts.codec ? new Codec(0x5eed) : undefined;
    this.clientRetryTicks = opts.clientRetryTicks ?? 30;
    this.checker = new Checker(this.n, (m) => this.fail(m), this.timing.clientsMax, this.lossWindow());
    this.blocked = this.allConnected();
    this.pausedUntil = new Array<number>(this.n).fill(0);
    for (let i = 0; i < this.n; i++) if (opts.leases) this.clocks.push(this.drawClock(opts.leases.driftPpm));
    for (let i = 0; i < this.n; i++) {
      this.apps.push(new RecordingApp());
      if (opts.storage) this.disks.push(new MemFiles());
      this.replicas.push(this.makeReplica(i, false, this.apps[i]!));
    }
  }

  /** The interval check's window (storage "interval"), in ticks: the store's clock here. */
  private lossWindow(): AckWindow | undefined {
    if (this.opts.storage !== "interval") return undefined;
    return new AckWindow(this.n, this.opts.lossWindowTicks ?? writeDelayMs + this.fsyncIntervalTicks, () => this.now);
  }

  get fsyncIntervalTicks(): number {
    return this.opts.fsyncIntervalTicks ?? 20;
  }

  fail(message: string): never {
    const states = this.replicas.map((r, i) => (r ? `${i}:${Status[r.status]} v${r.view} op${r.opNum} c${r.commit}` : `${i}:down`)).join(", ");
    throw new SimFailure(`${message}\n  at tick ${this.now}; replicas ${states}\n  last events:\n    ${this.trace.slice(-30).join("\n    ")}`);
  }

  note(text: string): void {
    if (process.env.SIM_TRACE) console.log(`[${this.now}] ${text}`);
    this.trace.push(`[${this.now}] ${text}`);
    if (this.trace.length > 400) this.trace.splice(0, 200);
  }

  /** A clock rate within the bound: at either edge half the time (where a mistake in the lease's
   * arithmetic shows), anywhere between otherwise. */
  private drawClock(driftPpm: number): SimClock {
    const drift = driftPpm / 1e6;
    const rate = this.rand.chance(0.5) ? this.rand.pick([1 - drift, 1 + drift]) : 1 - drift + 2 * drift * this.rand.next();
    return { offsetMs: this.rand.int(0, 1_000_000), rate };
  }

  /** Replica `index`'s clock reading now. */
  clockOf(index: number): number {
    const clock = this.clocks[index]!;
    return clock.offsetMs + clock.rate * this.now;
  }

  private makeReplica(index: number, recovering: boolean, app: RecordingApp): Replica {
    const nonce = this.rand.int(1, 2 ** 31);
    const observer = { ...this.checker.observerOf(index), diskStart: (_op: number, commitMax: number) => this.onDiskStart(index, commitMax) };
    const leases = this.opts.leases ? { leaseMs: this.opts.leases.leaseMs, clockDriftPpm: this.opts.leases.driftPpm } : {};
    const durableVotes = this.opts.storage === "always";
    const base = { replicaCount: this.n, index, recovering, nonce, dataDirectory: this.opts.storage !== undefined, durableVotes, ...this.timing, ...leases, observer };
    let replica: Replica;
    if (!this.opts.fastPaths) replica = new Replica(base, app);
    else {
      // As the node does: no fast reply with fsync always (the kernel would ack what is not on disk).
      const fastReply = this.opts.storage !== "always";
      const model = new FastPathModel(index, this.f, this.fastRand.int(1, 2 ** 31), 16, fastReply);
      this.fast[index] = model;
      replica = new Replica(fastReply ? { ...base, fence: (next) => model.link.fence(next) } : base, app);
    }
    if (this.opts.storage) {
      const store = Store.open(dataDir, { clusterId: 0x5eed, replicaId: index + 1 }, this.opts.storage, this.fsyncIntervalTicks, this.disks[index]!, () => this.now);
      const loaded = store.load();
      for (const note of loaded.notes) this.note(`replica ${index} storage: ${note}`);
      if (loaded.state) replica.loadDurable(loaded.state, this.opts.storage === "always" && !loaded.damaged);
      this.stores[index] = store;
    }
    return replica;
  }

  private allConnected(): boolean[][] {
    return Array.from({ length: this.n }, () => new Array<boolean>(this.n).fill(false));
  }

  // ---- Faults. ----

  crash(index: number): void {
    if (!this.replicas[index]) return;
    this.replicas[index] = undefined;
    this.fast[index] = undefined; // the BPF link dies with the process
    // With storage a crash is a power cut of its machine: what was not synced may be lost or torn.
    if (this.opts.storage) {
      this.stores[index] = undefined;
      if (this.syncAt[index] !== undefined) this.stats.crashesBeforeLeaderSync += 1;
      this.syncAt[index] = undefined;
      this.disks[index]!.crash(this.rand);
    }
    this.checker.window?.onFault(index, this.now, this.now);
    this.stats.crashes += 1;
    this.note(`crash ${index}`);
  }

  /** A new incarnation with empty memory (and a fresh app) that must recover. */
  restart(index: number): void {
    this.apps[index] = new RecordingApp();
    this.checker.onRestart(index); // first: the new incarnation may install a checkpoint from disk
    this.replicas[index] = this.makeReplica(index, true, this.apps[index]!);
    this.pausedUntil[index] = 0;
    this.stats.restarts += 1;
    this.note(`restart ${index} (recovering)`);
  }

  /** Splits replicas into groups; only members of one group reach each other. */
  partition(groups: readonly (readonly number[])[]): void {
    const groupOf = new Array<number>(this.n).fill(-1);
    groups.forEach((g, k) => g.forEach((i) => (groupOf[i] = k)));
    this.blocked = Array.from({ length: this.n }, (_, a) => Array.from({ length: this.n }, (_, b) => groupOf[a] !== groupOf[b]));
    this.note(`partition ${groups.map((g) => `[${g.join(",")}]`).join(" ")}`);
  }

  heal(): void {
    this.blocked = this.allConnected();
    this.note("network healed");
  }

  pause(index: number, ticks: number): void {
    this.pausedUntil[index] = this.now + ticks;
    this.checker.window?.onFault(index, this.now, this.now + ticks);
    this.note(`pause ${index} for ${ticks} ticks`);
  }

  /** Replicas that are down or still recovering (the simulator keeps this at most f). */
  unavailable(): number {
    return this.replicas.filter((r) => !r || r.status === Status.Recovering).length;
  }

  leader(): number | undefined {
    const leaders = this.replicas.map((r, i) => (r?.isLeader ? i : -1)).filter((i) => i >= 0);
    return leaders.length === 0 ? undefined : leaders.reduce((a, b) => (this.replicas[a]!.view >= this.replicas[b]!.view ? a : b));
  }

  // ---- Clients. ----

  addClient(): SimClient {
    const client = new SimClient(this.clients.length, this.nextClientId++);
    this.clients.push(client);
    return client;
  }

  /** Registers an idle, unregistered client without a request after it (scenarios that count ops). */
  register(client: SimClient): void {
    if (client.pending || client.registered) this.fail(`client ${client.clientId} cannot register now`);
    client.pending = { op: registrationOnly, firstSent: this.now, lastSent: this.now, floor: this.checker.acknowledgedOp };
    this.post({ from: -1, to: { replica: client.view % this.n }, msg: this.requestOf(client) });
  }

  /** Sends a new request from an idle client to the replica it believes leads; `read` asks for
   * a read without a log write (a read-only op). */
  submit(client: SimClient, op: Uint8Array, read?: ReadMode): void {
    if (client.pending) this.fail(`client ${client.clientId} submitted while busy`);
    client.requestNum += 1;
    client.pending = { op, firstSent: this.now, lastSent: this.now, read, floor: this.checker.acknowledgedOp };
    this.post({ from: -1, to: { replica: client.view % this.n }, msg: this.requestOf(client) });
  }

  private requestOf(client: SimClient): Request {
    if (!client.registered) return { type: MessageType.Request, view: client.view, clientId: client.clientId, requestNum: registerRequestNum, session: 0, op: new Uint8Array(0) };
    const { op, read } = client.pending!;
    const request: Request = { type: MessageType.Request, view: client.view, clientId: client.clientId, requestNum: client.requestNum, session: client.session, op };
    return read === undefined ? request : { ...request, read };
  }

  private retryClients(): void {
    for (const client of this.clients) {
      if (!client.pending || this.now - client.pending.lastSent < this.clientRetryTicks) continue;
      client.pending.lastSent = this.now;
      for (let i = 0; i < this.n; i++) this.post({ from: -1, to: { replica: i }, msg: this.requestOf(client) });
    }
  }

  private onClientPacket(client: SimClient, msg: Message): void {
    if (msg.type === MessageType.Evicted) {
      if (msg.clientId !== client.clientId) return;
      this.note(`client ${client.clientId} evicted (request ${msg.requestNum})`);
      // Starts over under a new id; the pending request (if any) ends with an unknown outcome.
      client.clientId = this.nextClientId++;
      client.registered = false;
      client.session = 0;
      client.requestNum = 0;
      if (client.pending) {
        client.pending = undefined;
        client.evicted += 1;
        this.stats.evicted += 1;
      }
      return;
    }
    if (msg.type !== MessageType.Reply || !client.pending || msg.clientId !== client.clientId) return;
    if (!client.registered) {
      if (msg.requestNum !== registerRequestNum) return;
      this.checker.onReply(msg);
      client.registered = true;
      client.session = msg.opNum;
      client.view = Math.max(client.view, msg.view);
      if (client.pending.op === registrationOnly) {
        client.pending = undefined;
        return;
      }
      client.pending.lastSent = this.now;
      this.post({ from: -1, to: { replica: client.view % this.n }, msg: this.requestOf(client) });
      return;
    }
    if (msg.requestNum !== client.requestNum) return;
    if (client.pending.read !== undefined) {
      this.checker.onReadReply(msg, client.pending.op, client.pending.floor);
      this.stats.indexReads += 1;
    } else this.checker.onReply(msg);
    client.view = Math.max(client.view, msg.view);
    client.pending = undefined;
    client.completed += 1;
    client.replies.push(msg);
    this.stats.replies += 1;
  }

  // ---- Network. ----

  post(p: Packet): void {
    if (p.from >= 0 && "replica" in p.to && this.blocked[p.from]![p.to.replica]) return;
    if (this.rand.chance(this.net.loss)) {
      this.stats.lost += 1;
      return;
    }
    const copies = this.rand.chance(this.net.duplication) ? 2 : 1;
    for (let c = 0; c < copies; c++) this.enqueue(this.now + this.rand.int(1, this.net.delayMax), p);
  }

  private enqueue(at: number, p: Packet): void {
    const slot = this.queue.get(at);
    if (slot) slot.push(p);
    else this.queue.set(at, [p]);
  }

  private roundTrip(msg: Message): Message {
    if (!this.codec) return msg;
    const len = this.codec.encode(msg, this.buf);
    const decoded = this.codec.decode(this.buf.slice(0, len));
    if (!decoded.ok) this.fail(`codec rejected its own ${MessageType[msg.type]}: ${decoded.error}`);
    return decoded.msg;
  }

  // ---- Time. ----

  run(ticks: number, perTick?: () => void): void {
    for (let t = 0; t < ticks; t++) {
      perTick?.();
      this.tick();
    }
  }

  /** Runs until `done` holds (checked before every tick) or fails after `limit` ticks. */
  runUntil(done: () => boolean, limit: number, what: string): void {
    for (let t = 0; t < limit; t++) {
      if (done()) return;
      this.tick();
    }
    if (!done()) this.fail(`${what}: not reached within ${limit} ticks`);
  }

  tick(): void {
    this.deliver();
    for (let i = 0; i < this.n; i++) if (this.replicas[i] && this.pausedUntil[i]! <= this.now) this.step(i, { kind: "tick" });
    for (let i = 0; i < this.n; i++) {
      if (this.pausedUntil[i]! > this.now) continue;
      if (this.syncAt[i] !== undefined && this.syncAt[i]! <= this.now) this.syncLeader(i);
      else if (this.opts.leaderVoteBeforeSync) this.voteBeforeSync(i);
    }
    this.retryClients();
    this.now += 1;
  }

  private deliver(): void {
    const due = this.queue.get(this.now);
    if (!due) return;
    this.queue.delete(this.now);
    const touched = new Set<number>();
    for (const p of due) {
      if (this.filter && !this.filter(p)) continue;
      if ("client" in p.to) {
        if (this.lostSince(p)) continue;
        this.onClientPacket(this.clients[p.to.client]!, p.msg);
        continue;
      }
      const to = p.to.replica;
      if (!this.replicas[to]) continue;
      if (p.from >= 0 && this.blocked[p.from]![to]) continue;
      // The kernel's fast path works on even while the process is paused (SIGSTOP).
      const model = this.fast[to];
      let kernel = p.kernel;
      if (model && !kernel) {
        const verdict = this.kernelPath(to, model, p.msg);
        if (verdict === "consumed") continue;
        kernel = { via: verdict };
        if (this.lostAfterKernel(p, verdict)) continue;
      }
      if (this.pausedUntil[to]! > this.now) {
        this.enqueue(this.pausedUntil[to]!, { ...p, kernel }); // waits in the paused process's socket buffer
        continue;
      }
      this.stats.delivered += 1;
      const msg = this.roundTrip(p.msg);
      this.step(to, msg.type === MessageType.Request ? { kind: "request", msg } : { kind: "message", msg: msg as ReplicaMessage, via: kernel?.via });
      touched.add(to);
    }
    for (const i of touched) if (this.replicas[i]) this.step(i, { kind: "flush" });
  }

  /** A reply sent before a lossy whole-cluster restart, of an op that restart lost: its number
   * names another op now, so it never arrives (the window check counted it when it was sent). */
  private lostSince(p: Packet): boolean {
    if (p.epoch === undefined || p.epoch === this.resumedAt.length || p.msg.type !== MessageType.Reply) return false;
    if (p.msg.opNum <= Math.min(...this.resumedAt.slice(p.epoch))) return false;
    this.note(`reply to ${p.msg.clientId}#${p.msg.requestNum} for op ${p.msg.opNum} dropped: that op was lost since`);
    return true;
  }

  /** A replica starts the whole cluster from its disk (before it executes any of it): the checker
   * takes what was lost, if that is allowed; pending reads then expect no more than what survived. */
  private onDiskStart(index: number, commitMax: number): void {
    const before = this.checker.committed.length;
    const kept = this.checker.resume(index, this.replicas[index]!, this.lastPowerCut, commitMax);
    if (kept === before) return;
    this.resumedAt.push(kept);
    for (const c of this.clients) if (c.pending) c.pending.floor = Math.min(c.pending.floor, kept);
    this.note(`whole cluster resumed from replica ${index}'s disk: ops ${kept + 1}..${before} lost`);
  }

  /** Whether a message the kernel passed up is lost before the process reads it. */
  private lostAfterKernel(p: Packet, via: "quorum" | undefined): boolean {
    const lost = (this.socketFilter !== undefined && !this.socketFilter(p, via)) || (this.net.socketLoss > 0 && this.fastRand.chance(this.net.socketLoss));
    if (lost) {
      this.stats.lostAfterKernel += 1;
      this.note(`lost after the kernel of ${"replica" in p.to ? p.to.replica : "?"}: ${MessageType[p.msg.type]}${via ? ` (${via})` : ""}`);
    }
    return lost;
  }

  /** The XDP program on `to`: "consumed" (acked or pruned), else how the message goes up. */
  private kernelPath(to: number, model: FastPathModel, msg: Message): "consumed" | "quorum" | undefined {
    if (msg.type === MessageType.Prepare) {
      if (!model.fastReply) return undefined;
      const ack = model.onPrepare(msg);
      if (!ack) return undefined;
      // The kernel acks for the view the replica is in, never one it has left (the fence).
      const core = this.replicas[to]!;
      if (core.status !== Status.Normal || core.view !== msg.view) this.fail(`replica ${to} fast-acked view ${msg.view} while ${Status[core.status]} in view ${core.view}`);
      this.post({ from: to, to: { replica: msg.sender }, msg: ack });
      return "consumed";
    }
    if (msg.type === MessageType.PrepareOk) {
      const verdict = model.onPrepareOk(msg);
      if (verdict === "quorum" || verdict === "repeat") return "quorum";
      return verdict === "evicted" || verdict === "state" ? undefined : "consumed";
    }
    return undefined;
  }

  /** Gives the core what the ring holds, sometimes late (the node drains between receive batches). */
  private drainRing(index: number): void {
    const model = this.fast[index];
    if (!model || model.ringLength === 0 || model.holdRing || this.fastRand.chance(0.3)) return;
    for (const prepare of model.link.takeReady(this.replicas[index]!)) {
      if (!this.replicas[index]) return;
      this.stepCore(index, { kind: "message", msg: prepare, via: "fast-reply" });
    }
  }

  /** One step of replica `index` (after the kernel's ring), effects checked and then sent. */
  step(index: number, event: Event): Effect[] {
    this.drainRing(index);
    return this.stepCore(index, event);
  }

  private stepCore(index: number, event: Event): Effect[] {
    const replica = this.replicas[index]!;
    const viewBefore = replica.view;
    const statusBefore = replica.status;
    const timed = this.opts.leases && (event.kind === "tick" || event.kind === "flush");
    const byLease = replica.counters.readsByLease;
    const effects = replica.step(timed ? { kind: event.kind, nowMs: this.clockOf(index) } : event);
    this.stats.leaseReads += replica.counters.readsByLease - byLease;
    this.persist(index, replica, effects);
    this.checker.onEffects(index, effects);
    this.checker.onStep(index, replica);
    if (replica.view === viewBefore && replica.status !== statusBefore) this.note(`replica ${index}: ${Status[replica.status]} in view ${replica.view}, op ${replica.opNum} commit ${replica.commit}`);
    if (replica.view !== viewBefore) {
      this.stats.viewChanges += 1;
      this.note(`replica ${index}: view ${replica.view} ${Status[replica.status]} op ${replica.opNum} commit ${replica.commit}`);
    }
    for (const effect of effects) {
      this.observer?.(index, effect);
      this.send(index, effect);
    }
    return effects;
  }

  /**
   * As the node does before anything of a step leaves: checkpoints, then the log, to disk. With
   * fsync always a normal leader whose disk lacks only its own appended entries lets them leave
   * first (written now, fsynced 0..leaderSyncTicksMax ticks later: a power cut meanwhile loses or tears
   * them), and
   * hears `durable` once they are fsynced (syncLeader). (The node also fsyncs at every tick; here
   * the fsync's delay is the model's, whatever happens meanwhile.)
   */
  private persist(index: number, replica: Replica, effects: readonly Effect[]): void {
    const store = this.stores[index];
    if (!store) return;
    for (const e of effects) if (e.kind === "checkpoint" && !store.checkpoint(e.checkpoint, e.installed, replica)) this.fail(`replica ${index}: checkpoint write failed: ${store.stalled}`);
    if (!store.capture(replica)) this.fail(`replica ${index}: storage stalled: ${store.stalled}`);
    const always = this.opts.storage === "always";
    if (always && replica.isLeader && store.onlyAppended) {
      if (!store.write()) this.fail(`replica ${index}: storage stalled: ${store.stalled}`);
      if (replica.durableOp < replica.opNum && this.syncAt[index] === undefined) {
        this.syncAt[index] = this.now + this.rand.int(0, leaderSyncTicksMax);
        this.stats.leaderSyncsAfterSend += 1;
      }
      return;
    }
    if (!store.sync()) this.fail(`replica ${index}: storage stalled: ${store.stalled}`);
    // Synced before anything left (a view change's records, say): the leader learns it at once.
    if (always && replica.isLeader && replica.durableOp < replica.opNum) this.syncAt[index] ??= this.now;
  }

  /** fsync always: a leader fsyncs what it sent before its disk held it, then counts its own vote. */
  private syncLeader(index: number): void {
    this.syncAt[index] = undefined;
    const replica = this.replicas[index];
    const store = this.stores[index];
    if (!replica || !store) return;
    if (!(store.capture(replica) && store.sync())) this.fail(`replica ${index}: storage stalled: ${store.stalled}`);
    if (replica.isLeader && store.syncedOp > replica.durableOp) this.stepCore(index, { kind: "durable", op: store.syncedOp });
  }

  /** leaderVoteBeforeSync: the broken driver's `durable`, for all the leader holds in memory. */
  private voteBeforeSync(index: number): void {
    const replica = this.replicas[index];
    if (replica?.isLeader && replica.durableOp < replica.opNum) this.stepCore(index, { kind: "durable", op: replica.opNum });
  }

  /** Every replica loses power at once (storage option); restart them with restart(). */
  powerCut(): void {
    this.lastPowerCut = this.now;
    for (let i = 0; i < this.n; i++) this.crash(i);
    this.note("power cut: every replica down");
  }

  private send(index: number, effect: Effect): void {
    switch (effect.kind) {
      case "send":
        this.post({ from: index, to: { replica: effect.to }, msg: effect.msg });
        break;
      case "broadcast":
        for (let to = 0; to < this.n; to++) if (to !== index) this.post({ from: index, to: { replica: to }, msg: effect.msg });
        break;
      case "reply": {
        const client = this.clients.find((c) => c.clientId === effect.msg.clientId);
        if (client) this.post({ from: index, to: { client: client.position }, msg: effect.msg, epoch: this.resumedAt.length });
        break;
      }
      case "evicted": {
        const client = this.clients.find((c) => c.clientId === effect.clientId);
        const replica = this.replicas[index]!;
        const msg: Evicted = { type: MessageType.Evicted, view: replica.view, sender: index, clientId: effect.clientId, requestNum: effect.requestNum };
        if (client) this.post({ from: index, to: { client: client.position }, msg });
        break;
      }
      case "checkpoint":
        if (effect.installed) this.stats.installs += 1;
        else this.stats.checkpoints += 1;
        break;
      case "kernelState":
        this.fast[index]?.link.sync(effect.state);
        break;
    }
  }

  /** Every live replica normal in the same view, with the same fully committed log. */
  converged(): boolean {
    const live = this.replicas.filter((r): r is Replica => r !== undefined);
    const first = live[0];
    if (!first) return false;
    return live.every((r) => r.status === Status.Normal && r.view === first.view && r.opNum === first.opNum && r.commit === r.opNum);
  }
}
