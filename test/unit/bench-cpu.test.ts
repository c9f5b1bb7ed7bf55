import { describe, expect, test } from "bun:test";
import { cpuSnapshot, cpuSplit, formatCpuTable, formatLeaderThreadsTable, threadGroup, threadTicks, type CpuSnapshot, type Role, type ThreadGroup } from "../../src/bench/cpu.ts";

/** A snapshot `seconds` in, with each pid's ticks and the machine's (100 ticks a second). */
function snap(seconds: number, processes: [number, number][], machine: CpuSnapshot["machine"]): CpuSnapshot {
  return { atNs: seconds * 1e9, processes: new Map(processes), machine };
}

describe("CPU split of a benchmark window", () => {
  test("cores per role, softirq and idle, and CPU microseconds per op", () => {
    // 2 s on 2 cores = 400 ticks: leader 150, two followers 60 + 40, client 80, 20 busy in other
    // processes, softirq 30, idle 20.
    const before = snap(10, [[1, 1000], [2, 500], [3, 500], [9, 0]], { busy: 10_000, softirq: 100, idle: 5000 });
    const after = snap(12, [[1, 1150], [2, 560], [3, 540], [9, 80]], { busy: 10_350, softirq: 130, idle: 5020 });
    const roles = new Map<number, Role>([[1, "leader"], [2, "followers"], [3, "followers"], [9, "client"]]);
    const split = cpuSplit(before, after, roles, 100_000);
    expect(split.seconds).toBe(2);
    expect(split.cores).toEqual({ leader: 0.75, followers: 0.5, client: 0.4, softirq: 0.15, other: 0.1, idle: 0.1 });
    // 100,000 ops: the leader's 1.5 CPU seconds are 15 us per op; everything but idle 3.8 s.
    expect(split.us_per_op).toEqual({ leader: 15, followers: 10, client: 8, softirq: 3, other: 2, total: 38 });
  });

  test("a process that exited inside the window counts nothing rather than garbage", () => {
    const before = snap(0, [[1, 100], [2, 100]], { busy: 0, softirq: 0, idle: 0 });
    const after = snap(1, [[1, 150]], { busy: 50, softirq: 0, idle: 150 });
    const split = cpuSplit(before, after, new Map<number, Role>([[1, "leader"], [2, "followers"]]), 0);
    expect(split.cores.leader).toBe(0.5);
    expect(split.cores.followers).toBe(0);
    expect(split.us_per_op.total).toBe(0); // no ops: no per-op cost
  });

  test("reads this process from /proc, and a pid that does not exist is left out", () => {
    const s = cpuSnapshot([process.pid, 2 ** 22 + 1]);
    expect(s.processes.get(process.pid)).toBeGreaterThanOrEqual(0);
    expect(s.processes.has(2 ** 22 + 1)).toBe(false);
    expect(s.machine.busy + s.machine.idle).toBeGreaterThan(0);
  });

  test("the table has a row per result and empty cells where no split was taken", () => {
    const split = cpuSplit(snap(0, [[1, 0]], { busy: 0, softirq: 0, idle: 0 }), snap(1, [[1, 50]], { busy: 50, softirq: 10, idle: 140 }), new Map<number, Role>([[1, "leader"]]), 1000);
    const table = formatCpuTable([
      { replicas: 3, opt: "all", clients: 16, throughput_ops_s: 1000, cpu: split },
      { replicas: 3, opt: "none", clients: 16, throughput_ops_s: 900 },
    ]).split("\n");
    expect(table.length).toBe(4);
    expect(table[2]).toBe("| 3 | all | 16 | 1000 | 0.5 | 0 | 0 | 0.1 | 0 | 1.4 | 500 | 0 | 0 | 100 | 600 |");
    expect(table[3]).toBe("| 3 | none | 16 | 900 |  |  |  |  |  |  |  |  |  |  |  |");
  });

  test("thread names sort into main, heap (GC), JIT and other", () => {
    expect(threadGroup("electrode", true)).toBe("main");
    for (const name of ["HeapHelper", "JSC Heap Collector", "JSCWarmUp", "mi-scavenger"]) expect(threadGroup(name, false)).toBe("heap");
    expect(threadGroup("JITWorker", false)).toBe("jit");
    expect(threadGroup("Bun Pool 0", false)).toBe("other");
    // The main thread keeps its group whatever it is called.
    expect(threadGroup("HeapHelper", true)).toBe("main");
  });

  test("the leader's threads: cores by group and the heap's share of its CPU", () => {
    const t = (main: number, heap: number, jit: number, other: number): Record<ThreadGroup, number> => ({ main, heap, jit, other });
    const before = { ...snap(0, [[1, 0], [2, 0]], { busy: 0, softirq: 0, idle: 0 }), threads: new Map([[1, t(100, 10, 5, 0)], [2, t(0, 0, 0, 0)]]) };
    const after = { ...snap(2, [[1, 200], [2, 50]], { busy: 250, softirq: 0, idle: 150 }), threads: new Map([[1, t(260, 30, 25, 0)], [2, t(50, 0, 0, 0)]]) };
    const split = cpuSplit(before, after, new Map<number, Role>([[1, "leader"], [2, "followers"]]), 1000);
    // 2 s: main 160 ticks = 0.8 cores, heap 20 = 0.1, JIT 20 = 0.1; heap 20 of 200 ticks.
    expect(split.leader_threads).toEqual({ cores: { main: 0.8, heap: 0.1, jit: 0.1, other: 0 }, heap_share: 0.1 });
    const table = formatLeaderThreadsTable([{ replicas: 3, opt: "all", clients: 64, throughput_ops_s: 500, cpu: split }]).split("\n");
    expect(table[2]).toBe("| 3 | all | 64 | 500 | 0.8 | 0.1 | 0.1 | 0 | 10% |");
    // Without thread counts (a snapshot made by hand, or the leader's pid unknown) no split.
    expect(cpuSplit(snap(0, [[1, 0]], before.machine), snap(1, [[1, 5]], before.machine), new Map<number, Role>([[1, "leader"]]), 1).leader_threads).toBeUndefined();
  });

  test("reads this process's threads: the main thread counts as main", () => {
    const busyUntil = performance.now() + 50;
    while (performance.now() < busyUntil); // some CPU on the main thread
    const g = threadTicks(process.pid)!;
    expect(g.main).toBeGreaterThanOrEqual(0);
    expect(Object.keys(g).sort()).toEqual(["heap", "jit", "main", "other"]);
    expect(threadTicks(2 ** 22 + 1)).toBeUndefined();
  });
});
