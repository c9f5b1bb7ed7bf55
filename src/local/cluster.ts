// A throwaway cluster of network namespaces on this machine, for the demo and the tests.
//
// Layout: namespace el-<name>-br holds a bridge br0; each replica namespace el-<name>-r<i> and each
// client namespace el-<name>-c<j> has a veth eth0 whose peer sits in the bridge namespace. Nothing
// is added to the root namespace. Addresses come from 10.199.<slot>.0/24 and exist only inside
// these namespaces. Processes enter a namespace with `nsenter --net` by default; `enter` picks
// `ip netns exec` instead (a private mount namespace per command, with a fresh /sys: the way most
// people run things in a namespace) or a private mount namespace with /sys/fs/bpf hidden, to show
// that nothing electrode does depends on a BPF filesystem mount that outlives the command.
//
// Every cluster leaves a marker in /run/electrode-local/<name>.json with its owner's PID, so a
// cluster whose owner died (a crashed test) is removed by the next createCluster or by
// `bun run src/local/cluster.ts cleanup`.

import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { stringify } from "yaml";

const markerDir = "/run/electrode-local";
const subnetSlots = 200;

export interface LocalNode {
  readonly id: number;
  readonly ns: string;
  readonly ip: string;
  readonly iface: string;
  readonly mac: string;
}

/** How commands enter a namespace (see the file comment). */
export type EnterMode = "nsenter" | "ip-netns-exec" | "private-mounts";

export interface CreateOptions {
  readonly replicas: number;
  readonly clients?: number;
  readonly name?: string;
  readonly enter?: EnterMode;
}

interface Marker {
  readonly pid: number;
  readonly name: string;
  readonly slot: number;
  readonly namespaces: string[];
  readonly created: string;
}

/** Runs a command, returning stdout; throws with its stderr on failure. */
export function sh(argv: readonly string[]): string {
  const out = Bun.spawnSync([...argv], { stdout: "pipe", stderr: "pipe" });
  if (out.exitCode !== 0) {
    throw new Error(`${argv.join(" ")}: ${out.stderr.toString().trim() || `exit ${out.exitCode}`}`);
  }
  return out.stdout.toString();
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readMarkers(): Marker[] {
  let files: string[] = [];
  try {
    files = readdirSync(markerDir).filter((f) => f.endsWith(".json"));
  } catch {
    return [];
  }
  const markers: Marker[] = [];
  for (const file of files) {
    try {
      markers.push(JSON.parse(readFileSync(`${markerDir}/${file}`, "utf8")) as Marker);
    } catch {
      rmSync(`${markerDir}/${file}`, { force: true }); // half-written marker: nothing to match it
    }
  }
  return markers;
}

/** The config name of local cluster `name` (pins and state of its replicas are keyed by it). */
function configName(name: string): string {
  return `local-${name}`;
}

/** State files outlive the namespaces (/run belongs to the host): remove the cluster's, and the
 * pins an electrode before 0.2 made (their programs and maps would stay in the kernel). */
function deleteKernelLeftovers(name: string): void {
  for (const root of ["/sys/fs/bpf/electrode", "/run/electrode"]) {
    rmSync(`${root}/${configName(name)}`, { recursive: true, force: true });
    try {
      rmdirSync(root); // only when no other cluster is left in it
    } catch {
      // not empty, or gone
    }
  }
}

function deleteNamespaces(namespaces: readonly string[]): void {
  const existing = new Set(sh(["ip", "netns", "list"]).split("\n").map((l) => l.split(" ")[0]));
  for (const ns of namespaces) {
    if (!existing.has(ns)) continue;
    // Processes keep a namespace alive: kill what still runs inside first.
    const pids = Bun.spawnSync(["ip", "netns", "pids", ns]).stdout.toString().split("\n").filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // already gone
      }
    }
    Bun.spawnSync(["ip", "netns", "del", ns], { stderr: "pipe" });
  }
}

/** Removes clusters whose owner process is gone. Returns their names. */
export function cleanupStale(): string[] {
  const removed: string[] = [];
  for (const marker of readMarkers()) {
    if (pidAlive(marker.pid) && marker.pid !== 0) continue;
    deleteNamespaces(marker.namespaces);
    deleteKernelLeftovers(marker.name);
    rmSync(`${markerDir}/${marker.name}.json`, { force: true });
    removed.push(marker.name);
  }
  return removed;
}

function freeSlot(): number {
  const used = new Set(readMarkers().map((m) => m.slot));
  for (let slot = 1; slot <= subnetSlots; slot++) if (!used.has(slot)) return slot;
  throw new Error(`no free subnet: ${subnetSlots} local clusters exist (bun run src/local/cluster.ts cleanup)`);
}

export class LocalCluster {
  private destroyed = false;

  constructor(
    readonly name: string,
    readonly bridgeNs: string,
    readonly replicas: readonly LocalNode[],
    readonly clients: readonly LocalNode[],
    readonly enter: EnterMode = "nsenter",
  ) {}

  /** argv that runs `argv` inside namespace `ns`, entered as `enter` says. Each form execs the
   * command in the end, so the process that runs it has the pid Bun.spawn returns. */
  nsExec(ns: string, argv: readonly string[]): string[] {
    switch (this.enter) {
      case "nsenter":
        return ["nsenter", `--net=/run/netns/${ns}`, "--", ...argv];
      case "ip-netns-exec":
        return ["ip", "netns", "exec", ns, ...argv];
      case "private-mounts":
        // A mount namespace of the command's own, with an empty tmpfs over /sys/fs/bpf: no BPF
        // filesystem is visible, and whatever the command would mount there dies with it.
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", `mount -t tmpfs electrode-no-bpffs /sys/fs/bpf && exec nsenter --net=/run/netns/${ns} -- "$@"`, "sh", ...argv];
    }
  }

  run(ns: string, argv: readonly string[]): string {
    return sh(this.nsExec(ns, argv));
  }

  /** The contract's config for this cluster (every replica on `port`). */
  configYaml(port: number, extra: Record<string, unknown> = {}): string {
    const n = this.replicas.length;
    const head = stringify({ name: configName(this.name), f: (n - 1) / 2, ...extra });
    const rows = this.replicas.map((r) => `  - { id: ${r.id}, addr: ${r.ip}:${port} }`);
    return `${head}replicas:\n${rows.join("\n")}\n`;
  }

  /** The bridge-side end (in bridgeNs) of replica `id`'s veth. */
  bridgePort(id: number): string {
    return `vr${id}`;
  }

  get namespaces(): string[] {
    return [...this.replicas.map((r) => r.ns), ...this.clients.map((c) => c.ns), this.bridgeNs];
  }

  /** Kills what runs inside, deletes every namespace and the marker. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    deleteNamespaces(this.namespaces);
    deleteKernelLeftovers(this.name);
    rmSync(`${markerDir}/${this.name}.json`, { force: true });
  }
}

function addNode(name: string, bridgeNs: string, kind: "r" | "c", index: number, ip: string): LocalNode {
  const ns = `el-${name}-${kind}${index}`;
  const peer = `v${kind}${index}`;
  sh(["ip", "netns", "add", ns]);
  sh(["ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", peer, "netns", bridgeNs]);
  sh(["ip", "-n", ns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
  sh(["ip", "-n", ns, "link", "set", "eth0", "up"]);
  sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
  sh(["ip", "-n", bridgeNs, "link", "set", peer, "master", "br0", "up"]);
  const link = JSON.parse(sh(["ip", "-n", ns, "-j", "link", "show", "eth0"])) as { address: string }[];
  return { id: index, ns, ip, iface: "eth0", mac: link[0]!.address };
}

export async function createCluster(opts: CreateOptions): Promise<LocalCluster> {
  const n = opts.replicas;
  if (!Number.isInteger(n) || n < 1 || n % 2 === 0 || n > 31) throw new Error(`replicas must be odd, 1..31 (got ${n})`);
  const clientCount = opts.clients ?? 1;
  cleanupStale();
  mkdirSync(markerDir, { recursive: true });
  const name = opts.name ?? `${process.pid.toString(36)}${Math.floor(Math.random() * 36 ** 2).toString(36)}`.slice(-6);
  const slot = freeSlot();
  const bridgeNs = `el-${name}-br`;
  const planned = [bridgeNs, ...Array.from({ length: n }, (_, i) => `el-${name}-r${i + 1}`), ...Array.from({ length: clientCount }, (_, j) => `el-${name}-c${j + 1}`)];
  // The marker goes first, so a crash halfway through still gets cleaned up.
  const marker: Marker = { pid: process.pid, name, slot, namespaces: planned, created: new Date().toISOString() };
  writeFileSync(`${markerDir}/${name}.json`, JSON.stringify(marker));
  const replicas: LocalNode[] = [];
  const clients: LocalNode[] = [];
  try {
    sh(["ip", "netns", "add", bridgeNs]);
    sh(["ip", "-n", bridgeNs, "link", "add", "br0", "type", "bridge"]);
    sh(["ip", "-n", bridgeNs, "link", "set", "br0", "up"]);
    for (let i = 1; i <= n; i++) replicas.push(addNode(name, bridgeNs, "r", i, `10.199.${slot}.${i}`));
    for (let j = 1; j <= clientCount; j++) clients.push(addNode(name, bridgeNs, "c", j, `10.199.${slot}.${100 + j}`));
  } catch (e) {
    deleteNamespaces(planned);
    rmSync(`${markerDir}/${name}.json`, { force: true });
    throw e;
  }
  return new LocalCluster(name, bridgeNs, replicas, clients, opts.enter);
}

if (import.meta.main) {
  const [command, arg] = process.argv.slice(2);
  if (command === "create") {
    const cluster = await createCluster({ replicas: Number(arg ?? 3) });
    // Hand ownership to nobody alive, so `cleanup` may remove it once asked.
    writeFileSync(`${markerDir}/${cluster.name}.json`, JSON.stringify({ ...JSON.parse(readFileSync(`${markerDir}/${cluster.name}.json`, "utf8")), pid: 0 }));
    console.log(JSON.stringify({ name: cluster.name, replicas: cluster.replicas, clients: cluster.clients }, null, 2));
  } else if (command === "cleanup") {
    console.log(`removed: ${cleanupStale().join(", ") || "nothing"}`);
  } else {
    console.error("usage: bun run src/local/cluster.ts create N | cleanup");
    process.exit(2);
  }
}
