// The XDP fast paths on one replica's node (quorum prune and fast reply, one program): setup loads
// the embedded object with this cluster's facts, fills the peer table, pins, picks native or
// generic mode and checks that the program attaches. The REPLICA attaches it, through a BPF link
// it holds (fast-path.ts): when the process dies, however it dies, the kernel detaches it, so a
// dead replica's kernel never acks a Prepare. Also the XDP_PASS stub for a veth peer.
//
// Pins:  /sys/fs/bpf/electrode/<cluster>/<id>/xdp_{prog,peers,kstate,cursor,quorum,ring,stats}
// State: /run/electrode/<cluster>/<id>.xdp.json

import { existsSync, mkdirSync } from "node:fs";
import { BPF_F_LOCK, BPF_XDP, check, libbpf, LibbpfError, linkCreateOptsLayout, ptr, XdpFlags } from "../../ffi/libbpf.ts";
import type { Config, ReplicaConfig } from "../config/config.ts";
import { Status, type KernelState } from "../core/types.ts";
import { kernelStateLayout, quorumSlotsCount, XdpCounter, xdpConfig, xdpCounterCount } from "../wire/layout.ts";
import xdpFastObject from "../../bpf/build/xdp_fast.bpf.o" with { type: "file" };
import xdpPassObject from "../../bpf/build/xdp_pass.bpf.o" with { type: "file" };
import { ensureBpffs, fillPeerTable, peerRow, pinDir, replicaInterface } from "./broadcast.ts";
import { closeFd, readPerCpuCounters, readStateFile, removePins, removeStateFile, snakeCase, writeStateFile } from "./maps.ts";
import { interfaceByName, linkDetails, type Interface } from "./netinfo.ts";
import { BpfObject } from "./object.ts";

const programName = "electrode_xdp";
const stubName = "electrode_stub";
const pins = {
  prog: "xdp_prog",
  peers: "xdp_peers",
  kstate: "xdp_kstate",
  cursor: "xdp_cursor",
  quorum: "xdp_quorum",
  ring: "xdp_ring",
  stats: "xdp_stats",
} as const;
const mapPins: Record<string, string> = {
  el_xdp_peers: pins.peers,
  el_xdp_state: pins.kstate,
  el_xdp_cursor: pins.cursor,
  el_xdp_quorum: pins.quorum,
  el_xdp_ring: pins.ring,
  el_xdp_stats: pins.stats,
};

export type XdpMode = "native" | "generic";
export type XdpModeRequest = XdpMode | "auto";

export interface XdpState {
  readonly cluster: string;
  readonly id: number;
  readonly iface: string;
  readonly ifindex: number;
  readonly mode: XdpMode;
  /** Why this mode (shown by setup and status). */
  readonly modeReason: string;
  /** The pinned program's id: attached while a replica runs with it. */
  readonly progId: number;
  readonly prune: boolean;
  readonly fastReply: boolean;
  readonly pinDir: string;
  readonly attachedAt: string;
}

export function xdpStateFile(config: Config, self: ReplicaConfig): string {
  return `/run/electrode/${config.name}/${self.id}.xdp.json`;
}

export function readXdpState(config: Config, self: ReplicaConfig): XdpState | undefined {
  return readStateFile<XdpState>(xdpStateFile(config, self));
}

const modeFlags: Record<XdpMode, number> = { native: XdpFlags.Drv, generic: XdpFlags.Skb };

/** The id of the XDP program attached to `ifindex` in `mode`, or 0. */
export function queryXdp(ifindex: number, mode: XdpMode): number {
  const id = new Uint32Array(new ArrayBuffer(4));
  check("bpf_xdp_query_id", libbpf().bpf_xdp_query_id(ifindex, modeFlags[mode], ptr(id)));
  return id[0]!;
}

/**
 * Native XDP where it works, generic otherwise. A veth delivers native XDP_TX frames only when its
 * peer runs an XDP program too; a peer in another namespace cannot be checked from here, so auto
 * picks generic for it (electrode's local cluster stubs the peer and asks for native).
 */
export function chooseXdpMode(iface: Interface, request: XdpModeRequest): { mode: XdpMode; reason: string } {
  if (request !== "auto") return { mode: request, reason: `${request} mode requested` };
  const link = linkDetails(iface.name);
  if (link.kind !== "veth") return { mode: "native", reason: `driver ${link.kind ?? "of a physical NIC"}: native mode` };
  if (link.peerInOtherNamespace || link.peerIndex === undefined) {
    return {
      mode: "generic",
      reason: `${iface.name} is a veth whose peer is in another namespace: its peer's XDP program cannot be checked, and without one native XDP_TX frames are lost; generic mode (use --xdp-mode native after attaching 'electrode setup --stub IFACE' to the peer)`,
    };
  }
  if (queryXdp(link.peerIndex, "native") !== 0) return { mode: "native", reason: `veth peer ${link.peer} runs an XDP program: native mode` };
  return { mode: "generic", reason: `veth peer ${link.peer} has no XDP program (native XDP_TX frames would be lost): generic mode` };
}

function configBytes(config: Config, self: ReplicaConfig, prune: boolean, fastReply: boolean): Uint8Array {
  const bytes = new Uint8Array(new ArrayBuffer(xdpConfig.size));
  const v = new DataView(bytes.buffer);
  const f = xdpConfig.fields;
  v.setUint32(f.cluster.offset, config.clusterId, true);
  v.setUint32(f.self_index.offset, self.index, true);
  v.setUint32(f.replica_count.offset, config.replicas.length, true);
  v.setUint32(f.quorum.offset, (config.replicas.length - 1) / 2, true);
  v.setUint16(f.port.offset, self.port, true);
  v.setUint8(f.prune.offset, prune ? 1 : 0);
  v.setUint8(f.fast_reply.offset, fastReply ? 1 : 0);
  return bytes;
}

/** The el_xdp_state value: bpf_spin_lock (4) and padding (4), then struct electrode_kstate. */
export const kstateValueBytes = 8 + kernelStateLayout.size;

export type KstateFields = Pick<KernelState, "status" | "view" | "leader" | "lastOp"> & { readonly epoch: number; readonly enable: number };

export function kstateValue(state: KstateFields, out = new Uint8Array(new ArrayBuffer(kstateValueBytes))): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const f = kernelStateLayout.fields;
  v.setUint32(8 + f.status.offset, state.status, true);
  v.setUint32(8 + f.view.offset, state.view, true);
  v.setUint32(8 + f.leader.offset, state.leader, true);
  v.setUint32(8 + f.epoch.offset, state.epoch >>> 0, true);
  v.setUint32(8 + f.enable.offset, state.enable, true);
  v.setBigUint64(8 + f.last_op.offset, BigInt(state.lastOp), true);
  return out;
}

/** Attaches program `progFd` to `ifindex` through a new BPF link; closing the fd detaches it. */
export function createXdpLink(progFd: number, ifindex: number, mode: XdpMode, ifname: string): number {
  const opts = new Uint8Array(new ArrayBuffer(linkCreateOptsLayout.size));
  const v = new DataView(opts.buffer);
  v.setBigUint64(linkCreateOptsLayout.sz, BigInt(linkCreateOptsLayout.size), true);
  v.setUint32(linkCreateOptsLayout.flags, modeFlags[mode], true);
  const fd = libbpf().bpf_link_create(progFd, ifindex, BPF_XDP, ptr(opts));
  if (fd >= 0) return fd;
  const why = new LibbpfError("bpf_link_create", -fd).message;
  const hint =
    -fd === 16 || -fd === 17
      ? ` (another XDP program is attached to ${ifname}, or another replica of this node runs: see ip link show ${ifname})`
      : mode === "native"
        ? " (the driver may not support native XDP: setup --xdp-mode generic)"
        : "";
  throw new LibbpfError("bpf_link_create", -fd, `attaching XDP (${mode}) to ${ifname}: ${why}${hint}`);
}

/** struct bpf_prog_info: id (u32) at offset 4, name (16 bytes) at offset 64. */
const progInfoBytes = 232;
const progInfo = { id: 4, name: 64 } as const;

function progInfoOf(fd: number): { id: number; name: string } {
  const info = new Uint8Array(new ArrayBuffer(progInfoBytes));
  const len = new Uint32Array(new ArrayBuffer(4));
  len[0] = progInfoBytes;
  check("bpf_obj_get_info_by_fd", libbpf().bpf_obj_get_info_by_fd(fd, ptr(info), ptr(len)));
  const name = info.subarray(progInfo.name, progInfo.name + 16);
  const end = name.indexOf(0);
  return { id: new DataView(info.buffer).getUint32(progInfo.id, true), name: new TextDecoder().decode(end < 0 ? name : name.subarray(0, end)) };
}

function progName(id: number): string {
  const fd = libbpf().bpf_prog_get_fd_by_id(id);
  if (fd < 0) return "";
  try {
    return progInfoOf(fd).name;
  } catch {
    return "";
  } finally {
    closeFd(fd);
  }
}

export interface XdpSetupOptions {
  readonly prune: boolean;
  readonly fastReply: boolean;
  readonly mode: XdpModeRequest;
}

/** Loads, fills, pins and attaches the XDP program; replaces what an earlier run left. */
export async function setupXdp(config: Config, self: ReplicaConfig, opts: XdpSetupOptions): Promise<XdpState> {
  if (config.pipelineMax > quorumSlotsCount) {
    throw new Error(`pipeline_max ${config.pipelineMax} exceeds the quorum table's ${quorumSlotsCount} slots: lower it for quorum prune`);
  }
  const iface = replicaInterface(config, self);
  const { mode, reason } = chooseXdpMode(iface, opts.mode);
  ensureBpffs();
  const obj = BpfObject.open("xdp_fast", new Uint8Array(await Bun.file(xdpFastObject).arrayBuffer()));
  try {
    obj.setSection(".rodata.cfg", configBytes(config, self, opts.prune, opts.fastReply));
    obj.load([programName]);
    // Only addresses matter here (sources are checked, replies swap addresses): no MAC needed.
    fillPeerTable(obj.mapFd("el_xdp_peers"), config, (r) => peerRow(r.host, r.port, "00:00:00:00:00:00"));
    const key = new Uint32Array(new ArrayBuffer(4));
    const recovering = kstateValue({ status: Status.Recovering, view: 0, leader: 0, lastOp: 0, epoch: 0, enable: 0 });
    check("bpf_map_update_elem (kstate)", libbpf().bpf_map_update_elem(obj.mapFd("el_xdp_state"), ptr(key), ptr(recovering), BPF_F_LOCK));
    const fd = obj.programFd(programName);
    // Prove now that it attaches in this mode, so the replica does not find out at start; unless
    // the replica runs and holds the program an earlier setup made (it keeps that one until it
    // restarts). A program electrode did not load is left alone.
    const attached = queryXdp(iface.index, "native") || queryXdp(iface.index, "generic");
    const previous = readXdpState(config, self);
    if (attached === 0) closeFd(createXdpLink(fd, iface.index, mode, iface.name));
    else if (attached !== previous?.progId && progName(attached) !== programName) {
      throw new LibbpfError("bpf_xdp_query_id", 16, `${iface.name} already runs XDP program ${attached} that electrode did not load: detach it first (ip link set dev ${iface.name} xdp off)`);
    }
    const dir = pinDir(config, self);
    removePins(dir, Object.values(pins));
    mkdirSync(dir, { recursive: true });
    obj.pinProgram(programName, `${dir}/${pins.prog}`);
    for (const [map, pin] of Object.entries(mapPins)) obj.pinMap(map, `${dir}/${pin}`);
    const state: XdpState = {
      cluster: config.name,
      id: self.id,
      iface: iface.name,
      ifindex: iface.index,
      mode,
      modeReason: reason,
      progId: progInfoOf(fd).id,
      prune: opts.prune,
      fastReply: opts.fastReply,
      pinDir: dir,
      attachedAt: new Date().toISOString(),
    };
    writeStateFile(xdpStateFile(config, self), state);
    return state;
  } finally {
    obj.close(); // the pins and the attachment keep program and maps alive
  }
}

/** Detaches and unpins exactly what setupXdp made; says what it removed. */
export function teardownXdp(config: Config, self: ReplicaConfig): string[] {
  const done: string[] = [];
  const state = readXdpState(config, self);
  if (state && attachedId(state) === state.progId) {
    done.push(`XDP stays attached to ${state.iface} while replica ${self.id} runs (its process holds the link; stopping it detaches)`);
  }
  const dir = pinDir(config, self);
  if (removePins(dir, Object.values(pins)).length > 0) done.push(`unpinned XDP pins in ${dir}`);
  removeStateFile(xdpStateFile(config, self));
  return done;
}

function attachedId(state: XdpState): number {
  try {
    return queryXdp(state.ifindex, state.mode);
  } catch {
    return 0;
  }
}

/** Did setup load the XDP program (pinned), and does a running replica have it attached? */
export function xdpStatus(config: Config, self: ReplicaConfig): { loaded: boolean; attached: boolean; why: string; state?: XdpState } {
  const state = readXdpState(config, self);
  if (!state || !existsSync(`${pinDir(config, self)}/${pins.prog}`)) return { loaded: false, attached: false, why: `XDP not set up (run: electrode setup --id ${self.id})` };
  const id = attachedId(state);
  const what = [state.prune ? "quorum-prune" : "", state.fastReply ? "fast-reply" : ""].filter(Boolean).join(" + ");
  if (id === state.progId) return { loaded: true, attached: true, why: `${what} attached to ${state.iface} in ${state.mode} mode by the running replica (program ${id})`, state };
  const other = id !== 0 ? `; ${state.iface} runs another XDP program (${id})` : "";
  return { loaded: true, attached: false, why: `${what} loaded for ${state.iface} (${state.mode} mode, program ${state.progId}); attached while the replica runs${other}`, state };
}

export function xdpCounters(config: Config, self: ReplicaConfig): Record<string, number> | undefined {
  const sums = readPerCpuCounters(`${pinDir(config, self)}/${pins.stats}`, xdpCounterCount);
  if (!sums) return undefined;
  return Object.fromEntries(sums.map((value, i) => [`xdp_${snakeCase(XdpCounter[i]!)}`, value]));
}

/** Paths of the pins the replica process opens at run time. */
export function xdpRuntimePins(config: Config, self: ReplicaConfig): { prog: string; kstate: string; cursor: string; ring: string } {
  const dir = pinDir(config, self);
  return { prog: `${dir}/${pins.prog}`, kstate: `${dir}/${pins.kstate}`, cursor: `${dir}/${pins.cursor}`, ring: `${dir}/${pins.ring}` };
}

// ---- The XDP_PASS stub for a veth peer. ----

/** Attaches the XDP_PASS stub to `ifaceName` in native mode (replacing an earlier stub). */
export async function attachStub(ifaceName: string): Promise<number> {
  const iface = interfaceByName(ifaceName);
  const existing = queryXdp(iface.index, "native");
  if (existing !== 0 && progName(existing) !== stubName) {
    throw new LibbpfError("bpf_xdp_query_id", 16, `${ifaceName} already runs XDP program ${existing} that is not electrode's stub`);
  }
  const obj = BpfObject.open("xdp_pass", new Uint8Array(await Bun.file(xdpPassObject).arrayBuffer()));
  try {
    obj.load([stubName]);
    check(`bpf_xdp_attach (stub on ${ifaceName})`, libbpf().bpf_xdp_attach(iface.index, obj.programFd(stubName), XdpFlags.Drv, null));
    return queryXdp(iface.index, "native");
  } finally {
    obj.close(); // the attachment keeps the program
  }
}

/** Removes electrode's stub from `ifaceName`; false when none was there. */
export function detachStub(ifaceName: string): boolean {
  const iface = interfaceByName(ifaceName);
  const id = queryXdp(iface.index, "native");
  if (id === 0 || progName(id) !== stubName) return false;
  check("bpf_xdp_detach (stub)", libbpf().bpf_xdp_detach(iface.index, XdpFlags.Drv, null));
  return true;
}

