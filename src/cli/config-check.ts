// `electrode config check [--config F] [--json]`: validates the cluster file and prints what it
// says, or the one-line error (exit 2). With --json the outcome is also a JSON object on stdout.

import { defineCommand } from "citty";
import { ConfigError, loadConfig, type Config } from "../config/config.ts";
import { interfaceWithAddress } from "../kernel/netinfo.ts";
import { commonArgs, rejectUnknownFlags } from "./common.ts";

/** The replica ids whose address is on this host (a node usually runs one). */
function localIds(config: Config): number[] {
  return config.replicas
    .filter((r) => {
      try {
        interfaceWithAddress(r.host);
        return true;
      } catch {
        return false;
      }
    })
    .map((r) => r.id);
}

export function configSummary(config: Config, local: readonly number[] = []) {
  return {
    ok: true as const,
    file: config.file,
    name: config.name,
    cluster_id: `0x${config.clusterId.toString(16).padStart(8, "0")}`,
    f: config.f,
    quorum: config.f + 1,
    replicas: config.replicas.map((r) => ({ id: r.id, index: r.index, addr: r.addr, iface: r.iface ?? null, mac: r.mac ?? null, local: local.includes(r.id) })),
    timing: {
      tick_ms: config.timing.tickMs,
      view_change_ms: config.timing.viewChangeMs,
      heartbeat_ms: config.timing.heartbeatMs,
      resend_ms: config.timing.resendMs,
      lease_ms: config.timing.leaseMs,
      clock_drift_ppm: config.timing.clockDriftPpm,
    },
    batch_max: config.batchMax,
    pipeline_max: config.pipelineMax,
    client: { retry_ms: config.clientRetryMs, timeout_ms: config.clientTimeoutMs },
    metrics: config.metrics?.addr ?? null,
    storage: config.storage ? { dir: config.storage.dir ?? null, fsync: config.storage.fsync, fsync_interval_ms: config.storage.fsyncIntervalMs } : null,
  };
}

export function formatSummary(s: ReturnType<typeof configSummary>): string {
  const lines = [
    `${s.file}: ok`,
    `cluster ${s.name} (id ${s.cluster_id}): f=${s.f}, ${s.replicas.length} replicas, quorum ${s.quorum}`,
  ];
  for (const r of s.replicas) {
    const extras = [r.iface ? `iface ${r.iface}` : "", r.mac ? `mac ${r.mac}` : "", r.index === 0 ? "leads view 0" : "", r.local ? "on this node" : ""].filter(Boolean);
    lines.push(`  replica ${String(r.id).padEnd(4)} ${r.addr.padEnd(21)} ${extras.join(", ")}`.trimEnd());
  }
  const t = s.timing;
  lines.push(`timing: tick ${t.tick_ms} ms, view change ${t.view_change_ms} ms, heartbeat ${t.heartbeat_ms} ms, resend ${t.resend_ms} ms, ${t.lease_ms > 0 ? `read lease ${t.lease_ms} ms (clock drift bound ${t.clock_drift_ppm} ppm)` : "no read lease"}`);
  lines.push(`batching: batch_max ${s.batch_max}, pipeline_max ${s.pipeline_max}`);
  lines.push(`client: retry ${s.client.retry_ms} ms, timeout ${s.client.timeout_ms} ms`);
  lines.push(`metrics: ${s.metrics ? `http://${s.metrics}/metrics on each replica` : "off"}`);
  const st = s.storage;
  lines.push(`storage: ${st ? `${st.dir ?? "(dir from --data-dir)"}, fsync ${st.fsync}${st.fsync === "interval" ? ` every ${st.fsync_interval_ms} ms` : ""}` : "memory only (electrode replica --data-dir DIR adds a data directory)"}`);
  return lines.join("\n");
}

const checkArgs = {
  ...commonArgs,
  json: { type: "boolean", description: "Print the summary (or the error) as JSON on stdout" },
} as const;

const check = defineCommand({
  meta: { name: "check", description: "Validate the cluster config and print a summary: electrode config check --config cluster.yaml" },
  args: checkArgs,
  run({ args: a }) {
    rejectUnknownFlags(a, checkArgs);
    let config: Config;
    try {
      config = loadConfig(a.config || undefined);
    } catch (e) {
      if (a.json && e instanceof ConfigError) console.log(JSON.stringify({ ok: false, file: e.file, field: e.field || null, error: e.message }));
      throw e; // one line on stderr, exit 2
    }
    const summary = configSummary(config, localIds(config));
    console.log(a.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
  },
});

export default defineCommand({
  meta: { name: "config", description: "Work with the cluster config: electrode config check [--config FILE] [--json]" },
  subCommands: { check },
});
