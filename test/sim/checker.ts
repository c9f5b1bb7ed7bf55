// The simulator's oracle. It watches every replica step and every reply a client accepts, and
// throws SimFailure the moment one of these breaks:
// - agreement: every replica's committed prefix equals the one global committed sequence;
// - execution: a replica's app executed exactly its committed prefix, in order (nothing above
//   commit, nothing twice);
// - exactly-once: a client's requests appear in the committed sequence with strictly increasing
//   request numbers (closed-loop clients), so none is committed twice;
// - durability: a reply names the op where its request is committed, forever, on every replica;
// - results: a reply's result is what a reference store returns at that op of the sequence;
// - kernel-state order: every send happens in the state last announced with a kernelState effect
//   (so a recovering replica provably never acks, votes or answers).

import { KvMachine } from "../../src/app/kv.ts";
import type { Replica } from "../../src/core/replica.ts";
import { Status, type Effect, type KernelState, type StateMachine } from "../../src/core/types.ts";
import { MessageType } from "../../src/wire/layout.ts";
import type { Entry, Message, Reply } from "../../src/wire/messages.ts";

export class SimFailure extends Error {}

/** Wraps the replica's app and records every op it executes, in order. */
export class RecordingApp implements StateMachine {
  readonly executed: Uint8Array[] = [];
  private readonly inner = new KvMachine();

  execute(op: Uint8Array): Uint8Array {
    this.executed.push(op);
    return this.inner.execute(op);
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function describeEntry(entry: Entry): string {
  return `${entry.clientId}#${entry.requestNum}`;
}

export class Checker {
  /** committed[k-1]: the entry committed at op k (the first replica to commit it decides). */
  readonly committed: Entry[] = [];
  private readonly results: Uint8Array[] = [];
  private readonly reference = new KvMachine();
  private readonly lastRequest = new Map<number, number>();
  private readonly checkedUpTo: number[];
  private readonly kernel: (KernelState | undefined)[];

  constructor(
    readonly replicaCount: number,
    private readonly fail: (message: string) => never,
  ) {
    this.checkedUpTo = new Array<number>(replicaCount).fill(0);
    this.kernel = new Array<KernelState | undefined>(replicaCount).fill(undefined);
  }

  kernelOf(index: number): KernelState | undefined {
    return this.kernel[index];
  }

  /** A fresh incarnation: it announces its state anew and re-executes from op 1. */
  onRestart(index: number): void {
    this.checkedUpTo[index] = 0;
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
      if (effect.kind === "reply") this.checkReplySend(index, k, effect.msg);
      else this.checkSend(index, k, effect.msg, effect.kind === "send" ? effect.to : undefined);
    }
  }

  private checkReplySend(index: number, k: KernelState, reply: Reply): void {
    if (k.status !== Status.Normal || k.leader !== index || reply.view !== k.view) {
      this.fail(`replica ${index} replied to a client as ${Status[k.status]} in view ${k.view} (leader ${k.leader})`);
    }
  }

  private checkSend(index: number, k: KernelState, msg: Message, to: number | undefined): void {
    const name = MessageType[msg.type];
    const bad = (why: string) =>
      this.fail(`replica ${index} sent ${name} ${JSON.stringify(msg, (_k, v) => (v instanceof Uint8Array ? v.length : v))} ${why} (kernel: ${Status[k.status]} view ${k.view} leader ${k.leader})`);
    if (msg.type === MessageType.Request || msg.type === MessageType.Reply || msg.type === MessageType.Info || msg.type === MessageType.InfoReply) return bad("as a replica message");
    const leads = k.status === Status.Normal && k.leader === index;
    switch (msg.type) {
      case MessageType.Prepare:
      case MessageType.Commit:
      case MessageType.StartView:
        if (!leads) bad("without leading");
        break;
      case MessageType.PrepareOk:
        if (k.status !== Status.Normal || leads || to !== k.leader) bad("while not a normal follower");
        break;
      case MessageType.StartViewChange:
      case MessageType.DoViewChange:
        if (k.status !== Status.ViewChange) bad("while not in view change");
        break;
      case MessageType.NewState:
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
        break;
    }
    if (msg.view !== k.view) bad("for a view other than the announced one");
  }

  /** After every step of replica `index`: its newly committed ops against the global sequence. */
  onStep(index: number, replica: Replica, app: RecordingApp): void {
    const commit = replica.commit;
    const from = this.checkedUpTo[index]!;
    if (commit < from) this.fail(`replica ${index} commit went back from ${from} to ${commit}`);
    if (commit > replica.opNum) this.fail(`replica ${index} commit ${commit} beyond its log ${replica.opNum}`);
    if (app.executed.length !== commit) {
      this.fail(`replica ${index} executed ${app.executed.length} ops but its commit is ${commit}`);
    }
    for (let op = from + 1; op <= commit; op++) {
      const entry = replica.entryAt(op);
      if (!entry) this.fail(`replica ${index} has no entry at committed op ${op}`);
      if (!sameBytes(app.executed[op - 1]!, entry.op)) this.fail(`replica ${index} executed something else at op ${op}`);
      this.agree(index, op, entry);
    }
    this.checkedUpTo[index] = commit;
  }

  private agree(index: number, op: number, entry: Entry): void {
    const known = this.committed[op - 1];
    if (known) {
      if (known.clientId !== entry.clientId || known.requestNum !== entry.requestNum || !sameBytes(known.op, entry.op)) {
        this.fail(`agreement: replica ${index} committed ${describeEntry(entry)} at op ${op}, others ${describeEntry(known)}`);
      }
      return;
    }
    if (op !== this.committed.length + 1) this.fail(`replica ${index} committed op ${op} past the known sequence`);
    const last = this.lastRequest.get(entry.clientId) ?? 0;
    if (entry.requestNum <= last) {
      this.fail(`exactly-once: ${describeEntry(entry)} committed at op ${op} after request ${last} of that client`);
    }
    this.lastRequest.set(entry.clientId, entry.requestNum);
    this.committed.push(entry);
    this.results.push(this.reference.execute(entry.op));
  }

  /** A client accepted `reply` for its pending request. */
  onReply(reply: Reply): void {
    const entry = this.committed[reply.opNum - 1];
    if (!entry || entry.clientId !== reply.clientId || entry.requestNum !== reply.requestNum) {
      this.fail(`durability: reply for ${reply.clientId}#${reply.requestNum} at op ${reply.opNum}, committed there: ${entry ? describeEntry(entry) : "nothing"}`);
    }
    if (!sameBytes(this.results[reply.opNum - 1]!, reply.result)) {
      this.fail(`result of ${reply.clientId}#${reply.requestNum} at op ${reply.opNum} differs from the reference`);
    }
  }

  /** Every live replica's whole committed prefix, once more (nothing committed ever changes). */
  recheckAll(replicas: readonly (Replica | undefined)[]): void {
    replicas.forEach((replica, index) => {
      if (!replica) return;
      for (let op = 1; op <= replica.commit; op++) this.agree(index, op, replica.entryAt(op)!);
    });
  }
}
