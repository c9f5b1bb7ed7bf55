// VR-style Multi-Paxos as a pure state machine: step(event) -> effects. No I/O, clock or
// randomness in here; time arrives as ticks. See ../shared/ELECTRODE.md for the protocol.
//
// Rules worth knowing before reading (each handler guards first, then asserts):
// - The log is 1-based: entry k is op-number k; opNum is the log's length. Entries up to `commit`
//   are executed, in order, on every replica (so every replica can become leader); entries above
//   it never are. Acks are cumulative: PrepareOk(op) means "I hold every entry up to op in this
//   view, as the leader has them".
// - Messages from older views are dropped. A StartView, Prepare or Commit from the leader of a
//   view this replica is not normal in (a later view, or its current view while it is still in
//   view change) makes it JOIN that view: it enters the view (status ViewChange, so the kernel fast
//   path stays out), fetches the leader's log above its own commit aside, and only when it holds
//   all of it up to the leader's op-number swaps it in and becomes a normal follower (see fetch.ts
//   for why the swap is atomic). StartViewChange and DoViewChange for a later view make it take
//   part in that view change.
// - The new leader of view v takes f+1 DoViewChanges (its own included), adopts the log of the
//   one with the highest (lastNormalView, opNum), fetching it (staged) when it is not its own, then
//   commits up to the highest commit among them and sends StartView. Followers join (above) and
//   ack, so the uncommitted part of the adopted log commits in the new view.
// - A restarted replica has lost its memory: it is Recovering and neither acks, votes, leads nor
//   serves state until it has fetched the log of the leader of the latest view among f+1 normal
//   replicas (recovery.ts, including the fresh start of a cluster that lost everything). With a
//   data directory a replica in a view change that f+1 recovering replicas make impossible
//   becomes one of them (giveUpViewChange): a stalled disk start of 5 or more then starts again.
// - Kernel state: a status or view change is announced (kernelState effect) right when it
//   happens, before any send in the new state; op and commit changes once at the end of a step.

import { entryHead, MessageType, ReadMode, replicasMax } from "../wire/layout.ts";
import { newStateEntriesBytesMax, prepareEntriesBytesMax, snapshotChunkBytesMax } from "../wire/codec.ts";
import type { DoViewChange, Entries, Entry, GetSnapshot, Message, NewState, Prepare, PrepareOk, ReadIndex as ReadIndexMsg, RecoveryResponse, ReplicaMessage, Reply, Request, SnapshotChunk } from "../wire/messages.ts";
import { assert } from "./assert.ts";
import { checkpointBytesMax, CheckpointError, parseCheckpoint, takeCheckpoint, type Checkpoint, type ParsedCheckpoint } from "./checkpoint.ts";
import { ClientTable, registerRequestNum } from "./client-table.ts";
import { Digest } from "./digest.ts";
import { heldUpTo, isStaged, newFetch, newStatesPerRequestMax, snapshotChunksPerRequest, stageCheckpoint, takeEntries, type Fetch, type FetchPurpose } from "./fetch.ts";
import { Log, requestOpBytesMax } from "./log.ts";
import { chooseLog, faultsTolerated, leaderOf, quorumOp, type LogClaim } from "./quorum.ts";
import { Lease } from "./lease.ts";
import { ReadIndex, type PendingRead } from "./read-index.ts";
import { noClaim, RecoveryRounds, type DiskClaim } from "./recovery.ts";
import { Status, type DurableState, type Effect, type Event, type FastPathVia, type KernelState, type ReplicaOptions, type StateMachine } from "./types.ts";

export { AssertionError } from "./assert.ts";
export { requestOpBytesMax } from "./log.ts";

export class Replica {
  readonly index: number;
  readonly replicaCount: number;
  readonly f: number;
  private statusValue: Status;
  private viewValue = 0;
  private lastNormalViewValue = 0;
  private readonly log = new Log();
  private commitValue = 0;
  private readonly clients: ClientTable;
  private digestValue = new Digest();
  /** The latest checkpoint, and the one before it (kept so a transfer of it can finish). */
  private checkpointValue: Checkpoint | undefined;
  private previousCheckpoint: Checkpoint | undefined;
  private effects: Effect[] = [];
  private announced: KernelState | undefined;
  /** Counters for metrics (not part of the replicated state). */
  readonly counters = { checkpointsTaken: 0, checkpointsInstalled: 0, snapshotChunksSent: 0, snapshotChunksReceived: 0, snapshotsRejected: 0, readRounds: 0, readsByLease: 0, readsAnswered: 0 };

  // Leader.
  private readonly acked: number[];
  private preparedUpTo = 0;
  /** With durableVotes: how far this replica's disk holds its log (the driver's `durable` event),
   * so how far its own vote counts; reset when it starts leading a view (the driver fsyncs the
   * adopted log before the StartView leaves, then says so). */
  private durableUpTo = 0;
  /** The highest op the kernel's quorum prune found f followers to hold, in this view
   * (onQuorumAck): committed once this replica's own disk holds it too. */
  private quorumAckedUpTo = 0;
  private unpreparedBytes = 0;
  private ticksSinceSend = 0;
  /** Linearizable reads waiting for their confirmation (read-index.ts). */
  private readonly reads: ReadIndex;
  private readonly readsReady: PendingRead[] = [];
  /** Leader leases (lease.ts): reads answered without a round while it holds one; as a follower,
   * the promises made by answering rounds, which hold back its votes for a later view. */
  private readonly lease: Lease;
  /** The lease confirmed reads since the last round: renew it before it runs out. */
  private leaseInUse = false;
  /** The log end when this replica last started leading a view: every op an earlier view may
   * have committed lies within it, so no read index is below it. */
  private viewStartOp = 0;

  // Follower (and a replica joining a view): ticks since the view's leader was last heard.
  private ticksSinceLeader = 0;
  private fetch: Fetch | undefined;

  // View change.
  private svcFrom = new Set<number>();
  private dvcs = new Map<number, LogClaim>();
  private dvcSent = false;
  private viewChangeTicks = 0;
  private newLeaderCommit = 0;

  // Recovery.
  private readonly recovery: RecoveryRounds;
  private recoveryTicks = 0;
  /** What this replica's data directory held when it started (recovery.ts: disk claims), or what
   * it held when it gave up a view change that could not complete (giveUpViewChange). */
  private diskClaim: DiskClaim = noClaim;
  /** Replicas heard recovering during this view change (giveUpViewChange). */
  private recoveringPeers = new Set<number>();

  constructor(
    private readonly opts: ReplicaOptions,
    private readonly app: StateMachine,
  ) {
    const n = opts.replicaCount;
    assert(Number.isInteger(n) && n >= 1 && n % 2 === 1 && n <= replicasMax, `replica count ${n} must be odd, 1..${replicasMax}`);
    assert(Number.isInteger(opts.index) && opts.index >= 0 && opts.index < n, `index ${opts.index} out of range`);
    assert(Number.isSafeInteger(opts.nonce) && opts.nonce >= 0, "nonce must be a non-negative safe integer");
    for (const key of ["viewChangeTimeoutTicks", "heartbeatTicks", "resendTicks", "pipelineMax", "batchMax", "checkpointOps", "clientsMax"] as const) {
      assert(Number.isInteger(opts[key]) && opts[key] >= 1, `${key} must be a positive integer`);
    }
    assert(Number.isInteger(opts.logRetainOps) && opts.logRetainOps >= 0, "logRetainOps must be a non-negative integer");
    this.clients = new ClientTable(opts.clientsMax);
    this.index = opts.index;
    this.replicaCount = n;
    this.f = faultsTolerated(n);
    this.acked = new Array<number>(n).fill(0);
    this.reads = new ReadIndex(opts.index, n, this.f);
    this.lease = new Lease(this.f === 0 ? 0 : (opts.leaseMs ?? 0), opts.clockDriftPpm ?? 0); // alone: nobody to promise anything
    this.recovery = new RecoveryRounds(opts.nonce);
    this.statusValue = opts.recovering ? Status.Recovering : Status.Normal;
  }

  // ---- Read-only view for drivers and tests. ----

  get status(): Status {
    return this.statusValue;
  }
  get view(): number {
    return this.viewValue;
  }
  get lastNormalView(): number {
    return this.lastNormalViewValue;
  }
  get opNum(): number {
    return this.log.length;
  }
  get commit(): number {
    return this.commitValue;
  }
  /** As a leader with durableVotes: how far its own vote counts (the last `durable` event of the
   * view). The driver fsyncs and says so while it lags the log. */
  get durableOp(): number {
    return this.durableUpTo;
  }
  get leaderIndex(): number {
    return leaderOf(this.viewValue, this.replicaCount);
  }
  get isLeader(): boolean {
    return this.statusValue === Status.Normal && this.leaderIndex === this.index;
  }
  /** In a view that started without it, fetching the leader's log (status ViewChange meanwhile). */
  get joining(): boolean {
    return this.fetch?.purpose === "join";
  }
  get kernelState(): KernelState {
    return { status: this.statusValue, view: this.viewValue, leader: this.leaderIndex, lastOp: this.log.length, commit: this.commitValue };
  }
  /** The log entry at op-number `op` (committed up to `commit`, tentative above), if it is still
   * in memory (compaction drops the entries below the latest checkpoint minus logRetainOps). */
  entryAt(op: number): Entry | undefined {
    return this.log.at(op);
  }
  /** Digest of the committed log up to `commit` (digest.ts). */
  get digest(): string {
    return this.digestValue.toString();
  }
  get checkpoint(): Checkpoint | undefined {
    return this.checkpointValue;
  }
  /** What the log holds in memory. */
  /** What the journal reads before every send: a number, not logStats' object. */
  get logFirstOp(): number {
    return this.log.firstOp;
  }
  get logStats(): { firstOp: number; entries: number; bytes: number } {
    return { firstOp: this.log.firstOp, entries: this.log.entriesHeld, bytes: this.log.bytesHeld };
  }
  get clientStats(): { sessions: number; evictions: number } {
    return { sessions: this.clients.size, evictions: this.clients.evictions };
  }
  /** The lowest op the log was cut back to since the last call (Infinity: it only grew); for a
   * journal of the log (src/storage), which rewrites from there. */
  takeLogCut(): number {
    return this.log.takeCut();
  }
  /** Entries from..to in wire form, as many as fit `bytesMax` (at least one). */
  logBatch(from: number, to: number, bytesMax: number): Entries {
    return this.log.batch(from, to, Number.MAX_SAFE_INTEGER, bytesMax);
  }

  /**
   * Before the first step of a recovering replica: takes what its data directory held. Nothing
   * here is trusted beyond its checksums: the store checked them.
   *
   * `rejoin`: the disk holds everything this replica acknowledged or promised (fsync always, every
   * check passed; src/storage/store.ts). It is then a replica that was cut off, not one that lost
   * its memory, and rejoins its persisted view (or a later one; below): its promises stand, its
   * log is one a view change may choose, and every acknowledged op is on a quorum of disks, so any
   * f+1 replicas, restarted or not, elect a leader with every committed op (VR with persistent
   * state). Otherwise it recovers (recovery.ts): the disk decides only when the whole cluster
   * recovers at once, and saves fetching what its checkpoint covers (committed: the same at every
   * replica).
   */
  loadDurable(state: DurableState, rejoin = false): void {
    assert(this.statusValue === Status.Recovering && this.log.length === 0 && this.announced === undefined, "loadDurable after the start");
    assert(state.lastNormalView <= state.view, "disk: lastNormalView above view");
    if (state.checkpoint) this.adopt(state.checkpoint);
    for (const entries of state.entries) this.log.appendFrom(entries);
    this.log.takeCut();
    this.viewValue = state.view;
    this.lastNormalViewValue = state.lastNormalView;
    this.diskClaim = { view: state.view, lastNormalView: state.lastNormalView, opNum: this.log.length, commit: Math.max(state.commit, this.commitValue) };
    if (rejoin) {
      // Not Normal: it must not serve or ack before it is back in a view. Like a replica that was
      // cut off, it is brought back by a join: the leader of its view answers the StartViewChange
      // it repeats with a StartView, and the leader of a later view reaches it with its Prepares
      // and Commits; if nobody leads, its view-change timeout calls the next view. Only the
      // leader of its own view calls one at once: nobody else can lead that view again.
      this.statusValue = Status.ViewChange;
      this.rejoinPending = leaderOf(state.view, this.replicaCount) === this.index;
    }
  }

  /** loadDurable(rejoin) as its view's leader: the view change starts at the first step (effects exist only there). */
  private rejoinPending = false;

  step(event: Event): Effect[] {
    this.effects = [];
    if (this.announced === undefined) this.announce();
    if (this.rejoinPending) {
      this.rejoinPending = false;
      this.startViewChange(this.viewValue + 1);
    }
    switch (event.kind) {
      case "tick":
        this.readClock(event.nowMs);
        this.onTick();
        break;
      case "flush":
        this.readClock(event.nowMs);
        if (this.isLeader) {
          this.sendPrepares();
          this.useLease();
          this.sendReadRound(this.reads.roundToSend());
        }
        break;
      case "request":
        this.onRequest(event.msg);
        break;
      case "message":
        this.onMessage(event.msg, event.via);
        break;
      case "durable":
        this.onDurable(event.op);
        break;
    }
    if (this.isLeader && this.reads.pending > 0) this.answerReads();
    this.announceIfChanged();
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

  private announce(): void {
    this.announced = this.kernelState;
    this.effects.push({ kind: "kernelState", state: this.announced });
  }

  private announceIfChanged(): void {
    const a = this.announced!;
    if (a.status !== this.statusValue || a.view !== this.viewValue || a.lastOp !== this.log.length || a.commit !== this.commitValue) {
      this.announce();
    }
  }

  private checkInvariants(): void {
    assert(this.commitValue <= this.log.length, `commit ${this.commitValue} > op ${this.log.length}`);
    assert(this.lastNormalViewValue <= this.viewValue, "lastNormalView > view");
    if (this.isLeader) assert(this.preparedUpTo <= this.log.length, "prepared beyond the log");
    // A recovering replica holds only what its disk gave it (loadDurable), unchanged until it recovers.
    if (this.statusValue === Status.Recovering) assert(this.log.length === this.diskClaim.opNum && this.commitValue <= this.diskClaim.opNum, "recovering with a log its disk did not give it");
    const fetch = this.fetch;
    if (!fetch) return;
    const expected: Record<FetchPurpose, Status> = {
      "catch-up": Status.Normal,
      join: Status.ViewChange,
      "view-change": Status.ViewChange,
      recovery: Status.Recovering,
    };
    assert(this.statusValue === expected[fetch.purpose], `${fetch.purpose} fetch in status ${Status[this.statusValue]}`);
    assert((fetch.purpose === "view-change") === (this.leaderIndex === this.index), `${fetch.purpose} fetch by the view's leader`);
    if (isStaged(fetch)) {
      if (fetch.checkpoint) assert(fetch.base === fetch.checkpoint.op && fetch.base > this.commitValue, "staged checkpoint at or below the commit");
      else assert(fetch.base >= this.commitValue && fetch.base <= this.log.length, "staged base outside commit..op");
    }
  }

  // ---- Ticks. ----

  private onTick(): void {
    switch (this.statusValue) {
      case Status.Normal:
        if (this.isLeader) this.leaderTick();
        else this.followerTick();
        return;
      case Status.ViewChange:
        if (this.joining) this.followerTick();
        else this.viewChangeTick();
        return;
      case Status.Recovering:
        this.recoveryTick();
        return;
    }
  }

  private leaderTick(): void {
    this.useLease();
    this.sendReadRound(this.reads.roundToResend(this.opts.resendTicks));
    this.ticksSinceSend += 1;
    if (this.ticksSinceSend < this.opts.heartbeatTicks) return;
    this.ticksSinceSend = 0;
    this.broadcast({ type: MessageType.Commit, view: this.viewValue, sender: this.index, opNum: this.log.length, commit: this.commitValue });
  }

  /** A normal follower, or a replica joining a view: gives up on a silent leader. */
  private followerTick(): void {
    this.ticksSinceLeader += 1;
    if (this.ticksSinceLeader >= this.opts.viewChangeTimeoutTicks) {
      this.startViewChange(this.viewValue + 1);
      return;
    }
    this.fetchTick();
  }

  private viewChangeTick(): void {
    this.viewChangeTicks += 1;
    if (this.viewChangeTicks >= this.opts.viewChangeTimeoutTicks) {
      this.startViewChange(this.viewValue + 1);
      return;
    }
    this.vote(); // held back by a lease it granted (lease.ts) until now, perhaps
    if (this.statusValue !== Status.ViewChange) return; // its own claim completed the view change
    if (this.viewChangeTicks % this.opts.resendTicks === 0) {
      this.broadcast({ type: MessageType.StartViewChange, view: this.viewValue, sender: this.index });
      if (this.dvcSent) this.send(this.leaderIndex, this.doViewChange());
    }
    this.fetchTick();
  }

  /** Asks again when a state transfer has been idle for resendTicks (requests or answers lost). */
  private fetchTick(): void {
    const fetch = this.fetch;
    if (!fetch) return;
    fetch.idleTicks += 1;
    if (fetch.idleTicks % this.opts.resendTicks === 0) this.askMore(fetch);
  }

  private recoveryTick(): void {
    if (this.replicaCount === 1) {
      this.tryRecover(); // alone: nobody holds anything to recover
      return;
    }
    const fetch = this.fetch;
    if (fetch) {
      if (fetch.idleTicks + 1 >= this.opts.viewChangeTimeoutTicks) this.restartRecovery();
      else this.fetchTick();
      return;
    }
    if (this.recoveryTicks++ % this.opts.resendTicks === 0) {
      this.broadcast({ type: MessageType.Recovery, sender: this.index, nonce: this.recovery.nextRound() });
    }
  }

  // ---- Normal case: leader. ----

  private onRequest(msg: Request): void {
    if (msg.read !== undefined && msg.read !== ReadMode.Log && this.app.readOnly?.(msg.op) === true) {
      this.onRead(msg);
      return;
    }
    if (!this.isLeader) return;
    if (msg.op.length > requestOpBytesMax) return; // could not be moved by state transfer
    if (msg.requestNum === registerRequestNum && msg.op.length !== 0) return; // a registration carries no op
    const verdict = this.clients.classify(msg.clientId, msg.requestNum, msg.session);
    switch (verdict.kind) {
      case "cached":
        // Re-stamped so the client learns the current view (and so the current leader).
        this.effects.push({ kind: "reply", msg: { ...verdict.reply, view: this.viewValue, sender: this.index } });
        return;
      case "evicted":
        this.effects.push({ kind: "evicted", clientId: msg.clientId, requestNum: msg.requestNum });
        return;
      case "ignore":
        return;
      case "new":
        break;
    }
    if (this.log.length - this.commitValue >= this.opts.pipelineMax) return; // the client retries
    const bytes = entryHead.size + msg.op.length;
    // Keep every Prepare within one datagram: send what is pending before it would overflow.
    if (this.unpreparedBytes + bytes > prepareEntriesBytesMax) this.sendPrepares();
    this.log.append(msg.clientId, msg.requestNum, msg.op);
    this.unpreparedBytes += bytes;
    this.clients.markInFlight(msg.clientId, msg.requestNum);
    if (this.f === 0) this.sendPrepares(); // alone: committed as soon as logged
    else if (this.log.length - this.preparedUpTo >= this.opts.batchMax) this.sendPrepares();
  }

  // ---- Reads without a log write (read-index.ts). ----

  /** A read-only op. A stale read is answered by any normal replica from what it executed; a
   * linearizable one only by the leader, once confirmed. Anything else is dropped, as a write
   * reaching a follower is: the client retries at every replica. */
  private onRead(msg: Request): void {
    if (this.statusValue !== Status.Normal) return;
    if (msg.read === ReadMode.Stale) {
      this.replyRead(msg.clientId, msg.requestNum, msg.session, msg.op);
      return;
    }
    if (!this.isLeader) return;
    const readIndex = Math.max(this.commitValue, this.viewStartOp);
    this.reads.add({ clientId: msg.clientId, requestNum: msg.requestNum, session: msg.session, op: msg.op, readIndex, confirmOp: this.log.length + 1 });
  }

  private sendReadRound(round: number): void {
    if (round === 0 || this.f === 0) return;
    this.lease.roundSent(round);
    this.counters.readRounds += 1;
    this.broadcast({ type: MessageType.ReadIndex, view: this.viewValue, sender: this.index, opNum: this.log.length, commit: this.commitValue, round });
  }

  /** Answers the reads that are confirmed and whose index the commit reached; if more wait, the
   * next round goes out now rather than at the next flush (unless the lease will confirm them). */
  private answerReads(): void {
    const ready = this.readsReady;
    this.reads.takeReady(this.commitValue, ready);
    this.counters.readsAnswered += ready.length;
    for (const read of ready) this.replyRead(read.clientId, read.requestNum, read.session, read.op);
    ready.length = 0;
    // While the lease holds, the reads that came in wait for the flush, which confirms them by it.
    if (!this.lease.holds) this.sendReadRound(this.reads.roundToSend());
  }

  private replyRead(clientId: number, requestNum: number, session: number, op: Uint8Array): void {
    const result = this.app.query!(op);
    this.effects.push({ kind: "reply", msg: { type: MessageType.Reply, view: this.viewValue, sender: this.index, opNum: this.commitValue, clientId, requestNum, session, result } });
  }

  /** Follower: a read round is also a heartbeat (a Commit); answered as a normal follower only. */
  private onReadIndex(msg: ReadIndexMsg): void {
    this.onCommit(msg.view, msg.sender, msg.opNum, msg.commit);
    if (this.statusValue !== Status.Normal || this.viewValue !== msg.view || this.isLeader) return;
    this.send(this.leaderIndex, { type: MessageType.ReadIndexOk, view: this.viewValue, sender: this.index, round: msg.round });
    this.lease.granted();
  }

  /** Tick and flush carry the driver's clock; with leases on they must (lease.ts). */
  private readClock(nowMs: number | undefined): void {
    if (nowMs !== undefined) this.lease.clock(nowMs);
    else assert(!this.lease.enabled, "leases need the clock on every tick and flush");
  }

  /** Leader, at a tick or flush (a fresh reading, taken after every queued read arrived): while it
   * holds its lease every waiting read is confirmed; a lease in use is renewed before it ends. */
  private useLease(): void {
    if (!this.lease.enabled) return;
    if (this.lease.holds) {
      const covered = this.reads.confirmByLease();
      this.counters.readsByLease += covered;
      if (covered > 0) this.leaseInUse = true;
    }
    if (this.leaseInUse && this.lease.renewalDue) {
      const round = this.reads.renewalRound();
      if (round !== 0) this.leaseInUse = false;
      this.sendReadRound(round);
    }
  }

  /** Sends Prepares for everything appended since the last send, each fitting one datagram. */
  private sendPrepares(): void {
    while (this.preparedUpTo < this.log.length) {
      const entries = this.log.batch(this.preparedUpTo + 1, this.log.length, this.opts.batchMax, prepareEntriesBytesMax);
      this.preparedUpTo += entries.count;
      const prepare: Prepare = { type: MessageType.Prepare, view: this.viewValue, sender: this.index, opNum: this.preparedUpTo, commit: this.commitValue, entries };
      this.broadcast(prepare);
      this.ticksSinceSend = 0;
    }
    this.unpreparedBytes = 0;
    this.advanceCommit();
  }

  private onPrepareOk(msg: PrepareOk): void {
    if (!this.isLeader || msg.view !== this.viewValue || msg.opNum > this.log.length) return;
    if (msg.opNum <= this.acked[msg.sender]!) return; // duplicate or older: acks are cumulative
    this.acked[msg.sender] = msg.opNum;
    this.advanceCommit();
  }

  /** The leader's quorum prune passed up the ack that completed a quorum for its op: f followers
   * hold everything up to it in this view (acks are cumulative), so commit without counting, as
   * far as the leader's own vote reaches (with durableVotes, its disk; the rest when `durable`
   * comes). */
  private onQuorumAck(msg: PrepareOk): void {
    if (!this.isLeader || msg.view !== this.viewValue || msg.opNum > this.preparedUpTo) return;
    this.quorumAckedUpTo = Math.max(this.quorumAckedUpTo, msg.opNum);
    this.advanceCommit();
  }

  /** The driver's disk holds this replica's log up to `op` (it fsynced): as a leader with
   * durableVotes its own vote now counts that far. A follower's acks already follow its disk (the
   * driver sends nothing of a follower before it is durable), so it needs no such count. */
  private onDurable(op: number): void {
    if (!this.opts.durableVotes || !this.isLeader) return;
    assert(op <= this.log.length, `durable up to ${op}, beyond the log ${this.log.length}`);
    if (op <= this.durableUpTo) return;
    this.durableUpTo = op;
    this.advanceCommit();
  }

  /**
   * Commits what a quorum holds. Only prepared ops count for the leader itself, so an op is never
   * committed before its Prepare left (n = 1 has no Prepare to wait for).
   *
   * With durableVotes (fsync always) the driver sends the leader's Prepares before its own fsync,
   * as etcd/raft does, and the leader's vote counts only up to what its disk holds (`durable`).
   * Every follower acks only what its disk holds. So an op commits only when f+1 replicas hold it
   * durably, the leader among them or not (f+1 followers are a quorum on their own; n = 1 commits
   * on its own durable vote alone): whatever crashes, any f+1 disks that come back include one
   * that holds it, and the view change chooses a log with it (ELECTRODE.md). A leader that loses
   * its unsynced entries in a crash lost only what it never counted; it rejoins with its disk's
   * shorter log of the same view, a prefix of what its followers hold, and never leads that view
   * again (loadDurable). Without durableVotes the leader's own vote is all it prepared.
   */
  private advanceCommit(): void {
    const own = this.opts.durableVotes ? Math.min(this.preparedUpTo, this.durableUpTo) : this.preparedUpTo;
    const op = Math.max(quorumOp(this.acked, this.index, this.preparedUpTo, this.f, own), Math.min(this.quorumAckedUpTo, own));
    if (op > this.commitValue) this.commitUpTo(op);
  }

  // ---- Normal case: follower. ----

  /** `fastAcked`: the kernel already acked it (fast reply), so no PrepareOk from here. */
  private onPrepare(msg: Prepare, fastAcked = false): void {
    if (!this.joinView(msg.view, msg.sender, msg.opNum, msg.commit)) return;
    this.ticksSinceLeader = 0;
    const first = msg.opNum - msg.entries.count + 1;
    if (first < 1) return;
    if (first > this.log.length + 1) {
      // A gap: Prepares were lost or reordered. The kernel acks only what extends the log it was
      // told of, and the driver hands acked Prepares over in op order, so never a fast-acked one.
      assert(!fastAcked, `fast-acked Prepare ${first}..${msg.opNum} leaves a gap after ${this.log.length}`);
      this.startCatchUp(msg.opNum);
    } else {
      if (msg.opNum > this.log.length) this.log.appendFrom(msg.entries, this.log.length + 1 - first);
      if (!fastAcked) this.ack(); // also answers a duplicate Prepare, in case our earlier ack was lost
      if (this.fetch && this.log.length >= this.fetch.target) this.fetch = undefined;
    }
    this.applyCommit(msg.commit);
  }

  private onCommit(view: number, sender: number, leaderOp: number, commit: number): void {
    if (!this.joinView(view, sender, leaderOp, commit)) return;
    this.ticksSinceLeader = 0;
    if (leaderOp > this.log.length) this.startCatchUp(leaderOp);
    else if (this.log.length > commit) this.ack(); // our last ack may be lost: the leader is waiting for it
    this.applyCommit(commit);
  }

  private ack(): void {
    assert(this.statusValue === Status.Normal && this.leaderIndex !== this.index, "ack while not a normal follower");
    const ok: PrepareOk = { type: MessageType.PrepareOk, view: this.viewValue, sender: this.index, opNum: this.log.length };
    this.send(this.leaderIndex, ok);
  }

  /** Follower: executes up to the leader's commit, as far as its log reaches. */
  private applyCommit(commit: number): void {
    const upTo = Math.min(commit, this.log.length);
    if (upTo > this.commitValue) this.commitUpTo(upTo);
  }

  private commitUpTo(op: number): void {
    assert(op <= this.log.length, `commit ${op} beyond log ${this.log.length}`);
    assert(this.statusValue === Status.Normal, "commit while not normal");
    for (let k = this.commitValue + 1; k <= op; k++) {
      this.execute(k);
      this.commitValue = k;
      if (k % this.opts.checkpointOps === 0) this.checkpointAt(k);
    }
  }

  private execute(op: number): void {
    const clientId = this.log.clientIdAt(op);
    const requestNum = this.log.requestNumAt(op);
    const bytes = this.log.opAt(op);
    this.digestValue.add(bytes);
    this.opts.observer?.executed(op, clientId, requestNum, bytes);
    switch (this.clients.execution(clientId, requestNum)) {
      case "register": {
        const evicted = this.clients.register(clientId, op);
        if (!this.isLeader) return;
        if (evicted !== undefined) this.effects.push({ kind: "evicted", clientId: evicted, requestNum: 0 });
        this.effects.push({ kind: "reply", msg: { ...this.clients.registerReply(clientId, op), view: this.viewValue, sender: this.index } });
        return;
      }
      case "execute": {
        const result = this.app.execute(bytes);
        this.clients.recordExecuted(clientId, requestNum, op, result);
        if (!this.isLeader) return;
        const reply: Reply = { type: MessageType.Reply, view: this.viewValue, sender: this.index, opNum: op, clientId, requestNum, session: this.clients.sessionOf(clientId)!, result };
        this.effects.push({ kind: "reply", msg: reply });
        return;
      }
      case "evicted":
        // Logged while the client had a session, evicted before it executed: never executes.
        if (this.isLeader) this.effects.push({ kind: "evicted", clientId, requestNum });
        return;
      case "duplicate":
        return;
    }
  }

  /** Takes the checkpoint of op `op` (just executed) and drops the log below it minus the
   * retained suffix. */
  private checkpointAt(op: number): void {
    const cp = takeCheckpoint(op, this.digestValue, this.clients, this.app);
    this.previousCheckpoint = this.checkpointValue;
    this.checkpointValue = cp;
    this.counters.checkpointsTaken += 1;
    this.log.compact(op - this.opts.logRetainOps);
    this.effects.push({ kind: "checkpoint", checkpoint: cp, installed: false });
  }

  /** Replaces the state with a peer's checkpoint: the app, the client table, the digest, commit,
   * and the log, which now continues after the checkpoint's op. */
  private install(cp: ParsedCheckpoint): void {
    assert(cp.op >= this.commitValue, `installing checkpoint ${cp.op} below commit ${this.commitValue}`);
    this.adopt(cp);
    this.counters.checkpointsInstalled += 1;
    this.effects.push({ kind: "checkpoint", checkpoint: this.checkpointValue!, installed: true });
  }

  /** The state becomes checkpoint `cp`'s (a peer's, or the one on this replica's disk). Nothing
   * changes unless every part reads: the table is parsed first, the app restores whole or throws,
   * and only then is the table replaced. */
  private adopt(cp: ParsedCheckpoint): void {
    const sessions = this.clients.parse(cp.bytes, cp.tableAt);
    this.app.restore(cp.app);
    this.clients.replace(sessions);
    this.digestValue = cp.digest.copy();
    this.commitValue = cp.op;
    this.log.resetTo(cp.op);
    this.previousCheckpoint = undefined;
    this.checkpointValue = { op: cp.op, digest: cp.digest, bytes: cp.bytes, checksum: cp.checksum };
    this.opts.observer?.installed(cp.op, this.digest);
  }

  // ---- Messages. ----

  private onMessage(msg: ReplicaMessage, via?: FastPathVia): void {
    if (msg.sender >= this.replicaCount || msg.sender === this.index) return;
    if (this.statusValue === Status.Recovering) {
      this.onMessageWhileRecovering(msg);
      return;
    }
    switch (msg.type) {
      case MessageType.Prepare:
        return this.onPrepare(msg, via === "fast-reply");
      case MessageType.PrepareOk:
        return via === "quorum" ? this.onQuorumAck(msg) : this.onPrepareOk(msg);
      case MessageType.Commit:
        return this.onCommit(msg.view, msg.sender, msg.opNum, msg.commit);
      case MessageType.ReadIndex:
        return this.onReadIndex(msg);
      case MessageType.ReadIndexOk:
        if (this.isLeader && msg.view === this.viewValue) {
          this.reads.onAck(msg.sender, msg.round);
          this.lease.roundConfirmed(this.reads.confirmedRound);
        }
        return;
      case MessageType.StartViewChange:
        return this.onStartViewChange(msg.view, msg.sender);
      case MessageType.DoViewChange:
        return this.onDoViewChange(msg);
      case MessageType.StartView:
        return this.onStartView(msg.view, msg.sender, msg.opNum, msg.commit);
      case MessageType.GetState:
        return this.onGetState(msg.view, msg.sender, msg.fromOp);
      case MessageType.NewState:
        return this.onNewState(msg);
      case MessageType.GetSnapshot:
        return this.onGetSnapshot(msg);
      case MessageType.SnapshotChunk:
        return this.onSnapshotChunk(msg);
      case MessageType.Recovery:
        return this.onRecovery(msg.sender, msg.nonce);
      case MessageType.RecoveryResponse:
        return; // not recovering (any more): a late answer
    }
  }

  /**
   * A StartView, Prepare or Commit from `sender` for `view`, whose leader holds `leaderOp`.
   * Returns true when this replica is a normal follower of that view (the message applies).
   * Otherwise drops it, or starts or continues joining the view (file comment), and returns false.
   */
  private joinView(view: number, sender: number, leaderOp: number, commit: number): boolean {
    if (view < this.viewValue || sender !== leaderOf(view, this.replicaCount)) return false;
    if (view === this.viewValue && this.statusValue === Status.Normal) return true;
    if (view > this.viewValue) this.startViewChange(view, false);
    this.ticksSinceLeader = 0;
    const fetch = this.fetch;
    if (fetch) {
      assert(fetch.purpose === "join", `${fetch.purpose} fetch while joining`);
      fetch.commit = Math.max(fetch.commit, commit);
      return false;
    }
    // Everything up to our commit is committed, so the leader holds it too: fetch only above it.
    // The leader's op-number is at least its start-of-view log, which is what the join must reach.
    this.startFetch("join", sender, leaderOp, this.commitValue, commit);
    return false;
  }

  // ---- View change. ----

  /** Enters `view` in view-change status. `vote` says whether to call for a view change; a
   * replica joining a view that already started does not. */
  private startViewChange(view: number, vote = true): void {
    assert(view > this.viewValue, `view change to ${view} from ${this.viewValue}`);
    this.fence(view);
    this.viewValue = view;
    this.statusValue = Status.ViewChange;
    this.clearVotes();
    this.viewChangeTicks = 0;
    this.ticksSinceLeader = 0;
    this.fetch = undefined;
    this.clients.clearInFlight();
    this.reads.reset();
    this.lease.reset();
    this.announce();
    if (!vote) return;
    this.broadcast({ type: MessageType.StartViewChange, view, sender: this.index });
    this.vote();
  }

  /** What a view change gathered (StartViewChanges, DoViewChanges, whether ours went, recovering
   * peers heard): forgotten when a new one starts or one is given up. */
  private clearVotes(): void {
    this.svcFrom = new Set();
    this.dvcs = new Map();
    this.dvcSent = false;
    this.recoveringPeers = new Set();
  }

  /** Takes part in this view change as far as it may: a DoViewChange to the new leader, or as that
   * leader its own claim. Not while a lease it granted may still be held (lease.ts); viewChangeTick
   * tries again. */
  private vote(): void {
    if (this.leaderIndex !== this.index) {
      this.maybeSendDoViewChange();
      return;
    }
    // The new leader's own log is one of the f+1 it decides on; it is frozen from now on.
    if (this.lease.mayVote && !this.dvcs.has(this.index)) this.recordClaim(this.index, this.ownClaim());
  }

  /** Before a normal follower leaves its view: stop the kernel's fast reply and take in what it
   * acked meanwhile (ReplicaOptions.fence). They extend the log in the view being left. */
  private fence(nextView: number): void {
    if (!this.opts.fence || this.statusValue !== Status.Normal || this.leaderIndex === this.index) return;
    const next: KernelState = { status: Status.ViewChange, view: nextView, leader: leaderOf(nextView, this.replicaCount), lastOp: this.log.length, commit: this.commitValue };
    for (const prepare of this.opts.fence(next)) this.onPrepare(prepare, true);
  }

  private ownClaim(): LogClaim {
    return { lastNormalView: this.lastNormalViewValue, opNum: this.log.length, commit: this.commitValue };
  }

  private doViewChange(): DoViewChange {
    return { type: MessageType.DoViewChange, view: this.viewValue, sender: this.index, ...this.ownClaim() };
  }

  private maybeSendDoViewChange(): void {
    if (this.dvcSent || this.svcFrom.size < this.f || this.leaderIndex === this.index || !this.lease.mayVote) return;
    this.dvcSent = true;
    this.send(this.leaderIndex, this.doViewChange());
  }

  private sendStartView(to: number): void {
    this.send(to, { type: MessageType.StartView, view: this.viewValue, sender: this.index, opNum: this.log.length, commit: this.commitValue });
  }

  private onStartViewChange(view: number, sender: number): void {
    if (view < this.viewValue) return;
    if (view === this.viewValue) {
      // The view already started: the leader repeats its StartView for a replica that missed it.
      if (this.statusValue === Status.Normal) {
        if (this.isLeader) this.sendStartView(sender);
        return;
      }
      if (this.joining) return;
    } else {
      this.startViewChange(view);
    }
    if (this.svcFrom.has(sender)) return;
    this.svcFrom.add(sender);
    this.viewChangeTicks = 0; // progress
    this.maybeSendDoViewChange();
  }

  private onDoViewChange(msg: DoViewChange): void {
    if (msg.view < this.viewValue || leaderOf(msg.view, this.replicaCount) !== this.index) return;
    if (msg.commit > msg.opNum || msg.lastNormalView >= msg.view) return; // inconsistent: no replica sends that
    if (msg.view === this.viewValue && this.statusValue === Status.Normal) {
      this.sendStartView(msg.sender); // it missed our StartView
      return;
    }
    if (msg.view > this.viewValue) this.startViewChange(msg.view);
    if (!this.dvcs.has(msg.sender)) this.viewChangeTicks = 0; // progress
    this.recordClaim(msg.sender, { lastNormalView: msg.lastNormalView, opNum: msg.opNum, commit: msg.commit });
  }

  /** New leader: records a DoViewChange; with f+1 of them, adopts the best log (once). */
  private recordClaim(sender: number, claim: LogClaim): void {
    assert(this.statusValue === Status.ViewChange && this.leaderIndex === this.index, "claim outside own view change");
    this.dvcs.set(sender, claim);
    if (this.fetch || this.dvcs.size < this.f + 1 || !this.dvcs.has(this.index)) return;
    const mine = this.dvcs.get(this.index);
    assert(mine !== undefined && mine.opNum === this.log.length, "new leader's own claim missing or stale");
    const choice = chooseLog(this.dvcs, this.index)!;
    this.newLeaderCommit = choice.commit;
    if (choice.best === this.index) {
      this.finishViewChange();
      return;
    }
    // A log with the same lastNormalView is a prefix of the chosen one: fetch only what it lacks.
    // Otherwise only the committed prefix is known to match.
    const base = mine.lastNormalView === choice.claim.lastNormalView ? this.log.length : this.commitValue;
    this.startFetch("view-change", choice.best, choice.claim.opNum, base, choice.commit);
  }

  private finishViewChange(): void {
    this.statusValue = Status.Normal;
    this.lastNormalViewValue = this.viewValue;
    this.fetch = undefined;
    this.acked.fill(0);
    this.quorumAckedUpTo = 0;
    this.durableUpTo = 0; // the driver fsyncs the adopted log (its View record is pending) and says so
    this.preparedUpTo = this.log.length;
    this.unpreparedBytes = 0;
    this.ticksSinceSend = 0;
    this.viewStartOp = this.log.length;
    this.reads.reset();
    this.lease.reset();
    this.leaseInUse = false;
    this.announce();
    // Every committed op is in the chosen log (any f+1 DoViewChanges include a replica of each
    // commit quorum), so the highest commit among them lies within it.
    assert(this.newLeaderCommit <= this.log.length, `commit ${this.newLeaderCommit} beyond the chosen log ${this.log.length}`);
    if (this.newLeaderCommit > this.commitValue) this.commitUpTo(this.newLeaderCommit);
    for (let op = this.commitValue + 1; op <= this.log.length; op++) this.clients.markInFlight(this.log.clientIdAt(op), this.log.requestNumAt(op));
    this.broadcast({ type: MessageType.StartView, view: this.viewValue, sender: this.index, opNum: this.log.length, commit: this.commitValue });
    this.advanceCommit(); // alone (f = 0): the whole log is committed (with durableVotes once durable)
  }

  private onStartView(view: number, sender: number, leaderOp: number, commit: number): void {
    if (!this.joinView(view, sender, leaderOp, commit)) return;
    // Already a normal follower of this view: a repeated StartView. Make sure the leader has our ack.
    this.ticksSinceLeader = 0;
    if (leaderOp > this.log.length) this.startCatchUp(leaderOp);
    else this.ack();
    this.applyCommit(commit);
  }

  // ---- State transfer. ----

  private startFetch(purpose: FetchPurpose, from: number, target: number, base: number, commit: number): void {
    this.fetch = newFetch(purpose, from, target, base, commit);
    if (heldUpTo(this.fetch, this.log) >= target) this.completeFetch();
    else this.askMore(this.fetch);
  }

  private askMore(fetch: Fetch): void {
    const snapshot = fetch.snapshot;
    if (snapshot) {
      snapshot.arrivals = 0;
      this.send(fetch.from, { type: MessageType.GetSnapshot, view: this.viewValue, sender: this.index, checkpointOp: snapshot.op, offset: snapshot.have });
      return;
    }
    fetch.askedFrom = heldUpTo(fetch, this.log) + 1;
    fetch.arrivals = 0;
    this.requestState(fetch.from, fetch.askedFrom);
  }

  /** A normal follower behind its leader. */
  private startCatchUp(target: number): void {
    if (this.fetch) {
      this.fetch.target = Math.max(this.fetch.target, target);
      return;
    }
    this.startFetch("catch-up", this.leaderIndex, target, this.log.length, 0);
  }

  private requestState(from: number, fromOp: number): void {
    this.send(from, { type: MessageType.GetState, view: this.viewValue, sender: this.index, fromOp });
  }

  /** Serves state: a normal leader to its view's replicas; a replica in view change (not joining)
   * to its view's new leader, which is fetching the chosen log, frozen since the DoViewChange. */
  private onGetState(view: number, sender: number, fromOp: number): void {
    if (!this.servesState(view, sender) || fromOp < 1) return;
    if (fromOp < this.log.firstOp) {
      // Compacted away: the latest checkpoint covers it, then the entries above it follow.
      const cp = this.checkpointValue;
      assert(cp !== undefined && cp.op >= fromOp, `log compacted to ${this.log.firstOp} without a checkpoint at or above ${fromOp}`);
      this.sendSnapshot(sender, cp, 0);
      return;
    }
    let from = fromOp;
    for (let sent = 0; sent < newStatesPerRequestMax; sent++) {
      const entries = this.log.batch(from, this.log.length, Number.MAX_SAFE_INTEGER, newStateEntriesBytesMax);
      const reply: NewState = { type: MessageType.NewState, view, sender: this.index, opNum: this.log.length, commit: this.commitValue, fromOp: from, entries };
      this.send(sender, reply);
      from += entries.count;
      if (from > this.log.length) break; // an empty answer when asked beyond the log says so
    }
  }

  /** Whether this replica serves state to `sender` in `view`: a normal leader to its view's
   * replicas; a replica in view change (not joining) to its view's new leader, which is fetching
   * the chosen log, frozen since the DoViewChange. */
  private servesState(view: number, sender: number): boolean {
    if (view !== this.viewValue) return false;
    if (this.statusValue === Status.Normal) return this.isLeader;
    if (this.statusValue !== Status.ViewChange || this.joining || sender !== this.leaderIndex) return false;
    this.viewChangeTicks = 0; // serving the new leader is progress of this view change
    return true;
  }

  private onGetSnapshot(msg: GetSnapshot): void {
    if (!this.servesState(msg.view, msg.sender)) return;
    const wanted = [this.checkpointValue, this.previousCheckpoint].find((cp) => cp?.op === msg.checkpointOp);
    if (wanted && msg.offset < wanted.bytes.length) this.sendSnapshot(msg.sender, wanted, msg.offset);
    else if (this.checkpointValue) this.sendSnapshot(msg.sender, this.checkpointValue, 0); // gone: start on the latest
  }

  /** Up to snapshotChunksPerRequest chunks of `cp` from byte `offset` on. */
  private sendSnapshot(to: number, cp: Checkpoint, offset: number): void {
    const total = cp.bytes.length;
    for (let at = offset, sent = 0; at < total && sent < snapshotChunksPerRequest; at += snapshotChunkBytesMax, sent++) {
      const bytes = cp.bytes.subarray(at, Math.min(total, at + snapshotChunkBytesMax));
      const chunk: SnapshotChunk = {
        type: MessageType.SnapshotChunk,
        view: this.viewValue,
        sender: this.index,
        checkpointOp: cp.op,
        opNum: this.log.length,
        commit: this.commitValue,
        total,
        checksum: cp.checksum,
        offset: at,
        bytes,
      };
      this.send(to, chunk);
      this.counters.snapshotChunksSent += 1;
    }
  }

  /** A chunk of the checkpoint the fetch asked for (file comment of fetch.ts). */
  private onSnapshotChunk(msg: SnapshotChunk): void {
    const fetch = this.fetch;
    if (!fetch || msg.sender !== fetch.from || msg.view !== this.viewValue) return;
    if (fetch.purpose === "view-change" && msg.opNum < fetch.target) return; // not the chosen log
    if (msg.checkpointOp <= heldUpTo(fetch, this.log) || msg.checkpointOp > msg.opNum) return; // nothing to gain
    if (fetch.purpose === "catch-up" || fetch.purpose === "join") this.ticksSinceLeader = 0;
    fetch.commit = Math.max(fetch.commit, msg.commit);
    if (fetch.purpose === "catch-up") fetch.target = Math.max(fetch.target, msg.opNum);
    this.counters.snapshotChunksReceived += 1;
    let asm = fetch.snapshot;
    if (!asm || asm.op !== msg.checkpointOp || asm.checksum !== msg.checksum || asm.total !== msg.total) {
      if (msg.total > checkpointBytesMax || msg.offset !== 0) return; // a new checkpoint starts at its first chunk
      asm = { op: msg.checkpointOp, total: msg.total, checksum: msg.checksum, bytes: new Uint8Array(msg.total), have: 0, arrivals: 0 };
      fetch.snapshot = asm;
    }
    asm.arrivals += 1;
    if (msg.offset === asm.have && msg.bytes.length > 0) {
      asm.bytes.set(msg.bytes, asm.have);
      asm.have += msg.bytes.length;
      fetch.idleTicks = 0;
      this.viewChangeTicks = 0;
    }
    if (asm.have === asm.total) this.snapshotComplete(fetch, asm.bytes);
    else if (asm.arrivals >= snapshotChunksPerRequest || msg.offset + msg.bytes.length === msg.total) this.askMore(fetch);
  }

  /** Every byte of the checkpoint arrived: check it, then stage it (or install it, catching up). */
  private snapshotComplete(fetch: Fetch, bytes: Uint8Array): void {
    fetch.snapshot = undefined;
    let cp: ParsedCheckpoint;
    try {
      cp = parseCheckpoint(bytes);
      if (isStaged(fetch)) stageCheckpoint(fetch, cp);
      else this.install(cp);
    } catch (e) {
      if (!(e instanceof CheckpointError) && !(e instanceof RangeError)) throw e;
      this.counters.snapshotsRejected += 1; // corrupt or unreadable: ask again
      this.askMore(fetch);
      return;
    }
    if (fetch.purpose === "catch-up") this.ack();
    if (heldUpTo(fetch, this.log) >= fetch.target) this.completeFetch();
    else this.askMore(fetch);
  }

  private onNewState(msg: NewState): void {
    const fetch = this.fetch;
    if (!fetch || msg.sender !== fetch.from || msg.view !== this.viewValue || msg.fromOp < 1) return;
    // The chosen log is exactly the DoViewChange sender's: a shorter one cannot be it.
    if (fetch.purpose === "view-change" && msg.opNum < fetch.target) return;
    if (fetch.purpose === "catch-up" || fetch.purpose === "join") this.ticksSinceLeader = 0;
    fetch.commit = Math.max(fetch.commit, msg.commit);
    fetch.arrivals += 1;
    const taken = takeEntries(fetch, this.log, msg);
    if (taken > 0) {
      fetch.idleTicks = 0;
      this.viewChangeTicks = 0;
    }
    if (fetch.purpose === "catch-up") {
      fetch.target = Math.max(fetch.target, msg.opNum);
      if (taken > 0) this.ack();
      this.applyCommit(msg.commit);
    }
    const held = heldUpTo(fetch, this.log);
    if (held >= fetch.target) {
      this.completeFetch();
      return;
    }
    const answered = fetch.arrivals >= newStatesPerRequestMax || msg.fromOp + msg.entries.count > msg.opNum;
    if (answered && held >= fetch.askedFrom) this.askMore(fetch);
  }

  private completeFetch(): void {
    const fetch = this.fetch!;
    this.fetch = undefined;
    if (!isStaged(fetch)) return;
    // Swap in atomically (fetch.ts). Nothing at or below the commit changes: base >= commit (a
    // staged checkpoint lies above the commit: it covers what was compacted at the source).
    if (fetch.checkpoint) {
      try {
        this.install(fetch.checkpoint);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        this.counters.snapshotsRejected += 1; // the app cannot read it: nothing changed, start over
        this.startFetch(fetch.purpose, fetch.from, fetch.target, this.commitValue, fetch.commit);
        return;
      }
    } else this.log.truncate(fetch.base);
    const staged = fetch.staged;
    for (let op = fetch.base + 1; op <= staged.length; op++) this.log.append(staged.clientIdAt(op), staged.requestNumAt(op), staged.opAt(op));
    if (fetch.purpose === "view-change") this.finishViewChange();
    else this.becomeFollower(fetch.commit);
  }

  /** After a join or a recovery: a normal follower of the current view with the leader's log. */
  private becomeFollower(commit: number): void {
    assert(this.leaderIndex !== this.index, "cannot follow itself");
    this.statusValue = Status.Normal;
    this.lastNormalViewValue = this.viewValue;
    this.ticksSinceLeader = 0;
    this.announce();
    this.ack(); // the uncommitted part of the leader's log needs our ack to commit in this view
    this.applyCommit(commit);
  }

  // ---- Recovery. ----

  /** A normal replica answers; if the asker is its own leader, that leader lost its memory and
   * the view is over: start a view change at once instead of waiting for the timeout. */
  private onRecovery(sender: number, nonce: number): void {
    if (this.log.length === 0) {
      // Holding nothing, in any status, is the same as recovering for the asker's fresh-start
      // rule. Replicas started together need it: the first to start afresh goes on to view
      // changes while the others still recover, and would otherwise never answer them. Its view
      // goes with it (a view it promised): above 0, it tells the asker view 0 is over (recovery.ts).
      this.send(sender, { type: MessageType.RecoveryResponse, view: this.viewValue, sender: this.index, nonce, recovering: true, lastNormalView: 0, opNum: 0, commit: 0 });
      return;
    }
    if (this.giveUpViewChange(sender)) {
      this.onMessageWhileRecovering({ type: MessageType.Recovery, sender, nonce });
      return;
    }
    if (this.statusValue !== Status.Normal) return;
    if (sender === this.leaderIndex) {
      this.startViewChange(this.viewValue + 1);
      return;
    }
    const answer: RecoveryResponse = {
      type: MessageType.RecoveryResponse,
      view: this.viewValue,
      sender: this.index,
      nonce,
      recovering: false,
      lastNormalView: 0,
      opNum: this.log.length,
      commit: this.commitValue,
    };
    this.send(sender, answer);
  }

  /**
   * In a view change, `sender` recovers. Once f+1 replicas were heard recovering during this view
   * change it cannot complete: it needs f+1 DoViewChanges and at most f others can send one
   * (a recovering replica never votes), while they recover only from normal replicas, of which
   * there may be none. This is where a disk start of 5 or more could end: its leader and fewer
   * than f followers normal, the leader cut off, the followers in a view change that the
   * replicas still recovering cannot join (simulator, seed 80019 and others, 5 replicas, fsync
   * interval). Then it recovers too, keeping its log as its claim: once every replica is
   * recovering, the best claim of all n starts the cluster again (recovery.ts). Safe whenever it
   * happens (file comment there, "Giving up a view change"). Never while joining a view (its
   * leader is normal), nor without a data directory (ReplicaOptions.dataDirectory).
   */
  private giveUpViewChange(sender: number): boolean {
    if (this.statusValue !== Status.ViewChange || this.joining || this.opts.dataDirectory !== true) return false;
    this.recoveringPeers.add(sender);
    if (this.recoveringPeers.size < this.f + 1) return false;
    this.diskClaim = { view: this.viewValue, lastNormalView: this.lastNormalViewValue, opNum: this.log.length, commit: this.commitValue };
    this.statusValue = Status.Recovering;
    this.fetch = undefined;
    this.clearVotes();
    this.restartRecovery();
    this.announce();
    return true;
  }

  private onMessageWhileRecovering(msg: ReplicaMessage): void {
    switch (msg.type) {
      case MessageType.NewState:
        return this.onNewState(msg);
      case MessageType.SnapshotChunk:
        return this.onSnapshotChunk(msg);
      case MessageType.Recovery:
        // We recover too, with what our disk holds (nothing without one): lets a cluster that
        // lost everything start afresh, or from the best disk (recovery.ts).
        return this.send(msg.sender, { type: MessageType.RecoveryResponse, sender: this.index, nonce: msg.nonce, recovering: true, ...this.diskClaim });
      case MessageType.RecoveryResponse:
        if (!this.fetch && this.recovery.record(msg)) this.tryRecover();
        return;
      case MessageType.PrepareOk:
      case MessageType.ReadIndexOk:
      case MessageType.GetState:
      case MessageType.GetSnapshot:
        return;
      case MessageType.Prepare:
      case MessageType.Commit:
        // From the leader of a view below one this replica promised: that view is over, and the
        // replicas still recovering may join no view below a promise (recovery.ts,
        // afterDiskStart). Say so with the StartViewChange that promise was: a leader cut off
        // while its followers gave up their view change (giveUpViewChange) learns it here, and
        // otherwise would lead forever a view nobody may join. It carries no log: it may hasten
        // a DoViewChange, but only f+1 DoViewChanges of replicas that hold their log complete a
        // view change.
        if (msg.view < this.viewValue) {
          this.send(msg.sender, { type: MessageType.StartViewChange, view: this.viewValue, sender: this.index });
          return;
        }
        break;
    }
    // A later view than the one whose leader we fetch from: that leader may be gone.
    if (this.fetch && msg.view > this.viewValue) this.restartRecovery();
  }

  private tryRecover(): void {
    const decision = this.recovery.decide(this.replicaCount, this.index, this.diskClaim);
    if (decision.kind === "wait") return;
    if (decision.kind === "disk-start") {
      // Lead a view above every promise with the best log of all n (recovery.ts); everything in
      // it may be committed, as a view change would.
      this.viewValue = decision.view;
      this.statusValue = Status.ViewChange;
      this.newLeaderCommit = this.log.length;
      this.effects.push({ kind: "diskStart", view: decision.view, opNum: this.log.length, claims: decision.claims, bestOtherOp: decision.bestOtherOp, commitMax: decision.commitMax });
      this.opts.observer?.diskStart?.(this.log.length, decision.commitMax);
      this.finishViewChange();
      return;
    }
    if (decision.kind === "fresh") {
      this.statusValue = Status.Normal;
      this.viewValue = 0;
      this.lastNormalViewValue = 0;
      this.ticksSinceLeader = 0;
      this.announce();
      return;
    }
    this.viewValue = decision.view;
    this.announce();
    // Everything up to our commit (a checkpoint from disk) is committed, so the leader's matches.
    this.startFetch("recovery", decision.leader, decision.opNum, Math.min(this.commitValue, decision.opNum), decision.commit);
  }

  /** The chosen leader went silent or was deposed: collect answers again. */
  private restartRecovery(): void {
    this.fetch = undefined;
    this.recovery.restart();
    this.recoveryTicks = 0;
  }
}
