import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findConfigFile, parseConfig, replicaById } from "../../src/config/config.ts";

import { errorOf, minimal } from "./config-fixtures.ts";

describe("config", () => {
  test("the contract's minimal form", () => {
    const c = parseConfig(minimal, "c.yaml");
    expect(c.f).toBe(1);
    expect(c.replicas.map((r) => [r.id, r.index, r.host, r.port])).toEqual([
      [1, 0, "10.20.0.1", 12345],
      [2, 1, "10.20.0.2", 12345],
      [3, 2, "10.20.0.3", 12345],
    ]);
    expect(c.name).toBe("electrode");
    expect(c.clusterId).toBe(parseConfig(minimal).clusterId);
    expect(replicaById(c, 2).index).toBe(1);
  });

  test("optional fields", () => {
    const c = parseConfig(
      `name: prod-a\nf: 0\nreplicas:\n  - { id: 7, addr: 1.2.3.4:9, iface: eth1, mac: AA:BB:CC:DD:EE:FF }\ntiming: { tick_ms: 2, view_change_ms: 500 }\nbatch_max: 8\nclient: { timeout_ms: 100 }\n`,
    );
    expect(c.name).toBe("prod-a");
    expect(c.replicas[0]!.iface).toBe("eth1");
    expect(c.replicas[0]!.mac).toBe("aa:bb:cc:dd:ee:ff");
    expect(c.timing.tickMs).toBe(2);
    expect(c.timing.viewChangeMs).toBe(500);
    expect(c.batchMax).toBe(8);
    expect(c.clientTimeoutMs).toBe(100);
  });

  const cases: [string, string, RegExp][] = [
    ["not yaml", "f: [1", /c\.yaml: not valid YAML/],
    ["not a mapping", "- 1", /expected a mapping/],
    ["missing f", "replicas: []", /c\.yaml: f: expected an integer/],
    ["wrong count", minimal.replace(/.*10\.20\.0\.3.*\n/, ""), /replicas: f: 1 needs exactly 3 replicas/],
    ["bad addr", minimal.replace("10.20.0.2:12345", "10.20.0.2"), /replicas\[1\]\.addr: expected IPv4:port/],
    ["bad octet", minimal.replace("10.20.0.2", "10.20.0.256"), /replicas\[1\]\.addr/],
    ["bad port", minimal.replace("10.20.0.2:12345", "10.20.0.2:70000"), /replicas\[1\]\.addr/],
    ["duplicate id", minimal.replace("id: 3", "id: 1"), /replicas\[2\]\.id: id 1 is also used by replicas\[0\]/],
    ["duplicate addr", minimal.replace("10.20.0.3", "10.20.0.1"), /replicas\[2\]\.addr: .* also used/],
    ["unknown field", minimal + "typo: 1\n", /typo: unknown field/],
    ["unknown replica field", minimal.replace("id: 1,", "id: 1, port: 3,"), /replicas\[0\]\.port: unknown field/],
    ["bad mac", minimal.replace("id: 1,", "id: 1, mac: zz,"), /replicas\[0\]\.mac/],
    ["bad timing", minimal + "timing: { heartbeat_ms: 400 }\n", /timing\.heartbeat_ms: must be at most half/],
    ["bad name", minimal + "name: 'a b'\n", /name: expected/],
  ];
  for (const [what, text, pattern] of cases) {
    test(`rejects ${what} with one clear line`, () => {
      const message = errorOf(text);
      expect(message).toMatch(pattern);
      expect(message).not.toContain("\n");
    });
  }

  test("unknown replica id names the ids", () => {
    expect(() => replicaById(parseConfig(minimal, "c.yaml"), 9)).toThrow(/no replica with id 9 \(ids: 1, 2, 3\)/);
  });

  test("lookup order: explicit, then $ELECTRODE_CONFIG", () => {
    const dir = mkdtempSync(join(tmpdir(), "electrode-config-"));
    try {
      const file = join(dir, "x.yaml");
      writeFileSync(file, minimal);
      expect(findConfigFile(file)).toBe(file);
      expect(findConfigFile(undefined, { ELECTRODE_CONFIG: file })).toBe(file);
      expect(() => findConfigFile(join(dir, "missing.yaml"))).toThrow(/file not found/);
      expect(() => findConfigFile(undefined, { ELECTRODE_CONFIG: join(dir, "nope.yaml") })).toThrow(/ELECTRODE_CONFIG/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
