// Replica processes on a local namespace cluster: start, kill, restart, wait until serving.
// Used by `electrode demo` and by the integration tests; it runs the electrode executable itself
// (the compiled binary, or bun with the source entry point in development).

import type { Subprocess } from "bun";
import { closeSync, fstatSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseConfig, type Config } from "../config/config.ts";
import type { LocalCluster } from "./cluster.ts";

/** argv prefix that runs this very electrode (compiled binary or `bun run src/cli/main.ts`). */
export function selfCommand(): string[] {
  if (Bun.main.startsWith("/$bunfs/")) return [process.execPath];
  const entry = new URL("../cli/main.ts", import.meta.url).pathname;
  return [process.execPath, "run", entry];
}

export interface ReplicaProcess {
  readonly id: number;
  readonly ns: string;
  proc: Subprocess | undefined;
  /** Every process of this replica appends here, after a line saying when it started. */
  readonly logFile: string;
  /** Byte offset in logFile where the current (latest) process's output begins. */
  logFrom: number;
}

export interface RunningClusterOptions {
  /** Directory for the config and one log file per replica. */
  readonly dir: string;
  readonly port?: number;
  /** Extra top-level config fields (timing, batch_max...). */
  readonly extraConfig?: Record<string, unknown>;
  /** Extra replica flags, e.g. ["--app", "null"], or a function giving them per replica id. */
  readonly replicaArgs?: readonly string[] | ((id: number) => readonly string[]);
  /** The electrode command (default: this executable). */
  readonly command?: readonly string[];
  /** Run `electrode setup` in every replica namespace before starting (the eBPF fast paths). */
  readonly setup?: boolean;
}

/** One replica's row of `electrode status --json` (src/cli/status.ts). */
export interface ReplicaStatus {
  readonly id: number;
  readonly iface: string | null;
  readonly tc_broadcast: { readonly attached: boolean; readonly detail: string; readonly program_id: number | null };
  readonly xdp: { readonly set_up: boolean; readonly attached: boolean; readonly program_id: number | null; readonly detail: string; readonly mode: string | null; readonly mode_reason: string | null };
  readonly counters: Record<string, number>;
}

export class RunningCluster {
  readonly replicas: ReplicaProcess[];
  readonly configPath: string;
  readonly config: Config;
  readonly command: readonly string[];

  constructor(
    readonly local: LocalCluster,
    private readonly opts: RunningClusterOptions,
  ) {
    mkdirSync(opts.dir, { recursive: true });
    this.configPath = join(opts.dir, "cluster.yaml");
    const yaml = local.configYaml(opts.port ?? 12345, opts.extraConfig);
    writeFileSync(this.configPath, yaml);
    this.config = parseConfig(yaml, this.configPath);
    this.command = opts.command ?? selfCommand();
    this.replicas = local.replicas.map((r) => ({ id: r.id, ns: r.ns, proc: undefined, logFile: join(opts.dir, `replica-${r.id}.log`), logFrom: 0 }));
  }

  /**
   * Runs `electrode setup` (or `--teardown`) in every replica namespace. Native XDP (the default
   * here) first gets an XDP_PASS stub on the bridge side of each replica's veth: without one a veth
   * drops native XDP_TX frames (the fast reply's acks).
   */
  async setupAll(teardown = false, opts: { opt?: string; xdpMode?: "native" | "generic" | "auto" } = {}): Promise<void> {
    const xdpMode = opts.xdpMode ?? "native";
    for (const r of this.replicas) {
      if (xdpMode === "native" || teardown) {
        await this.electrode(this.local.bridgeNs, ["setup", "--stub", this.local.bridgePort(r.id), "--quiet", ...(teardown ? ["--teardown"] : [])], `XDP stub for replica ${r.id}`);
      }
      const args = teardown ? ["--teardown"] : ["--xdp-mode", xdpMode, ...(opts.opt ? ["--opt", opts.opt] : [])];
      await this.electrode(r.ns, ["setup", "--id", String(r.id), "--config", this.configPath, "--quiet", ...args], `setup of replica ${r.id}`);
    }
  }

  /** `electrode status --json` of replica `id`, run in its namespace; throws when it fails. */
  async status(id: number): Promise<ReplicaStatus> {
    const r = this.replica(id);
    const proc = Bun.spawn(this.local.nsExec(r.ns, [...this.command, "status", "--json", "--id", String(id), "--config", this.configPath]), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new Error(`status of replica ${id} failed (${code}): ${err.trim()}`);
    const row = (JSON.parse(out) as { replicas: ReplicaStatus[] }).replicas[0];
    if (!row) throw new Error(`status of replica ${id}: no row`);
    return row;
  }

  /** The kernel fast-path counters of every replica, summed (replicas whose status fails are left
   * out). tc broadcast's grow for as long as setup's filter stays; XDP's start at zero with each
   * replica process (its own instance): take differences over a span without restarts. */
  async fastPathCounters(): Promise<Record<string, number>> {
    const sum: Record<string, number> = {};
    for (const r of this.replicas) {
      const row = await this.status(r.id).catch(() => undefined);
      for (const [k, v] of Object.entries(row?.counters ?? {})) sum[k] = (sum[k] ?? 0) + v;
    }
    return sum;
  }

  private async electrode(ns: string, args: readonly string[], what: string): Promise<void> {
    const proc = Bun.spawn(this.local.nsExec(ns, [...this.command, ...args]), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new Error(`${what} failed: ${stderr.trim()}`);
  }

  /** Starts every replica that is not running. */
  startAll(): void {
    for (const r of this.replicas) if (!r.proc) this.start(r.id);
  }

  start(id: number): void {
    const r = this.replica(id);
    const extra = typeof this.opts.replicaArgs === "function" ? this.opts.replicaArgs(id) : (this.opts.replicaArgs ?? []);
    const argv = [...this.command, "replica", "--id", String(id), "--config", this.configPath, ...extra];
    // Appended, not truncated: a restarted replica's log follows its predecessor's.
    const log = openSync(r.logFile, "a");
    try {
      writeSync(log, `--- ${new Date().toISOString()} starting: ${argv.slice(this.command.length).join(" ")}\n`);
      r.logFrom = fstatSync(log).size;
      r.proc = Bun.spawn(this.local.nsExec(r.ns, argv), { stdout: log, stderr: log, stdin: "ignore" });
    } finally {
      closeSync(log);
    }
  }

  /** kill -9 (crash: the replica loses its memory). */
  async kill(id: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const r = this.replica(id);
    if (!r.proc) return;
    r.proc.kill(signal);
    await r.proc.exited;
    r.proc = undefined;
  }

  /** The process id of replica `id` while it runs (nsenter execs the replica: same pid). */
  pid(id: number): number | undefined {
    return this.replica(id).proc?.pid;
  }

  /** Sends a signal without waiting (SIGSTOP, SIGCONT). */
  signal(id: number, signal: NodeJS.Signals): void {
    this.replica(id).proc?.kill(signal);
  }

  /** Stops the replicas and, when setup ran, removes what it attached. */
  async close(): Promise<void> {
    await this.stopAll();
    if (this.opts.setup) await this.setupAll(true);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.replicas.map(async (r) => {
      if (!r.proc) return;
      r.proc.kill("SIGTERM");
      const timer = setTimeout(() => r.proc?.kill("SIGKILL"), 3000);
      await r.proc.exited;
      clearTimeout(timer);
      r.proc = undefined;
    }));
  }

  /** Runs an electrode subcommand in a client namespace and returns its exit code and output. */
  async client(args: readonly string[], clientIndex = 0, onStart?: (pid: number) => void): Promise<{ code: number; stdout: string; stderr: string }> {
    const ns = this.local.clients[clientIndex]!.ns;
    const proc = Bun.spawn(this.local.nsExec(ns, [...this.command, "client", ...args, "--config", this.configPath]), {
      stdout: "pipe",
      stderr: "pipe",
      stdin: "ignore",
    });
    onStart?.(proc.pid);
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  }

  /** Waits until a put through the cluster succeeds (the cluster elected a leader and serves). */
  async waitServing(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const out = await this.client(["put", "__ready", "1", "--timeout", "1000"]);
      if (out.code === 0) return;
      last = out.stderr.trim();
    }
    throw new Error(`cluster not serving after ${timeoutMs} ms: ${last}`);
  }

  private replica(id: number): ReplicaProcess {
    const r = this.replicas.find((x) => x.id === id);
    if (!r) throw new Error(`no replica ${id}`);
    return r;
  }
}
