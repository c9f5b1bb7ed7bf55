// Operating electrode: the config's metrics field, --metrics, config check's summary, setup
// --check's permission reading, and examples under --help for every command.

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseConfig } from "../../src/config/config.ts";
import { configSummary, formatSummary } from "../../src/cli/config-check.ts";
import { examples } from "../../src/cli/examples.ts";
import { main } from "../../src/cli/main.ts";
import { metricsAddress } from "../../src/cli/replica-metrics.ts";
import { UsageError } from "../../src/cli/common.ts";
import { checkPermission } from "../../src/kernel/check.ts";

import { errorOf, minimal } from "./config-fixtures.ts";

describe("metrics in the config and on the command line", () => {
  test("off by default; metrics: ADDR:PORT parsed", () => {
    expect(parseConfig(minimal).metrics).toBeUndefined();
    expect(parseConfig(`${minimal}metrics: 0.0.0.0:9464\n`).metrics).toEqual({ host: "0.0.0.0", port: 9464, addr: "0.0.0.0:9464" });
  });

  test("a bad metrics field names the field and the expected form", () => {
    expect(errorOf(`${minimal}metrics: 9464\n`)).toBe("config c.yaml: metrics: expected ADDR:PORT for the Prometheus endpoint, e.g. 0.0.0.0:9464, got 9464");
    expect(errorOf(`${minimal}metrics: localhost:9464\n`)).toContain("metrics: expected ADDR:PORT");
    expect(errorOf(`${minimal}metrics: 10.0.0.1:99999\n`)).toContain("metrics: expected ADDR:PORT");
  });

  test("--metrics wins over the config; off disables; nonsense is a usage error", () => {
    const withMetrics = parseConfig(`${minimal}metrics: 0.0.0.0:9464\n`);
    expect(metricsAddress(undefined, withMetrics)?.port).toBe(9464);
    expect(metricsAddress("127.0.0.1:9500", withMetrics)).toEqual({ host: "127.0.0.1", port: 9500, addr: "127.0.0.1:9500" });
    expect(metricsAddress("off", withMetrics)).toBeUndefined();
    expect(() => metricsAddress("9500", withMetrics)).toThrow(UsageError);
  });
});

describe("config check summary", () => {
  test("names the cluster, f, quorum, every replica and the timing", () => {
    const config = parseConfig(`name: prod\n${minimal}metrics: 0.0.0.0:9464\n`, "/etc/electrode/cluster.yaml");
    const summary = configSummary(config, [2]);
    expect(summary).toMatchObject({ ok: true, name: "prod", f: 1, quorum: 2, metrics: "0.0.0.0:9464" });
    expect(summary.replicas.map((r) => [r.id, r.addr, r.local])).toEqual([
      [1, "10.20.0.1:12345", false],
      [2, "10.20.0.2:12345", true],
      [3, "10.20.0.3:12345", false],
    ]);
    const text = formatSummary(summary);
    expect(text).toContain("cluster prod");
    expect(text).toContain("f=1, 3 replicas, quorum 2");
    expect(text).toMatch(/replica 2\s+10\.20\.0\.2:12345\s+on this node/);
    expect(text).toContain("timing: tick 5 ms, view change 300 ms, heartbeat 50 ms, resend 50 ms, read lease 150 ms (clock drift bound 10000 ppm)");
    expect(text).toContain("metrics: http://0.0.0.0:9464/metrics");
    expect(text).toContain("storage: memory only");
    expect(summary.storage).toBeNull();
  });

  test("storage: the directory and fsync mode, or where the directory comes from", () => {
    const stored = configSummary(parseConfig(`${minimal}storage: { dir: /var/lib/electrode, fsync: interval, fsync_interval_ms: 20 }\n`));
    expect(stored.storage).toEqual({ dir: "/var/lib/electrode", fsync: "interval", fsync_interval_ms: 20 });
    expect(formatSummary(stored)).toContain("storage: /var/lib/electrode, fsync interval every 20 ms");
    const noDir = configSummary(parseConfig(`${minimal}storage: {}\n`));
    expect(noDir.storage).toEqual({ dir: null, fsync: "always", fsync_interval_ms: 100 });
    expect(formatSummary(noDir)).toContain("storage: (dir from --data-dir), fsync always");
  });
});

describe("setup --check permission", () => {
  test("reads CapEff: root-like capabilities pass, none fail naming what lacks", () => {
    expect(checkPermission("CapEff:\t000001ffffffffff\n").state).toBe("ok");
    const none = checkPermission("CapEff:\t0000000000000000\n");
    expect(none.state).toBe("missing");
    expect(none.detail).toContain("CAP_BPF and CAP_NET_ADMIN");
    // CAP_NET_ADMIN (12) and CAP_BPF (39) only.
    const bits = (1n << 12n) | (1n << 39n);
    expect(checkPermission(`CapEff:\t${bits.toString(16).padStart(16, "0")}\n`).state).toBe("ok");
  });
});

describe("--help", () => {
  test("every command and subcommand has examples that start with 'electrode <its path>'", async () => {
    const paths: string[] = [""];
    const subs = main.subCommands as Record<string, () => Promise<{ subCommands?: Record<string, unknown> }>>;
    for (const [name, load] of Object.entries(subs)) {
      paths.push(name);
      const cmd = await load();
      for (const sub of Object.keys(cmd.subCommands ?? {})) paths.push(`${name} ${sub}`);
    }
    for (const path of paths) {
      const list = examples[path];
      expect(list, `examples for '${path}'`).toBeDefined();
      expect(list!.length).toBeGreaterThan(0);
      for (const line of list!) expect(line.startsWith(`electrode ${path}`.trim())).toBe(true);
    }
  });
});

describe("systemd units", () => {
  test("the replica unit runs `electrode replica --id %i` and restarts, except on bad config", () => {
    const unit = readFileSync(new URL("../../configs/systemd/electrode-replica@.service", import.meta.url), "utf8");
    expect(unit).toMatch(/^ExecStart=\S*electrode replica --id %i --config \S+/m);
    expect(unit).toMatch(/^Restart=always$/m);
    expect(unit).toMatch(/^RestartPreventExitStatus=2$/m);
    const setup = readFileSync(new URL("../../configs/systemd/electrode-setup@.service", import.meta.url), "utf8");
    expect(setup).toMatch(/^ExecStop=\S*electrode setup --id %i .*--teardown$/m);
  });
});
