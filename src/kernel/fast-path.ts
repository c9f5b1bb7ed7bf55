// The replica process's side of the XDP fast paths: load its own instance of the program (fresh
// maps, the mode and paths setup recorded) and attach it through a BPF link this process holds
// (its death detaches it), write the kernel state (under the map value's spin lock) and consume
// the fast-reply ring buffer (mmap'ed, the way libbpf's ring_buffer does, so a record costs no
// syscall and no callback from C). Nothing here depends on a pin or a mounted BPF filesystem.

import { BPF_F_LOCK, check, libbpf, ptr, toArrayBuffer, type Pointer } from "../../ffi/libbpf.ts";
import { _SC_PAGESIZE, errno, errnoName, libc, MAP_SHARED, PROT_READ, PROT_WRITE } from "../../ffi/libc.ts";
import type { Config, ReplicaConfig } from "../config/config.ts";
import { Status, type KernelState } from "../core/types.ts";
import { fastRingBytes, KernelEnable } from "../wire/layout.ts";
import { replicaInterface } from "./broadcast.ts";
import { closeFd } from "./maps.ts";
import type { BpfObject } from "./object.ts";
import { RingReader } from "./ring.ts";
import { createXdpLink, kstateValue, kstateValueBytes, loadXdp, xdpPathNames, xdpProgramName, xdpStatus, type XdpState } from "./xdp.ts";

function mmap(fd: number, length: number, prot: number, offset: number): Pointer {
  const at = libc.mmap(null, length, prot, MAP_SHARED, fd, offset) as Pointer | null;
  if (!at || Number(at) >= 2 ** 63) throw new Error(`mmap of the fast-reply ring failed: ${errnoName(errno())}`);
  return at;
}

export class KernelFastPath {
  private readonly keyBuf = new Uint32Array(new ArrayBuffer(4));
  private readonly valueBuf = new Uint8Array(new ArrayBuffer(kstateValueBytes));
  private readonly ring: RingReader | undefined;
  private readonly mapped: { at: Pointer; length: number }[] = [];
  private linkFd = -1;
  /** Records the ring handed over (Prepares acked in XDP). */
  records = 0;

  private constructor(
    readonly state: XdpState,
    /** This process's instance: it owns the program and map fds. */
    private readonly obj: BpfObject,
    private readonly kstateFd: number,
    ringFd: number | undefined,
    /** Drawn per process: what an earlier process left in the cursor and quorum slots is void. */
    readonly epoch: number,
    /** KernelEnable bits: the fast paths this process uses (setup may have loaded more). */
    private readonly enable: number,
  ) {
    if (ringFd === undefined) return;
    const page = Number(libc.sysconf(_SC_PAGESIZE));
    const cons = mmap(ringFd, page, PROT_READ | PROT_WRITE, 0);
    this.mapped.push({ at: cons, length: page });
    // Producer page, then the data area (once: the reader copies a record that wraps in two pieces).
    const prod = mmap(ringFd, page + fastRingBytes, PROT_READ, page);
    this.mapped.push({ at: prod, length: page + fastRingBytes });
    this.ring = new RingReader({
      consumer: new BigUint64Array(toArrayBuffer(cons, 0, 8)),
      producer: new BigUint64Array(toArrayBuffer(prod, 0, 8)),
      data: new Uint8Array(toArrayBuffer(prod, page, fastRingBytes)),
    });
  }

  /**
   * Loads this process's instance with the mode and paths setup recorded, kernel state
   * Recovering (the core announces its real state on its first step), and attaches it; else says
   * why not, and what would fix it.
   */
  static async open(config: Config, self: ReplicaConfig, epoch: number, want: { prune: boolean; fastReply: boolean }): Promise<KernelFastPath | { why: string }> {
    const status = xdpStatus(config, self);
    const state = status.state;
    if (!state) return { why: status.why };
    if (status.attached) return { why: `${state.iface} already runs replica ${self.id}'s XDP program (${status.programId}): is another replica process running?` };
    const prune = state.prune && want.prune;
    const fastReply = state.fastReply && want.fastReply;
    if (!prune && !fastReply) return { why: `setup set up ${xdpPathNames(state)} only (run: electrode setup --id ${self.id})` };
    let obj: BpfObject | undefined;
    let fast: KernelFastPath | undefined;
    try {
      const iface = replicaInterface(config, self);
      if (iface.name !== state.iface) return { why: `setup chose ${state.iface}, but ${self.host} is now on ${iface.name} (run: electrode setup --id ${self.id})` };
      obj = await loadXdp(config, self, { prune, fastReply });
      const enable = (prune ? KernelEnable.Prune : 0) | (fastReply ? KernelEnable.FastReply : 0);
      fast = new KernelFastPath(state, obj, obj.mapFd("el_xdp_state"), fastReply ? obj.mapFd("el_xdp_ring") : undefined, epoch, enable);
      fast.writeState({ status: Status.Recovering, view: 0, leader: 0, lastOp: 0 });
      fast.linkFd = createXdpLink(obj.programFd(xdpProgramName), iface.index, state.mode, iface.name);
      return fast;
    } catch (e) {
      if (fast) fast.close();
      else obj?.close();
      return { why: (e as Error).message.split("\n")[0]! };
    }
  }

  get prune(): boolean {
    return (this.enable & KernelEnable.Prune) !== 0;
  }
  get fastReply(): boolean {
    return (this.enable & KernelEnable.FastReply) !== 0;
  }

  /** Writes status, view, leader and log end for the XDP program (atomically, under its lock). */
  writeState(s: Pick<KernelState, "status" | "view" | "leader" | "lastOp">): void {
    this.keyBuf[0] = 0;
    kstateValue({ ...s, epoch: this.epoch, enable: this.enable }, this.valueBuf);
    check("bpf_map_update_elem (kstate)", libbpf().bpf_map_update_elem(this.kstateFd, ptr(this.keyBuf), ptr(this.valueBuf), BPF_F_LOCK));
  }

  /**
   * Hands every submitted record to `onRecord` (a copy of the datagram), in ring order. With
   * `fence`, also waits for records that are reserved but not submitted yet, so that everything
   * the XDP program acked under the state written before this call is seen; throws FenceStalled
   * (src/kernel/ring.ts) when that cannot be established: the replica must stop.
   */
  drain(onRecord: (datagram: Uint8Array) => void, fence = false): number {
    if (!this.ring) return 0;
    const handed = this.ring.drain(onRecord, fence);
    this.records += handed;
    return handed;
  }

  /** Detaches (closes the link), then unmaps and closes this process's instance. */
  close(): void {
    if (this.linkFd >= 0) closeFd(this.linkFd);
    this.linkFd = -1;
    for (const m of this.mapped) libc.munmap(m.at, m.length);
    this.mapped.length = 0;
    this.obj.close();
  }
}
