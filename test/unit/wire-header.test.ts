import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { headerPath, renderHeader } from "../../src/wire/gen-header.ts";

test("bpf/electrode_wire.h is generated from src/wire/layout.ts (run: bun run gen:header)", () => {
  expect(readFileSync(headerPath, "utf8")).toBe(renderHeader());
});
