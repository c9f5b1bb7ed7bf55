// Resident memory of a local cluster's replicas over a long run: VmRSS from /proc/PID/status of
// every replica's current process, sampled every few seconds, for the memory benchmark
// (scripts/memory-bench.ts) and the soak. A bounded log, checkpoints and a bounded client table
// should keep it flat once the first checkpoints and compactions are behind a replica.

import { readFileSync } from "node:fs";
import type { RunningCluster } from "./processes.ts";

/** VmRSS of `pid` in KiB; undefined when the process is gone. */
export function rssKib(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export interface RssSample {
  /** Seconds since the sampler started. */
  readonly atS: number;
  /** Per replica id: KiB, or null when it was not running. */
  readonly kib: Record<number, number | null>;
  /** Per replica id: the pid sampled (a restarted replica gets a new one). */
  readonly pid: Record<number, number | null>;
}

export class RssSampler {
  readonly samples: RssSample[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly t0 = performance.now();

  constructor(
    private readonly cluster: RunningCluster,
    private readonly everyS: number,
    private readonly onSample?: (s: RssSample) => void,
  ) {}

  /** Takes a sample now and then every `everyS`. */
  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyS * 1000);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  sample(): RssSample {
    const kib: Record<number, number | null> = {};
    const pid: Record<number, number | null> = {};
    for (const r of this.cluster.replicas) {
      const p = this.cluster.pid(r.id);
      pid[r.id] = p ?? null;
      kib[r.id] = p === undefined ? null : (rssKib(p) ?? null);
    }
    const s = { atS: Math.round(performance.now() - this.t0) / 1000, kib, pid };
    this.samples.push(s);
    this.onSample?.(s);
    return s;
  }
}

/**
 * The samples folded into windows of `windowS`: window k holds the samples after (k-1)*windowS up
 * to k*windowS, give or take a second of timer drift (window 0: the first sample alone), and reports each replica's peak in it, at the
 * time of its last sample, with that sample's pid (a window in which a replica restarted reports
 * the new process's pid, with the old one's peak possibly in it). A single sample catches the
 * JS heap anywhere between two collections (tens of percent apart at full load); the peak over a
 * window is what the process needed in it, and steadier.
 */
export function rssPeaks(samples: readonly RssSample[], windowS: number): RssSample[] {
  return foldWindows(samples, windowS, Math.max);
}

/** The same windows, each replica's lowest sample in each (the lower envelope). */
export function rssFloors(samples: readonly RssSample[], windowS: number): RssSample[] {
  return foldWindows(samples, windowS, Math.min);
}

function foldWindows(samples: readonly RssSample[], windowS: number, pick: (...xs: number[]) => number): RssSample[] {
  const windows = new Map<number, RssSample[]>();
  for (const s of samples) {
    const k = s === samples[0] ? 0 : Math.max(1, Math.ceil((s.atS - 1) / windowS));
    windows.set(k, [...(windows.get(k) ?? []), s]);
  }
  return [...windows.values()].map((w) => {
    const last = w.at(-1)!;
    const kib: Record<number, number | null> = {};
    for (const id of Object.keys(last.kib).map(Number)) {
      const seen = w.map((s) => s.kib[id]).filter((k): k is number => k !== null && k !== undefined);
      kib[id] = seen.length > 0 ? pick(...seen) : null;
    }
    return { atS: last.atS, kib, pid: last.pid };
  });
}

const mib = (kib: number | null | undefined) => (kib === null || kib === undefined ? "-" : (kib / 1024).toFixed(1));

/** One line per sample: time, then each replica's MiB (a "*" marks a process new since the
 * previous sample: a restart, whose memory starts over). */
export function formatRssTable(samples: readonly RssSample[]): string {
  if (samples.length === 0) return "(no samples)";
  const ids = Object.keys(samples[0]!.kib).map(Number);
  const header = ["t (s)", ...ids.map((id) => `replica ${id} MiB`)];
  const body = samples.map((s, i) => {
    const prev = samples[i - 1];
    const cells = ids.map((id) => `${mib(s.kib[id])}${prev && s.pid[id] !== prev.pid[id] && s.pid[id] !== null ? "*" : ""}`);
    return [s.atS.toFixed(0), ...cells];
  });
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...body.map(line)].join("\n");
}

export interface RssGrowth {
  readonly id: number;
  readonly fromS: number;
  readonly toS: number;
  readonly fromKib: number;
  readonly toKib: number;
  /** (to - from) / from. */
  readonly growth: number;
  /** The largest sample in between, against from. */
  readonly peakGrowth: number;
  /** Growth of the least-squares line through every sample from `from` to `to`, between those
   * two times: a leak shows as a slope, while a single sample at either end may land high or low
   * in the JS heap's cycle of growth and collection. */
  readonly trendGrowth: number;
}

/** The least-squares line through (x, y), as its value at `at`. */
function fitAt(points: readonly { x: number; y: number }[], at: number): number {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  const slope = sxx === 0 ? 0 : points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx;
  return my + slope * (at - mx);
}

/**
 * Growth of each replica's RSS from the sample nearest `fromS` to the last sample at or before
 * `toS`. A replica whose process changed in between (a restart) or that was not running has no
 * figure: its memory started over.
 */
export function rssGrowth(samples: readonly RssSample[], fromS: number, toS: number): { growth: RssGrowth[]; skipped: number[] } {
  const within = samples.filter((s) => s.atS <= toS + 1);
  const from = within.reduce<RssSample | undefined>((best, s) => (best === undefined || Math.abs(s.atS - fromS) < Math.abs(best.atS - fromS) ? s : best), undefined);
  const to = within.at(-1);
  const growth: RssGrowth[] = [];
  const skipped: number[] = [];
  if (!from || !to || to.atS <= from.atS) return { growth, skipped };
  for (const id of Object.keys(from.kib).map(Number)) {
    const span = within.filter((s) => s.atS >= from.atS);
    const a = from.kib[id];
    const b = to.kib[id];
    if (a === null || a === undefined || b === null || b === undefined || span.some((s) => s.pid[id] !== from.pid[id])) {
      skipped.push(id);
      continue;
    }
    const peak = Math.max(...span.map((s) => s.kib[id] ?? 0));
    const points = span.map((s) => ({ x: s.atS, y: s.kib[id]! }));
    const [fitFrom, fitTo] = [fitAt(points, from.atS), fitAt(points, to.atS)];
    growth.push({ id, fromS: from.atS, toS: to.atS, fromKib: a, toKib: b, growth: (b - a) / a, peakGrowth: (peak - a) / a, trendGrowth: (fitTo - fitFrom) / fitFrom });
  }
  return { growth, skipped };
}

export function formatGrowth(g: RssGrowth): string {
  const pct = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`;
  return `replica ${g.id}: trend ${pct(g.trendGrowth)} from ${g.fromS.toFixed(0)} s to ${g.toS.toFixed(0)} s; ${mib(g.fromKib)} MiB -> ${mib(g.toKib)} MiB (${pct(g.growth)}), largest in between ${pct(g.peakGrowth)}`;
}
