// Shared set-up for integration tests: a namespace cluster running the compiled binary.
// Everything created here is torn down in `close()`, which tests call from afterAll/finally.

import { expect } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCluster, type EnterMode, type LocalCluster } from "../../src/local/cluster.ts";
import { RunningCluster, type RunningClusterOptions } from "../../src/local/processes.ts";

export const binary = new URL("../../dist/electrode", import.meta.url).pathname;
export const isRoot = process.getuid?.() === 0;

export function requireBinary(): void {
  if (!existsSync(binary)) throw new Error(`${binary} missing: run 'bun run build' (the test command does)`);
}

/** The compiled binary with `args`, in `cwd`, with `env` added; its exit code and output. */
export async function runBinary(args: readonly string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  requireBinary();
  const proc = Bun.spawn([binary, ...args], { stdout: "pipe", stderr: "pipe", cwd: opts.cwd, env: { ...process.env, ...opts.env } });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

/** The contract for errors: exit `code`, one line on stderr matching `pattern`, no stack trace. */
export function expectOneLineError(out: { stderr: string; code: number }, code: number, pattern: RegExp): void {
  expect(out.code).toBe(code);
  const lines = out.stderr.trim().split("\n");
  expect(lines.length).toBe(1);
  expect(lines[0]).toMatch(pattern);
  expect(out.stderr).not.toContain("    at ");
}

export interface Harness {
  readonly cluster: RunningCluster;
  close(): Promise<void>;
}

/** `enter`: how every command enters its namespace (default nsenter; see src/local/cluster.ts). */
export async function startCluster(replicas: number, opts: Partial<RunningClusterOptions> & { enter?: EnterMode } = {}): Promise<Harness> {
  requireBinary();
  const dir = mkdtempSync(join(tmpdir(), "electrode-it-"));
  const local = await createCluster({ replicas, enter: opts.enter });
  let cluster: RunningCluster | undefined;
  const close = async () => {
    await cluster?.close();
    await local.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    cluster = new RunningCluster(local, { dir, command: [binary], ...opts });
    if (opts.setup) await cluster.setupAll();
    cluster.startAll();
    await cluster.waitServing();
    return { cluster, close };
  } catch (e) {
    const logs = cluster ? await Promise.all(cluster.replicas.map(async (r) => `--- replica ${r.id}\n${await Bun.file(r.logFile).text().catch(() => "")}`)) : [];
    await close();
    throw new Error(`${(e as Error).message}\n${logs.join("\n")}`);
  }
}

/**
 * A namespace cluster with `electrode setup` run on every replica (unless `setup: false`) and no
 * replica process, for tests of setup and of the attached programs themselves. Removes everything
 * it made, also when `body` fails: teardown in every namespace, then the namespaces, then any pin
 * or state left by a failed teardown.
 */
export async function withSetupCluster<T>(replicas: number, body: (cluster: RunningCluster) => Promise<T>, opts: Partial<RunningClusterOptions> = {}): Promise<T> {
  requireBinary();
  const dir = mkdtempSync(join(tmpdir(), "electrode-it-"));
  let local: LocalCluster | undefined;
  let cluster: RunningCluster | undefined;
  try {
    local = await createCluster({ replicas });
    cluster = new RunningCluster(local, { dir, command: [binary], setup: true, ...opts });
    if (opts.setup !== false) await cluster.setupAll();
    return await body(cluster);
  } finally {
    await cluster?.setupAll(true).catch(() => undefined);
    await local?.destroy();
    if (cluster) removeKernelLeftovers(cluster.config.name);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** State files of cluster `name` (and pins of an electrode before 0.2), whatever a failed teardown left. */
export function removeKernelLeftovers(name: string): void {
  rmSync(`/sys/fs/bpf/electrode/${name}`, { recursive: true, force: true });
  rmSync(`/run/electrode/${name}`, { recursive: true, force: true });
}

/** The bench JSON from a run in the client namespace. */
export async function bench(cluster: RunningCluster, args: string[]): Promise<Record<string, unknown> & { ops: number; errors: number }> {
  const out = await cluster.client(["--bench", "--json", "-", "--quiet", ...args]);
  if (out.code !== 0) throw new Error(`bench failed (${out.code}): ${out.stderr}`);
  return JSON.parse(out.stdout);
}
