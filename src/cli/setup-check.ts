// `electrode setup --check [--json]`: prints what the node supports and what is attached (see
// src/kernel/check.ts); exit 1 when something needed is missing or the fast paths are not attached.

import type { Config, ReplicaConfig } from "../config/config.ts";
import { RuntimeError } from "./common.ts";

export async function runSetupCheck(config: Config, self: ReplicaConfig, json: boolean): Promise<void> {
  const { checkSetup, formatSetupCheck, setupCheckVerdict } = await import("../kernel/check.ts");
  const report = await checkSetup(config, self);
  console.log(json ? JSON.stringify(report, null, 2) : formatSetupCheck(report));
  if (!report.ok) throw new RuntimeError(`setup --check: ${setupCheckVerdict(report)}`);
}
