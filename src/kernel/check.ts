// `electrode setup --check`: what this node's kernel and NIC support for the fast paths, what
// setup would attach, and whether it is attached. Reads only: no load, no attach, no mount.
// (Resolving a peer's MAC may send one datagram to its discard port, as setup does, so the
// kernel runs ARP; that fills the neighbour cache and changes nothing else.)

import { existsSync, readFileSync } from "node:fs";
import { release } from "node:os";
import { libbpfVersion } from "../../ffi/libbpf.ts";
import type { Config, ReplicaConfig } from "../config/config.ts";
import { broadcastActive, readState } from "./broadcast.ts";
import { bpffsMounted, interfaceByName, interfaceWithAddress, resolveNeighbour, type Interface } from "./netinfo.ts";
import { readXdpState, xdpStatus } from "./xdp.ts";

export type CheckState = "ok" | "missing" | "warn" | "info";

export interface CheckItem {
  readonly name: string;
  readonly state: CheckState;
  readonly detail: string;
}

export interface PlannedFastPath {
  readonly fastPath: string;
  readonly hook: string;
  readonly attached: boolean;
  readonly detail: string;
}

export interface SetupCheckReport {
  readonly ok: boolean;
  readonly cluster: string;
  readonly replica: number;
  readonly addr: string;
  readonly checks: CheckItem[];
  readonly wouldAttach: PlannedFastPath[];
  /** Names of the checks that failed (e.g. "permission", "peer 2"). */
  readonly missing: string[];
  /** Fast paths of this build that are not attached (e.g. "tc-broadcast"). */
  readonly notAttached: string[];
}

/**
 * Drivers with native (driver-mode) XDP in mainline Linux, as `ethtool -i` names them. Anything
 * else still runs XDP in generic (SKB) mode: it works, but without the speed-up.
 */
const nativeXdpDrivers = new Set([
  "mlx4_en", "mlx5_core", "i40e", "ice", "ixgbe", "ixgbevf", "igb", "igc", "bnxt_en", "qede", "nfp", "ena", "gve",
  "virtio_net", "veth", "tun", "nicvf", "sfc", "sfc_ef100", "mvneta", "mvpp2", "netsec", "stmmac", "st_gmac", "cpsw",
  "fsl_dpaa2_eth", "fsl_enetc", "hv_netvsc", "vif", "lan966x-switch", "rvu_nicpf", "rvu_nicvf", "atlantic", "fec",
  "tsnep", "mana", "ionic", "idpf", "bnxt", "txgbe", "ngbe", "enetc", "octeontx2-nicpf",
]);

const capNetAdmin = 12;
const capSysAdmin = 21;
const capBpf = 39;

function hasCap(capEff: bigint, cap: number): boolean {
  return ((capEff >> BigInt(cap)) & 1n) === 1n;
}

/** Root, or CAP_BPF (or CAP_SYS_ADMIN on older kernels) with CAP_NET_ADMIN. */
export function checkPermission(status = safeRead("/proc/self/status")): CheckItem {
  const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(status ?? "");
  const capEff = line ? BigInt(`0x${line[1]}`) : 0n;
  const bpf = hasCap(capEff, capBpf) || hasCap(capEff, capSysAdmin);
  const net = hasCap(capEff, capNetAdmin);
  const who = process.getuid?.() === 0 ? "root" : `uid ${process.getuid?.()}`;
  if (bpf && net) return { name: "permission", state: "ok", detail: `${who} with CAP_BPF and CAP_NET_ADMIN` };
  const lacking = [bpf ? "" : "CAP_BPF", net ? "" : "CAP_NET_ADMIN"].filter(Boolean).join(" and ");
  return { name: "permission", state: "missing", detail: `${who} lacks ${lacking}: run setup as root (or with those capabilities)` };
}

function safeRead(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** The kernel's build config (CONFIG_X -> y|m), from /proc/config.gz or /boot; undefined if neither. */
export function kernelConfig(): { source: string; options: Map<string, string> } | undefined {
  let text: string | undefined;
  let source = "/proc/config.gz";
  try {
    text = new TextDecoder().decode(Bun.gunzipSync(readFileSync(source)));
  } catch {
    source = `/boot/config-${release()}`;
    text = safeRead(source);
  }
  if (text === undefined) return undefined;
  const options = new Map<string, string>();
  for (const m of text.matchAll(/^(CONFIG_[A-Z0-9_]+)=(\S+)$/gm)) options.set(m[1]!, m[2]!);
  return { source, options };
}

function checkKernel(): CheckItem[] {
  const kernel = release();
  const [major = 0, minor = 0] = kernel.split(".").map((x) => parseInt(x, 10));
  const recent = major > 5 || (major === 5 && minor >= 10);
  const items: CheckItem[] = [
    { name: "kernel", state: recent ? "ok" : "warn", detail: recent ? kernel : `${kernel}: older than 5.10, the oldest we expect to work` },
  ];
  const config = kernelConfig();
  if (!config) {
    items.push({ name: "clsact", state: "warn", detail: "kernel config not readable (/proc/config.gz, /boot/config-*): cannot tell whether sch_ingress/clsact and cls_bpf exist" });
    return items;
  }
  const want = (option: string) => config.options.get(option);
  const has = (option: string) => want(option) === "y" || want(option) === "m";
  const lacking = ["CONFIG_BPF_SYSCALL", "CONFIG_NET_SCH_INGRESS", "CONFIG_NET_CLS_BPF", "CONFIG_NET_CLS_ACT"].filter((o) => !has(o));
  items.push(
    lacking.length
      ? { name: "clsact", state: "missing", detail: `kernel built without ${lacking.join(", ")} (${config.source})` }
      : { name: "clsact", state: "ok", detail: `BPF syscall, clsact qdisc (sch_ingress=${want("CONFIG_NET_SCH_INGRESS")}) and cls_bpf (${config.source})` },
  );
  items.push(
    has("CONFIG_BPF_JIT")
      ? { name: "jit", state: "ok", detail: `BPF JIT built in (net.core.bpf_jit_enable=${safeRead("/proc/sys/net/core/bpf_jit_enable")?.trim() ?? "?"})` }
      : { name: "jit", state: "warn", detail: "no BPF JIT: programs run interpreted (slow)" },
  );
  return items;
}

function checkLibbpf(): CheckItem {
  try {
    return { name: "libbpf", state: "ok", detail: `libbpf.so.1 version ${libbpfVersion()}` };
  } catch (e) {
    return { name: "libbpf", state: "missing", detail: (e as Error).message.split("\n")[0]! };
  }
}

function checkFilesystems(): CheckItem[] {
  return [
    {
      name: "bpffs",
      state: "info",
      detail: `${bpffsMounted("/sys/fs/bpf") ? "mounted at /sys/fs/bpf" : "none at /sys/fs/bpf in this mount namespace"}: not needed, electrode pins nothing (the tc filter and each replica's XDP link hold the programs)`,
    },
    existsSync("/sys/kernel/btf/vmlinux")
      ? { name: "btf", state: "ok", detail: "/sys/kernel/btf/vmlinux present" }
      : { name: "btf", state: "warn", detail: "no /sys/kernel/btf/vmlinux (kernel without CONFIG_DEBUG_INFO_BTF): fine for the embedded programs, but bpftool shows less" },
  ];
}

/** `ethtool -i` driver name, or undefined. Runs in the caller's network namespace. */
export function driverOf(iface: string): string | undefined {
  const out = Bun.spawnSync(["ethtool", "-i", iface], { stdout: "pipe", stderr: "pipe" });
  if (out.exitCode !== 0) return undefined;
  return /^driver:\s*(\S+)/m.exec(out.stdout.toString())?.[1];
}

interface LinkDetail {
  num_rx_queues?: number;
  num_tx_queues?: number;
  xdp?: { mode?: number; prog?: { id?: number; name?: string } };
}

function linkDetail(iface: string): LinkDetail {
  const out = Bun.spawnSync(["ip", "-j", "-d", "link", "show", "dev", iface], { stdout: "pipe", stderr: "pipe" });
  try {
    return ((JSON.parse(out.stdout.toString()) as LinkDetail[])[0] ?? {}) as LinkDetail;
  } catch {
    return {};
  }
}

function checkNic(self: ReplicaConfig): { items: CheckItem[]; iface: Interface | undefined } {
  let iface: Interface;
  try {
    iface = self.iface ? interfaceByName(self.iface) : interfaceWithAddress(self.host);
  } catch (e) {
    return { items: [{ name: "nic", state: "missing", detail: (e as Error).message }], iface: undefined };
  }
  const how = self.iface ? "(iface from the config)" : `holds ${self.host}`;
  const items: CheckItem[] = [{ name: "nic", state: "ok", detail: `${iface.name} ${how}: ifindex ${iface.index}, mac ${iface.mac}, mtu ${iface.mtu}` }];
  const driver = driverOf(iface.name);
  if (!driver) items.push({ name: "driver", state: "warn", detail: `driver of ${iface.name} unknown (ethtool -i failed): native XDP cannot be judged` });
  else if (nativeXdpDrivers.has(driver)) {
    const note = driver === "veth" ? "; XDP_TX on veth needs an XDP program on the peer end too" : driver === "virtio_net" ? "; XDP_TX needs spare queues (ethtool -L combined 2x vCPUs)" : "";
    items.push({ name: "driver", state: "ok", detail: `${driver}: native XDP likely${note}` });
  } else {
    items.push({ name: "driver", state: "warn", detail: `${driver}: no native XDP known for this driver; XDP would run in generic (SKB) mode, slower` });
  }
  const link = linkDetail(iface.name);
  if (link.num_rx_queues !== undefined) items.push({ name: "queues", state: "info", detail: `${link.num_rx_queues} rx, ${link.num_tx_queues ?? "?"} tx` });
  const xdp = link.xdp?.prog;
  items.push({ name: "xdp", state: "info", detail: xdp ? `program ${xdp.name ?? "?"} (id ${xdp.id ?? "?"}) attached to ${iface.name}` : `nothing attached to ${iface.name}` });
  return { items, iface };
}

async function checkPeers(config: Config, self: ReplicaConfig, iface: Interface | undefined): Promise<CheckItem[]> {
  const peers = config.replicas.filter((r) => r.index !== self.index);
  return Promise.all(
    peers.map(async (r): Promise<CheckItem> => {
      const name = `peer ${r.id}`;
      if (r.mac) return { name, state: "ok", detail: `${r.host} is ${r.mac} (from the config)` };
      if (!iface) return { name, state: "missing", detail: `${r.host}: cannot resolve without this replica's NIC` };
      try {
        const mac = await resolveNeighbour(r.host, iface.name, self.host, 1500);
        return { name, state: "ok", detail: `${r.host} is ${mac} on ${iface.name}` };
      } catch (e) {
        return { name, state: "missing", detail: (e as Error).message };
      }
    }),
  );
}

function planned(config: Config, self: ReplicaConfig, iface: Interface | undefined): PlannedFastPath[] {
  const where = iface?.name ?? "(no NIC found)";
  let attached = false;
  let detail: string;
  try {
    const active = broadcastActive(config, self);
    attached = active.active;
    detail = `${active.why}; program electrode_bcast with maps el_bcast_peers and el_bcast_stats (not pinned: bpftool prog show name electrode_bcast)`;
  } catch (e) {
    detail = `cannot tell: ${(e as Error).message.split("\n")[0]}`;
  }
  // XDP counts as set up when setup checked and recorded it: each replica process attaches its own.
  let xdp: ReturnType<typeof xdpStatus>;
  try {
    xdp = xdpStatus(config, self);
  } catch (e) {
    xdp = { setUp: false, attached: false, why: `cannot tell: ${(e as Error).message.split("\n")[0]}` };
  }
  const xdpHook = `xdp on ${where}${xdp.state ? ` (${xdp.state.mode})` : ""}`;
  return [
    { fastPath: "tc-broadcast", hook: `tc egress (clsact) on ${where}`, attached, detail },
    { fastPath: "quorum-prune", hook: xdpHook, attached: xdp.setUp && (xdp.state?.prune ?? false), detail: xdp.why },
    { fastPath: "fast-reply", hook: xdpHook, attached: xdp.setUp && (xdp.state?.fastReply ?? false), detail: xdp.why },
  ];
}

/** Runs every check; changes nothing on the node. */
export async function checkSetup(config: Config, self: ReplicaConfig): Promise<SetupCheckReport> {
  const nic = checkNic(self);
  const checks: CheckItem[] = [...checkKernel(), checkLibbpf(), checkPermission(), ...checkFilesystems(), ...nic.items, ...(await checkPeers(config, self, nic.iface))];
  const wouldAttach = planned(config, self, nic.iface);
  const missing = checks.filter((c) => c.state === "missing").map((c) => c.name);
  const notAttached = wouldAttach.filter((p) => !p.attached).map((p) => p.fastPath);
  const ok = missing.length === 0 && notAttached.length === 0;
  return { ok, cluster: config.name, replica: self.id, addr: self.addr, checks, wouldAttach, missing, notAttached };
}

export function formatSetupCheck(report: SetupCheckReport): string {
  const lines = [`setup check for replica ${report.replica} of cluster ${report.cluster} (${report.addr})`, ""];
  const width = Math.max(...report.checks.map((c) => c.name.length));
  for (const c of report.checks) lines.push(`  ${(c.state === "missing" ? "MISSING" : c.state).padEnd(8)} ${c.name.padEnd(width)}  ${c.detail}`);
  lines.push("", "fast paths (what setup attaches):");
  for (const p of report.wouldAttach) {
    const state = p.attached ? "attached" : "NOT attached";
    lines.push(`  ${p.fastPath.padEnd(13)} ${state.padEnd(13)} ${p.hook}: ${p.detail}`);
  }
  lines.push("", report.ok ? "everything needed is here and attached" : setupCheckVerdict(report));
  return lines.join("\n");
}

/** One line: what is missing and what is not attached. */
export function setupCheckVerdict(report: SetupCheckReport): string {
  const parts = [
    report.missing.length ? `missing: ${report.missing.join(", ")}` : "",
    report.notAttached.length ? `not attached: ${report.notAttached.join(", ")} (run: electrode setup --id ${report.replica})` : "",
  ];
  return parts.filter(Boolean).join("; ") || "ok";
}

/**
 * One line for a replica's shutdown log: what stays attached after the process exits. tc
 * broadcast belongs to setup and outlives the replica until `setup --teardown`; the replica's own
 * XDP instance detaches with it. Never throws (it runs in a signal handler).
 */
export function fastPathsAfterStop(config: Config, self: ReplicaConfig): string {
  try {
    const state = readState(config, self);
    const xdp = readXdpState(config, self) ? "; this process's XDP instance detaches as it exits (the next start attaches a new one)" : "";
    if (!state) return `no tc filter is set up on this node${xdp}`;
    return `tc-broadcast stays attached on ${state.iface} (electrode setup --id ${self.id} --teardown removes it)${xdp}`;
  } catch (e) {
    return `cannot tell what stays attached: ${(e as Error).message}`;
  }
}
