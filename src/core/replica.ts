// VR-style Multi-Paxos as a pure state machine: step(event) -> effects. No I/O, clock or
// randomness in here; time arrives as ticks. See ../shared/ELECTRODE.md for the protocol.
//
// Rules worth knowing before reading (each handler guards first, then asserts):
// - The log is 1-based: entry k is op-number k; opNum is the log's length. Entries up to `commit`
//   are executed, in order, on every replica (so every replica can become leader).
// - Acks are cumulative: PrepareOk(op) means "I hold every entry up to op in this view".
// - A replica that learns of a view it is not normal in from its leader (a StartView, Prepare or
//   Commit) joins it: it fetches the leader's log above its own commit ASIDE, and only when it has
//   all of it swaps it in and becomes normal (lastNormalView = view). Until then its log and
//   lastNormalView are untouched, so a view change meanwhile sees exactly what it acknowledged.
//   Claiming a view as "last normal" with a log shorter than its leader's would let a later view
//   change choose that short log and lose committed entries.
// - A restarted replica has lost its memory: it is Recovering and neither acks, votes nor answers
//   until it has fetched the log from the leader of the latest view among f+1 normal replicas.
//   When every other replica answers that it is recovering too (every replica lost its memory,
//   e.g. the cluster's first start), nothing is left to preserve and the replica starts afresh.

import type { Entry, Message, NewState, Prepare, PrepareOk, ReplicaMessage, Reply, Request } from "../wire/messages.ts";
import { MessageType } from "../wire/layout.ts";
import { entryBytes, newStateEntriesBytesMax, prepareEntriesBytesMax } from "../wire/codec.ts";
import { ClientTable } from "./client-table.ts";
import { faultsTolerated, leaderOf, quorumOp } from "./quorum.ts";
import { Status, type Effect, type Event, type KernelState, type ReplicaOptions, type StateMachine } from "./types.ts";

interface DvcInfo {
  readonly lastNormalView: number;
  readonly opNum: number;
  readonly commit: number;
}

/** An outstanding state transfer: fetch from `from` until opNum reaches `target`. */
interface Fetch {
  readonly from: number;
  target: number;
  /** catch-up: a normal follower fills a gap. join: a replica adopts a view that started without
   * it. view-change: the new leader takes the chosen log. recovery: a restarted replica. Join and
   * view-change fetch into `staged` and swap it in only when complete. */
  readonly purpose: "catch-up" | "join" | "view-change" | "recovery";
  idleTicks: number;
}

export class AssertionError extends Error {}

function isStaged(fetch: Fetch): boolean {
  return fetch.purpose === "join" || fetch.purpose === "view-change";
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new AssertionError(`replica invariant violated: ${message}`);
}

export class Replica {
  readonly index: number;
  readonly replicaCount: number;
  readonly f: number;
  private statusValue: Status;
  private viewValue = 0;
  private lastNormalView = 0;
  private readonly log: Entry[] = [];
  private commitValue = 0;
  private readonly clients = new ClientTable();
  private effects: Effect[] = [];
  private emitted: KernelState | undefined;

  // Leader.
  private readonly acked: number[];
  private preparedUpTo = 0;
  private ticksSinceSend = 0;
  private ticksSinceProgress = 0;

  // Follower.
  private ticksSinceLeader = 0;
  private fetch: Fetch | undefined;
  /** A new leader's copy of the chosen log above its commit, fetched before it replaces its own:
   * if the view change fails half-way, this replica still holds every entry it acknowledged. */
  private staged: Entry[] = [];

  // View change.
  private svcFrom = new Set<number>();
  private dvcs = new Map<number, DvcInfo>();
  private dvcSent = false;
  private viewChangeTicks = 0;
  private newLeaderCommit = 0;

  // Recovery.
  private readonly nonce: number;
  private recoveryResponses = new Map<number, { view: number; opNum: number; commit: number; recovering: boolean }>();
  private recoveryTicks = 0;

  constructor(
    private readonly opts: ReplicaOptions,
    private readonly app: StateMachine,
  ) {
    assert(opts.replicaCount >= 1 && opts.replicaCount % 2 === 1, "replica count must be odd");
    assert(opts.index >= 0 && opts.index < opts.replicaCount, "index out of range");
    this.index = opts.index;
    this.replicaCount = opts.replicaCount;
    this.f = faultsTolerated(opts.replicaCount);
    this.acked = new Array<number>(opts.replicaCount).fill(0);
    this.nonce = opts.nonce;
    this.statusValue = opts.recovering ? Status.Recovering : Status.Normal;
  }

  // ---- Read-only view for drivers and tests. ----
  get status(): Status {
    return this.statusValue;
  }
  get view(): number {
    return this.viewValue;
  }
  get opNum(): number {
    return this.log.length;
  }
  get commit(): number {
    return this.commitValue;
  }
  get leaderIndex(): number {
    return leaderOf(this.viewValue, this.replicaCount);
  }
  get isLeader(): boolean {
    return this.statusValue === Status.Normal && this.leaderIndex === this.index;
  }
  entryAt(op: number): Entry | undefined {
    return this.log[op - 1];
  }

  step(event: Event): Effect[] {
    this.effects = [];
    if (this.emitted === undefined) this.emitState();
    switch (event.kind) {
      case "tick":
        this.onTick();
        break;
      case "flush":
        if (this.isLeader) this.sendPrepares();
        break;
      case "request":
        this.onRequest(event.msg);
        break;
      case "message":
        this.onMessage(event.msg);
        break;
    }
    this.emitStateIfChanged();
    this.checkInvariants();
    return this.effects;
  }

  // ---- Effects and kernel state. ----

  private send(to: number, msg: Message): void {
    this.effects.push({ kind: "send", to, msg });
  }

  private broadcast(msg: ReplicaMessage): void {
    if (this.replicaCount > 1) this.effects.push({ kind: "broadcast", msg });
  }

  private currentState(): KernelState {
    return { status: this.statusValue, view: this.viewValue, leader: this.leaderIndex, lastOp: this.log.length, commit: this.commitValue };
  }

  private emitState(): void {
    this.emitted = this.currentState();
    this.effects.push({ kind: "kernelState", state: this.emitted });
  }

  /** Status or view changes must reach the kernel before any send in the new state: callers emit
   * right after changing them. Op and commit changes are emitted once at the end of the step. */
  private emitStateIfChanged(): void {
    const e = this.emitted!;
    if (e.status !== this.statusValue || e.view !== this.viewValue || e.lastOp !== this.log.length || e.commit !== this.commitValue) {
      this.emitState();
    }
  }

  private checkInvariants(): void {
    assert(this.commitValue <= this.log.length, `commit ${this.commitValue} > op ${this.log.length}`);
    assert(this.lastNormalView <= this.viewValue, "lastNormalView > view");
    assert(this.preparedUpTo <= this.log.length || !this.isLeader, "prepared beyond the log");
  }

  // ---- Ticks. ----

  private onTick(): void {
    switch (this.statusValue) {
      case Status.Normal:
        if (this.isLeader) this.leaderTick();
        else this.followerTick();
        break;
      case Status.ViewChange:
        this.viewChangeTick();
        break;
      case Status.Recovering:
        this.recoveryTick();
        break;
    }
    this.fetchTick();
  }

  private leaderTick(): void {
    this.ticksSinceSend += 1;
    if (this.commitValue < this.preparedUpTo) {
      this.ticksSinceProgress += 1;
      if (this.ticksSinceProgress >= this.opts.resendTicks) {
        // Prepares or acks were lost: send the uncommitted suffix again; followers re-ack.
        this.ticksSinceProgress = 0;
        this.broadcastPrepares(this.commitValue + 1, this.preparedUpTo);
      }
    }
    if (this.ticksSinceSend >= this.opts.heartbeatTicks) {
      this.ticksSinceSend = 0;
      this.broadcast({ type: MessageType.Commit, view: this.viewValue, sender: this.index, opNum: this.log.length, commit: this.commitValue });
    }
  }

  private followerTick(): void {
    this.ticksSinceLeader += 1;
    if (this.ticksSinceLeader >= this.opts.viewChangeTimeoutTicks) this.startViewChange(this.viewValue + 1);
  }

  private viewChangeTick(): void {
    this.viewChangeTicks += 1;
    if (this.viewChangeTicks >= this.opts.viewChangeTimeoutTicks) {
      this.startViewChange(this.viewValue + 1);
      return;
    }
    if (this.viewChangeTicks % this.opts.resendTicks === 0) {
      this.broadcast({ type: MessageType.StartViewChange, view: this.viewValue, sender: this.index });
      if (this.dvcSent && this.leaderIndex !== this.index) this.send(this.leaderIndex, this.doViewChange());
    }
  }

  private recoveryTick(): void {
    this.recoveryTicks += 1;
    if (this.replicaCount === 1) {
      this.tryCompleteRecovery(); // alone: nobody holds anything
      return;
    }
    if (this.fetch) return; // fetchTick handles retries and gives up on a silent leader
    if (this.recoveryTicks % this.opts.resendTicks === 0 || this.recoveryTicks === 1) {
      this.recoveryResponses.clear();
      this.broadcast({ type: MessageType.Recovery, sender: this.index, nonce: this.nonce });
    }
  }

  private fetchTick(): void {
    const fetch = this.fetch;
    if (!fetch) return;
    fetch.idleTicks += 1;
    if (fetch.purpose === "join" && fetch.idleTicks >= this.opts.viewChangeTimeoutTicks) {
      this.startViewChange(this.viewValue + 1); // the leader went silent before we caught up
      return;
    }
    if (fetch.purpose === "recovery" && fetch.idleTicks >= this.opts.viewChangeTimeoutTicks) {
      // The leader we chose went silent (it may have crashed): start the recovery round again.
      this.fetch = undefined;
      this.recoveryResponses.clear();
      this.recoveryTicks = 0;
      return;
    }
    if (fetch.idleTicks % this.opts.resendTicks === 0) {
      const next = isStaged(fetch) ? this.commitValue + this.staged.length + 1 : this.log.length + 1;
      this.requestState(fetch.from, next);
    }
  }

  // ---- Normal case. ----

  private onRequest(msg: Request): void {
    if (!this.isLeader) return;
    const verdict = this.clients.classify(msg.clientId, msg.requestNum);
    if (verdict.kind === "cached") {
      this.effects.push({ kind: "reply", msg: verdict.reply });
      return;
    }
    if (verdict.kind === "ignore") return;
    if (this.log.length - this.commitValue >= this.opts.pipelineMax) return; // client retries
    this.log.push({ clientId: msg.clientId, requestNum: msg.requestNum, op: msg.op });
    this.clients.markInFlight(msg.clientId, msg.requestNum);
    if (this.log.length - this.preparedUpTo >= this.opts.batchMax) this.sendPrepares();
  }

  /** Sends Prepares for everything appended since the last send (split to fit datagrams). */
  private sendPrepares(): void {
    if (this.preparedUpTo >= this.log.length) return;
    const from = this.preparedUpTo + 1;
    this.preparedUpTo = this.log.length;
    if (this.f === 0) {
      this.commitUpTo(this.log.length);
      return;
    }
    this.broadcastPrepares(from, this.log.length);
  }

  private broadcastPrepares(from: number, to: number): void {
    let start = from;
    while (start <= to) {
      const entries: Entry[] = [];
      let bytes = 0;
      let op = start;
      while (op <= to && entries.length < this.opts.batchMax) {
        const entry = this.log[op - 1]!;
        if (entries.length > 0 && bytes + entryBytes(entry) > prepareEntriesBytesMax) break;
        entries.push(entry);
        bytes += entryBytes(entry);
        op += 1;
      }
      const prepare: Prepare = { type: MessageType.Prepare, view: this.viewValue, sender: this.index, opNum: op - 1, commit: this.commitValue, entries };
      this.broadcast(prepare);
      start = op;
    }
    this.ticksSinceSend = 0;
  }

  private onMessage(msg: ReplicaMessage): void {
    if (msg.sender >= this.replicaCount || msg.sender === this.index) return;
    if (this.statusValue === Status.Recovering) {
      this.onMessageWhileRecovering(msg);
      return;
    }
    switch (msg.type) {
      case MessageType.Prepare:
        return this.onPrepare(msg);
      case MessageType.PrepareOk:
        return this.onPrepareOk(msg);
      case MessageType.Commit:
        return this.onCommit(msg.view, msg.sender, msg.opNum, msg.commit);
      case MessageType.StartViewChange:
        return this.onStartViewChange(msg.view, msg.sender);
      case MessageType.DoViewChange:
        return this.onDoViewChange(msg.view, msg.sender, msg);
      case MessageType.StartView:
        return this.onStartView(msg.view, msg.sender, msg.opNum, msg.commit);
      case MessageType.GetState:
        return this.onGetState(msg.view, msg.sender, msg.fromOp);
      case MessageType.NewState:
        return this.onNewState(msg);
      case MessageType.Recovery:
        return this.onRecovery(msg.sender, msg.nonce);
      case MessageType.RecoveryResponse:
        return; // not recovering: stale
    }
  }

  /**
   * A StartView, Prepare or Commit from `sender` for `view`, whose leader op-number is `leaderOp`.
   * Returns true when this replica is a normal follower of that view (the message applies);
   * otherwise it may start joining the view (see the file comment) and returns false.
   */
  private joinView(view: number, sender: number, leaderOp: number): boolean {
    if (view < this.viewValue || sender !== leaderOf(view, this.replicaCount)) return false;
    if (view === this.viewValue && this.statusValue === Status.Normal) return true;
    if (view > this.viewValue) {
      this.startViewChange(view, false);
    }
    const fetch = this.fetch;
    if (fetch && fetch.purpose === "join") {
      fetch.target = Math.max(fetch.target, leaderOp);
      return false;
    }
    this.startStaged(sender, leaderOp, "join");
    return false;
  }

  private onPrepare(msg: Prepare): void {
    if (!this.joinView(msg.view, msg.sender, msg.opNum) || this.isLeader) return;
    this.ticksSinceLeader = 0;
    const first = msg.opNum - msg.entries.length + 1;
    if (first > this.log.length + 1) {
      this.startFetch(msg.sender, msg.opNum, "catch-up");
    } else {
      for (let op = this.log.length + 1; op <= msg.opNum; op++) this.log.push(msg.entries[op - first]!);
      if (!this.fetch) this.ack();
      else if (this.log.length >= this.fetch.target) this.finishFetch(msg.commit);
    }
    this.applyCommit(msg.commit);
  }

  private ack(): void {
    const ok: PrepareOk = { type: MessageType.PrepareOk, view: this.viewValue, sender: this.index, opNum: this.log.length };
    this.send(this.leaderIndex, ok);
  }

  private onPrepareOk(msg: PrepareOk): void {
    if (!this.isLeader || msg.view !== this.viewValue) return;
    if (msg.opNum > this.acked[msg.sender]!) this.acked[msg.sender] = msg.opNum;
    const op = quorumOp(this.acked, this.index, this.preparedUpTo, this.f);
    if (op > this.commitValue) {
      this.ticksSinceProgress = 0;
      this.commitUpTo(op);
    }
  }

  private onCommit(view: number, sender: number, leaderOp: number, commit: number): void {
    if (!this.joinView(view, sender, leaderOp) || this.isLeader) return;
    this.ticksSinceLeader = 0;
    if (leaderOp > this.log.length && !this.fetch) this.startFetch(sender, leaderOp, "catch-up");
    this.applyCommit(commit);
  }

  /** Follower: execute up to the leader's commit, as far as the log reaches. */
  private applyCommit(commit: number): void {
    const upTo = Math.min(commit, this.log.length);
    if (upTo > this.commitValue) this.commitUpTo(upTo);
  }

  private commitUpTo(op: number): void {
    assert(op <= this.log.length, `commit ${op} beyond log ${this.log.length}`);
    for (let k = this.commitValue + 1; k <= op; k++) this.execute(k, this.log[k - 1]!);
    this.commitValue = op;
  }

  private execute(op: number, entry: Entry): void {
    if (this.clients.isDuplicate(entry.clientId, entry.requestNum)) return; // a retry logged twice
    const result = this.app.execute(entry.op);
    const reply: Reply = {
      type: MessageType.Reply,
      view: this.viewValue,
      sender: this.index,
      opNum: op,
      clientId: entry.clientId,
      requestNum: entry.requestNum,
      result,
    };
    this.clients.recordExecuted(entry.clientId, entry.requestNum, reply);
    if (this.isLeader) this.effects.push({ kind: "reply", msg: reply });
  }

  // ---- View change. ----

  /** Enters `view` in view-change status; `vote` says whether to announce it (a replica that is
   * only joining a view that already started does not call for a view change). */
  private startViewChange(view: number, vote = true): void {
    this.viewValue = view;
    this.statusValue = Status.ViewChange;
    this.svcFrom = new Set();
    this.dvcs = new Map();
    this.dvcSent = false;
    this.viewChangeTicks = 0;
    this.fetch = undefined;
    this.staged = [];
    this.clients.clearInFlight();
    this.emitState();
    if (!vote) return;
    this.broadcast({ type: MessageType.StartViewChange, view, sender: this.index });
    if (this.f === 0) this.sendDoViewChange();
  }

  private doViewChange() {
    return {
      type: MessageType.DoViewChange,
      view: this.viewValue,
      sender: this.index,
      lastNormalView: this.lastNormalView,
      opNum: this.log.length,
      commit: this.commitValue,
    } as const;
  }

  private sendDoViewChange(): void {
    this.dvcSent = true;
    if (this.leaderIndex === this.index) this.recordDoViewChange(this.index, this.doViewChange());
    else this.send(this.leaderIndex, this.doViewChange());
  }

  private onStartViewChange(view: number, sender: number): void {
    if (view < this.viewValue) return;
    if (view === this.viewValue && this.statusValue === Status.Normal) {
      // The sender missed our StartView: the leader repeats it.
      if (this.isLeader) this.send(sender, { type: MessageType.StartView, view, sender: this.index, opNum: this.log.length, commit: this.commitValue });
      return;
    }
    if (view > this.viewValue) this.startViewChange(view);
    this.svcFrom.add(sender);
    if (!this.dvcSent && this.svcFrom.size >= this.f) this.sendDoViewChange();
  }

  private onDoViewChange(view: number, sender: number, info: DvcInfo): void {
    if (view < this.viewValue || leaderOf(view, this.replicaCount) !== this.index) return;
    if (view === this.viewValue && this.statusValue === Status.Normal) {
      this.send(sender, { type: MessageType.StartView, view, sender: this.index, opNum: this.log.length, commit: this.commitValue });
      return;
    }
    if (view > this.viewValue) this.startViewChange(view);
    // A DVC proves the sender saw f StartViewChanges: this replica's own state is frozen too.
    if (!this.dvcSent) this.sendDoViewChange();
    this.recordDoViewChange(sender, info);
  }

  private recordDoViewChange(sender: number, info: DvcInfo): void {
    this.dvcs.set(sender, { lastNormalView: info.lastNormalView, opNum: info.opNum, commit: info.commit });
    if (this.dvcs.size < this.f + 1 || this.fetch || !this.dvcs.has(this.index)) return;
    let best = sender;
    let bestInfo = this.dvcs.get(sender)!;
    let commit = 0;
    for (const [from, d] of this.dvcs) {
      commit = Math.max(commit, d.commit);
      if (d.lastNormalView > bestInfo.lastNormalView || (d.lastNormalView === bestInfo.lastNormalView && d.opNum > bestInfo.opNum)) {
        best = from;
        bestInfo = d;
      }
    }
    this.newLeaderCommit = commit;
    const mine = this.dvcs.get(this.index)!;
    if (mine.lastNormalView === bestInfo.lastNormalView && mine.opNum >= bestInfo.opNum) {
      this.finishViewChange();
      return;
    }
    this.startStaged(best, bestInfo.opNum, "view-change");
  }

  private finishViewChange(): void {
    this.statusValue = Status.Normal;
    this.lastNormalView = this.viewValue;
    this.fetch = undefined;
    this.acked.fill(0);
    this.preparedUpTo = this.log.length;
    this.ticksSinceProgress = 0;
    this.emitState();
    this.commitUpTo(Math.min(this.newLeaderCommit, this.log.length));
    for (let op = this.commitValue + 1; op <= this.log.length; op++) {
      const entry = this.log[op - 1]!;
      this.clients.markInFlight(entry.clientId, entry.requestNum);
    }
    this.broadcast({ type: MessageType.StartView, view: this.viewValue, sender: this.index, opNum: this.log.length, commit: this.commitValue });
    if (this.commitValue < this.log.length) this.broadcastPrepares(this.commitValue + 1, this.log.length);
    if (this.f === 0) this.commitUpTo(this.log.length);
  }

  private onStartView(view: number, sender: number, leaderOp: number, commit: number): void {
    if (!this.joinView(view, sender, leaderOp)) return;
    // Already normal in this view: a repeated StartView. Make sure the leader has our ack.
    if (leaderOp > this.log.length) this.startFetch(sender, leaderOp, "catch-up");
    else if (!this.isLeader) this.ack();
    this.applyCommit(commit);
  }

  // ---- State transfer. ----

  /** Fetches `from`'s log above our commit, up to `target`, into `staged` (the log is untouched). */
  private startStaged(from: number, target: number, purpose: "join" | "view-change"): void {
    this.staged = [];
    this.fetch = { from, target, purpose, idleTicks: 0 };
    if (target <= this.commitValue) this.adoptStaged(this.commitValue);
    else this.requestState(from, this.commitValue + 1);
  }

  private startFetch(from: number, target: number, purpose: Fetch["purpose"]): void {
    if (this.fetch && this.fetch.from === from && this.fetch.purpose === purpose) {
      this.fetch.target = Math.max(this.fetch.target, target);
      return;
    }
    this.fetch = { from, target, purpose, idleTicks: 0 };
    this.requestState(from, this.log.length + 1);
  }

  private requestState(from: number, fromOp: number): void {
    this.send(from, { type: MessageType.GetState, view: this.viewValue, sender: this.index, fromOp });
  }

  private onGetState(view: number, sender: number, fromOp: number): void {
    if (view !== this.viewValue || fromOp < 1) return;
    // A normal replica serves its view's followers; a replica in view change serves the new leader.
    if (this.statusValue === Status.ViewChange && sender !== this.leaderIndex) return;
    const entries: Entry[] = [];
    let bytes = 0;
    for (let op = fromOp; op <= this.log.length; op++) {
      const entry = this.log[op - 1]!;
      if (bytes + entryBytes(entry) > newStateEntriesBytesMax) break;
      entries.push(entry);
      bytes += entryBytes(entry);
    }
    const reply: NewState = {
      type: MessageType.NewState,
      view,
      sender: this.index,
      opNum: this.log.length,
      commit: this.commitValue,
      fromOp,
      entries,
    };
    this.send(sender, reply);
  }

  private onNewState(msg: NewState): void {
    const fetch = this.fetch;
    if (!fetch || msg.sender !== fetch.from || msg.view !== this.viewValue) return;
    if (msg.entries.length > 0) {
      fetch.idleTicks = 0;
      this.viewChangeTicks = 0;
    }
    if (isStaged(fetch)) {
      this.onStagedState(msg, fetch);
      return;
    }
    for (let i = 0; i < msg.entries.length; i++) {
      if (msg.fromOp + i === this.log.length + 1) this.log.push(msg.entries[i]!);
    }
    fetch.target = Math.max(fetch.target, msg.opNum);
    if (this.log.length >= fetch.target) this.finishFetch(msg.commit);
    else if (msg.entries.length > 0) this.requestState(fetch.from, this.log.length + 1);
  }

  /** Collects the source's log above our commit; adopts it at once when complete. A new leader
   * takes exactly the chosen log; a joining follower takes all the leader has. */
  private onStagedState(msg: NewState, fetch: Fetch): void {
    if (fetch.purpose === "join") fetch.target = Math.max(fetch.target, msg.opNum);
    const end = () => this.commitValue + this.staged.length;
    for (let i = 0; i < msg.entries.length && end() < fetch.target; i++) {
      if (msg.fromOp + i === end() + 1) this.staged.push(msg.entries[i]!);
    }
    if (end() < fetch.target) {
      if (msg.entries.length > 0) this.requestState(fetch.from, end() + 1);
      return;
    }
    this.adoptStaged(msg.commit);
  }

  private adoptStaged(commit: number): void {
    this.log.length = this.commitValue;
    for (const entry of this.staged) this.log.push(entry);
    this.staged = [];
    this.finishFetch(commit);
  }

  private finishFetch(commit: number): void {
    const purpose = this.fetch!.purpose;
    this.fetch = undefined;
    if (purpose === "view-change") {
      this.finishViewChange();
      return;
    }
    if (purpose === "recovery" || purpose === "join") {
      this.statusValue = Status.Normal;
      this.lastNormalView = this.viewValue;
      this.ticksSinceLeader = 0;
      this.emitState();
    }
    this.applyCommit(commit);
    this.ack();
  }

  // ---- Recovery. ----

  private onRecovery(sender: number, nonce: number): void {
    if (this.statusValue !== Status.Normal) return;
    this.send(sender, {
      type: MessageType.RecoveryResponse,
      view: this.viewValue,
      sender: this.index,
      nonce,
      recovering: false,
      opNum: this.log.length,
      commit: this.commitValue,
    });
  }

  private onMessageWhileRecovering(msg: ReplicaMessage): void {
    if (msg.type === MessageType.NewState) {
      this.onNewState(msg);
      return;
    }
    if (msg.type === MessageType.Recovery) {
      // Tell a fellow recovering replica that this one holds nothing either.
      this.send(msg.sender, { type: MessageType.RecoveryResponse, view: 0, sender: this.index, nonce: msg.nonce, recovering: true, opNum: 0, commit: 0 });
      return;
    }
    if (msg.type !== MessageType.RecoveryResponse || msg.nonce !== this.nonce || this.fetch) return;
    this.recoveryResponses.set(msg.sender, { view: msg.view, opNum: msg.opNum, commit: msg.commit, recovering: msg.recovering });
    this.tryCompleteRecovery();
  }

  private tryCompleteRecovery(): void {
    const normal = [...this.recoveryResponses.entries()].filter(([, r]) => !r.recovering);
    if (normal.length === 0 && this.recoveryResponses.size === this.replicaCount - 1) {
      // Every other replica lost its memory too: the cluster starts afresh from an empty log.
      this.statusValue = Status.Normal;
      this.viewValue = 0;
      this.lastNormalView = 0;
      this.ticksSinceLeader = 0;
      this.emitState();
      return;
    }
    if (normal.length < this.f + 1) return;
    const view = Math.max(...normal.map(([, r]) => r.view));
    const leader = leaderOf(view, this.replicaCount);
    const fromLeader = normal.find(([from, r]) => from === leader && r.view === view);
    if (!fromLeader) return;
    this.viewValue = view;
    this.emitState();
    this.startFetch(leader, fromLeader[1].opNum, "recovery");
  }
}
