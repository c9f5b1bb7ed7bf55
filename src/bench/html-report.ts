// A self-contained HTML report of a benchmark run (no scripts, no external files): a table, the
// latency CDF of every mode (log scale) and throughput by mode and replica count, as inline SVG.

import type { FloorResult } from "./floor.ts";
import { formatEcho } from "./ceiling.ts";
import type { BenchJson, BenchRow } from "./report.ts";

const width = 720;
const height = 360;
// Right margin: room for half the widest tick label at the axis end ("100,000" is about 50 px).
const margin = { left: 64, right: 40, top: 16, bottom: 48 };
const colors = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function label(row: BenchJson): string {
  return `${row.opt}, ${row.replicas} replicas, ${row.clients} clients`;
}

/** The plot area inside the margins. */
const plot = { left: margin.left, right: width - margin.right, top: margin.top, bottom: height - margin.bottom };
/** Width of one character of an 11 px tick label (digits and the thousands comma), rounded up. */
const tickCharPx = 7;
/** Least room between two tick labels. */
const tickGapPx = 8;
/** Fractions labelled on the CDF's y axis: linear, so 0.99 and 1 (3 px apart) are not both shown. */
const cdfFractions = [0, 0.25, 0.5, 0.75, 0.9, 1];
/** Latencies below this are drawn at it (a log axis has no zero). */
const latencyUsMin = 1;

function tickLabel(value: number): string {
  return value.toLocaleString("en-US");
}

/** The largest 1-2-5 value (1, 2, 5, 10, 20...) at or below `v`, and the smallest at or above. */
function niceBelow(v: number): number {
  const decade = 10 ** Math.floor(Math.log10(v));
  return [5, 2, 1].map((m) => m * decade).find((t) => t <= v) ?? decade;
}
function niceAbove(v: number): number {
  const decade = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * decade).find((t) => t >= v) ?? 10 * decade;
}

export interface LogAxis {
  readonly lo: number;
  readonly hi: number;
  /** Pixel x of a value (clamped to the axis' lower end). */
  x(value: number): number;
  /** Labelled ticks, every pair far enough apart for their labels not to touch. */
  readonly ticks: readonly { value: number; x: number; label: string }[];
}

/**
 * A log axis over [min, max] (microseconds), widened to 1-2-5 values at both ends. Ticks are the
 * densest of 1-2-5, 1-3, 1 per decade, then one every 2, 3... decades, whose labels do not overlap.
 */
export function logAxis(min: number, max: number): LogAxis {
  const lo = niceBelow(Math.max(latencyUsMin, min));
  const hi = Math.max(niceAbove(Math.max(latencyUsMin, max)), lo * 10);
  const span = Math.log10(hi) - Math.log10(lo);
  const x = (v: number) => plot.left + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / span) * (plot.right - plot.left);
  const candidates = (multipliers: readonly number[], decadeStep: number) => {
    const out: { value: number; x: number; label: string }[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      if (e % decadeStep !== 0) continue;
      for (const m of multipliers) {
        const value = m * 10 ** e;
        if (value >= lo * (1 - 1e-9) && value <= hi * (1 + 1e-9)) out.push({ value, x: x(value), label: tickLabel(value) });
      }
    }
    return out;
  };
  const half = (t: { label: string }) => (t.label.length * tickCharPx) / 2;
  const fits = (ticks: readonly { x: number; label: string }[]) =>
    ticks.every((t, i) => t.x - half(t) >= 0 && t.x + half(t) <= width && (i === 0 || t.x - ticks[i - 1]!.x >= half(t) + half(ticks[i - 1]!) + tickGapPx));
  const sets: [number[], number][] = [[[1, 2, 5], 1], [[1, 3], 1], [[1], 1]];
  for (let step = 2; step <= span + 1; step++) sets.push([[1], step]);
  const ticks = sets.map(([m, step]) => candidates(m, step)).find(fits) ?? [];
  return { lo, hi, x, ticks };
}

/** Latency CDF per run, x in microseconds on a log scale, and the floor's median as a dashed line. */
function cdfChart(rows: readonly BenchJson[], floor: FloorResult | undefined): string {
  const series = rows.filter((r) => (r.latency_cdf ?? []).length > 0);
  const values = series.flatMap((r) => r.latency_cdf!.map(([v]) => v)).filter((v) => v > 0);
  if (values.length === 0) return "<p>No latency distribution recorded.</p>";
  const floorUs = floor && floor.latency_us.p50 > 0 ? floor.latency_us.p50 : undefined;
  // The floor is inside the axis, so its line is always drawn.
  const axis = logAxis(Math.min(...values, floorUs ?? Infinity), Math.max(...values, floorUs ?? 0));
  const x = axis.x;
  const y = (f: number) => plot.bottom - f * (plot.bottom - plot.top);
  const lines = series.map((r, i) => {
    const pts = r.latency_cdf!.map(([v, f]) => `${x(v).toFixed(1)},${y(f).toFixed(1)}`).join(" ");
    return `<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="2" points="${pts}"><title>${escape(label(r))}</title></polyline>`;
  });
  const ticks = axis.ticks.map(
    (t) => `<line x1="${t.x.toFixed(1)}" x2="${t.x.toFixed(1)}" y1="${plot.top}" y2="${plot.bottom}" stroke="#ddd"/><text class="x-tick" x="${t.x.toFixed(1)}" y="${plot.bottom + 16}" text-anchor="middle" font-size="11">${t.label}</text>`,
  );
  for (const f of cdfFractions) {
    ticks.push(`<line x1="${plot.left}" x2="${plot.right}" y1="${y(f).toFixed(1)}" y2="${y(f).toFixed(1)}" stroke="#eee"/><text class="y-tick" x="${plot.left - 6}" y="${(y(f) + 4).toFixed(1)}" text-anchor="end" font-size="11">${f}</text>`);
  }
  const yTitle = `<text x="14" y="${(plot.top + plot.bottom) / 2}" transform="rotate(-90 14 ${(plot.top + plot.bottom) / 2})" text-anchor="middle" font-size="12">fraction of requests at or below</text>`;
  let floorLine = "";
  if (floorUs !== undefined) {
    const fx = x(floorUs);
    // Label on the side of the line with room for it.
    const right = fx < (plot.left + plot.right) / 2;
    floorLine =
      `<line class="floor" x1="${fx.toFixed(1)}" x2="${fx.toFixed(1)}" y1="${plot.top}" y2="${plot.bottom}" stroke="#000" stroke-width="1.5" stroke-dasharray="4 3"><title>floor p50 ${floorUs} us</title></line>` +
      `<text class="floor-label" x="${(fx + (right ? 4 : -4)).toFixed(1)}" y="${plot.top + 12}" text-anchor="${right ? "start" : "end"}" font-size="11">floor p50 ${floorUs} us</text>`;
  }
  const caption = `<text x="${(plot.left + plot.right) / 2}" y="${height - 8}" text-anchor="middle" font-size="12">latency (us, log scale)${floorUs !== undefined ? "; dashed: the floor's median" : ""}</text>`;
  return svg([...ticks, yTitle, floorLine, ...lines, caption], legend(series.map(label)));
}

/** A round step (1, 2 or 5 times a power of ten) that splits `max` into about `parts`. */
function niceStep(max: number, parts: number): number {
  return niceAbove(Math.max(1, max / parts));
}

/** Throughput per run as bars, grouped in the order given; one color per fast-path mode. */
function throughputChart(rows: readonly BenchJson[]): string {
  const step = niceStep(Math.max(1, ...rows.map((r) => r.throughput_ops_s)), 4);
  const max = step * Math.max(1, Math.ceil(Math.max(1, ...rows.map((r) => r.throughput_ops_s)) / step));
  const band = (width - margin.left - margin.right) / Math.max(1, rows.length);
  const y = (v: number) => height - margin.bottom - (v / max) * (height - margin.top - margin.bottom);
  const opts = [...new Set(rows.map((r) => r.opt))];
  const bars = rows.map((r, i) => {
    const x0 = margin.left + i * band + band * 0.1;
    const color = colors[opts.indexOf(r.opt) % colors.length]!;
    return `<rect x="${x0}" y="${y(r.throughput_ops_s)}" width="${band * 0.8}" height="${height - margin.bottom - y(r.throughput_ops_s)}" fill="${color}"><title>${escape(label(r))}: ${r.throughput_ops_s} ops/s</title></rect><text x="${x0 + band * 0.4}" y="${height - margin.bottom + 14}" text-anchor="middle" font-size="10">${escape(r.opt)}</text><text x="${x0 + band * 0.4}" y="${height - margin.bottom + 26}" text-anchor="middle" font-size="10">n=${r.replicas} k=${r.clients}</text>`;
  });
  const ticks: string[] = [];
  for (let v = 0; v <= max; v += step) ticks.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="${margin.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${tickLabel(v)}</text>`);
  return svg([...ticks, ...bars, `<text x="${(plot.left + plot.right) / 2}" y="${height - 4}" text-anchor="middle" font-size="12">throughput (ops/s)</text>`], "");
}

function svg(parts: readonly string[], after: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join("")}</svg>${after}`;
}

function legend(names: readonly string[]): string {
  return `<ul class="legend">${names.map((n, i) => `<li><span style="background:${colors[i % colors.length]}"></span>${escape(n)}</li>`).join("")}</ul>`;
}

function table(rows: readonly BenchRow[], floor: FloorResult | undefined): string {
  const withCeiling = rows.some((r) => r.throughput_x_ceiling !== undefined);
  const head = ["replicas", "mode", "clients", "ops/s", "p50 us", "p99 us", "tput x none", "p50 x none", floor ? "p50 x floor" : "", withCeiling ? "tput x ceiling" : ""].filter(Boolean);
  const body = rows.map((r) => {
    const base = rows.find((b) => b.opt === "none" && b.replicas === r.replicas && b.clients === r.clients);
    const cells = [r.replicas, r.opt, r.clients, r.throughput_ops_s, r.latency_us.p50.toFixed(1), r.latency_us.p99.toFixed(1), base ? (r.throughput_ops_s / Math.max(1, base.throughput_ops_s)).toFixed(2) : "", base ? (r.latency_us.p50 / base.latency_us.p50).toFixed(2) : ""];
    if (floor) cells.push((r.latency_us.p50 / floor.latency_us.p50).toFixed(2));
    if (withCeiling) cells.push(r.throughput_x_ceiling?.toFixed(2) ?? "");
    return `<tr>${cells.map((c) => `<td>${escape(String(c))}</td>`).join("")}</tr>`;
  });
  return `<table><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr>${body.join("")}</table>`;
}

/** `ceilings`: the bare echo with as many in flight as the rows' clients (one per client count). */
export function renderHtmlReport(rows: readonly BenchRow[], floor: FloorResult | undefined, title: string, ceilings: readonly FloorResult[] = []): string {
  const first = rows[0];
  const floorText = floor ? `<p>Floor (bare UDP ping-pong between two namespaces, same sockets): p50 ${floor.latency_us.p50} us, p99 ${floor.latency_us.p99} us over ${floor.pings} round trips.</p>` : "";
  const ceilingText = ceilings.length > 0 ? `<p>Ceiling (bare UDP echo between the same namespaces, recvmmsg/sendmmsg, as many requests in flight as the clients): ${ceilings.map((c) => escape(formatEcho(c))).join("; ")}. A mode's "tput x ceiling" is its throughput against it.</p>` : "";
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;max-width:780px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
.legend{list-style:none;padding:0}.legend li{display:inline-block;margin-right:14px}.legend span{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}</style>
</head><body>
<h1>${escape(title)}</h1>
<p>electrode ${escape(first?.version ?? "")}, kernel ${escape(first?.kernel ?? "")}, ${new Date().toISOString()}. Each mode ran on the same namespaces, one after the other: compare ratios, not absolute numbers, on a shared machine.</p>
${floorText}
${ceilingText}
<h2>Results</h2>
${table(rows, floor)}
<h2>Latency distribution</h2>
${cdfChart(rows, floor)}
<h2>Throughput</h2>
${throughputChart(rows)}
</body></html>
`;
}
