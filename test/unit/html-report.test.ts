// The HTML report's latency CDF: microseconds on the axis (the bench JSON's latency_cdf is in
// microseconds, the histogram in nanoseconds), 1-2-5 ticks at log positions, labels that do not
// overlap, and the floor's median drawn where the caption says.

import { describe, expect, test } from "bun:test";
import { Histogram } from "../../src/bench/histogram.ts";
import { renderHtmlReport } from "../../src/bench/html-report.ts";
import { cdfPoints, type BenchJson } from "../../src/bench/report.ts";
import type { FloorResult } from "../../src/bench/floor.ts";

// The chart's geometry (html-report.ts): 720 x 360, plot from x 64 to 680, y 16 to 312.
const plotLeft = 64;
const plotRight = 680;
const plotTop = 16;
const plotBottom = 312;
const svgWidth = 720;
/** A digit of an 11 px label is about 6.5 px wide in DejaVu Sans (what headless chromium uses). */
const charPx = 6.5;

function row(opt: string, cdf: [number, number][]): BenchJson {
  return {
    replicas: 3,
    f: 1,
    opt,
    storage: "memory",
    clients: 16,
    duration_s: 3,
    ops: 1000,
    errors: 0,
    throughput_ops_s: 46_123,
    latency_us: { p50: 260, p90: 400, p99: 900, p999: 2000, max: 5000, mean: 300 },
    fast_path_counters: {},
    kernel: "test",
    version: "test",
    latency_cdf: cdf,
  };
}

const floor = (p50: number): FloorResult => ({ clients: 1, duration_s: 1, pings: 100, lost: 0, throughput_round_trips_s: 100, latency_us: { p50, p90: p50, p99: p50, max: p50 }, client_cpu_cores: 0.5 });

/** The first SVG (the latency CDF) of a report. */
function cdfSvg(html: string): string {
  const at = html.indexOf("<h2>Latency distribution</h2>");
  return html.slice(at, html.indexOf("</svg>", at));
}

type Label = { x: number; y: number; text: string };

function labels(svg: string): Label[] {
  return [...svg.matchAll(/<text [^>]*?x="([-\d.]+)" y="([-\d.]+)"[^>]*>([^<]*)<\/text>/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]), text: m[3]! }));
}
/** Labels under the x axis (16 px below the plot) and left of the y axis (6 px left of it). */
const xTicks = (svg: string) => labels(svg).filter((l) => l.y === plotBottom + 16);
const yTicks = (svg: string) => labels(svg).filter((l) => l.x === plotLeft - 6);
/** The x of the dashed vertical line (the floor's median). */
const floorX = (svg: string) => svg.match(/<line [^>]*?x1="([-\d.]+)"[^>]*stroke-dasharray/)?.[1];

const logX = (v: number, lo: number, hi: number) => plotLeft + (Math.log10(v / lo) / Math.log10(hi / lo)) * (plotRight - plotLeft);

describe("latency CDF in the HTML report", () => {
  test("cdfPoints gives microseconds: 260 us recorded in nanoseconds stays 260", () => {
    const h = new Histogram();
    for (let i = 0; i < 100; i++) h.record(260_000);
    const points = cdfPoints({ latency: h });
    expect(points.length).toBe(1);
    expect(points[0]![0]).toBeGreaterThan(255);
    expect(points[0]![0]).toBeLessThan(265);
    expect(points[0]![1]).toBe(1);
  });

  test("x ticks: 1-2-5 microsecond values from a nice value below the floor to one above the slowest, at log positions", () => {
    const html = renderHtmlReport([row("none", [[30, 0.001], [100, 0.5], [4000, 1]])], floor(25), "t");
    const ticks = xTicks(cdfSvg(html));
    // The floor (25 us) is below every request: the axis starts at 20; the slowest is 4000: ends at 5000.
    expect(ticks.map((t) => t.text)).toEqual(["20", "50", "100", "200", "500", "1,000", "2,000", "5,000"]);
    for (const t of ticks) expect(t.x).toBeCloseTo(logX(Number(t.text.replace(",", "")), 20, 5000), 0);
    expect(ticks[0]!.x).toBe(plotLeft);
    expect(ticks.at(-1)!.x).toBe(plotRight);
  });

  test("a run of a p50 of 260 us through the real histogram is labelled in hundreds of microseconds", () => {
    const h = new Histogram();
    for (let i = 1; i <= 1000; i++) h.record(150_000 + i * 200); // 150..350 us
    const html = renderHtmlReport([row("all", cdfPoints({ latency: h }))], undefined, "t");
    expect(xTicks(cdfSvg(html)).map((t) => t.text)).toEqual(["100", "200", "500", "1,000"]); // at least one decade
  });

  test("the floor's median is drawn at its x and labelled, as the caption announces", () => {
    const html = renderHtmlReport([row("none", [[40, 0.01], [260, 0.5], [9000, 1]])], floor(31), "t");
    const svg = cdfSvg(html);
    expect(svg).toContain("dashed: the floor's median");
    const want = logX(31, 20, 10_000);
    expect(Number(floorX(svg))).toBeCloseTo(want, 0);
    expect(Number(floorX(svg))).toBeGreaterThan(plotLeft);
    const label = labels(svg).filter((l) => l.text.startsWith("floor"));
    expect(label.map((l) => l.text)).toEqual(["floor p50 31 us"]);
    expect(Math.abs(label[0]!.x - want)).toBeLessThan(6);
  });

  test("no two tick labels overlap, and all stay inside the picture, over a wide range too", () => {
    for (const [lo, hi] of [[30, 4000], [1, 2_000_000], [8, 90], [100, 100_000]] as const) {
      const svg = cdfSvg(renderHtmlReport([row("none", [[lo, 0.1], [Math.sqrt(lo * hi), 0.5], [hi, 1]])], undefined, "t"));
      const x = xTicks(svg);
      expect(x.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < x.length; i++) {
        const room = ((x[i]!.text.length + x[i - 1]!.text.length) * charPx) / 2;
        expect(x[i]!.x - x[i - 1]!.x).toBeGreaterThan(room);
      }
      for (const t of x) {
        expect(t.x - (t.text.length * charPx) / 2).toBeGreaterThanOrEqual(0);
        expect(t.x + (t.text.length * charPx) / 2).toBeLessThanOrEqual(svgWidth);
      }
      const y = yTicks(svg).map((t) => t.y).sort((a, b) => a - b);
      expect(y[0]!).toBeGreaterThanOrEqual(plotTop);
      for (let i = 1; i < y.length; i++) expect(y[i]! - y[i - 1]!).toBeGreaterThanOrEqual(12); // 11 px font
    }
  });
});
