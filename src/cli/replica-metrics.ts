// `electrode replica --metrics ADDR:PORT` (or `metrics:` in the config): the recorder hooked onto
// the node, the tc broadcast counters as a fast-path source, and the worker serving /metrics.

import { parseHostPort, type Config, type ListenAddr, type ReplicaConfig } from "../config/config.ts";
import { createLayout, instrumentNode, MetricsRecorder, MetricsServer, registerFastPathCounters, type MeteredNode } from "../node/metrics.ts";
import { RuntimeError, UsageError } from "./common.ts";
import { version } from "./version.ts";

/** Where to serve metrics: the flag wins ("off" disables), else the config's `metrics:`, else nowhere. */
export function metricsAddress(flag: string | undefined, config: Config): ListenAddr | undefined {
  if (flag === undefined || flag === "") return config.metrics;
  if (flag === "off" || flag === "none") return undefined;
  const hostPort = parseHostPort(flag);
  if (!hostPort) throw new UsageError(`--metrics: expected ADDR:PORT (e.g. 0.0.0.0:9464) or off, got '${flag}'`);
  return { ...hostPort, addr: flag };
}

export interface ReplicaMetrics {
  readonly url: string;
  stop(): void;
}

/** Starts metrics at `listen` (see metricsAddress); undefined when they are off. */
export async function startReplicaMetrics(
  listen: ListenAddr | undefined,
  opts: {
    readonly config: Config;
    readonly self: ReplicaConfig;
    readonly node: MeteredNode;
    /** The fast-path mode the replica runs with, for electrode_info. */
    readonly fastPaths: string;
    readonly log: { info(m: string): void; warn(m: string): void; debug(m: string): void };
  },
): Promise<ReplicaMetrics | undefined> {
  const { config, self, node, log } = opts;
  if (!listen) return undefined;
  const layout = createLayout({
    info: { version, cluster: config.name, replica: String(self.id), fast_paths: opts.fastPaths },
    selfIndex: self.index,
    replicaIds: config.replicas.map((r) => r.id),
    dropReasons: Object.keys(node.stats.dropped),
  });
  const recorder = new MetricsRecorder(layout, config.replicas.length - 1);
  recorder.onFastPathError = (m) => log.debug(`metrics: ${m}`);
  // The fast paths' counters: tc broadcast's in the map of the filter setup attached, XDP's in this
  // process's own instance (both found by id from the interface).
  const { broadcastCounters } = await import("../kernel/broadcast.ts");
  registerFastPathCounters("tc-broadcast", () => broadcastCounters(config, self));
  const { xdpCounters } = await import("../kernel/xdp.ts");
  registerFastPathCounters("xdp", () => xdpCounters(config, self));
  recorder.syncStats(node.stats);
  let server: MetricsServer;
  try {
    server = await MetricsServer.start(recorder, listen.host, listen.port, { onError: (m) => log.warn(m) });
  } catch (e) {
    throw new RuntimeError((e as Error).message);
  }
  instrumentNode(node, recorder);
  log.info(`metrics on ${server.url}`);
  return server;
}
