// Shared pieces of the citty commands: common flags, logging, and the errors that map to exit codes.

import { createConsola, LogLevels, type ConsolaInstance } from "consola";
import type { ArgsDef } from "citty";
import { loadConfig, type Config } from "../config/config.ts";

/** Bad usage: exit code 2, one line. */
export class UsageError extends Error {}

/** A failure at run time that the user can act on: exit code 1, one line. */
export class RuntimeError extends Error {}

export const commonArgs = {
  config: {
    type: "string",
    description: "Cluster config (default: $ELECTRODE_CONFIG, ./electrode.yaml, /etc/electrode/cluster.yaml)",
    valueHint: "FILE",
  },
  verbose: { type: "boolean", description: "Debug logs, and stack traces on errors", alias: "v" },
  quiet: { type: "boolean", description: "Only warnings and errors" },
} as const satisfies ArgsDef;

export function createLogger(args: { verbose?: boolean; quiet?: boolean }, tag = "electrode"): ConsolaInstance {
  const level = args.verbose ? LogLevels.debug : args.quiet ? LogLevels.warn : LogLevels.info;
  // Logs go to stderr so that stdout carries only results (tables, JSON) for scripts.
  return createConsola({ level, stdout: process.stderr, stderr: process.stderr, defaults: { tag } });
}

export function configFrom(args: { config?: string }): Config {
  return loadConfig(args.config || undefined);
}

/** Rejects flags the command does not know (citty ignores them; a typo should not be silent). */
export function rejectUnknownFlags(args: Record<string, unknown>, def: ArgsDef): void {
  const known = new Set<string>(["_", "help", "h"]);
  for (const [name, spec] of Object.entries(def)) {
    known.add(name);
    known.add(name.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase()));
    known.add(name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
    const alias = (spec as { alias?: string | string[] }).alias;
    for (const a of Array.isArray(alias) ? alias : alias ? [alias] : []) known.add(a);
  }
  for (const key of Object.keys(args)) {
    if (!known.has(key)) throw new UsageError(`unknown option --${key} (see --help)`);
  }
}

/** Parses a positive integer flag, with a usage error naming the flag. */
export function intArg(value: unknown, flag: string, min: number, max: number): number {
  const n = typeof value === "number" ? value : Number(value);
  if (value === undefined || value === "" || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${flag}: expected an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

export function numberArg(value: unknown, flag: string, min: number, max: number): number {
  const n = typeof value === "number" ? value : Number(value);
  if (value === undefined || value === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${flag}: expected a number in ${min}..${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}
