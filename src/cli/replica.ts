import { defineCommand } from "citty";
import { replicaById } from "../config/config.ts";
import { ReplicaNode } from "../node/replica-node.ts";
import { commonArgs, configFrom, createLogger, intArg, rejectUnknownFlags, UsageError } from "./common.ts";

const args = {
  ...commonArgs,
  id: { type: "string", description: "This replica's id from the config", required: true, valueHint: "N" },
  app: { type: "string", description: "State machine: kv or null", default: "kv", valueHint: "kv|null" },
  opt: {
    type: "string",
    description: "Fast paths: none (pure user space) until the eBPF paths exist",
    default: "none",
    valueHint: "LIST",
  },
  stats: { type: "boolean", description: "Print message counters as JSON on exit" },
} as const;

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
    if (a.opt !== "none") throw new UsageError(`--opt: only 'none' is available in this build, got '${a.opt}'`);
    // A replica always starts without memory; VR recovery fetches the state from a quorum, and a
    // cluster whose replicas all start together bootstraps an empty log (see src/core).
    const nonce = crypto.getRandomValues(new Uint32Array(1))[0]!;
    const node = new ReplicaNode({ config, self, app: a.app, recovering: true, nonce, log });
    log.info(`replica ${self.id} (index ${self.index} of ${config.replicas.length}) on ${self.addr}, app ${a.app}, opt ${a.opt}`);
    const stop = (signal: string) => {
      log.info(`${signal}: stopping`);
      node.stop();
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
    try {
      await node.run();
    } finally {
      node.close();
    }
    if (a.stats) console.log(JSON.stringify(node.stats));
    log.info("stopped");
  },
});
