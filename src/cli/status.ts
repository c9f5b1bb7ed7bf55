import { defineCommand } from "citty";
import { replicaById } from "../config/config.ts";
import { interfaceWithAddress } from "../kernel/netinfo.ts";
import { askInfo } from "../node/info.ts";
import { commonArgs, configFrom, intArg, rejectUnknownFlags } from "./common.ts";

/** A replica on this node answers within a millisecond; one that does not is not running. */
const statusInfoTimeoutMs = 300;

const args = {
  ...commonArgs,
  id: { type: "string", description: "Only this replica (default: every replica whose state is on this node)", valueHint: "N" },
  json: { type: "boolean", description: "Print as JSON" },
} as const;

export default defineCommand({
  meta: { name: "status", description: "What electrode attached on this node and its live counters: electrode status [--json]" },
  args,
  async run({ args: a }) {
    rejectUnknownFlags(a, args);
    const config = configFrom(a);
    const kernel = await import("../kernel/broadcast.ts");
    const xdp = await import("../kernel/xdp.ts");
    // Without --id: the replicas whose address is on this host (a node usually runs one).
    const local = (host: string) => {
      try {
        interfaceWithAddress(host);
        return true;
      } catch {
        return false;
      }
    };
    const replicas = a.id !== undefined ? [replicaById(config, intArg(a.id, "id", 0, 2 ** 31 - 1))] : config.replicas.filter((r) => local(r.host));
    // The running replicas themselves: their state and what they hold in memory (src/node/info.ts).
    const answers = replicas.length > 0 ? askInfo(config, { timeoutMs: statusInfoTimeoutMs }) : [];
    const rows = replicas.map((r) => {
      const answer = answers[r.index];
      const state = kernel.readState(config, r);
      const active = kernel.broadcastActive(config, r);
      const x = xdp.xdpStatus(config, r);
      return {
        id: r.id,
        iface: state?.iface ?? x.state?.iface ?? null,
        tc_broadcast: { attached: active.active, detail: active.why, program_id: state?.progId ?? null, mode: "tc egress (clsact)" },
        xdp: {
          set_up: x.setUp,
          attached: x.attached,
          detail: x.why,
          program_id: x.programId ?? null,
          mode: x.state?.mode ?? null,
          mode_reason: x.state?.modeReason ?? null,
          quorum_prune: x.state?.prune ?? false,
          fast_reply: x.state?.fastReply ?? false,
        },
        replica: answer ?? null,
        counters: { ...(kernel.broadcastCounters(config, r) ?? {}), ...(xdp.xdpCounters(config, r) ?? {}) },
      };
    });
    if (a.json) {
      console.log(JSON.stringify({ cluster: config.name, replicas: rows }, null, 2));
      return;
    }
    if (rows.length === 0) console.log(`cluster ${config.name}: nothing attached on this node (run: electrode setup --id N)`);
    for (const row of rows) {
      console.log(`replica ${row.id} on ${row.iface ?? "?"}:`);
      const st = row.replica;
      console.log(st ? `  replica:      ${st.status}, view ${st.view}${st.leader ? " (leader)" : ""}, op ${st.op}, commit ${st.commit}, fast paths ${st.opt}, ${st.storage === "memory" ? "memory only" : `storage fsync ${st.storage}`}` : `  replica:      not running (no answer within ${statusInfoTimeoutMs} ms)`);
      if (st) console.log(`  memory:       checkpoint at op ${st.checkpoint_op}, log ${st.log_first_op}..${st.op} (${st.log_bytes} bytes), ${st.sessions} client sessions, ${st.evictions} evicted`);
      console.log(`  tc-broadcast: ${row.tc_broadcast.attached ? "attached" : "NOT attached"} (${row.tc_broadcast.detail})`);
      console.log(`  xdp:          ${row.xdp.attached ? "attached" : row.xdp.set_up ? "set up, not attached" : "NOT set up"} (${row.xdp.detail})`);
      for (const [name, value] of Object.entries(row.counters)) console.log(`  ${name.padEnd(28)} ${value}`);
    }
  },
});
