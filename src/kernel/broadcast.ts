// The tc broadcast fast path on one replica's node: load the embedded program with this
// cluster's facts, fill the peer table, attach on clsact egress; and undo exactly that.
//
// Nothing is pinned: the tc filter holds the program and the program its maps, for as long as
// the interface lives. A pin would live in a BPF filesystem mount, and a mount made under `ip
// netns exec` or in any private mount namespace vanishes with the command that made it; the
// filter does not. Status and metrics find the program from the interface and its maps by id.
//
// State: /run/electrode/<cluster>/<id>.json (what was attached where, for status and teardown)

import { check, libbpf, ptr } from "../../ffi/libbpf.ts";
import { ConfigError, type Config, type ReplicaConfig } from "../config/config.ts";
import { parseIp } from "../net/udp.ts";
import { BroadcastCounter, broadcastCounterCount, peerEntry, tcConfig } from "../wire/layout.ts";
import tcBroadcastObject from "../../bpf/build/tc_broadcast.bpf.o" with { type: "file" };
import { readProgramCounters } from "./ids.ts";
import { interfaceByName, interfaceWithAddress, NetInfoError, resolveNeighbour, type Interface } from "./netinfo.ts";
import { legacyPinDir, readStateFile, removePins, removeStateFile, snakeCase, writeStateFile } from "./maps.ts";
import { BpfObject } from "./object.ts";
import { attachEgress, destroyClsact, detachEgress, ensureClsact, foreignFilterCount, queryEgress } from "./tc.ts";

const programName = "electrode_bcast";
const statsMapName = "el_bcast_stats";
/** Pins of electrode before 0.2 (legacyPinDir), removed by teardown. */
const legacyPinNames = ["tc_broadcast", "peers", "bcast_stats"] as const;

export interface BroadcastState {
  readonly cluster: string;
  readonly id: number;
  readonly iface: string;
  readonly ifindex: number;
  readonly progId: number;
  readonly createdClsact: boolean;
  readonly peers: { id: number; ip: string; port: number; mac: string }[];
  readonly attachedAt: string;
}

export function stateFile(config: Config, self: ReplicaConfig): string {
  return `/run/electrode/${config.name}/${self.id}.json`;
}

export function readState(config: Config, self: ReplicaConfig): BroadcastState | undefined {
  return readStateFile<BroadcastState>(stateFile(config, self));
}

/** The interface of this replica: `iface` from the config, else the one holding its address. An
 * `iface` this host lacks is a config error (exit 2) naming the field. */
export function replicaInterface(config: Config, self: ReplicaConfig): Interface {
  if (!self.iface) return interfaceWithAddress(self.host);
  try {
    return interfaceByName(self.iface);
  } catch (e) {
    if (!(e instanceof NetInfoError)) throw e;
    throw new ConfigError(config.file, `replicas[${self.index}].iface`, `no network interface '${self.iface}' on this host (see: ip link; or leave iface out to use the one holding ${self.host})`);
  }
}

function tcConfigBytes(config: Config, self: ReplicaConfig): Uint8Array {
  const bytes = new Uint8Array(new ArrayBuffer(tcConfig.size));
  const v = new DataView(bytes.buffer);
  v.setUint32(tcConfig.fields.cluster.offset, config.clusterId, true);
  v.setUint32(tcConfig.fields.self_index.offset, self.index, true);
  v.setUint32(tcConfig.fields.replica_count.offset, config.replicas.length, true);
  v.setUint16(tcConfig.fields.port.offset, self.port, true);
  return bytes;
}

/** Writes every replica's row of a peer table (an array map indexed by replica index). */
export function fillPeerTable(fd: number, config: Config, row: (r: ReplicaConfig) => Uint8Array): void {
  const key = new Uint32Array(new ArrayBuffer(4));
  for (const r of config.replicas) {
    key[0] = r.index;
    check("bpf_map_update_elem (peer table)", libbpf().bpf_map_update_elem(fd, ptr(key), ptr(row(r)), 0));
  }
}

export function peerRow(ip: string, port: number, mac: string): Uint8Array {
  const row = new Uint8Array(new ArrayBuffer(peerEntry.size));
  const v = new DataView(row.buffer);
  v.setUint32(peerEntry.fields.ip.offset, parseIp(ip), false); // network byte order
  v.setUint16(peerEntry.fields.port.offset, port, false);
  v.setUint8(peerEntry.fields.valid.offset, 1);
  mac.split(":").forEach((octet, i) => v.setUint8(peerEntry.fields.mac.offset + i, parseInt(octet, 16)));
  return row;
}

const neighbourTimeoutMs = 2000;

/** Every replica's address and MAC as this node's clones must carry them; a peer whose MAC does
 * not resolve is named, with the config field that would give it. */
/** Every replica's address and MAC; peers missing from the neighbour table are resolved at once
 * (in parallel: a 15-replica cluster does not wait for 14 ARP exchanges in a row). */
export async function resolvePeers(config: Config, self: ReplicaConfig, iface: Interface): Promise<BroadcastState["peers"]> {
  return await Promise.all(
    config.replicas.map(async (r) => {
      let mac = r.index === self.index ? iface.mac : r.mac;
      if (mac === undefined) {
        try {
          mac = await resolveNeighbour(r.host, iface.name, self.host, neighbourTimeoutMs);
        } catch (e) {
          if (!(e instanceof NetInfoError)) throw e;
          throw new NetInfoError(
            `cannot find the MAC address of replica ${r.id} (${r.host}) on ${iface.name}: no answer to ARP within ${neighbourTimeoutMs} ms. ` +
              `Is that node up and on this link? Otherwise set it as replicas[${r.index}].mac in ${config.file}`,
          );
        }
      }
      return { id: r.id, ip: r.host, port: r.port, mac };
    }),
  );
}

/** Loads, fills and attaches; replaces what an earlier run left. */
export async function setupBroadcast(config: Config, self: ReplicaConfig): Promise<BroadcastState> {
  const iface = replicaInterface(config, self);
  const peers = await resolvePeers(config, self, iface);
  const bytes = new Uint8Array(await Bun.file(tcBroadcastObject).arrayBuffer());
  const obj = BpfObject.open("tc_broadcast", bytes);
  try {
    obj.setSection(".rodata.cfg", tcConfigBytes(config, self));
    obj.load([programName]);
    fillPeerTable(obj.mapFd("el_bcast_peers"), config, (r) => {
      const p = peers[r.index]!;
      return peerRow(p.ip, p.port, p.mac);
    });
    removeLegacyPins(config, self);
    const previous = readState(config, self);
    // With the state file of an earlier run lost (killed before writing it, /run wiped) but its
    // filter still attached, the qdisc is taken as electrode's when nothing else hangs on it.
    const orphan = previous === undefined && queryEgress(iface.index) !== undefined;
    const createdClsact = ensureClsact(iface.index) || (previous?.createdClsact ?? (orphan && foreignFilterCount(iface.name) === 0));
    const progId = attachEgress(iface.index, obj.programFd(programName));
    const state: BroadcastState = {
      cluster: config.name,
      id: self.id,
      iface: iface.name,
      ifindex: iface.index,
      progId,
      createdClsact,
      peers,
      attachedAt: new Date().toISOString(),
    };
    writeStateFile(stateFile(config, self), state);
    return state;
  } finally {
    obj.close(); // the tc filter keeps the program, and the program its maps, alive
  }
}

/** Detaches and unpins exactly what setup made; says what it removed. */
export function teardownBroadcast(config: Config, self: ReplicaConfig): string[] {
  const done: string[] = [];
  const state = readState(config, self);
  let iface: Pick<Interface, "index" | "name"> | undefined = state && { index: state.ifindex, name: state.iface };
  if (!iface) {
    try {
      iface = replicaInterface(config, self);
    } catch {
      iface = undefined; // the interface is gone, and with it the qdisc and filter
    }
  }
  const detached = iface !== undefined && detachEgress(iface.index);
  if (detached) done.push(`detached tc egress filter from ${iface!.name}`);
  // Without a state file (lost by a killed run) the qdisc counts as electrode's when electrode's
  // filter was the only one on it, as setup decides.
  const ours = state ? state.createdClsact : detached && foreignFilterCount(iface!.name) === 0;
  if (ours && iface) {
    destroyClsact(iface.index);
    done.push(`removed the clsact qdisc electrode created on ${iface.name}`);
  }
  if (removeLegacyPins(config, self)) done.push(`removed the tc broadcast pins of an earlier electrode version in ${legacyPinDir(config.name, self.id)}`);
  removeStateFile(stateFile(config, self));
  return done;
}

function removeLegacyPins(config: Config, self: ReplicaConfig): boolean {
  return removePins(legacyPinDir(config.name, self.id), legacyPinNames).length > 0;
}

/** Is the tc broadcast program that setup recorded still attached? */
export function broadcastActive(config: Config, self: ReplicaConfig): { active: boolean; why: string } {
  const state = readState(config, self);
  if (!state) return { active: false, why: `not set up (run: electrode setup --id ${self.id})` };
  let progId: number | undefined;
  try {
    progId = queryEgress(state.ifindex);
  } catch (e) {
    return { active: false, why: (e as Error).message };
  }
  if (progId !== state.progId) return { active: false, why: `the program setup attached to ${state.iface} is gone (run setup again)` };
  return { active: true, why: `attached to ${state.iface} (program ${progId})` };
}

/** Sums the per-CPU counters of the attached program's stats map (found by id, from the filter). */
export function broadcastCounters(config: Config, self: ReplicaConfig): Record<string, number> | undefined {
  const state = readState(config, self);
  const progId = state && queryEgress(state.ifindex);
  if (!progId || progId !== state.progId) return undefined;
  const sums = readProgramCounters(progId, statsMapName, broadcastCounterCount);
  if (!sums) return undefined;
  return Object.fromEntries(sums.map((value, i) => [`tc_broadcast_${snakeCase(BroadcastCounter[i]!)}`, value]));
}
