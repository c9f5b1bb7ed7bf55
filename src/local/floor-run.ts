// The floor and the ceiling on a namespace cluster, as `electrode demo` and scripts/bench-modes.ts
// measure them: `electrode floor --serve` in a namespace where nothing else runs and no program is
// attached (replica 1's before setup, or a spare client namespace: setup leaves tc broadcast on
// every replica's link and an XDP stub on its bridge port, and the ceiling is the bare machine),
// `electrode floor --to --clients K` from the client namespace, once per K, against the same
// echo. Beside each run, the CPU of both processes, softirq and idle inside the measured window
// (from /proc): a ceiling reached with idle cores left, or with the client near a whole core, is a
// limit of this echo, not of the machine.

import { echoCpu } from "../bench/ceiling.ts";
import { cpuSplit, cpuWindow, type Role } from "../bench/cpu.ts";
import type { FloorResult } from "../bench/floor.ts";
import type { LocalCluster, LocalNode } from "./cluster.ts";

export interface EchoRunOptions {
  /** The electrode command (the compiled binary, or bun and the entry point). */
  readonly command: readonly string[];
  /** Where the echo runs (see the file comment); the requests come from the first client. */
  readonly server: LocalNode;
  /** One measurement per entry: requests in flight. */
  readonly clients: readonly number[];
  readonly durationS: number;
  readonly warmupS: number;
}

/** Port of the echo (in a replica's namespace the replicas' port is another, and none runs). */
const echoPort = 12399;
/** Time the echo has to bind before the first request. */
const serverStartMs = 300;
/** CPU is sampled inside the measured window, this far in from either end. */
const cpuMarginS = 0.25;

/** Measures the echo once per entry of `opts.clients`, in that order. Throws when a run fails. */
export async function measureEcho(local: LocalCluster, opts: EchoRunOptions): Promise<FloorResult[]> {
  const server = opts.server;
  const client = local.clients[0]!;
  if (server.ns === client.ns) throw new Error("the echo needs a namespace of its own, not the client's");
  const target = `${server.ip}:${echoPort}`;
  const perRunS = opts.warmupS + opts.durationS + 1;
  const serveS = opts.clients.length * perRunS + 5;
  const echo = Bun.spawn(local.nsExec(server.ns, [...opts.command, "floor", "--serve", target, "--duration", String(serveS)]), { stdout: "ignore", stderr: "pipe", stdin: "ignore" });
  const results: FloorResult[] = [];
  try {
    await Bun.sleep(serverStartMs);
    for (const clients of opts.clients) {
      const args = ["floor", "--to", target, "--from", client.ip, "--clients", String(clients), "--duration", String(opts.durationS), "--warmup", String(opts.warmupS), "--json"];
      const ping = Bun.spawn(local.nsExec(client.ns, [...opts.command, ...args]), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
      const windowS = opts.durationS - 2 * cpuMarginS;
      const cpu = windowS > 0.1 ? cpuWindow(() => [echo.pid, ping.pid], opts.warmupS + cpuMarginS, windowS) : undefined;
      const [out, err, code] = await Promise.all([new Response(ping.stdout).text(), new Response(ping.stderr).text(), ping.exited]);
      if (code !== 0) throw new Error(`echo with ${clients} in flight failed: ${err.trim() || `exit ${code}`}`);
      const result = JSON.parse(out) as FloorResult;
      const window = await cpu;
      if (!window) {
        results.push(result);
        continue;
      }
      // The echo is the leader of a service that does nothing: cpuSplit's roles fit as they are.
      const roles = new Map<number, Role>([[echo.pid, "leader"], [ping.pid, "client"]]);
      const split = cpuSplit(window.before, window.after, roles, 0);
      results.push({ ...result, cpu: echoCpu(split.cores, result.throughput_round_trips_s) });
    }
  } finally {
    echo.kill();
    await echo.exited;
  }
  return results;
}
