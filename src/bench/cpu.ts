// Where the CPU goes during a benchmark, from /proc: each role's processes (leader, followers,
// client) and the machine's softirq and idle time. Reported as cores busy (1.0 = one core all
// the time) and as CPU microseconds per committed op: at saturation a mode's throughput is the
// machine's cores divided by its total cost per op, so the per-op split shows what a fast path
// removes and what every mode still pays.

import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc's counters (USER_HZ: 100 on every Linux architecture we run). */
const ticksPerS = 100;

export type Role = "leader" | "followers" | "client";

export interface CpuSnapshot {
  readonly atNs: number;
  /** Per pid: user + system ticks. A pid that is gone reads as absent. */
  readonly processes: ReadonlyMap<number, number>;
  readonly machine: { readonly busy: number; readonly softirq: number; readonly idle: number };
}

export interface CpuSplit {
  /** Seconds between the two snapshots. */
  readonly seconds: number;
  /** Cores busy on average: each role, softirq (packet delivery; the part done while one of the
   * processes runs is charged to it as well), busy time of other processes, idle. */
  readonly cores: Record<Role | "softirq" | "idle" | "other", number>;
  /** CPU microseconds per committed op, by role and in total (everything but idle). */
  readonly us_per_op: Record<Role | "softirq" | "other" | "total", number>;
}

function processTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  } catch {
    return undefined;
  }
}

function machineTicks(): CpuSnapshot["machine"] {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal guest guest_nice
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  return { busy: user! + nice! + system! + irq! + steal!, softirq: softirq!, idle: idle! + iowait! };
}

export function cpuSnapshot(pids: readonly number[]): CpuSnapshot {
  const processes = new Map<number, number>();
  for (const pid of pids) {
    const t = processTicks(pid);
    if (t !== undefined) processes.set(pid, t);
  }
  return { atNs: Bun.nanoseconds(), processes, machine: machineTicks() };
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
  return {
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
