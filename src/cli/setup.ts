import { defineCommand } from "citty";
import { ConfigError, replicaById } from "../config/config.ts";
import { commonArgs, configFrom, createLogger, intArg, rejectUnknownFlags, RuntimeError, UsageError } from "./common.ts";
import { parseOpt } from "./replica.ts";

const args = {
  ...commonArgs,
  id: { type: "string", description: "This node's replica id from the config", valueHint: "N" },
  opt: {
    type: "string",
    description: "Fast paths to set up: all (default), or a list of tc-broadcast, quorum-prune, fast-reply",
    default: "all",
    valueHint: "LIST",
  },
  "xdp-mode": {
    type: "string",
    description: "XDP attach mode: auto (native where the driver delivers it, else generic), native, generic",
    default: "auto",
    valueHint: "auto|native|generic",
  },
  stub: {
    type: "string",
    description: "Instead: attach an XDP_PASS stub to IFACE, the veth peer of a replica's NIC (native XDP_TX needs it)",
    valueHint: "IFACE",
  },
  teardown: { type: "boolean", description: "Detach and remove everything electrode set up for this replica (or the --stub)" },
  json: { type: "boolean", description: "Print the result as JSON" },
  check: { type: "boolean", description: "Report what the kernel and NIC support and what is attached; change nothing (exit 1 if something is missing)" },
} as const;

async function stub(iface: string, teardown: boolean, json: boolean, log: { info(m: string): void; success(m: string): void }) {
  const xdp = await import("../kernel/xdp.ts");
  if (teardown) {
    const removed = xdp.detachStub(iface);
    if (json) console.log(JSON.stringify({ iface, stub_removed: removed }));
    else log.info(removed ? `removed the XDP stub from ${iface}` : `no electrode stub on ${iface}`);
    return;
  }
  const id = await xdp.attachStub(iface);
  if (json) console.log(JSON.stringify({ iface, stub_program_id: id }));
  else log.success(`XDP_PASS stub attached to ${iface} (program ${id})`);
}

export default defineCommand({
  meta: {
    name: "setup",
    description: "Attach the eBPF fast paths for one replica: electrode setup --id 1 | --teardown",
  },
  args,
  async run({ args: a }) {
    rejectUnknownFlags(a, args);
    const log = createLogger(a, "setup");
    const mode = String(a["xdp-mode"]);
    if (mode !== "auto" && mode !== "native" && mode !== "generic") throw new UsageError(`--xdp-mode: expected auto, native or generic, got '${mode}'`);
    const { wanted } = parseOpt(String(a.opt));
    if (a.stub === undefined && a.id === undefined) throw new UsageError("setup: --id N is required (or --stub IFACE)");
    const config = a.stub === undefined ? configFrom(a) : undefined;
    const self = config ? replicaById(config, intArg(a.id, "id", 0, 2 ** 31 - 1)) : undefined;
    if (a.check) {
      if (!config || !self) throw new UsageError("setup --check needs --id N");
      return (await import("./setup-check.ts")).runSetupCheck(config, self, Boolean(a.json));
    }
    if (process.getuid?.() !== 0) throw new RuntimeError("setup needs root: it loads eBPF programs and attaches them with tc and XDP (run it with sudo)");
    try {
      if (!config || !self) return await stub(String(a.stub), Boolean(a.teardown), Boolean(a.json), log);
      // Imported here so that commands without eBPF never load libbpf.
      const tc = await import("../kernel/broadcast.ts");
      const xdp = await import("../kernel/xdp.ts");
      if (a.teardown) {
        const done = [...tc.teardownBroadcast(config, self), ...xdp.teardownXdp(config, self)];
        if (a.json) console.log(JSON.stringify({ teardown: done }));
        else for (const line of done.length ? done : ["nothing to remove"]) log.info(line);
        return;
      }
      const result: Record<string, unknown> = {};
      if (wanted.has("tc-broadcast")) {
        const state = await tc.setupBroadcast(config, self);
        result.tc_broadcast = state;
        if (!a.json) log.success(`tc broadcast attached on ${state.iface} egress (program ${state.progId}), ${state.peers.length - 1} peers; the filter holds it until setup --teardown`);
      } else if (tc.teardownBroadcast(config, self).length > 0 && !a.json) log.info("tc broadcast removed (not in --opt)");
      if (wanted.has("quorum-prune") || wanted.has("fast-reply")) {
        const state = await xdp.setupXdp(config, self, { prune: wanted.has("quorum-prune"), fastReply: wanted.has("fast-reply"), mode });
        result.xdp = state;
        if (!a.json) {
          const what = [state.prune ? "quorum prune" : "", state.fastReply ? "fast reply" : ""].filter(Boolean).join(" + ");
          log.success(`XDP ${what} set up for ${state.iface}: the program loads and attaches in ${state.mode} mode (${state.modeReason}); each replica process attaches its own instance while it runs`);
          if (state.replicaRunning) log.info(`replica ${self.id} runs now with the instance it attached at its start: it takes these settings when it restarts`);
        }
      } else if (xdp.teardownXdp(config, self).length > 0 && !a.json) log.info("XDP removed (not in --opt)");
      if (a.json) console.log(JSON.stringify(result));
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      const [first, ...detail] = (e as Error).message.split("\n");
      if (detail.length) log.debug(detail.join("\n")); // e.g. the verifier log, with --verbose
      throw new RuntimeError(first!);
    }
  },
});
