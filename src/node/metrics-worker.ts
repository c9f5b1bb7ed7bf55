// The metrics worker: an HTTP server on its own thread that renders /metrics from the memory the
// replica loop writes (see metrics.ts). Built into the executable as a second entry point
// (scripts/build.ts); started by MetricsServer.start.

import { contentType, renderMetrics, type FromWorker, type MetricsLayout, type ToWorker } from "./metrics.ts";

declare const self: Worker;

let layout: MetricsLayout | undefined;
let values: Float64Array | undefined;
let fastPathNames: string[] = [];

const index = `<html><head><title>electrode</title></head><body><a href="/metrics">/metrics</a></body></html>\n`;

function reply(msg: FromWorker): void {
  self.postMessage(msg);
}

function start(msg: Extract<ToWorker, { kind: "start" }>): void {
  layout = msg.layout;
  values = new Float64Array(msg.buffer);
  try {
    const server = Bun.serve({
      hostname: msg.host,
      port: msg.port,
      reusePort: false,
      fetch(req) {
        const path = new URL(req.url).pathname;
        if (path === "/metrics") return new Response(renderMetrics(layout!, values!, fastPathNames), { headers: { "content-type": contentType } });
        if (path === "/") return new Response(index, { headers: { "content-type": "text/html" } });
        return new Response("not found: try /metrics\n", { status: 404 });
      },
      error(e) {
        return new Response(`metrics error: ${e.message}\n`, { status: 500 });
      },
    });
    reply({ kind: "listening", port: server.port ?? msg.port });
  } catch (e) {
    const err = e as Error & { code?: string };
    const why = err.code === "EADDRINUSE" ? "address already in use" : err.message;
    reply({ kind: "error", message: `cannot serve metrics on ${msg.host}:${msg.port}: ${why}` });
  }
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  if (msg.kind === "start") start(msg);
  else if (msg.kind === "fastPathNames") fastPathNames = msg.names;
};
