// A seeded, deterministic simulator of a whole cluster: n replicas (the real core), closed-loop
// clients, and a network that loses, duplicates, delays (reorders) and partitions messages, with
// crashes and restarts (a restarted replica lost its memory and must recover). Everything random
// comes from one seeded PRNG, so a seed replays exactly.
//
// Checked while it runs: agreement (no two replicas ever hold different entries at a committed
// op-number), durability (a reply's op stays committed with that request, across view changes and
// restarts), exactly-once with correct results (every reply equals what a reference key-value
// store returns when the committed log is executed once per request), the kernel-state rule (no
// PrepareOk for a view or status the replica has not announced to the kernel) and that a
// recovering replica never acks or votes. After the faults heal: liveness.

import { decodeKvResult, encodeGet, encodePut, KvMachine } from "../../src/app/kv.ts";
import { Replica } from "../../src/core/replica.ts";
import { Status, type Effect, type KernelState } from "../../src/core/types.ts";
import { MessageType } from "../../src/wire/layout.ts";
import type { Entry, Message, ReplicaMessage, Reply, Request } from "../../src/wire/messages.ts";

export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimOptions {
  readonly seed: number;
  readonly replicas: number;
  readonly clients: number;
  /** Ticks with faults injected, then ticks with everything healed. */
  readonly faultTicks: number;
  readonly healTicks: number;
  readonly loss: number;
  readonly duplication: number;
  /** Messages take 1..delayMax ticks (so they reorder). */
  readonly delayMax: number;
  /** Per-tick probability of starting a fault (partition, crash). */
  readonly faultRate: number;
  readonly keys: number;
}

export const defaultSim: Omit<SimOptions, "seed" | "replicas"> = {
  clients: 4,
  faultTicks: 1500,
  healTicks: 1500,
  loss: 0.05,
  duplication: 0.03,
  delayMax: 4,
  faultRate: 0.01,
  keys: 4,
};

interface InFlight {
  readonly at: number;
  readonly seq: number;
  readonly to: number; // replica index, or -1 - client index
  readonly msg: Message;
}

interface Client {
  readonly clientId: number;
  requestNum: number;
  pending: { op: Uint8Array; sentAt: number; lastSent: number } | undefined;
  completed: number;
  view: number;
}

export class SimFailure extends Error {}

const timing = { viewChangeTimeoutTicks: 40, heartbeatTicks: 8, resendTicks: 10, pipelineMax: 64, batchMax: 8 };

export class Simulator {
  readonly rand: () => number;
  replicas: (Replica | undefined)[] = [];
  private kernel: (KernelState | undefined)[] = [];
  private queue: InFlight[] = [];
  private seq = 0;
  now = 0;
  private readonly clients: Client[] = [];
  /** connected[a][b]: a message from a reaches b. */
  private connected: boolean[][] = [];
  private readonly committed = new Map<number, Entry>();
  private readonly checkedUpTo: number[] = [];
  private readonly reference = new KvMachine();
  private readonly referenceDone = new Map<number, number>(); // clientId -> requestNum
  private readonly referenceResults = new Map<number, string>(); // op -> result text
  private referenceUpTo = 0;
  private restartAt: (number | undefined)[] = [];
  private healAt: number | undefined;
  readonly stats = { delivered: 0, dropped: 0, crashes: 0, partitions: 0, replies: 0, viewChanges: 0 };
  readonly trace: string[] = [];

  constructor(readonly opts: SimOptions) {
    this.rand = prng(opts.seed);
    const n = opts.replicas;
    for (let i = 0; i < n; i++) {
      this.replicas.push(this.makeReplica(i, false));
      this.kernel.push(undefined);
      this.checkedUpTo.push(0);
      this.restartAt.push(undefined);
    }
    for (let c = 0; c < opts.clients; c++) {
      this.clients.push({ clientId: 1000 + c, requestNum: 0, pending: undefined, completed: 0, view: 0 });
    }
    this.heal();
  }

  private makeReplica(index: number, recovering: boolean): Replica {
    const nonce = Math.floor(this.rand() * 2 ** 32);
    return new Replica({ replicaCount: this.opts.replicas, index, recovering, nonce, ...timing }, new KvMachine());
  }

  private heal(): void {
    const n = this.opts.replicas;
    this.connected = Array.from({ length: n }, () => new Array<boolean>(n).fill(true));
    this.healAt = undefined;
  }

  private fail(message: string): never {
    throw new SimFailure(`seed ${this.opts.seed}, tick ${this.now}: ${message}\nreplay: SIM_SEED=${this.opts.seed} SIM_REPLICAS=${this.opts.replicas} bun test test/sim/replay.test.ts\nlast events:\n${this.trace.slice(-25).join("\n")}`);
  }

  private note(text: string): void {
    this.trace.push(`[${this.now}] ${text}`);
    if (this.trace.length > 200) this.trace.splice(0, 100);
  }

  run(): void {
    const total = this.opts.faultTicks + this.opts.healTicks;
    for (this.now = 0; this.now < total; this.now++) {
      const faulty = this.now < this.opts.faultTicks;
      if (faulty) this.injectFaults();
      else if (this.now === this.opts.faultTicks) this.healEverything();
      this.deliver(faulty);
      this.tickReplicas();
      this.tickClients();
    }
    this.checkLiveness();
  }

  // ---- Faults. ----

  private downOrRecovering(): number {
    return this.replicas.filter((r, i) => !r || r.status === Status.Recovering || this.restartAt[i] !== undefined).length;
  }

  private injectFaults(): void {
    const n = this.opts.replicas;
    for (let i = 0; i < n; i++) {
      if (this.restartAt[i] !== undefined && this.now >= this.restartAt[i]!) {
        this.restartAt[i] = undefined;
        this.replicas[i] = this.makeReplica(i, true);
        this.kernel[i] = undefined;
        this.checkedUpTo[i] = 0;
        this.note(`restart ${i} (recovering)`);
      }
    }
    if (this.healAt !== undefined && this.now >= this.healAt) {
      this.heal();
      this.note("partition healed");
    }
    if (this.rand() >= this.opts.faultRate) return;
    const kind = this.rand();
    const f = (n - 1) / 2;
    if (kind < 0.5 && this.healAt === undefined && n > 1) {
      this.partition();
    } else if (this.downOrRecovering() < f) {
      // Crash: prefer the leader half of the time.
      const leader = this.replicas.findIndex((r) => r?.isLeader);
      const victim = leader >= 0 && this.rand() < 0.5 ? leader : Math.floor(this.rand() * n);
      if (this.replicas[victim] === undefined) return;
      this.replicas[victim] = undefined;
      this.restartAt[victim] = this.now + 20 + Math.floor(this.rand() * 200);
      this.stats.crashes += 1;
      this.note(`crash ${victim}`);
    }
  }

  private partition(): void {
    const n = this.opts.replicas;
    const side = Array.from({ length: n }, () => this.rand() < 0.5);
    const oneWay = this.rand() < 0.3;
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < n; b++) {
        if (side[a] !== side[b] && (!oneWay || side[a])) this.connected[a]![b] = false;
      }
    }
    this.healAt = this.now + 30 + Math.floor(this.rand() * 300);
    this.stats.partitions += 1;
    this.note(`partition ${side.map((s) => (s ? "A" : "B")).join("")}${oneWay ? " one-way" : ""}`);
  }

  private healEverything(): void {
    this.heal();
    for (let i = 0; i < this.opts.replicas; i++) {
      if (this.replicas[i] === undefined) {
        this.restartAt[i] = undefined;
        this.replicas[i] = this.makeReplica(i, true);
        this.kernel[i] = undefined;
        this.checkedUpTo[i] = 0;
      }
    }
    this.note("healed everything");
  }

  // ---- Network. ----

  private post(from: number, to: number, msg: Message, faulty: boolean): void {
    if (from >= 0 && to >= 0 && !this.connected[from]![to]) return;
    if (faulty && this.rand() < this.opts.loss) {
      this.stats.dropped += 1;
      return;
    }
    const copies = faulty && this.rand() < this.opts.duplication ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const at = this.now + 1 + Math.floor(this.rand() * (faulty ? this.opts.delayMax : 1));
      this.queue.push({ at, seq: this.seq++, to, msg });
    }
  }

  private deliver(faulty: boolean): void {
    const due = this.queue.filter((m) => m.at <= this.now).sort((a, b) => a.at - b.at || a.seq - b.seq);
    if (due.length === 0) return;
    this.queue = this.queue.filter((m) => m.at > this.now);
    const touched = new Set<number>();
    for (const m of due) {
      this.stats.delivered += 1;
      if (m.to < 0) {
        this.onClientMessage(-1 - m.to, m.msg);
        continue;
      }
      const replica = this.replicas[m.to];
      if (!replica) continue;
      const event = m.msg.type === MessageType.Request ? { kind: "request" as const, msg: m.msg } : { kind: "message" as const, msg: m.msg as ReplicaMessage };
      this.apply(m.to, replica.step(event), faulty);
      touched.add(m.to);
    }
    for (const i of touched) {
      const replica = this.replicas[i];
      if (replica) this.apply(i, replica.step({ kind: "flush" }), faulty);
    }
  }

  private tickReplicas(): void {
    const faulty = this.now < this.opts.faultTicks;
    for (let i = 0; i < this.replicas.length; i++) {
      const replica = this.replicas[i];
      if (replica) this.apply(i, replica.step({ kind: "tick" }), faulty);
    }
  }

  private apply(index: number, effects: readonly Effect[], faulty: boolean): void {
    for (const effect of effects) {
      switch (effect.kind) {
        case "kernelState": {
          const before = this.kernel[index];
          if (before && before.view !== effect.state.view) this.stats.viewChanges += 1;
          if (!before || before.view !== effect.state.view || before.status !== effect.state.status) {
            this.note(`replica ${index}: ${Status[effect.state.status]} view ${effect.state.view} op ${effect.state.lastOp} commit ${effect.state.commit}`);
          }
          this.kernel[index] = effect.state;
          break;
        }
        case "send":
          this.checkSend(index, effect.msg);
          this.post(index, effect.to, effect.msg, faulty);
          break;
        case "broadcast":
          this.checkSend(index, effect.msg);
          for (let to = 0; to < this.replicas.length; to++) if (to !== index) this.post(index, to, effect.msg, faulty);
          break;
        case "reply": {
          const client = this.clients.findIndex((c) => c.clientId === effect.msg.clientId);
          if (client >= 0) this.post(index, -1 - client, effect.msg, faulty);
          break;
        }
      }
    }
    this.checkCommitted(index);
  }

  // ---- Invariants. ----

  private checkSend(index: number, msg: Message): void {
    const k = this.kernel[index];
    const votes = msg.type === MessageType.PrepareOk || msg.type === MessageType.StartViewChange || msg.type === MessageType.DoViewChange;
    if (!votes) return;
    if (!k || k.status === Status.Recovering) this.fail(`replica ${index} sent ${MessageType[msg.type]} while recovering`);
    if (msg.type === MessageType.PrepareOk && (k.view !== msg.view || k.status !== Status.Normal)) {
      this.fail(`replica ${index} acked view ${msg.view} but told the kernel view ${k.view} status ${Status[k.status]}`);
    }
  }

  private checkCommitted(index: number): void {
    const replica = this.replicas[index];
    if (!replica) return;
    for (let op = this.checkedUpTo[index]! + 1; op <= replica.commit; op++) {
      const entry = replica.entryAt(op)!;
      const known = this.committed.get(op);
      if (!known) {
        this.committed.set(op, entry);
        if (process.env.SIM_TRACE) this.note(`op ${op} = ${describe(entry)} first committed by replica ${index} (view ${replica.view})`);
      }
      else if (known.clientId !== entry.clientId || known.requestNum !== entry.requestNum || !sameBytes(known.op, entry.op)) {
        this.fail(`agreement: replica ${index} committed ${describe(entry)} at op ${op}, others ${describe(known)}`);
      }
    }
    this.checkedUpTo[index] = Math.max(this.checkedUpTo[index]!, replica.commit);
  }

  /** Executes the globally committed log once per request on the reference store. */
  private advanceReference(): void {
    while (this.committed.has(this.referenceUpTo + 1)) {
      const op = ++this.referenceUpTo;
      const entry = this.committed.get(op)!;
      const done = this.referenceDone.get(entry.clientId);
      if (done !== undefined && entry.requestNum <= done) continue;
      this.referenceDone.set(entry.clientId, entry.requestNum);
      this.referenceResults.set(op, JSON.stringify(decodeKvResult(this.reference.execute(entry.op))));
    }
  }

  // ---- Clients. ----

  private onClientMessage(c: number, msg: Message): void {
    if (msg.type !== MessageType.Reply) return;
    const client = this.clients[c]!;
    if (!client.pending || msg.requestNum !== client.requestNum) return;
    this.checkReply(client, msg);
    client.view = Math.max(client.view, msg.view);
    client.pending = undefined;
    client.completed += 1;
    this.stats.replies += 1;
  }

  private checkReply(client: Client, reply: Reply): void {
    const entry = this.committed.get(reply.opNum);
    if (!entry || entry.clientId !== client.clientId || entry.requestNum !== reply.requestNum) {
      this.fail(`durability: reply for ${client.clientId}#${reply.requestNum} at op ${reply.opNum} but committed there: ${entry ? describe(entry) : "nothing"}`);
    }
    this.advanceReference();
    const expected = this.referenceResults.get(reply.opNum);
    const got = JSON.stringify(decodeKvResult(reply.result));
    if (expected === undefined) this.fail(`exactly-once: reply at op ${reply.opNum}, which the reference did not execute (duplicate)`);
    if (expected !== got) this.fail(`result at op ${reply.opNum}: got ${got}, reference ${expected}`);
  }

  private tickClients(): void {
    const n = this.opts.replicas;
    const faulty = this.now < this.opts.faultTicks;
    for (let c = 0; c < this.clients.length; c++) {
      const client = this.clients[c]!;
      if (!client.pending) {
        client.requestNum += 1;
        const key = `k${Math.floor(this.rand() * this.opts.keys)}`;
        const op = this.rand() < 0.5 ? encodePut(key, `${client.clientId}.${client.requestNum}`) : encodeGet(key);
        client.pending = { op, sentAt: this.now, lastSent: this.now };
        this.post(-1, client.view % n, this.request(client), faulty);
      } else if (this.now - client.pending.lastSent >= 30) {
        client.pending.lastSent = this.now;
        for (let to = 0; to < n; to++) this.post(-1, to, this.request(client), faulty);
      }
    }
  }

  private request(client: Client): Request {
    return { type: MessageType.Request, view: client.view, clientId: client.clientId, requestNum: client.requestNum, op: client.pending!.op };
  }

  private checkLiveness(): void {
    const limit = 600;
    for (const client of this.clients) {
      if (client.pending && this.now - client.pending.sentAt > limit) {
        const states = this.replicas.map((r, i) => (r ? `${i}:${Status[r.status]} v${r.view} op${r.opNum} c${r.commit}` : `${i}:down`)).join(", ");
        this.fail(`liveness: client ${client.clientId} request ${client.requestNum} pending for ${this.now - client.pending.sentAt} ticks after healing (${states})`);
      }
    }
    const progressed = this.clients.reduce((sum, c) => sum + c.completed, 0);
    if (progressed === 0) this.fail("liveness: no request ever completed");
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describe(entry: Entry): string {
  return `${entry.clientId}#${entry.requestNum}`;
}
