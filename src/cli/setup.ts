import { defineCommand } from "citty";
import { replicaById } from "../config/config.ts";
import { commonArgs, configFrom, createLogger, intArg, rejectUnknownFlags, RuntimeError } from "./common.ts";

const args = {
  ...commonArgs,
  id: { type: "string", description: "This node's replica id from the config", required: true, valueHint: "N" },
  teardown: { type: "boolean", description: "Detach and unpin everything electrode attached for this replica" },
  json: { type: "boolean", description: "Print the result as JSON" },
  check: { type: "boolean", description: "Report what the kernel and NIC support and what is attached; change nothing (exit 1 if something is missing)" }, // ops (issue 7)
} as const;

export default defineCommand({
  meta: {
    name: "setup",
    description: "Attach the eBPF fast paths for one replica: electrode setup --id 1 | --teardown",
  },
  args,
  async run({ args: a }) {
    rejectUnknownFlags(a, args);
    const log = createLogger(a, "setup");
    const config = configFrom(a);
    const self = replicaById(config, intArg(a.id, "id", 0, 2 ** 31 - 1));
    if (a.check) return (await import("./setup-check.ts")).runSetupCheck(config, self, Boolean(a.json)); // ops (issue 7)
    if (process.getuid?.() !== 0) throw new RuntimeError("setup needs root (or CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN) to load and attach eBPF");
    // Imported here so that commands without eBPF never load libbpf.
    const kernel = await import("../kernel/broadcast.ts");
    if (a.teardown) {
      const done = kernel.teardownBroadcast(config, self);
      if (a.json) console.log(JSON.stringify({ teardown: done }));
      else for (const line of done.length ? done : ["nothing to remove"]) log.info(line);
      return;
    }
    try {
      const state = await kernel.setupBroadcast(config, self);
      if (a.json) console.log(JSON.stringify(state));
      else {
        log.success(`tc broadcast attached on ${state.iface} egress (program ${state.progId}), ${state.peers.length - 1} peers, pinned under ${state.pinDir}`);
      }
    } catch (e) {
      if (a.verbose) log.error((e as Error).message); // ops (issue 7): the whole message, e.g. the verifier log's tail
      throw new RuntimeError((e as Error).message.split("\n")[0]!);
    }
  },
});
