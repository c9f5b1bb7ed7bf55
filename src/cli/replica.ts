import { defineCommand } from "citty";
import { writeFileSync } from "node:fs";
import { replicaById, type Config, type ReplicaConfig } from "../config/config.ts";
import type { KernelFastPath } from "../kernel/fast-path.ts";
import { acquireReplicaLock, lockDirs, type ReplicaLock } from "../node/replica-lock.ts";
import { ReplicaNode } from "../node/replica-node.ts";
import { commonArgs, configFrom, createLogger, intArg, rejectUnknownFlags, RuntimeError, UsageError } from "./common.ts";
import { metricsAddress, startReplicaMetrics } from "./replica-metrics.ts";
import { fastReplyConflict, openStorage } from "./replica-storage.ts";

const args = {
  ...commonArgs,
  id: { type: "string", description: "This replica's id from the config", required: true, valueHint: "N" },
  app: { type: "string", description: "State machine: kv or null", default: "kv", valueHint: "kv|null" },
  opt: {
    type: "string",
    description: "Fast paths: auto (all that setup attached), all, none (pure user space), or a list of tc-broadcast, quorum-prune, fast-reply",
    default: "auto",
    valueHint: "LIST",
  },
  stats: { type: "boolean", description: "Print message counters as JSON on exit" },
  "stats-file": { type: "string", description: "On exit (SIGTERM/SIGINT), write syscall, datagram and commit counters as JSON to FILE", valueHint: "FILE" },
  metrics: { type: "string", description: "Serve Prometheus metrics at http://ADDR:PORT/metrics (default: the config's metrics:, else off)", valueHint: "ADDR:PORT|off" },
  "data-dir": { type: "string", description: "Durable storage in DIR (the config's storage.dir, overridden; alone: fsync always)", valueHint: "DIR" },
} as const;

export const fastPaths = ["tc-broadcast", "quorum-prune", "fast-reply"] as const;
export type FastPathName = (typeof fastPaths)[number];

/** --opt: "auto" (what setup attached), "all", "none", or a comma-separated list. */
export function parseOpt(opt: string): { auto: boolean; wanted: Set<FastPathName> } {
  if (opt === "auto") return { auto: true, wanted: new Set(fastPaths) };
  if (opt === "none") return { auto: false, wanted: new Set() };
  if (opt === "all") return { auto: false, wanted: new Set(fastPaths) };
  const wanted = new Set<FastPathName>();
  for (const w of opt.split(",").map((x) => x.trim())) {
    if (!(fastPaths as readonly string[]).includes(w)) throw new UsageError(`--opt: unknown fast path '${w}' (choose auto, all, none, or a list of ${fastPaths.join(", ")})`);
    wanted.add(w as FastPathName);
  }
  return { auto: false, wanted };
}

interface Chosen {
  readonly tcBroadcast: boolean;
  readonly fastPath: KernelFastPath | undefined;
  readonly names: FastPathName[];
  /** One line per fast path that does not run: why, and what would fix it. */
  readonly off: string[];
}

/** The fast paths to use, from --opt and what setup set up on this node. A path asked for by name
 * that is unavailable is a warning; under auto, a line that says why it is off. */
async function chooseFastPaths(opt: string, config: Config, self: ReplicaConfig, epoch: number, log: { warn(m: string): void }, noFastReply?: string): Promise<Chosen> {
  const { auto, wanted } = parseOpt(opt);
  const off: string[] = [];
  const unavailable = (what: string, why: string) => {
    if (auto) off.push(`${what}: off: ${why}`);
    else log.warn(`${what} requested but unavailable: ${why}; running it in user space`);
  };
  for (const w of fastPaths) if (!wanted.has(w)) off.push(`${w}: off (--opt ${opt})`);
  if (noFastReply && wanted.delete("fast-reply")) unavailable("fast-reply", noFastReply);
  let tcBroadcast = false;
  if (wanted.has("tc-broadcast")) {
    const { broadcastActive } = await import("../kernel/broadcast.ts");
    let status: { active: boolean; why: string };
    try {
      status = broadcastActive(config, self);
    } catch (e) {
      status = { active: false, why: (e as Error).message.split("\n")[0]! };
    }
    if (!status.active) unavailable("tc-broadcast", status.why);
    tcBroadcast = status.active;
  }
  let fastPath: KernelFastPath | undefined;
  const xdpWanted = (["quorum-prune", "fast-reply"] as const).filter((w) => wanted.has(w));
  if (xdpWanted.length > 0) {
    const { KernelFastPath } = await import("../kernel/fast-path.ts");
    const opened = await KernelFastPath.open(config, self, epoch, { prune: wanted.has("quorum-prune"), fastReply: wanted.has("fast-reply") });
    if ("why" in opened) unavailable(xdpWanted.join(", "), opened.why);
    else {
      fastPath = opened;
      for (const w of xdpWanted) {
        const on = w === "quorum-prune" ? opened.prune : opened.fastReply;
        if (!on) unavailable(w, `setup did not set it up (run: electrode setup --id ${self.id}, whose --opt includes it by default)`);
      }
    }
  }
  const names: FastPathName[] = [];
  if (tcBroadcast) names.push("tc-broadcast");
  if (fastPath?.prune) names.push("quorum-prune");
  if (fastPath?.fastReply) names.push("fast-reply");
  return { tcBroadcast, fastPath, names, off };
}

/** The replica's lock (src/node/replica-lock.ts), or a one-line error naming who holds it. */
function takeLock(config: Config, self: ReplicaConfig, log: { info(m: string): void; debug(m: string): void }): ReplicaLock {
  const taken = acquireReplicaLock(self, lockDirs(config));
  if ("heldBy" in taken) {
    const who = taken.heldBy === undefined ? "another process (its pid not written yet)" : `pid ${taken.heldBy}`;
    throw new RuntimeError(`replica ${self.id} of cluster ${config.name} already runs on this node: ${who} holds ${taken.path}`);
  }
  if (taken.skipped.length > 0) log.info(`lock: ${taken.lock.path} (${taken.skipped.join(", ")} not writable)`);
  else log.debug(`lock: ${taken.lock.path}`);
  return taken.lock;
}

function writeStats(file: string, counters: object): void {
  try {
    writeFileSync(file, JSON.stringify(counters, null, 2) + "\n");
  } catch (e) {
    throw new RuntimeError(`--stats-file: cannot write ${file}: ${(e as Error).message}`);
  }
}

export default defineCommand({
  meta: {
    name: "replica",
    description: "Run one replica: electrode replica --id 1 [--config cluster.yaml]",
  },
  args,
  async run({ args: a }) {
    rejectUnknownFlags(a, args);
    const log = createLogger(a, `replica`);
    const config = configFrom(a);
    const self = replicaById(config, intArg(a.id, "id", 0, 2 ** 31 - 1));
    if (a.app !== "kv" && a.app !== "null") throw new UsageError(`--app: expected kv or null, got '${a.app}'`);
    const metricsAt = metricsAddress(a.metrics, config);
    // Before anything touches the kernel state or the socket: one process per replica id here.
    // Held until the process exits; the kernel drops it however the process dies.
    const lock = takeLock(config, self, log);
    process.on("exit", () => lock.release());
    // A replica always starts without memory; VR recovery fetches the state from a quorum, and a
    // cluster whose replicas all start together bootstraps an empty log (see src/core).
    const storage = openStorage(a["data-dir"], config, self, log);
    const [nonce, epoch] = crypto.getRandomValues(new Uint32Array(2));
    const chosen = await chooseFastPaths(a.opt, config, self, epoch!, log, fastReplyConflict(storage?.config));
    let node: ReplicaNode;
    try {
      node = new ReplicaNode({ config, self, app: a.app, recovering: true, nonce: nonce!, tcBroadcast: chosen.tcBroadcast, fastPath: chosen.fastPath, log, store: storage?.store, durable: storage?.durable, rejoin: storage?.rejoin });
    } catch (e) {
      chosen.fastPath?.close();
      storage?.store.close();
      throw e;
    }
    const mode = chosen.names.length > 0 ? chosen.names.join(", ") : "none (user space)";
    log.info(`replica ${self.id} (index ${self.index} of ${config.replicas.length}) on ${self.addr}, app ${a.app}, fast paths: ${mode}`);
    for (const line of chosen.off) log.info(line);
    if (chosen.fastPath) log.info(`XDP: this process's own instance attached to ${chosen.fastPath.state.iface} in ${chosen.fastPath.state.mode} mode (detached when it exits)`);
    const metrics = await startReplicaMetrics(metricsAt, { config, self, node, fastPaths: chosen.names.join(",") || "none", log });
    const { fastPathsAfterStop } = await import("../kernel/check.ts");
    const stop = (signal: string) => {
      log.info(`${signal}: stopping; ${fastPathsAfterStop(config, self)}`);
      node.stop();
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
    try {
      await node.run();
    } finally {
      node.close();
      metrics?.stop();
    }
    if (a.stats) console.log(JSON.stringify(node.stats));
    if (a["stats-file"]) writeStats(a["stats-file"], node.counters());
    log.info("stopped");
  },
});
