// A 3-member (any odd n) etcd cluster on a local namespace cluster (src/local/cluster.ts): member i
// runs in replica namespace i on that namespace's address (client port 2379, peer port 2380), its
// data directory under `dir`. Nothing in etcd's configuration is changed from its defaults except
// the addresses, the zap logger writing to a file, and (with `noFsync`) --unsafe-no-fsync, which
// etcd 3.4.23 accepts although its --help does not list it (it came with 3.5 and was backported
// to 3.4). Its startup log does not mention it either: scripts/etcd/cells.ts checks that it took
// by counting the WAL fsyncs in the members' metrics.

import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { LocalCluster } from "../../src/local/cluster.ts";

/** Where Debian's etcd-server puts it. */
export const etcdBinaryDefault = "/usr/bin/etcd";
const clientPort = 2379;
const peerPort = 2380;
const stopGraceMs = 5000;

/** What is missing to run etcd here, as a sentence, or undefined when nothing is. */
export function etcdMissing(binary: string): string | undefined {
  if (etcdVersion(binary) !== undefined) return undefined;
  return `${binary} (etcd: install Debian's etcd-server with ./scripts/setup.sh --with-etcd, or apt-get install -y etcd-server)`;
}

/** `etcd --version`'s version, or undefined when it does not run. */
export function etcdVersion(binary: string): string | undefined {
  try {
    const out = Bun.spawnSync([binary, "--version"], { stdout: "pipe", stderr: "pipe" });
    if (!out.success) return undefined;
    return /etcd Version: (\S+)/.exec(out.stdout.toString())?.[1] ?? "unknown";
  } catch {
    return undefined; // not there, or not executable
  }
}

export interface EtcdMember {
  readonly name: string;
  readonly ns: string;
  readonly clientUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  proc: Subprocess | undefined;
}

export class EtcdCluster {
  readonly members: EtcdMember[];

  constructor(
    private readonly local: LocalCluster,
    private readonly dir: string,
    readonly noFsync: boolean,
    /** Distinguishes clusters started one after another (token, directories). */
    readonly tag: string,
    private readonly binary: string = etcdBinaryDefault,
  ) {
    this.members = local.replicas.map((r, i) => ({
      name: `m${i + 1}`,
      ns: r.ns,
      clientUrl: `http://${r.ip}:${clientPort}`,
      dataDir: join(dir, tag, `m${i + 1}`),
      logFile: join(dir, tag, `m${i + 1}.log`),
      proc: undefined,
    }));
  }

  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  private argv(m: EtcdMember): string[] {
    const peers = this.local.replicas.map((r, i) => `m${i + 1}=http://${r.ip}:${peerPort}`).join(",");
    const ip = new URL(m.clientUrl).hostname;
    return [
      this.binary,
      "--name", m.name,
      "--data-dir", m.dataDir,
      "--listen-client-urls", m.clientUrl,
      "--advertise-client-urls", m.clientUrl,
      "--listen-peer-urls", `http://${ip}:${peerPort}`,
      "--initial-advertise-peer-urls", `http://${ip}:${peerPort}`,
      "--initial-cluster", peers,
      "--initial-cluster-state", "new",
      "--initial-cluster-token", `vs-etcd-${this.tag}`,
      "--logger", "zap",
      "--log-outputs", "stderr",
      ...(this.noFsync ? ["--unsafe-no-fsync"] : []),
    ];
  }

  /** Starts every member (fresh data directories). */
  start(): void {
    for (const m of this.members) {
      rmSync(m.dataDir, { recursive: true, force: true });
      mkdirSync(m.dataDir, { recursive: true, mode: 0o700 });
      const log = openSync(m.logFile, "a");
      try {
        m.proc = Bun.spawn(this.local.nsExec(m.ns, this.argv(m)), { stdout: log, stderr: log, stdin: "ignore" });
      } finally {
        closeSync(log);
      }
    }
  }

  /** Throws when a member died. */
  check(): void {
    for (const m of this.members) {
      if (m.proc?.exitCode !== null && m.proc?.exitCode !== undefined) {
        throw new Error(`etcd member ${m.name} exited ${m.proc.exitCode}: ${this.tail(m)}`);
      }
    }
  }

  /** The last lines of a member's log, for error messages. */
  tail(m: EtcdMember, lines = 3): string {
    try {
      return readFileSync(m.logFile, "utf8").trim().split("\n").slice(-lines).join(" | ");
    } catch {
      return "(no log)";
    }
  }

  /** SIGTERM, then SIGKILL after a grace period; removes the data directories. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map(async (m) => {
      const proc = m.proc;
      if (!proc) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), stopGraceMs);
      await proc.exited;
      clearTimeout(timer);
      m.proc = undefined;
    }));
    rmSync(join(this.dir, this.tag), { recursive: true, force: true });
  }
}
