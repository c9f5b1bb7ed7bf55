// Shared set-up for integration tests: a namespace cluster running the compiled binary.
// Everything created here is torn down in `close()`, which tests call from afterAll/finally.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCluster } from "../../src/local/cluster.ts";
import { RunningCluster, type RunningClusterOptions } from "../../src/local/processes.ts";

export const binary = new URL("../../dist/electrode", import.meta.url).pathname;
export const isRoot = process.getuid?.() === 0;

export function requireBinary(): void {
  if (!existsSync(binary)) throw new Error(`${binary} missing: run 'bun run build' (the test command does)`);
}

export interface Harness {
  readonly cluster: RunningCluster;
  close(): Promise<void>;
}

export async function startCluster(replicas: number, opts: Partial<RunningClusterOptions> = {}): Promise<Harness> {
  requireBinary();
  const dir = mkdtempSync(join(tmpdir(), "electrode-it-"));
  const local = await createCluster({ replicas });
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

/** The bench JSON from a run in the client namespace. */
export async function bench(cluster: RunningCluster, args: string[]): Promise<Record<string, unknown> & { ops: number; errors: number }> {
  const out = await cluster.client(["--bench", "--json", "-", "--quiet", ...args]);
  if (out.code !== 0) throw new Error(`bench failed (${out.code}): ${out.stderr}`);
  return JSON.parse(out.stdout);
}
