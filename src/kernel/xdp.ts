// The XDP fast paths on one replica's node (quorum prune and fast reply, one program). Setup
// decides (native or generic mode, which of the two paths), proves that the program loads and
// attaches on this kernel and NIC, and records that in a state file. The REPLICA process loads its
// own instance with fresh maps and attaches it through a BPF link it holds (fast-path.ts): when
// the process dies, however it dies, the kernel detaches it, so a dead replica's kernel never acks
// a Prepare; and no process can see another's kernel state or ring.
//
// Nothing is pinned. A pin lives in a BPF filesystem mount, and a mount made under `ip netns
// exec`, in a container or any private mount namespace vanishes with the command that made it;
// setup would report success for something already gone. Status and metrics find the attached
// program from the interface and its maps by id (ids.ts), from any mount namespace.
//
// State: /run/electrode/<cluster>/<id>.xdp.json

import { BPF_F_LOCK, BPF_XDP, check, libbpf, LibbpfError, linkCreateOptsLayout, ptr, XdpFlags } from "../../ffi/libbpf.ts";
import type { Config, ReplicaConfig } from "../config/config.ts";
import { Status, type KernelState } from "../core/types.ts";
import { kernelStateLayout, quorumSlotsCount, XdpCounter, xdpConfig, xdpCounterCount } from "../wire/layout.ts";
import xdpFastObject from "../../bpf/build/xdp_fast.bpf.o" with { type: "file" };
import xdpPassObject from "../../bpf/build/xdp_pass.bpf.o" with { type: "file" };
import { fillPeerTable, peerRow, replicaInterface } from "./broadcast.ts";
import { progInfoById, readProgramCounters } from "./ids.ts";
import { closeFd, legacyPinDir, readStateFile, removePins, removeStateFile, snakeCase, writeStateFile } from "./maps.ts";
import { interfaceByName, linkDetails, type Interface } from "./netinfo.ts";
import { BpfObject } from "./object.ts";

export const xdpProgramName = "electrode_xdp";
const stubName = "electrode_stub";
const statsMapName = "el_xdp_stats";
/** Pins of electrode before 0.2 (legacyPinDir), removed by setup and teardown. */
const legacyPinNames = ["xdp_prog", "xdp_peers", "xdp_kstate", "xdp_cursor", "xdp_quorum", "xdp_ring", "xdp_stats"] as const;

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
  readonly prune: boolean;
  readonly fastReply: boolean;
  /** When setup last proved that the program loads and attaches here. */
  readonly checkedAt: string;
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

function progName(id: number): string {
  try {
    return progInfoById(id)?.name ?? "";
  } catch {
    return "";
  }
}

/**
 * Loads an instance of the XDP program for this replica with fresh maps: the cluster's facts in
 * its config, the peer table filled, the kernel state Recovering (a zeroed state would read as
 * normal in view 0). Nothing is attached yet. The caller closes the object.
 */
export async function loadXdp(config: Config, self: ReplicaConfig, paths: { prune: boolean; fastReply: boolean }): Promise<BpfObject> {
  const obj = BpfObject.open("xdp_fast", new Uint8Array(await Bun.file(xdpFastObject).arrayBuffer()));
  try {
    obj.setSection(".rodata.cfg", configBytes(config, self, paths.prune, paths.fastReply));
    obj.load([xdpProgramName]);
    // Only addresses matter here (sources are checked, replies swap addresses): no MAC needed.
    fillPeerTable(obj.mapFd("el_xdp_peers"), config, (r) => peerRow(r.host, r.port, "00:00:00:00:00:00"));
    const key = new Uint32Array(new ArrayBuffer(4));
    const recovering = kstateValue({ status: Status.Recovering, view: 0, leader: 0, lastOp: 0, epoch: 0, enable: 0 });
    check("bpf_map_update_elem (kstate)", libbpf().bpf_map_update_elem(obj.mapFd("el_xdp_state"), ptr(key), ptr(recovering), BPF_F_LOCK));
    return obj;
  } catch (e) {
    obj.close();
    throw e;
  }
}

/** The electrode XDP program attached to `iface` (a running replica's), or undefined. */
export function attachedXdp(ifindex: number, mode: XdpMode): number | undefined {
  const id = queryXdp(ifindex, mode);
  return id !== 0 && progName(id) === xdpProgramName ? id : undefined;
}

export interface XdpSetupOptions {
  readonly prune: boolean;
  readonly fastReply: boolean;
  readonly mode: XdpModeRequest;
}

/**
 * Decides the mode, proves that the program loads (the verifier) and attaches (the driver) on this
 * node, and records the decision for the replica, which loads and attaches its own instance.
 */
export async function setupXdp(config: Config, self: ReplicaConfig, opts: XdpSetupOptions): Promise<XdpState & { replicaRunning: boolean }> {
  if (config.pipelineMax > quorumSlotsCount) {
    throw new Error(`pipeline_max ${config.pipelineMax} exceeds the quorum table's ${quorumSlotsCount} slots: lower it for quorum prune`);
  }
  const iface = replicaInterface(config, self);
  const { mode, reason } = chooseXdpMode(iface, opts.mode);
  const obj = await loadXdp(config, self, opts);
  let replicaRunning = false;
  try {
    // A running replica holds its own instance (it keeps it until it restarts, then uses what is
    // recorded here); a program electrode did not load is left alone.
    const attached = queryXdp(iface.index, "native") || queryXdp(iface.index, "generic");
    if (attached === 0) closeFd(createXdpLink(obj.programFd(xdpProgramName), iface.index, mode, iface.name));
    else if (progName(attached) === xdpProgramName) replicaRunning = true;
    else {
      throw new LibbpfError("bpf_xdp_query_id", 16, `${iface.name} already runs XDP program ${attached} that electrode did not load: detach it first (ip link set dev ${iface.name} xdp off)`);
    }
  } finally {
    obj.close();
  }
  removePins(legacyPinDir(config.name, self.id), legacyPinNames);
  const state: XdpState = {
    cluster: config.name,
    id: self.id,
    iface: iface.name,
    ifindex: iface.index,
    mode,
    modeReason: reason,
    prune: opts.prune,
    fastReply: opts.fastReply,
    checkedAt: new Date().toISOString(),
  };
  writeStateFile(xdpStateFile(config, self), state);
  return { ...state, replicaRunning };
}

/** Removes what setupXdp recorded (and pins of an earlier version); says what it removed. */
export function teardownXdp(config: Config, self: ReplicaConfig): string[] {
  const done: string[] = [];
  const state = readXdpState(config, self);
  if (state && attachedId(state) !== undefined) {
    done.push(`XDP stays attached to ${state.iface} while replica ${self.id} runs (its process holds the link; stopping it detaches)`);
  }
  const dir = legacyPinDir(config.name, self.id);
  if (removePins(dir, legacyPinNames).length > 0) done.push(`removed the XDP pins of an earlier electrode version in ${dir}`);
  if (state) done.push(`removed the XDP setup of replica ${self.id} (${xdpStateFile(config, self)})`);
  removeStateFile(xdpStateFile(config, self));
  return done;
}

function attachedId(state: XdpState): number | undefined {
  try {
    return attachedXdp(state.ifindex, state.mode);
  } catch {
    return undefined;
  }
}

export interface XdpStatus {
  /** Setup recorded the XDP fast paths for this replica. */
  readonly setUp: boolean;
  /** A replica process has its instance attached right now. */
  readonly attached: boolean;
  readonly programId?: number;
  readonly why: string;
  readonly state?: XdpState;
}

export function xdpPathNames(state: Pick<XdpState, "prune" | "fastReply">): string {
  return [state.prune ? "quorum-prune" : "", state.fastReply ? "fast-reply" : ""].filter(Boolean).join(" + ");
}

/** Did setup record the XDP fast paths, and does a running replica have them attached? */
export function xdpStatus(config: Config, self: ReplicaConfig): XdpStatus {
  const state = readXdpState(config, self);
  if (!state) return { setUp: false, attached: false, why: `XDP not set up (run: electrode setup --id ${self.id})` };
  const id = attachedId(state);
  const what = xdpPathNames(state);
  if (id !== undefined) return { setUp: true, attached: true, programId: id, why: `${what} attached to ${state.iface} in ${state.mode} mode by the running replica (program ${id})`, state };
  let other = "";
  try {
    const foreign = queryXdp(state.ifindex, "native") || queryXdp(state.ifindex, "generic");
    if (foreign !== 0) other = `; ${state.iface} runs another XDP program (${foreign})`;
  } catch (e) {
    other = `; ${(e as Error).message.split("\n")[0]}`;
  }
  return { setUp: true, attached: false, why: `${what} set up for ${state.iface} (${state.mode} mode); the replica attaches its own instance while it runs${other}`, state };
}

/** The counters of the XDP program a running replica has attached (they start at zero with each
 * replica process); undefined when none runs. */
export function xdpCounters(config: Config, self: ReplicaConfig): Record<string, number> | undefined {
  const state = readXdpState(config, self);
  const id = state && attachedId(state);
  if (id === undefined) return undefined;
  const sums = readProgramCounters(id, statsMapName, xdpCounterCount);
  if (!sums) return undefined;
  return Object.fromEntries(sums.map((value, i) => [`xdp_${snakeCase(XdpCounter[i]!)}`, value]));
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

