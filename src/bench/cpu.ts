// Where the CPU goes during a benchmark, from /proc: each role's processes (leader, followers,
// client) and the machine's softirq and idle time. Reported as cores busy (1.0 = one core all
// the time) and as CPU microseconds per committed op: at saturation a mode's throughput is the
// machine's cores divided by its total cost per op, so the per-op split shows what a fast path
// removes and what every mode still pays.

import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc's counters (USER_HZ: 100 on every Linux architecture we run). */
const ticksPerS = 100;

export type Role = "leader" | "followers" | "client";

/** A process's threads by what they do, from their names (/proc/PID/task/TID/comm): the JS main
 * thread (the one whose id is the pid), JSC's garbage collector and heap threads (HeapHelper,
 * "JSC Heap ...", JSCWarmUp pre-faulting fresh GC blocks, mimalloc's scavenger), its JIT
 * compilers, and everything else (Bun's pool...). */
export type ThreadGroup = "main" | "heap" | "jit" | "other";
export const threadGroups: readonly ThreadGroup[] = ["main", "heap", "jit", "other"];

export function threadGroup(name: string, isMain: boolean): ThreadGroup {
  if (isMain) return "main";
  if (/heap|gc|warmup|scavenger/i.test(name)) return "heap";
  if (/jit/i.test(name)) return "jit";
  return "other";
}

export interface CpuSnapshot {
  readonly atNs: number;
  /** Per pid: user + system ticks. A pid that is gone reads as absent. */
  readonly processes: ReadonlyMap<number, number>;
  readonly machine: { readonly busy: number; readonly softirq: number; readonly idle: number };
  /** Per pid: user + system ticks of its threads by group (threads that ended are not counted:
   * compare over a window in which the process's threads live on, as a warm replica's do). */
  readonly threads?: ReadonlyMap<number, Record<ThreadGroup, number>>;
}

export interface CpuSplit {
  /** Seconds between the two snapshots. */
  readonly seconds: number;
  /** Cores busy on average: each role, softirq (packet delivery; the part done while one of the
   * processes runs is charged to it as well), busy time of other processes, idle. */
  readonly cores: Record<Role | "softirq" | "idle" | "other", number>;
  /** CPU microseconds per committed op, by role and in total (everything but idle). */
  readonly us_per_op: Record<Role | "softirq" | "other" | "total", number>;
  /** The leader's threads (cores busy by group) and the share of its CPU that went to the heap
   * threads (GC), when the snapshots have them. */
  readonly leader_threads?: { readonly cores: Record<ThreadGroup, number>; readonly heap_share: number };
}

function processTicks(pid: number): number | undefined {
  try {
    return statTicks(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** utime + stime from a /proc/.../stat line. */
function statTicks(stat: string): number {
  // The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
}

export function threadTicks(pid: number): Record<ThreadGroup, number> | undefined {
  const sum: Record<ThreadGroup, number> = { main: 0, heap: 0, jit: 0, other: 0 };
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  for (const tid of tids) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      sum[threadGroup(name, Number(tid) === pid)] += statTicks(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8"));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return sum;
}

function machineTicks(): CpuSnapshot["machine"] {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal guest guest_nice
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  return { busy: user! + nice! + system! + irq! + steal!, softirq: softirq!, idle: idle! + iowait! };
}

export function cpuSnapshot(pids: readonly number[]): CpuSnapshot {
  const processes = new Map<number, number>();
  const threads = new Map<number, Record<ThreadGroup, number>>();
  for (const pid of pids) {
    const t = processTicks(pid);
    if (t !== undefined) processes.set(pid, t);
    const g = threadTicks(pid);
    if (g !== undefined) threads.set(pid, g);
  }
  return { atNs: Bun.nanoseconds(), processes, machine: machineTicks(), threads };
}

/** The split between two snapshots of the same pids; `roles` names each pid's role. */
export function cpuSplit(before: CpuSnapshot, after: CpuSnapshot, roles: ReadonlyMap<number, Role>, ops: number): CpuSplit {
  const seconds = (after.atNs - before.atNs) / 1e9;
  const ticks: Record<Role, number> = { leader: 0, followers: 0, client: 0 };
  for (const [pid, role] of roles) {
    const a = after.processes.get(pid);
    const b = before.processes.get(pid);
    if (a !== undefined && b !== undefined) ticks[role] += a - b;
  }
  const busy = after.machine.busy - before.machine.busy;
  const softirq = after.machine.softirq - before.machine.softirq;
  const idle = after.machine.idle - before.machine.idle;
  const other = Math.max(0, busy - ticks.leader - ticks.followers - ticks.client);
  const cores = (t: number) => round(t / ticksPerS / seconds);
  const perOp = (t: number) => (ops > 0 ? round((t / ticksPerS / ops) * 1e6) : 0);
  const leaderPid = [...roles].find(([, role]) => role === "leader")?.[0];
  const leaderThreads = leaderPid === undefined ? undefined : threadSplit(before.threads?.get(leaderPid), after.threads?.get(leaderPid), cores);
  return {
    ...(leaderThreads && { leader_threads: leaderThreads }),
    seconds: round(seconds),
    cores: { leader: cores(ticks.leader), followers: cores(ticks.followers), client: cores(ticks.client), softirq: cores(softirq), other: cores(other), idle: cores(idle) },
    us_per_op: {
      leader: perOp(ticks.leader),
      followers: perOp(ticks.followers),
      client: perOp(ticks.client),
      softirq: perOp(softirq),
      other: perOp(other),
      total: perOp(busy + softirq),
    },
  };
}

function threadSplit(a: Record<ThreadGroup, number> | undefined, b: Record<ThreadGroup, number> | undefined, cores: (t: number) => number): CpuSplit["leader_threads"] {
  if (!a || !b) return undefined;
  const d = Object.fromEntries(threadGroups.map((g) => [g, Math.max(0, b[g] - a[g])])) as Record<ThreadGroup, number>;
  const total = threadGroups.reduce((n, g) => n + d[g], 0);
  return { cores: Object.fromEntries(threadGroups.map((g) => [g, cores(d[g])])) as Record<ThreadGroup, number>, heap_share: total > 0 ? round(d.heap / total) : 0 };
}

/** A markdown table of the leader's threads (rows without a split get empty cells). */
export function formatLeaderThreadsTable(rows: readonly { replicas: number; opt: string; clients: number; throughput_ops_s: number; cpu?: CpuSplit }[]): string {
  const header = ["replicas", "opt", "clients", "ops/s", "leader cores: main", "heap (GC)", "JIT", "other", "heap share of the leader's CPU"];
  const body = rows.map((r) => {
    const t = r.cpu?.leader_threads;
    if (!t) return [String(r.replicas), r.opt, String(r.clients), String(r.throughput_ops_s), ...header.slice(4).map(() => "")];
    return [r.replicas, r.opt, r.clients, r.throughput_ops_s, t.cores.main, t.cores.heap, t.cores.jit, t.cores.other, `${Math.round(t.heap_share * 100)}%`].map(String);
  });
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...body.map(line)].join("\n");
}

/** A markdown table of the CPU splits of benchmark rows (rows without one get empty cells). */
export function formatCpuTable(rows: readonly { replicas: number; opt: string; clients: number; throughput_ops_s: number; cpu?: CpuSplit }[]): string {
  const header = ["replicas", "opt", "clients", "ops/s", "cores: leader", "followers", "client", "softirq", "other", "idle", "CPU us/op: leader", "followers", "client", "softirq", "total"];
  const body = rows.map((r) => {
    const c = r.cpu;
    if (!c) return [String(r.replicas), r.opt, String(r.clients), String(r.throughput_ops_s), ...header.slice(4).map(() => "")];
    const k = c.cores;
    const u = c.us_per_op;
    return [r.replicas, r.opt, r.clients, r.throughput_ops_s, k.leader, k.followers, k.client, k.softirq, k.other, k.idle, u.leader, u.followers, u.client, u.softirq, u.total].map(String);
  });
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...body.map(line)].join("\n");
}

/** Snapshots `pids()` after `fromS` seconds and again `lengthS` seconds later. */
export async function cpuWindow(pids: () => readonly number[], fromS: number, lengthS: number): Promise<{ before: CpuSnapshot; after: CpuSnapshot }> {
  await Bun.sleep(fromS * 1000);
  const before = cpuSnapshot(pids());
  await Bun.sleep(lengthS * 1000);
  return { before, after: cpuSnapshot(pids()) };
}

const round = (x: number) => Math.round(x * 100) / 100;
