import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { loadConfig } from "../../src/config/config.ts";

const dir = new URL("../../configs/", import.meta.url).pathname;

test("every example config in configs/ is valid", () => {
  const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));
  expect(files.length).toBeGreaterThanOrEqual(3);
  for (const file of files) {
    const config = loadConfig(dir + file);
    expect(config.replicas.length).toBe(2 * config.f + 1);
  }
});
