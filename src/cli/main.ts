#!/usr/bin/env bun
// electrode: one executable, many subcommands. Errors are one readable line with an exit code:
// 0 ok, 1 runtime failure, 2 bad usage or bad config (../shared/DESIGN.md).

import { defineCommand, renderUsage, runCommand, type CommandDef } from "citty";
import { ConfigError } from "../config/config.ts";
import { FenceStalled } from "../kernel/ring.ts";
import { NetError } from "../net/udp.ts";
import { RuntimeError, UsageError } from "./common.ts";
import { formatExamples } from "./examples.ts";
import { version } from "./version.ts";

const subCommands = {
  replica: () => import("./replica.ts").then((m) => m.default),
  client: () => import("./client.ts").then((m) => m.default),
  setup: () => import("./setup.ts").then((m) => m.default),
  status: () => import("./status.ts").then((m) => m.default),
  demo: () => import("./demo.ts").then((m) => m.default),
  check: () => import("./check.ts").then((m) => m.default),
  floor: () => import("./floor.ts").then((m) => m.default),
  version: () => import("./version.ts").then((m) => m.default),
  config: () => import("./config-check.ts").then((m) => m.default),
};

export const main = defineCommand({
  meta: { name: "electrode", version, description: "Multi-Paxos replication with eBPF fast paths" },
  subCommands,
});

function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError || error instanceof ConfigError) return 2;
  if ((error as { name?: string })?.name === "CLIError") return 2;
  return 1;
}

/** The subcommand chain named by argv, for --help (citty resolves lazily), and its path ("client put"). */
export async function resolveHelpTarget(argv: readonly string[]): Promise<[CommandDef, CommandDef | undefined, string]> {
  let cmd: CommandDef = main;
  let parent: CommandDef | undefined;
  const path: string[] = [];
  for (const word of argv) {
    if (word.startsWith("-")) continue;
    const subs = (typeof cmd.subCommands === "function" ? await cmd.subCommands() : cmd.subCommands) as Record<string, unknown> | undefined;
    const next = subs?.[word];
    if (!next) break;
    parent = cmd;
    path.push(word);
    cmd = (typeof next === "function" ? await (next as () => Promise<CommandDef>)() : next) as CommandDef;
  }
  return [cmd, parent, path.join(" ")];
}

/** Value-taking flags of `client`, so that their values are not mistaken for a subcommand. */
const clientValueFlags = new Set(["--config", "--clients", "--duration", "--warmup", "--workload", "--json", "--history", "--opt", "--timeout"]);

/**
 * Flags may stand before or after positional words (contract): `electrode client --config=c.yaml
 * put k v` works like `electrode client put k v --config c.yaml`. citty hands a subcommand only the
 * words after its name, so flags given before it are moved behind it.
 */
export function normalizeArgv(argv: readonly string[]): string[] {
  const client = argv.indexOf("client");
  if (client < 0) return [...argv];
  for (let i = client + 1; i < argv.length; i++) {
    const word = argv[i]!;
    if (clientValueFlags.has(word)) {
      i += 1; // skip its value
      continue;
    }
    if (word === "put" || word === "get" || word === "info") {
      return [...argv.slice(0, client + 1), ...argv.slice(i), ...argv.slice(client + 1, i)];
    }
  }
  return [...argv];
}

export async function runCli(rawArgv: string[]): Promise<number> {
  const argv = normalizeArgv(rawArgv);
  const verbose = argv.includes("--verbose") || argv.includes("-v");
  try {
    if (argv.length === 0 || argv.includes("--help") || argv.includes("-h")) {
      const [cmd, parent, path] = await resolveHelpTarget(argv);
      console.log(await renderUsage(cmd, parent));
      const examples = formatExamples(path);
      if (examples) console.log(examples);
      return 0;
    }
    if (argv.length === 1 && argv[0] === "--version") {
      console.log(version);
      return 0;
    }
    await runCommand(main, { rawArgs: argv });
    return 0;
  } catch (error) {
    const { code, lines } = failure(error, verbose);
    for (const line of lines) console.error(line);
    return code;
  }
}

/** What a failed command prints on stderr (one line; the stack with --verbose) and its exit code. */
export function failure(error: unknown, verbose: boolean): { code: number; lines: string[] } {
  const message = error instanceof Error ? error.message.replace(/\u001b\[[0-9;]*m/g, "") : String(error);
  // FenceStalled: the replica stopped on purpose (src/kernel/ring.ts); its message says why and what next.
  const known = error instanceof UsageError || error instanceof ConfigError || error instanceof RuntimeError || error instanceof NetError || error instanceof FenceStalled || (error as { name?: string })?.name === "CLIError";
  const lines = [`electrode: ${known ? message : `unexpected error: ${message}`}`];
  if (verbose && error instanceof Error && error.stack) lines.push(error.stack);
  else if (!known) lines.push("electrode: run with --verbose for details");
  return { code: exitCodeOf(error), lines };
}

if (import.meta.main) {
  const code = await runCli(process.argv.slice(2));
  process.exit(code);
}
