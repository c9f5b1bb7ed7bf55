// The simulator's oracle. It watches every replica step, every op a replica executes and every
// checkpoint it installs (the core's ExecutionObserver), and every reply a client accepts, and
// throws SimFailure the moment one of these breaks:
// - agreement: every op a replica executes equals the one global committed sequence at that op,
//   and a checkpoint it installs carries the sequence's digest at its op;
// - execution: a replica executed (or installed) exactly its committed prefix, in order (nothing
//   above commit, nothing twice);
// - exactly-once: a client's requests appear in the committed sequence with strictly increasing
//   request numbers (closed-loop clients), so none is committed twice;
// - durability: a reply names the op where its request is committed, forever, on every replica;
// - results: a reply's result is what a reference store returns at that op of the sequence, with
//   the client table's rules (registration, eviction of the least recently committed session) in
//   a model of its own;
// - linearizable reads (served without a log write): a read's reply names the op whose state it
//   read; that state must hold the reference's value of the key there, and the op must be at
//   least every op any client had acknowledged (write or read) when the read was submitted;
// - kernel-state order: every send happens in the state last announced with a kernelState effect
//   (so a recovering replica provably never acks, votes or answers).

import { kvOpCodes, KvMachine, KvStatus } from "../../src/app/kv.ts";
import type { Replica } from "../../src/core/replica.ts";
import { Status, type Effect, type ExecutionObserver, type KernelState, type StateMachine } from "../../src/core/types.ts";
import { MessageType } from "../../src/wire/layout.ts";
import type { Entry, Message, Reply } from "../../src/wire/messages.ts";
import type { AckWindow } from "./loss-window.ts";
import { CommittedSequence, describeEntry, keyOf } from "./sequence.ts";

export { describeEntry } from "./sequence.ts";

export class SimFailure extends Error {}

/** The replica's app (kv), counting what it executes, snapshots and restores. */
export class RecordingApp implements StateMachine {
  executed = 0;
  snapshots = 0;
  restores = 0;
  private readonly inner = new KvMachine();

  execute(op: Uint8Array): Uint8Array {
    this.executed += 1;
    return this.inner.execute(op);
  }
  snapshot(): Uint8Array {
    this.snapshots += 1;
    return this.inner.snapshot();
  }
  restore(snapshot: Uint8Array): void {
    this.restores += 1;
    this.inner.restore(snapshot);
  }
  readOnly(op: Uint8Array): boolean {
    return this.inner.readOnly(op);
  }
  query(op: Uint8Array): Uint8Array {
    return this.inner.query(op);
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Checker {
  /** The one committed sequence (the first replica to commit an op decides it). */
  private seq: CommittedSequence;
  /** Per replica: the last op it executed or installed (its incarnation's). */
  private readonly doneUpTo: number[];
  private readonly kernel: (KernelState | undefined)[];
  /** The highest op of any reply a client accepted so far. */
  acknowledgedOp = 0;

  constructor(
    readonly replicaCount: number,
    private readonly fail: (message: string) => never,
    clientsMax = 64,
    /** fsync interval: what a whole-cluster restart may lose (loss-window.ts); without it, nothing. */
    readonly window?: AckWindow,
  ) {
    this.doneUpTo = new Array<number>(replicaCount).fill(0);
    this.kernel = new Array<KernelState | undefined>(replicaCount).fill(undefined);
    this.seq = new CommittedSequence(clientsMax);
  }

  /** committed[k-1]: the entry committed at op k. */
  get committed(): readonly Entry[] {
    return this.seq.entries;
  }

  /** The observer to give replica `index`'s core (every incarnation's). */
  observerOf(index: number): ExecutionObserver {
    return {
      executed: (op, clientId, requestNum, bytes) => {
        if (op !== this.doneUpTo[index]! + 1) this.fail(`replica ${index} executed op ${op} after ${this.doneUpTo[index]}`);
        this.agree(index, op, { clientId, requestNum, op: bytes.slice() });
        this.doneUpTo[index] = op;
      },
      installed: (op, digest) => {
        if (op <= this.doneUpTo[index]!) this.fail(`replica ${index} installed checkpoint ${op} at or below its op ${this.doneUpTo[index]}`);
        const known = this.seq.digestAt(op);
        if (known === undefined) this.fail(`replica ${index} installed checkpoint ${op} beyond the known committed sequence (${this.seq.length})`);
        if (known !== digest) this.fail(`agreement: replica ${index} installed checkpoint ${op} with digest ${digest}, the sequence's is ${known}`);
        this.doneUpTo[index] = op;
      },
    };
  }

  kernelOf(index: number): KernelState | undefined {
    return this.kernel[index];
  }

  /** A fresh incarnation: it announces its state anew and starts from nothing. */
  onRestart(index: number): void {
    this.doneUpTo[index] = 0;
    this.kernel[index] = undefined;
  }

  /** Called with the effects of one step, in order, before they are delivered. */
  onEffects(index: number, effects: readonly Effect[]): void {
    for (const effect of effects) {
      if (effect.kind === "kernelState") {
        this.kernel[index] = effect.state;
        continue;
      }
      const k = this.kernel[index];
      if (!k) this.fail(`replica ${index} acted before announcing its kernel state`);
      if (effect.kind === "checkpoint" || effect.kind === "diskStart") continue;
      if (effect.kind === "reply") {
        this.checkReplySend(index, k, effect.msg.view);
        this.window?.onAck(index, effect.msg.opNum);
      }
      else if (effect.kind === "evicted") this.checkReplySend(index, k, k.view);
      else this.checkSend(index, k, effect.msg, effect.kind === "send" ? effect.to : undefined);
    }
  }

  /** Replies and Evicted go to clients only from the normal leader of the announced view. */
  private checkReplySend(index: number, k: KernelState, view: number): void {
    if (k.status !== Status.Normal || k.leader !== index || view !== k.view) {
      this.fail(`replica ${index} replied to a client as ${Status[k.status]} in view ${k.view} (leader ${k.leader})`);
    }
  }

  private checkSend(index: number, k: KernelState, msg: Message, to: number | undefined): void {
    const name = MessageType[msg.type];
    const bad = (why: string) =>
      this.fail(`replica ${index} sent ${name} ${JSON.stringify(msg, (_k, v) => (v instanceof Uint8Array ? v.length : v))} ${why} (kernel: ${Status[k.status]} view ${k.view} leader ${k.leader})`);
    if (msg.type === MessageType.Request || msg.type === MessageType.Reply || msg.type === MessageType.Evicted || msg.type === MessageType.Info || msg.type === MessageType.InfoReply) return bad("as a replica message");
    const leads = k.status === Status.Normal && k.leader === index;
    switch (msg.type) {
      case MessageType.Prepare:
      case MessageType.Commit:
      case MessageType.ReadIndex:
      case MessageType.StartView:
        if (!leads) bad("without leading");
        break;
      case MessageType.PrepareOk:
      case MessageType.ReadIndexOk:
        if (k.status !== Status.Normal || leads || to !== k.leader) bad("while not a normal follower");
        break;
      case MessageType.StartViewChange:
        // Also a recovering replica's reminder of the view it promised, to the leader of an earlier
        // view (core: onMessageWhileRecovering): one replica, no log, that view exactly.
        if (k.status === Status.Recovering && to !== undefined && msg.view === k.view) break;
        if (k.status !== Status.ViewChange) bad("while not in view change");
        break;
      case MessageType.DoViewChange:
        if (k.status !== Status.ViewChange) bad("while not in view change");
        break;
      case MessageType.NewState:
      case MessageType.SnapshotChunk:
        if (k.status === Status.Recovering) bad("while recovering");
        break;
      case MessageType.Recovery:
        if (k.status !== Status.Recovering) bad("while not recovering");
        return;
      case MessageType.RecoveryResponse:
        // "recovering" means "holds nothing": a recovering replica, or one with an empty log.
        if (msg.recovering !== (k.status === Status.Recovering || k.lastOp === 0)) bad("with a wrong recovering flag");
        if (msg.recovering) return;
        if (k.status !== Status.Normal) bad("while not normal");
        break;
      case MessageType.GetState:
      case MessageType.GetSnapshot:
        break;
    }
    if (msg.view !== k.view) bad("for a view other than the announced one");
  }

  /** After every step of replica `index`: it executed or installed exactly up to its commit. */
  onStep(index: number, replica: Replica): void {
    const commit = replica.commit;
    if (commit > replica.opNum) this.fail(`replica ${index} commit ${commit} beyond its log ${replica.opNum}`);
    if (commit !== this.doneUpTo[index]) this.fail(`replica ${index} has commit ${commit} but executed or installed up to ${this.doneUpTo[index]}`);
    if (replica.digest !== this.seq.digestAt(commit)) this.fail(`agreement: replica ${index}'s digest at commit ${commit} differs from the sequence's`);
  }

  private agree(index: number, op: number, entry: Entry): void {
    const known = this.seq.entries[op - 1];
    if (known) {
      if (known.clientId !== entry.clientId || known.requestNum !== entry.requestNum || !sameBytes(known.op, entry.op)) {
        this.fail(`agreement: replica ${index} committed ${describeEntry(entry)} at op ${op}, others ${describeEntry(known)}`);
      }
      return;
    }
    if (op !== this.seq.length + 1) this.fail(`replica ${index} committed op ${op} past the known sequence`);
    const problem = this.seq.append(entry);
    if (problem) this.fail(problem);
  }

  /** A client accepted `reply` for its read-only op `op`, submitted when `floor` was acknowledged. */
  onReadReply(reply: Reply, op: Uint8Array, floor: number): void {
    const at = reply.opNum;
    if (at < floor) this.fail(`linearizability: read ${reply.clientId}#${reply.requestNum} saw op ${at}, but op ${floor} was acknowledged before it was invoked`);
    if (at > this.seq.length) this.fail(`read ${reply.clientId}#${reply.requestNum} saw op ${at}, beyond the committed sequence (${this.seq.length})`);
    const key = keyOf(op);
    if (key === undefined) this.fail(`read ${reply.clientId}#${reply.requestNum} of a malformed op was answered without a log write`);
    if (!sameBytes(this.seq.readAt(key, op, at), reply.result)) this.fail(`read ${reply.clientId}#${reply.requestNum} at op ${at} returned other than the key held there`);
    this.acknowledge(at);
  }

  private acknowledge(op: number): void {
    if (op > this.acknowledgedOp) this.acknowledgedOp = op;
  }

  /** A client accepted `reply` for its pending request. */
  onReply(reply: Reply): void {
    const entry = this.seq.entries[reply.opNum - 1];
    if (!entry || entry.clientId !== reply.clientId || entry.requestNum !== reply.requestNum) {
      this.fail(`durability: reply for ${reply.clientId}#${reply.requestNum} at op ${reply.opNum}, committed there: ${entry ? describeEntry(entry) : "nothing"}`);
    }
    const expected = this.seq.resultAt(reply.opNum);
    if (!expected) this.fail(`reply for ${reply.clientId}#${reply.requestNum} at op ${reply.opNum}, which executed for nobody`);
    if (!sameBytes(expected, reply.result)) {
      this.fail(`result of ${reply.clientId}#${reply.requestNum} at op ${reply.opNum} differs from the reference`);
    }
    this.tally(entry.op, reply.result);
    this.acknowledge(reply.opNum);
  }

  /** Deletes and cas ops whose checked results clients accepted (a cas: swapped or not). */
  readonly checkedOps = { deletes: 0, casSwapped: 0, casNotSwapped: 0 };

  private tally(op: Uint8Array, result: Uint8Array): void {
    if (op[0] === kvOpCodes.delete) this.checkedOps.deletes += 1;
    if (op[0] !== kvOpCodes.cas) return;
    if (result[0] === KvStatus.Ok) this.checkedOps.casSwapped += 1;
    else this.checkedOps.casNotSwapped += 1;
  }

  /** Whole-cluster restarts that lost ops: the op the cluster resumed from and the sequence's
   * length before (ops resumedOp+1..length were lost). */
  readonly losses: { readonly resumedOp: number; readonly length: number }[] = [];

  /**
   * Replica `index` starts the whole cluster from its disk (a disk start, before it executes
   * anything of it), after the power cut at tick `cut`; `commitMax` is the highest commit any disk
   * recorded. The sequence continues from its log: ops the sequence holds that this log lacks or
   * holds otherwise are lost. Without a window nothing may be lost; with one (fsync interval) only
   * what loss-window.ts allows, and never an op some disk recorded as committed (the disk start
   * says how many ops it knew committed: it must not have lost one). The sequence is then rebuilt
   * from what survived. Returns the op the sequence now ends at.
   */
  resume(index: number, replica: Replica, cut: number, commitMax: number): number {
    const length = this.seq.length;
    if (commitMax > length) this.fail(`a disk recorded commit ${commitMax}, beyond the committed sequence (${length})`);
    const kept = this.keptBy(replica);
    if (kept === length) return length;
    const where = `the whole cluster restarted from replica ${index}'s disk (op ${replica.opNum}), which lacks committed ops ${kept + 1}..${length}`;
    if (!this.window) this.fail(`durability: ${where}`);
    if (kept < commitMax) this.fail(`durability: ${where}, though a disk recorded commit ${commitMax}`);
    const ack = this.window.protectedAck(kept + 1, cut);
    if (ack) this.fail(`durability (fsync interval): ${where}; op ${ack.op} was acknowledged by replica ${ack.replica} at tick ${ack.tick}, ${cut - ack.tick} ticks before the power cut at tick ${cut} (allowed: ${this.window.ticks})`);
    this.seq = this.seq.prefix(kept);
    this.acknowledgedOp = Math.min(this.acknowledgedOp, kept);
    this.window.forget(kept + 1);
    this.losses.push({ resumedOp: kept, length });
    return kept;
  }

  /** How much of the sequence `replica`'s log holds (below its log: its checkpoint, whose digest
   * was checked when it was loaded). */
  private keptBy(replica: Replica): number {
    const end = Math.min(replica.opNum, this.seq.length);
    for (let op = replica.logStats.firstOp; op <= end; op++) {
      const a = replica.entryAt(op)!;
      const b = this.seq.entries[op - 1]!;
      if (a.clientId !== b.clientId || a.requestNum !== b.requestNum || !sameBytes(a.op, b.op)) return op - 1;
    }
    return end;
  }

  /** Every live replica once more: the entries it still holds of its committed prefix, and its
   * digest (nothing committed ever changes). */
  recheckAll(replicas: readonly (Replica | undefined)[]): void {
    replicas.forEach((replica, index) => {
      if (!replica) return;
      for (let op = replica.logStats.firstOp; op <= replica.commit; op++) this.agree(index, op, replica.entryAt(op)!);
      if (replica.digest !== this.seq.digestAt(replica.commit)) this.fail(`agreement: replica ${index}'s digest at commit ${replica.commit} differs from the sequence's`);
    });
  }
}
