import { defineCommand } from "citty";
import { replicaById, type Config, type ReplicaConfig } from "../config/config.ts";
import { ReplicaNode } from "../node/replica-node.ts";
import { commonArgs, configFrom, createLogger, intArg, rejectUnknownFlags, UsageError } from "./common.ts";
import { metricsAddress, startReplicaMetrics } from "./replica-metrics.ts"; // ops (issue 7)

const args = {
  ...commonArgs,
  id: { type: "string", description: "This replica's id from the config", required: true, valueHint: "N" },
  app: { type: "string", description: "State machine: kv or null", default: "kv", valueHint: "kv|null" },
  opt: {
    type: "string",
    description: "Fast paths: auto (what setup attached), none (pure user space), or a list: tc-broadcast",
    default: "auto",
    valueHint: "LIST",
  },
  stats: { type: "boolean", description: "Print message counters as JSON on exit" },
  metrics: { type: "string", description: "Serve Prometheus metrics at http://ADDR:PORT/metrics (default: the config's metrics:, else off)", valueHint: "ADDR:PORT|off" }, // ops (issue 7)
} as const;

const fastPaths = ["tc-broadcast", "quorum-prune", "fast-reply"] as const;

/** Whether to use tc broadcast, from --opt and what setup attached. */
async function chooseTcBroadcast(opt: string, config: Config, self: ReplicaConfig, log: { warn(m: string): void }): Promise<boolean> {
  if (opt === "none") return false;
  const wanted = opt === "auto" || opt === "all" ? ["tc-broadcast"] : opt.split(",").map((w) => w.trim());
  for (const w of wanted) {
    if (!(fastPaths as readonly string[]).includes(w)) throw new UsageError(`--opt: unknown fast path '${w}' (choose from auto, none, ${fastPaths.join(", ")})`);
    if (w !== "tc-broadcast") throw new UsageError(`--opt: ${w} is not available in this build yet (only tc-broadcast)`);
  }
  const { broadcastActive } = await import("../kernel/broadcast.ts");
  let status: { active: boolean; why: string };
  try {
    status = broadcastActive(config, self);
  } catch (e) {
    status = { active: false, why: (e as Error).message.split("\n")[0]! };
  }
  if (!status.active && opt !== "auto") log.warn(`tc-broadcast requested but unavailable: ${status.why}; running in user space`);
  return status.active;
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
    const metricsAt = metricsAddress(a.metrics, config); // ops (issue 7)
    const tcBroadcast = await chooseTcBroadcast(a.opt, config, self, log);
    // A replica always starts without memory; VR recovery fetches the state from a quorum, and a
    // cluster whose replicas all start together bootstraps an empty log (see src/core).
    const nonce = crypto.getRandomValues(new Uint32Array(1))[0]!;
    const node = new ReplicaNode({ config, self, app: a.app, recovering: true, nonce, tcBroadcast, log });
    const mode = tcBroadcast ? "tc-broadcast" : "none (user space)";
    log.info(`replica ${self.id} (index ${self.index} of ${config.replicas.length}) on ${self.addr}, app ${a.app}, fast paths: ${mode}`);
    const metrics = await startReplicaMetrics(metricsAt, { config, self, node, fastPaths: tcBroadcast ? "tc-broadcast" : "none", log }); // ops (issue 7)
    const { fastPathsAfterStop } = await import("../kernel/check.ts"); // ops (issue 7)
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
      metrics?.stop(); // ops (issue 7)
    }
    if (a.stats) console.log(JSON.stringify(node.stats));
    log.info("stopped");
  },
});
