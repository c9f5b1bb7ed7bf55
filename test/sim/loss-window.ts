// What a whole-cluster power cut may lose with fsync interval, as the simulator checks it.
//
// The store's promise (src/storage/store.ts): a record is written at most writeDelayMs after the
// step that made it, and fsynced at most fsync_interval_ms after it was written, while its process
// runs. The simulator's store counts milliseconds in ticks, so a leader that replied to a client
// at tick a and then ran without a pause or a crash holds the op on its disk from tick
// a + writeDelay + interval on. From then on no power cut may lose it (the best disk is chosen by
// the view-change rule, and every disk that beats the leader's holds a log of a later normal view,
// which holds every op committed before it). So: every op some leader acknowledged (a reply, or
// an index read that saw it) more than writeDelay + interval ticks before the cut, and that
// leader neither paused nor crashed in between, must survive. Anything younger may be lost, and a
// pause or crash of the acknowledging leader in its window excuses the op (a stopped process
// writes nothing; docs/storage.md says so).

export interface Ack {
  readonly replica: number;
  readonly tick: number;
  /** The highest op it acknowledged (a reply names its op; an index read the op it read at). */
  readonly op: number;
}

export class AckWindow {
  private readonly acks: Ack[][];
  /** Per replica, ticks [from, to] it did not run (paused or down). */
  private readonly faults: [number, number][][];

  constructor(
    replicaCount: number,
    /** writeDelay + fsync interval, in ticks. */
    readonly ticks: number,
    private readonly now: () => number,
  ) {
    this.acks = Array.from({ length: replicaCount }, () => []);
    this.faults = Array.from({ length: replicaCount }, () => []);
  }

  onAck(replica: number, op: number): void {
    const list = this.acks[replica]!;
    const last = list[list.length - 1];
    if (last && last.tick === this.now() && last.op >= op) return;
    list.push({ replica, tick: this.now(), op });
  }

  /** Replica `replica` does not run in ticks [from, to] (a pause; a crash with to = from). */
  onFault(replica: number, from: number, to: number): void {
    this.faults[replica]!.push([from, to]);
  }

  /** An acknowledgement of op `lostFrom` or above that a power cut at `cut` may not lose. */
  protectedAck(lostFrom: number, cut: number): Ack | undefined {
    for (let r = 0; r < this.acks.length; r++) {
      for (const ack of this.acks[r]!) {
        if (ack.op < lostFrom || cut - ack.tick <= this.ticks) continue;
        const until = ack.tick + this.ticks;
        if (!this.faults[r]!.some(([from, to]) => from <= until && to >= ack.tick)) return ack;
      }
    }
    return undefined;
  }

  /** Ops from `lostFrom` on are gone and their numbers will name other ops; an ack of one still
   * acknowledged every op before it. */
  forget(lostFrom: number): void {
    for (let r = 0; r < this.acks.length; r++) this.acks[r] = this.acks[r]!.map((a) => (a.op < lostFrom ? a : { ...a, op: lostFrom - 1 }));
  }
}
