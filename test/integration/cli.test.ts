// The compiled binary's user-facing errors: one clear line, the contract's exit codes.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FloorResult } from "../../src/bench/floor.ts";
import { binary, expectOneLineError, requireBinary, runBinary } from "./harness.ts";

const dir = mkdtempSync(join(tmpdir(), "electrode-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const run = (args: string[], env: Record<string, string> = {}) => runBinary(args, { cwd: dir, env });

const loopback3 = `f: 1
replicas:
  - { id: 1, addr: 127.0.0.1:47101 }
  - { id: 2, addr: 127.0.0.1:47102 }
  - { id: 3, addr: 127.0.0.1:47103 }
`;

describe("electrode CLI errors", () => {
  test("bad config: exit 2 naming the file and field", async () => {
    const file = configFile("bad.yaml", loopback3.replace("127.0.0.1:47102", "127.0.0.1"));
    expectOneLineError(await run(["replica", "--id", "1", "--config", file]), 2, /bad\.yaml: replicas\[1\]\.addr: expected IPv4:port/);
  });

  test("no config anywhere: exit 2 with where it looked", async () => {
    expectOneLineError(await run(["replica", "--id", "1"], { ELECTRODE_CONFIG: "" }), 2, /no config found: pass --config FILE/);
  });

  test("unknown replica id: exit 2 listing the ids", async () => {
    const file = configFile("ok.yaml", loopback3);
    expectOneLineError(await run(["replica", "--id", "9", "--config", file]), 2, /no replica with id 9 \(ids: 1, 2, 3\)/);
  });

  test("port in use: exit 1", async () => {
    const file = configFile("ok2.yaml", loopback3);
    // Another program holds the port (a second replica of the same id stops earlier, at its lock:
    // replica-lock.test.ts).
    const holder = await Bun.udpSocket({ hostname: "127.0.0.1", port: 47102 });
    try {
      expectOneLineError(await run(["replica", "--id", "2", "--config", file]), 1, /127\.0\.0\.1:47102 is already in use/);
    } finally {
      holder.close();
    }
  });

  test("a second replica with the same id: exit 1 naming the pid that holds the lock", async () => {
    const file = configFile("ok4.yaml", loopback3);
    const holder = Bun.spawn([binary, "replica", "--id", "1", "--config", file, "--quiet", "--opt", "none"], { stdout: "ignore", stderr: "pipe" });
    try {
      await Bun.sleep(700);
      expectOneLineError(await run(["replica", "--id", "1", "--config", file]), 1, new RegExp(`^electrode: replica 1 of cluster electrode already runs on this node: pid ${holder.pid} holds \\S+/1\\.lock$`));
    } finally {
      holder.kill("SIGTERM"); // a clean exit removes its lock file
      await holder.exited;
    }
  });

  test("SIGTERM stops a replica cleanly with exit 0", async () => {
    const file = configFile("ok3.yaml", loopback3);
    const proc = Bun.spawn([binary, "replica", "--id", "3", "--config", file], { stdout: "ignore", stderr: "pipe" });
    await Bun.sleep(700);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(await new Response(proc.stderr).text()).toContain("stopped");
  });

  test("unknown flag and missing subcommand: exit 2", async () => {
    expectOneLineError(await run(["client", "--bnech"]), 2, /unknown option --bnech/);
    expectOneLineError(await run(["nosuch"]), 2, /Unknown command nosuch/);
  });

  test("flags before or after positional words (contract)", async () => {
    const file = configFile("ok4.yaml", loopback3);
    // Nothing listens: both spellings parse and fail the same way, at run time (exit 1).
    const a = await run(["client", "put", "k", "v", "--config", file, "--timeout", "300"]);
    const b = await run(["client", `--config=${file}`, "put", "k", "v", "--timeout=300"]);
    expectOneLineError(a, 1, /no reply within 0\.3s: outcome unknown/);
    expectOneLineError(b, 1, /no reply within 0\.3s: outcome unknown/);
  });

  test("client info with nothing running: a line per replica, one error naming them, exit 1; flags before or after", async () => {
    const file = configFile("ok5.yaml", loopback3);
    const a = await run(["client", "info", "--config", file, "--timeout", "300"]);
    const b = await run(["client", `--config=${file}`, "--timeout", "300", "info"]);
    for (const out of [a, b]) {
      expectOneLineError(out, 1, /replica 1, 2, 3 did not answer within 300 ms/);
      expect(out.stdout.trim().split("\n")).toEqual([1, 2, 3].map((id) => `replica ${id} (127.0.0.1:4710${id}): no answer within 300 ms`));
    }
    expectOneLineError(await run(["client", "--bench", "--opt", "+quorum-prune", "--config", file]), 2, /--opt: expected none, all, or a list/);
  });

  test("floor --clients: a count out of range, or on the echo end, is a usage error; nobody echoing is exit 1", async () => {
    for (const bad of ["0", "4097", "1.5", "many", ""]) {
      expectOneLineError(await run(["floor", "--to", "127.0.0.1:47109", "--clients", bad]), 2, /--clients: expected an integer in 1\.\.4096, got/);
    }
    expectOneLineError(await run(["floor", "--serve", "127.0.0.1:47109", "--clients", "64"]), 2, /--clients belongs to the sending end \(--to\)/);
    // Nothing listens on this loopback port: every request is lost, and the command says where.
    const none = await run(["floor", "--to", "127.0.0.1:47109", "--clients", "16", "--duration", "0.2", "--warmup", "0"]);
    expectOneLineError(none, 1, /floor: no answer from 127\.0\.0\.1:47109 \(is `electrode floor --serve 127\.0\.0\.1:47109` running there\?\)/);
  });

  test("kv workload flags: a bad value or a flag without --workload kv is a usage error (exit 2)", async () => {
    const file = configFile("ok6.yaml", loopback3);
    const bench = (...args: string[]) => run(["client", "--bench", "--config", file, ...args]);
    expectOneLineError(await bench("--workload", "kv", "--read-ratio", "1.5"), 2, /--read-ratio: expected a number in 0\.\.1, got "1\.5"/);
    expectOneLineError(await bench("--workload=kv", "--key-dist=pareto"), 2, /--key-dist: expected uniform or zipf, got 'pareto'/);
    expectOneLineError(await bench("--workload", "kv", "--value-bytes", "4"), 2, /--value-bytes: expected an integer in 11\.\./);
    expectOneLineError(await bench("--workload", "kv", "--keys", "0"), 2, /--keys: expected an integer/);
    expectOneLineError(await bench("--keys", "4"), 2, /--keys needs --workload kv/);
    expectOneLineError(await bench("--read-ratio", "0.9", "--workload", "null"), 2, /--read-ratio needs --workload kv/);
    expectOneLineError(await bench("--cas-ratio", "0.5"), 2, /--cas-ratio needs --workload kv/);
    expectOneLineError(await bench("--workload", "kv", "--delete-ratio", "2"), 2, /--delete-ratio: expected a number in 0\.\.1/);
    expectOneLineError(await bench("--workload", "kv", "--cas-ratio", "0.6", "--read-ratio", "0.5"), 2, /add up to more than 1/);
    expectOneLineError(await bench("--workload", "kv", "--reads", "quorum"), 2, /--reads: expected index, log or stale, got 'quorum'/);
    expectOneLineError(await bench("--reads", "log"), 2, /--reads needs --workload kv/);
  });

  test("client delete and cas: usage and size errors exit 2 before anything is sent", async () => {
    const file = configFile("ok7.yaml", loopback3);
    const client = (...args: string[]) => run(["client", ...args, "--config", file, "--timeout", "300"]);
    expectOneLineError(await client("cas", "k", "v"), 2, /cas: say what KEY must hold: --expect OLD, or --absent/);
    expectOneLineError(await client("cas", "k", "v", "--expect", "a", "--absent"), 2, /--expect OLD, or --absent \(one of them\)/);
    expectOneLineError(await client("delete"), 2, /Missing required positional argument: KEY/);
    expectOneLineError(await client("put", "k".repeat(1100), "v"), 2, /key of 1100 bytes: at most 1024/);
    expectOneLineError(await client("cas", "k", "v".repeat(800), "--expect", "e".repeat(800)), 2, /a cas's key, expected value and value .* at most 1412/);
    // Well-formed, nobody listening: outcome unknown, exit 1.
    expectOneLineError(await client("delete", "k"), 1, /no reply within 0\.3s: outcome unknown/);
    expectOneLineError(await client("cas", "k", "v", "--absent"), 1, /no reply within 0\.3s: outcome unknown/);
  });

  test("get: --stale and --through-log exclude each other (exit 2); the help says what --stale gives up", async () => {
    const file = configFile("ok8.yaml", loopback3);
    expectOneLineError(await run(["client", "get", "k", "--stale", "--through-log", "--config", file]), 2, /--stale and --through-log exclude each other/);
    const help = await run(["client", "get", "--help"]);
    expect(help.stdout).toMatch(/--stale.*serializable, not linearizable/);
  });

  test("demo without root: exit 1", async () => {
    // As root, drop to nobody for this one run.
    const asNobody = process.getuid?.() === 0 ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
    const proc = Bun.spawn([...asNobody, binary, "demo"], { stdout: "pipe", stderr: "pipe", cwd: "/" });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expectOneLineError({ stderr, code }, 1, /demo needs root/);
  });

  test("--help and version", async () => {
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("replica");
    const version = await run(["version", "--json"]);
    expect(JSON.parse(version.stdout).version).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe("electrode floor on loopback", () => {
  test("--clients K keeps K requests in flight against the echo: round trips/s, latency, the client's CPU; none lost", async () => {
    requireBinary();
    const echo = Bun.spawn([binary, "floor", "--serve", "127.0.0.1:47110", "--duration", "5"], { stdout: "ignore", stderr: "pipe" });
    try {
      await Bun.sleep(300);
      for (const clients of [1, 8]) {
        const out = await run(["floor", "--to", "127.0.0.1:47110", "--clients", String(clients), "--duration", "0.5", "--warmup", "0.2", "--json"]);
        expect({ code: out.code, stderr: out.stderr }).toEqual({ code: 0, stderr: "" });
        const r = JSON.parse(out.stdout) as FloorResult;
        expect([r.clients, r.duration_s, r.lost]).toEqual([clients, 0.5, 0]);
        expect(r.pings).toBeGreaterThan(100);
        expect(r.throughput_round_trips_s).toBe(Math.round(r.pings / 0.5));
        expect(r.latency_us.p50).toBeGreaterThan(0);
        expect(r.latency_us.p99).toBeGreaterThanOrEqual(r.latency_us.p50);
        expect(r.client_cpu_cores).toBeGreaterThan(0);
      }
      const text = await run(["floor", "--to", "127.0.0.1:47110", "--clients", "4", "--duration", "0.3", "--warmup", "0"]);
      expect(text.stdout).toMatch(/^4 in flight, \d+ round trips in 0\.3 s: \d+ round trips\/s, p50 [\d.]+ us, .* 0 lost, this process [\d.]+ cores\n$/);
    } finally {
      echo.kill();
      await echo.exited;
    }
  });
});
