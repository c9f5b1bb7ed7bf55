// A running digest of the committed log: updated as each op executes, carried by checkpoints, so
// two replicas (or two runs of one sequential workload) can be compared at any op without walking
// a log that compaction has long dropped. Two independent 32-bit chains, CRC-32 over the op bytes
// and xxHash32 seeded with the previous value and the op's length: equal digests at op k mean the
// same sequence of ops 1..k, unless both chains collide at once.

export class Digest {
  constructor(
    private crc = 0,
    private xx = 0,
  ) {}

  /** Folds in the op bytes of the next committed entry. */
  add(op: Uint8Array): void {
    this.crc = Bun.hash.crc32(op, this.crc);
    this.xx = Bun.hash.xxHash32(op, (this.xx ^ Math.imul(op.length + 1, 0x9e3779b1)) >>> 0);
  }

  get parts(): readonly [number, number] {
    return [this.crc, this.xx];
  }

  /** 16 hex digits. */
  toString(): string {
    return this.crc.toString(16).padStart(8, "0") + this.xx.toString(16).padStart(8, "0");
  }

  copy(): Digest {
    return new Digest(this.crc, this.xx);
  }
}
