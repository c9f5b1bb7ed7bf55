// The real XDP program (bpf/build/xdp_fast.bpf.o) loaded but attached nowhere, run on frames the
// test builds through BPF_PROG_TEST_RUN: every verdict, the frame it sends back and its counters,
// with the kernel state the test writes. Root only. Needs no namespace: the verifier, the maps,
// the ring buffer and the spin locks are all the kernel's own.

import { dlopen } from "bun:ffi";
import { BPF_F_LOCK, check, libbpf, ptr } from "../../ffi/libbpf.ts";
import { Status } from "../../src/core/types.ts";
import { peerRow } from "../../src/kernel/broadcast.ts";
import { snakeCase } from "../../src/kernel/maps.ts";
import { kstateValue, type KstateFields } from "../../src/kernel/xdp.ts";
import { BpfObject } from "../../src/kernel/object.ts";
import { KernelEnable, XdpCounter, xdpConfig, xdpCounterCount } from "../../src/wire/layout.ts";

export const XDP_PASS = 2;
export const XDP_TX = 3;

/** struct bpf_test_run_opts (libbpf 1.x, x86_64): 80 bytes. */
const testRunOpts = { size: 80, sz: 0, dataIn: 8, dataOut: 16, dataSizeIn: 24, dataSizeOut: 28, retval: 56, repeat: 60 } as const;

let testRunLib: ReturnType<typeof openTestRun> | undefined;
function openTestRun() {
  return dlopen("libbpf.so.1", { bpf_prog_test_run_opts: { args: ["i32", "ptr"], returns: "i32" } });
}

export interface XdpUnderTestConfig {
  readonly clusterId: number;
  readonly selfIndex: number;
  readonly replicaCount: number;
  readonly port: number;
  /** Configured replicas by index (the peer table setup fills). */
  readonly peers: readonly { index: number; ip: string; port: number }[];
}

export class XdpUnderTest {
  private readonly out = new Uint8Array(new ArrayBuffer(2048));
  private readonly opts = new Uint8Array(new ArrayBuffer(testRunOpts.size));
  private readonly key = new Uint32Array(new ArrayBuffer(4));

  private constructor(
    private readonly obj: BpfObject,
    private readonly progFd: number,
  ) {}

  static async load(cfg: XdpUnderTestConfig): Promise<XdpUnderTest> {
    const bytes = new Uint8Array(await Bun.file(new URL("../../bpf/build/xdp_fast.bpf.o", import.meta.url).pathname).arrayBuffer());
    const obj = BpfObject.open("xdp_fast", bytes);
    try {
      const rodata = new Uint8Array(new ArrayBuffer(xdpConfig.size));
      const v = new DataView(rodata.buffer);
      const f = xdpConfig.fields;
      v.setUint32(f.cluster.offset, cfg.clusterId, true);
      v.setUint32(f.self_index.offset, cfg.selfIndex, true);
      v.setUint32(f.replica_count.offset, cfg.replicaCount, true);
      v.setUint32(f.quorum.offset, (cfg.replicaCount - 1) / 2, true);
      v.setUint16(f.port.offset, cfg.port, true);
      v.setUint8(f.prune.offset, 1);
      v.setUint8(f.fast_reply.offset, 1);
      obj.setSection(".rodata.cfg", rodata);
      obj.load(["electrode_xdp"]);
      const under = new XdpUnderTest(obj, obj.programFd("electrode_xdp"));
      for (const p of cfg.peers) {
        under.key[0] = p.index;
        check("bpf_map_update_elem (peers)", libbpf().bpf_map_update_elem(obj.mapFd("el_xdp_peers"), ptr(under.key), ptr(peerRow(p.ip, p.port, "00:00:00:00:00:00")), 0));
      }
      return under;
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  /** Writes the kernel state the way the replica does (under the value's lock). */
  setState(state: Partial<KstateFields> & Pick<KstateFields, "view" | "leader" | "lastOp" | "epoch">): void {
    const value = kstateValue({ status: Status.Normal, enable: KernelEnable.FastReply | KernelEnable.Prune, ...state });
    this.key[0] = 0;
    check("bpf_map_update_elem (kstate)", libbpf().bpf_map_update_elem(this.obj.mapFd("el_xdp_state"), ptr(this.key), ptr(value), BPF_F_LOCK));
  }

  /** Runs the program once on `frame`: its verdict and the frame as it left (e.g. the ack). */
  run(frame: Uint8Array): { verdict: number; out: Uint8Array } {
    testRunLib ??= openTestRun();
    const v = new DataView(this.opts.buffer);
    this.opts.fill(0);
    v.setBigUint64(testRunOpts.sz, BigInt(testRunOpts.size), true);
    v.setBigUint64(testRunOpts.dataIn, BigInt(ptr(frame)), true);
    v.setBigUint64(testRunOpts.dataOut, BigInt(ptr(this.out)), true);
    v.setUint32(testRunOpts.dataSizeIn, frame.length, true);
    v.setUint32(testRunOpts.dataSizeOut, this.out.length, true);
    v.setInt32(testRunOpts.repeat, 1, true);
    check("bpf_prog_test_run_opts", testRunLib.symbols.bpf_prog_test_run_opts(this.progFd, ptr(this.opts)));
    return { verdict: v.getUint32(testRunOpts.retval, true), out: this.out.slice(0, v.getUint32(testRunOpts.dataSizeOut, true)) };
  }

  /** The program's counters by the names `electrode status` gives them (xdp_fast_acked, ...). */
  counters(): Record<string, number> {
    const cpus = check("libbpf_num_possible_cpus", libbpf().libbpf_num_possible_cpus());
    const values = new BigUint64Array(new ArrayBuffer(8 * cpus));
    const out: Record<string, number> = {};
    for (let i = 0; i < xdpCounterCount; i++) {
      this.key[0] = i;
      check("bpf_map_lookup_elem (stats)", libbpf().bpf_map_lookup_elem(this.obj.mapFd("el_xdp_stats"), ptr(this.key), ptr(values)));
      out[`xdp_${snakeCase(XdpCounter[i]!)}`] = values.reduce((a, b) => a + Number(b), 0);
    }
    return out;
  }

  close(): void {
    this.obj.close();
  }
}
