// A self-contained HTML report of a benchmark run (no scripts, no external files): a table, the
// latency CDF of every mode (log scale) and throughput by mode and replica count, as inline SVG.

import type { FloorResult } from "./floor.ts";
import { defaultModes } from "./modes.ts";
import type { BenchJson } from "./report.ts";

const width = 720;
const height = 360;
const margin = { left: 64, right: 16, top: 16, bottom: 48 };
const colors = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function label(row: BenchJson): string {
  return `${row.opt}, ${row.replicas} replicas, ${row.clients} clients`;
}

/** Latency CDF per run, x on a log scale from the smallest to the largest latency. */
function cdfChart(rows: readonly BenchJson[], floor: FloorResult | undefined): string {
  const series = rows.filter((r) => (r.latency_cdf ?? []).length > 0);
  const values = series.flatMap((r) => r.latency_cdf!.map(([v]) => v)).filter((v) => v > 0);
  if (values.length === 0) return "<p>No latency distribution recorded.</p>";
  const lo = Math.log10(Math.max(1, Math.min(...values)));
  const hi = Math.log10(Math.max(...values));
  const x = (v: number) => margin.left + ((Math.log10(Math.max(v, 1)) - lo) / Math.max(1e-9, hi - lo)) * (width - margin.left - margin.right);
  const y = (f: number) => height - margin.bottom - f * (height - margin.top - margin.bottom);
  const lines = series.map((r, i) => {
    const pts = r.latency_cdf!.map(([v, f]) => `${x(v).toFixed(1)},${y(f).toFixed(1)}`).join(" ");
    return `<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="2" points="${pts}"><title>${escape(label(r))}</title></polyline>`;
  });
  const ticks: string[] = [];
  for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) < lo || Math.log10(v) > hi) continue;
      ticks.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${margin.top}" y2="${height - margin.bottom}" stroke="#ddd"/><text x="${x(v)}" y="${height - margin.bottom + 16}" text-anchor="middle" font-size="11">${v}</text>`);
    }
  }
  for (const f of [0, 0.5, 0.9, 0.99, 1]) ticks.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(f)}" y2="${y(f)}" stroke="#eee"/><text x="${margin.left - 6}" y="${y(f) + 4}" text-anchor="end" font-size="11">${f}</text>`);
  const floorLine = floor ? `<line x1="${x(floor.latency_us.p50)}" x2="${x(floor.latency_us.p50)}" y1="${margin.top}" y2="${height - margin.bottom}" stroke="#000" stroke-dasharray="4 3"><title>floor p50 ${floor.latency_us.p50} us</title></line>` : "";
  return svg([...ticks, floorLine, ...lines, `<text x="${width / 2}" y="${height - 8}" text-anchor="middle" font-size="12">latency (us, log scale)${floor ? "; dashed: the floor's median" : ""}</text>`], legend(series.map(label)));
}

/** Throughput per run as bars, grouped in the order given. */
function throughputChart(rows: readonly BenchJson[]): string {
  const max = Math.max(1, ...rows.map((r) => r.throughput_ops_s));
  const band = (width - margin.left - margin.right) / Math.max(1, rows.length);
  const y = (v: number) => height - margin.bottom - (v / max) * (height - margin.top - margin.bottom);
  const bars = rows.map((r, i) => {
    const x0 = margin.left + i * band + band * 0.1;
    const mode = (defaultModes as readonly string[]).indexOf(r.opt);
    const color = colors[mode >= 0 ? mode : defaultModes.length]!;
    return `<rect x="${x0}" y="${y(r.throughput_ops_s)}" width="${band * 0.8}" height="${height - margin.bottom - y(r.throughput_ops_s)}" fill="${color}"><title>${escape(label(r))}: ${r.throughput_ops_s} ops/s</title></rect><text x="${x0 + band * 0.4}" y="${height - margin.bottom + 14}" text-anchor="middle" font-size="10">${escape(r.opt)}</text><text x="${x0 + band * 0.4}" y="${height - margin.bottom + 26}" text-anchor="middle" font-size="10">n=${r.replicas} k=${r.clients}</text>`;
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(f * max)}" y2="${y(f * max)}" stroke="#eee"/><text x="${margin.left - 6}" y="${y(f * max) + 4}" text-anchor="end" font-size="11">${Math.round(f * max)}</text>`);
  return svg([...ticks, ...bars], "");
}

function svg(parts: readonly string[], after: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join("")}</svg>${after}`;
}

function legend(names: readonly string[]): string {
  return `<ul class="legend">${names.map((n, i) => `<li><span style="background:${colors[i % colors.length]}"></span>${escape(n)}</li>`).join("")}</ul>`;
}

function table(rows: readonly BenchJson[], floor: FloorResult | undefined): string {
  const head = ["replicas", "mode", "clients", "ops/s", "p50 us", "p99 us", "tput x none", "p50 x none", floor ? "p50 x floor" : ""].filter(Boolean);
  const body = rows.map((r) => {
    const base = rows.find((b) => b.opt === "none" && b.replicas === r.replicas && b.clients === r.clients);
    const cells = [r.replicas, r.opt, r.clients, r.throughput_ops_s, r.latency_us.p50.toFixed(1), r.latency_us.p99.toFixed(1), base ? (r.throughput_ops_s / Math.max(1, base.throughput_ops_s)).toFixed(2) : "", base ? (r.latency_us.p50 / base.latency_us.p50).toFixed(2) : ""];
    if (floor) cells.push((r.latency_us.p50 / floor.latency_us.p50).toFixed(2));
    return `<tr>${cells.map((c) => `<td>${escape(String(c))}</td>`).join("")}</tr>`;
  });
  return `<table><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr>${body.join("")}</table>`;
}

export function renderHtmlReport(rows: readonly BenchJson[], floor: FloorResult | undefined, title: string): string {
  const first = rows[0];
  const floorText = floor ? `<p>Floor (bare UDP ping-pong between two namespaces, same sockets): p50 ${floor.latency_us.p50} us, p99 ${floor.latency_us.p99} us over ${floor.pings} round trips.</p>` : "";
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;max-width:780px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
.legend{list-style:none;padding:0}.legend li{display:inline-block;margin-right:14px}.legend span{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}</style>
</head><body>
<h1>${escape(title)}</h1>
<p>electrode ${escape(first?.version ?? "")}, kernel ${escape(first?.kernel ?? "")}, ${new Date().toISOString()}. Each mode ran on the same namespaces, one after the other: compare ratios, not absolute numbers, on a shared machine.</p>
${floorText}
<h2>Results</h2>
${table(rows, floor)}
<h2>Latency distribution</h2>
${cdfChart(rows, floor)}
<h2>Throughput</h2>
${throughputChart(rows)}
</body></html>
`;
}
