// What setup needs to know about this host's network: which interface holds an address, its
// index and MAC, and the MACs of peers (neighbour table, resolved on demand). Read through
// iproute2's JSON output (netlink), which is correct inside a network namespace entered with
// setns/nsenter, where /sys/class/net would still describe the namespace that mounted /sys.

import { parseIp, UdpSocket } from "../net/udp.ts";

export class NetInfoError extends Error {}

export interface Interface {
  readonly name: string;
  readonly index: number;
  readonly mac: string;
  readonly mtu: number;
}

function ipJson(args: readonly string[]): unknown[] {
  const out = Bun.spawnSync(["ip", "-j", ...args], { stdout: "pipe", stderr: "pipe" });
  if (out.exitCode !== 0) {
    const why = out.stderr.toString().trim();
    throw new NetInfoError(`ip ${args.join(" ")}: ${why || `exit ${out.exitCode}`}`);
  }
  const text = out.stdout.toString().trim();
  return text ? (JSON.parse(text) as unknown[]) : [];
}

interface IpLink {
  ifname: string;
  ifindex: number;
  address?: string;
  mtu: number;
  addr_info?: { family: string; local: string }[];
}

function toInterface(link: IpLink): Interface {
  return { name: link.ifname, index: link.ifindex, mac: (link.address ?? "").toLowerCase(), mtu: link.mtu };
}

/** The interface named `name`, or a clear error. */
export function interfaceByName(name: string): Interface {
  const links = (() => {
    try {
      return ipJson(["link", "show", "dev", name]) as IpLink[];
    } catch {
      return [];
    }
  })();
  const link = links[0];
  if (!link) throw new NetInfoError(`no network interface '${name}' here (see: ip link)`);
  return toInterface(link);
}

/** The interface that holds IPv4 address `ip`, or a clear error. */
export function interfaceWithAddress(ip: string): Interface {
  const links = ipJson(["-4", "addr", "show"]) as IpLink[];
  const link = links.find((l) => (l.addr_info ?? []).some((a) => a.local === ip));
  if (!link) throw new NetInfoError(`no interface of this host holds ${ip} (is this the node of that replica? see: ip -4 addr)`);
  if (link.ifname === "lo") throw new NetInfoError(`${ip} is on the loopback interface: the fast paths need a real NIC`);
  return interfaceByName(link.ifname);
}

export interface LinkDetails {
  /** linkinfo kind ("veth", "bridge"...), undefined for a physical NIC. */
  readonly kind: string | undefined;
  /** For a veth: its peer's name and index when the peer is in this namespace. */
  readonly peer: string | undefined;
  readonly peerIndex: number | undefined;
  readonly peerInOtherNamespace: boolean;
}

/** What kind of link `name` is and, for a veth, where its peer is. */
export function linkDetails(name: string): LinkDetails {
  const [link] = ipJson(["-d", "link", "show", "dev", name]) as { link?: string; link_index?: number; link_netnsid?: number; linkinfo?: { info_kind?: string } }[];
  if (!link) throw new NetInfoError(`no network interface '${name}' here (see: ip link)`);
  const other = link.link_netnsid !== undefined;
  const peerIndex = other ? undefined : link.link !== undefined ? interfaceByName(link.link).index : undefined;
  return { kind: link.linkinfo?.info_kind, peer: other ? undefined : link.link, peerIndex, peerInOtherNamespace: other };
}

interface IpNeigh {
  dst: string;
  lladdr?: string;
  state?: string[];
}

function lookupNeighbour(ip: string, iface: string): string | undefined {
  const rows = ipJson(["neigh", "show", "to", ip, "dev", iface]) as IpNeigh[];
  const row = rows.find((r) => r.dst === ip && r.lladdr && !(r.state ?? []).includes("FAILED") && !(r.state ?? []).includes("INCOMPLETE"));
  return row?.lladdr?.toLowerCase();
}

/**
 * The MAC of `ip` on `iface`: from the neighbour table, else resolved by sending one datagram to
 * the peer's discard port (the kernel runs ARP for it) and waiting up to `timeoutMs`.
 */
export async function resolveNeighbour(ip: string, iface: string, fromIp: string, timeoutMs = 2000): Promise<string> {
  const known = lookupNeighbour(ip, iface);
  if (known) return known;
  const socket = UdpSocket.bind(fromIp, 0);
  try {
    const deadline = Date.now() + timeoutMs;
    const probe = new Uint8Array(1);
    // ARP on one link answers within a millisecond or two: look early, then back off.
    for (let wait = 5; Date.now() < deadline; wait = Math.min(2 * wait, 100)) {
      socket.sendTo({ ip: parseIp(ip), port: 9 }, probe, 1);
      await Bun.sleep(wait);
      const mac = lookupNeighbour(ip, iface);
      if (mac) return mac;
    }
  } finally {
    socket.close();
  }
  throw new NetInfoError(`the MAC of ${ip} did not resolve on ${iface} within ${timeoutMs} ms (is that node up and on this link? or set 'mac:' for it in the config)`);
}

/** Is a BPF filesystem mounted at `dir`? */
export function bpffsMounted(dir = "/sys/fs/bpf"): boolean {
  const mounts = Bun.spawnSync(["cat", "/proc/self/mounts"]).stdout.toString();
  return mounts.split("\n").some((line) => {
    const [, mountPoint, fsType] = line.split(" ");
    return mountPoint === dir && fsType === "bpf";
  });
}
