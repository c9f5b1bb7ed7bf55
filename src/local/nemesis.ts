// The nemesis of a local namespace cluster: crashes (kill -9, then restart: the replica comes back
// without memory and runs VR recovery), pauses (SIGSTOP/SIGCONT: a stale leader waking up),
// partitions, and random loss and duplication. Every fault is undone by its heal(), by healAll(),
// and by close(), which also removes every rule and program the nemesis added.
//
// Partitions cut directed links between replicas (client traffic is never cut). Two ways:
//   bridge    an nftables table (family bridge, forward hook) in the bridge namespace. Every frame
//             between two replicas crosses the bridge, so this cuts everything, fast paths included.
//   iptables  DROP rules in the replicas' own namespaces: OUTPUT at the sender, INPUT at the
//             receiver. With the fast paths on this LEAKS, so only use it with --opt none: the
//             leader's tc broadcast clones its Prepares and Commits after netfilter's OUTPUT (only
//             the one marked original, addressed to one follower, is judged there), and a
//             follower's XDP program acks a Prepare and hands it to user space through its ring
//             before INPUT sees it. (test/integration/partition-methods.test.ts shows both.)
// Loss and duplication come from a test-only tc program (src/local/chaos.ts) on the bridge side
// of each replica's veth, which sees the XDP_TX acks too.
//
// A replica's state is read from its log: each process logs "view V: <role> (leader is replica
// ID)" on every status or view change, and the nemesis reads only the lines of the current process.
//
// Safety bound: kill -9 loses memory, and VR loses acknowledged writes when more than f replicas
// lose theirs at once. The nemesis refuses a kill while f replicas are killed or not yet
// recovered (other faults only cost availability, which the cluster must regain after healing).

import { readFileSync } from "node:fs";
import { Chaos, type ChaosRates } from "./chaos.ts";
import type { RunningCluster } from "./processes.ts";

export type PartitionMethod = "bridge" | "iptables";

export interface NemesisOptions {
  readonly partition?: PartitionMethod;
  /** Each fault injected and healed, one line each, with seconds since the nemesis started. */
  readonly log?: (line: string) => void;
  /** How long a heal waits for a restarted replica to finish recovery. */
  readonly recoverTimeoutMs?: number;
}

/** A fault in force until heal() (idempotent). */
export interface Fault {
  readonly description: string;
  /** Replicas that lost their memory in this fault (kill -9). */
  readonly crashed: readonly number[];
  heal(): Promise<void>;
}

/** Traffic from replica `from` to replica `to` (ids) is dropped. */
export type Link = readonly [from: number, to: number];

export interface ReplicaStatus {
  readonly view: number;
  /** "leader", "follower", "ViewChange" or "Recovering". */
  readonly role: string;
  /** Id of the view's leader. */
  readonly leader: number;
}

const statusLine = /view (\d+): (\w+) \(leader is replica (\d+)\)/g;
const nftTable = "el_nemesis";
const iptablesChain = "EL_NEMESIS";

export class Nemesis {
  readonly method: PartitionMethod;
  private readonly t0 = performance.now();
  private readonly cuts = new Map<string, number>(); // "from>to" -> how many faults cut it
  private readonly active = new Set<Fault>();
  private readonly paused = new Set<number>();
  /** Killed, or restarted and not yet known to have recovered. */
  private readonly lostMemory = new Set<number>();
  private chaos: Chaos | undefined;
  private readonly chaosRates = new Map<number, ChaosRates[]>();
  private rulesInstalled = false;
  /** Per restart: ms from the restart until the replica was a normal leader or follower again
   * (undefined: not within the recovery timeout; it may have finished later). */
  readonly recoveries: { id: number; ms: number | undefined }[] = [];
  /** Replicas whose process ended without the nemesis killing it, with how. */
  readonly unexpectedExits: string[] = [];
  private closed = false;
  private probeCount = 0;

  constructor(
    readonly cluster: RunningCluster,
    private readonly opts: NemesisOptions = {},
  ) {
    this.method = opts.partition ?? "bridge";
  }

  get f(): number {
    return this.cluster.config.f;
  }

  get ids(): number[] {
    return this.cluster.replicas.map((r) => r.id);
  }

  /** Seconds since the nemesis started. */
  seconds(): number {
    return Math.round(performance.now() - this.t0) / 1000;
  }

  /** The same, as log lines show it: "+12.345s". */
  elapsed(): string {
    return `+${this.seconds().toFixed(3)}s`;
  }

  log(line: string): void {
    this.opts.log?.(`${this.elapsed()} ${line}`);
  }

  // ---- Observation. ----

  /** The last status line of replica `id`'s current process, if it is running. */
  status(id: number): ReplicaStatus | undefined {
    const r = this.cluster.replicas.find((x) => x.id === id);
    if (!r?.proc) return undefined;
    let text: string;
    try {
      text = readFileSync(r.logFile).subarray(r.logFrom).toString("utf8");
    } catch {
      return undefined;
    }
    let last: ReplicaStatus | undefined;
    for (const m of text.matchAll(statusLine)) last = { view: Number(m[1]), role: m[2]!, leader: Number(m[3]) };
    return last;
  }

  /** Running and not paused. */
  live(id: number): boolean {
    return this.cluster.replicas.some((r) => r.id === id && r.proc) && !this.paused.has(id);
  }

  /** The leader: a live replica that leads the highest view any live replica is in. */
  leader(): number | undefined {
    let best: { id: number; s: ReplicaStatus } | undefined;
    let highest = -1;
    for (const id of this.ids) {
      if (!this.live(id)) continue;
      const s = this.status(id);
      if (!s) continue;
      highest = Math.max(highest, s.view);
      if (s.role === "leader" && (!best || s.view > best.s.view)) best = { id, s };
    }
    return best && best.s.view === highest ? best.id : undefined;
  }

  async waitLeader(opts: { not?: readonly number[]; timeoutMs?: number } = {}): Promise<number | undefined> {
    const deadline = performance.now() + (opts.timeoutMs ?? 10_000);
    for (;;) {
      const leader = this.leader();
      if (leader !== undefined && !opts.not?.includes(leader)) return leader;
      if (performance.now() >= deadline) return undefined;
      await Bun.sleep(50);
    }
  }

  /** Live replicas that are not the leader. */
  followers(): number[] {
    const leader = this.leader();
    return this.ids.filter((id) => id !== leader && this.live(id));
  }

  recovered(id: number): boolean {
    const s = this.status(id);
    return s !== undefined && (s.role === "leader" || s.role === "follower");
  }

  /** Waits until replica `id`'s current process is a normal leader or follower. */
  async waitRecovered(id: number, timeoutMs = this.opts.recoverTimeoutMs ?? 20_000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (this.recovered(id)) {
        this.lostMemory.delete(id);
        return true;
      }
      await Bun.sleep(50);
    }
    return false;
  }

  /**
   * Waits until every replica is a normal leader or follower. A cluster serves as soon as a
   * majority is normal; the rest may still be recovering, and a fault injected then takes more
   * than f replicas' memory (a leader killed while a follower still recovers leaves nobody able
   * to rebuild the log). Run before the first fault.
   */
  async waitAllNormal(): Promise<void> {
    for (const id of this.ids) {
      if (!(await this.waitRecovered(id))) throw new Error(`replica ${id} is not a normal leader or follower ${this.opts.recoverTimeoutMs ?? 20_000} ms after the start`);
    }
  }

  /** Notes every replica process that ended on its own (a crash: a bug, not a fault). */
  checkAlive(): void {
    for (const r of this.cluster.replicas) {
      const code = r.proc?.exitCode;
      if (code === null || code === undefined) continue;
      const what = `replica ${r.id} exited on its own (code ${code}${r.proc!.signalCode ? `, ${r.proc!.signalCode}` : ""}); see ${r.logFile}`;
      if (!this.unexpectedExits.includes(what)) {
        this.unexpectedExits.push(what);
        this.log(`CRASH:  ${what}`);
      }
    }
  }

  /** How many more replicas may lose their memory now (f minus those killed or recovering). */
  crashBudget(): number {
    for (const id of [...this.lostMemory]) if (this.live(id) && this.recovered(id)) this.lostMemory.delete(id);
    return this.f - this.lostMemory.size;
  }

  /** Milliseconds until a put through the cluster succeeds (a fresh client each try). */
  async timeToServe(timeoutMs = 30_000): Promise<number | undefined> {
    const t = performance.now();
    while (performance.now() - t < timeoutMs) {
      const out = await this.cluster.client(["put", "__nemesis_probe", String(++this.probeCount), "--timeout", "1000"]);
      if (out.code === 0) return Math.round(performance.now() - t);
    }
    return undefined;
  }

  // ---- Faults. ----

  private track(description: string, crashed: readonly number[], undo: () => Promise<void>): Fault {
    let healed: Promise<void> | undefined;
    const fault: Fault = {
      description,
      crashed,
      heal: () => {
        healed ??= (async () => {
          this.active.delete(fault);
          this.log(`heal:   ${description}`);
          await undo();
        })();
        return healed;
      },
    };
    this.active.add(fault);
    this.log(`inject: ${description}`);
    return fault;
  }

  /**
   * kill -9 replica `id`. `restart: "now"` starts it again at once (it recovers while the fault is
   * in force); "at-heal" leaves it down until heal. Heal waits for its recovery. Throws when f
   * replicas already lost their memory.
   */
  async kill(id: number, restart: "now" | "at-heal" = "at-heal", why = ""): Promise<Fault> {
    this.checkAlive();
    if (this.crashBudget() < 1) throw new Error(`refusing to kill replica ${id}: ${[...this.lostMemory].join(", ")} lost memory already (f = ${this.f})`);
    if (this.paused.delete(id)) this.cluster.signal(id, "SIGCONT"); // a kill ends a pause
    await this.cluster.kill(id, "SIGKILL");
    this.lostMemory.add(id);
    let restartedAt = performance.now();
    if (restart === "now") this.cluster.start(id);
    const what = `kill -9 replica ${id}${why ? ` (${why})` : ""}${restart === "now" ? ", restarted at once" : ""}`;
    return this.track(what, [id], async () => {
      if (!this.cluster.replicas.find((r) => r.id === id)!.proc) {
        this.cluster.start(id);
        restartedAt = performance.now();
      }
      const recovered = await this.waitRecovered(id);
      const ms = Math.round(performance.now() - restartedAt);
      this.recoveries.push({ id, ms: recovered ? ms : undefined });
      if (recovered) this.log(`replica ${id} recovered, ${ms} ms after its restart`);
      else this.log(`warning: replica ${id} did not finish recovery within ${this.opts.recoverTimeoutMs ?? 20_000} ms`);
    });
  }

  /** SIGSTOP replica `id` until heal (SIGCONT). */
  pause(id: number, why = ""): Fault {
    this.cluster.signal(id, "SIGSTOP");
    this.paused.add(id);
    return this.track(`pause (SIGSTOP) replica ${id}${why ? ` (${why})` : ""}`, [], async () => {
      if (this.paused.delete(id)) this.cluster.signal(id, "SIGCONT");
    });
  }

  /** Drops traffic on every link in `links` until heal. */
  async cut(links: readonly Link[], description: string): Promise<Fault> {
    for (const [a, b] of links) this.cuts.set(`${a}>${b}`, (this.cuts.get(`${a}>${b}`) ?? 0) + 1);
    await this.applyCuts();
    return this.track(`${description} [${this.method}]`, [], async () => {
      for (const [a, b] of links) {
        const key = `${a}>${b}`;
        const left = (this.cuts.get(key) ?? 1) - 1;
        if (left > 0) this.cuts.set(key, left);
        else this.cuts.delete(key);
      }
      await this.applyCuts();
    });
  }

  /** `id` reaches no other replica and no other replica reaches it. */
  isolate(id: number, why = ""): Promise<Fault> {
    return this.cut(this.between([id], this.ids.filter((x) => x !== id)), `isolate replica ${id}${why ? ` (${why})` : ""}`);
  }

  /** Two sides that do not reach each other. */
  split(side: readonly number[], why = ""): Promise<Fault> {
    const other = this.ids.filter((x) => !side.includes(x));
    return this.cut(this.between(side, other), `split {${side.join(",")}} | {${other.join(",")}}${why ? ` (${why})` : ""}`);
  }

  /** `from` no longer reaches `to`; the other way still works. */
  oneWay(from: number, to: number, why = ""): Promise<Fault> {
    return this.cut([[from, to]], `one-way: ${from} -> ${to} dropped${why ? ` (${why})` : ""}`);
  }

  /**
   * Replicas in a ring (config order), each reaching only the k nearest on either side, with k the
   * least for which that is a majority: every replica sees a majority, no two see the same one.
   */
  ring(): Promise<Fault> {
    const ids = this.ids;
    const n = ids.length;
    const k = Math.ceil((n - 1) / 4);
    const links: Link[] = [];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const d = Math.min(Math.abs(i - j), n - Math.abs(i - j));
        if (d > k) links.push([ids[i]!, ids[j]!]);
      }
    }
    return this.cut(links, `ring of overlapping majorities (each replica reaches ${k} on either side)`);
  }

  /** Random loss and duplication of every frame into the given replicas, until heal. */
  async lossy(ids: readonly number[], rates: ChaosRates): Promise<Fault> {
    this.chaos ??= await Chaos.start(this.cluster.local);
    for (const id of ids) this.chaosRates.set(id, [...(this.chaosRates.get(id) ?? []), rates]);
    await this.applyChaos(ids);
    const what = `loss ${rates.dropPct}% dup ${rates.dupPct}% into ${ids.length === this.ids.length ? "every replica" : `replicas ${ids.join(",")}`}`;
    return this.track(what, [], async () => {
      for (const id of ids) this.chaosRates.set(id, (this.chaosRates.get(id) ?? []).filter((r) => r !== rates));
      await this.applyChaos(ids);
    });
  }

  /** Chaos counters (frames seen, dropped, duplicated into each replica), when loss was used. */
  async chaosCounters() {
    return this.chaos ? await this.chaos.counters() : undefined;
  }

  /** Heals every fault in force: the network and pauses first, then restarts (which need it). */
  async healAll(): Promise<void> {
    const faults = [...this.active];
    for (const f of faults.filter((x) => x.crashed.length === 0)) await f.heal();
    for (const f of faults.filter((x) => x.crashed.length > 0)) await f.heal();
  }

  /** Heals everything, then removes the nemesis's rules, tables and programs. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const errors: string[] = [];
    try {
      await this.healAll();
    } catch (e) {
      errors.push((e as Error).message);
    }
    for (const id of [...this.paused]) this.cluster.signal(id, "SIGCONT");
    this.paused.clear();
    try {
      this.removeRules();
    } catch (e) {
      errors.push((e as Error).message);
    }
    await this.chaos?.close().catch((e: Error) => errors.push(e.message));
    this.chaos = undefined;
    if (errors.length > 0) throw new Error(`nemesis close: ${errors.join("; ")}`);
  }

  // ---- Rules. ----

  private between(a: readonly number[], b: readonly number[]): Link[] {
    const links: Link[] = [];
    for (const x of a) for (const y of b) links.push([x, y], [y, x]);
    return links;
  }

  private ip(id: number): string {
    return this.cluster.local.replicas.find((r) => r.id === id)!.ip;
  }

  private links(): Link[] {
    return [...this.cuts.keys()].map((k) => k.split(">").map(Number) as unknown as Link);
  }

  private async applyCuts(): Promise<void> {
    if (this.method === "bridge") this.applyBridgeCuts();
    else this.applyIptablesCuts();
  }

  /** Rewrites the bridge namespace's nftables chain in one transaction. */
  private applyBridgeCuts(): void {
    const local = this.cluster.local;
    const rules = this.links().map(([a, b]) => `add rule bridge ${nftTable} cut ip saddr ${this.ip(a)} ip daddr ${this.ip(b)} drop`);
    const script = [
      `add table bridge ${nftTable}`,
      `add chain bridge ${nftTable} cut { type filter hook forward priority -200; policy accept; }`,
      `flush chain bridge ${nftTable} cut`,
      ...rules,
    ].join("\n");
    this.rulesInstalled = true;
    const out = Bun.spawnSync(local.nsExec(local.bridgeNs, ["nft", "-f", "-"]), { stdin: Buffer.from(script + "\n"), stdout: "pipe", stderr: "pipe" });
    if (out.exitCode !== 0) throw new Error(`nft in ${local.bridgeNs}: ${out.stderr.toString().trim()}`);
  }

  /** Rewrites a chain in every replica namespace: OUTPUT drops at the sender, INPUT at the receiver. */
  private applyIptablesCuts(): void {
    const local = this.cluster.local;
    const links = this.links();
    for (const r of local.replicas) {
      const ipt = (...args: string[]) => local.run(r.ns, ["iptables", "-w", ...args]);
      if (!this.rulesInstalled) {
        ipt("-N", iptablesChain);
        ipt("-I", "INPUT", "-j", iptablesChain);
        ipt("-I", "OUTPUT", "-j", iptablesChain);
      }
      ipt("-F", iptablesChain);
      for (const [a, b] of links) {
        if (a === r.id) ipt("-A", iptablesChain, "-d", this.ip(b), "-j", "DROP");
        if (b === r.id) ipt("-A", iptablesChain, "-s", this.ip(a), "-j", "DROP");
      }
    }
    this.rulesInstalled = true;
  }

  private removeRules(): void {
    if (!this.rulesInstalled) return;
    this.rulesInstalled = false;
    const local = this.cluster.local;
    if (this.method === "bridge") {
      Bun.spawnSync(local.nsExec(local.bridgeNs, ["nft", "delete", "table", "bridge", nftTable]), { stdout: "ignore", stderr: "ignore" });
      return;
    }
    for (const r of local.replicas) {
      for (const args of [["-D", "INPUT", "-j", iptablesChain], ["-D", "OUTPUT", "-j", iptablesChain], ["-F", iptablesChain], ["-X", iptablesChain]]) {
        Bun.spawnSync(local.nsExec(r.ns, ["iptables", "-w", ...args]), { stdout: "ignore", stderr: "ignore" });
      }
    }
  }

  /** The rates in force for each of `ids`: the highest loss and duplication any fault asks. */
  private async applyChaos(ids: readonly number[]): Promise<void> {
    for (const id of ids) {
      const all = this.chaosRates.get(id) ?? [];
      const rates = { dropPct: Math.max(0, ...all.map((r) => r.dropPct)), dupPct: Math.max(0, ...all.map((r) => r.dupPct)) };
      await this.chaos!.set([id], rates);
    }
  }
}
