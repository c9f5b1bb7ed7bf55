// scripts/vs-etcd.ts and its etcd load generator: bad flags are one usage line (exit 2), and what
// is missing is said before anything is created (exit 1). Needs neither root nor etcd.

import { describe, expect, test } from "bun:test";

const root = new URL("../..", import.meta.url).pathname;

async function script(path: string, args: string[]) {
  const proc = Bun.spawn([process.execPath, "run", `${root}/${path}`, ...args], { stdout: "pipe", stderr: "pipe", cwd: root });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr: stderr.trim(), code };
}

describe("vs-etcd flags", () => {
  const usage: [string[], RegExp][] = [
    [["--clients", "0"], /--clients: whole numbers in 1\.\.4096/],
    [["--clients", "1,x"], /--clients: 'x' is not a number/],
    [["--read-ratios", "0,1.5"], /--read-ratios: fractions in 0\.\.1/],
    [["--systems", "etcd"], /--systems: 'etcd' is not one of etcd-fsync, etcd-no-fsync, electrode-none, electrode-all/],
    [["--repeat", "0"], /--repeat/],
    [["--duration", "0.5"], /--duration: at least 1 s/],
    [["--key-dist", "pareto"], /--key-dist: expected uniform or zipf/],
    [["--value-bytes", "3"], /--value-bytes: expected an integer in 11\.\./],
    [["--bogus"], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of usage) {
    test(`${args.join(" ")}: exit 2`, async () => {
      const out = await script("scripts/vs-etcd.ts", args);
      expect(out.code).toBe(2);
      expect(out.stderr.split("\n").length).toBe(1);
      expect(out.stderr).toMatch(message);
    });
  }

  test("no etcd binary: says what to install, exit 1, before creating anything", async () => {
    const out = await script("scripts/vs-etcd.ts", ["--etcd-binary", "/nonexistent/etcd", "--systems", "etcd-fsync"]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^vs-etcd needs .*\/nonexistent\/etcd \(etcd: install Debian's etcd-server with \.\/scripts\/setup\.sh --with-etcd/);
    expect(out.stdout).toBe("");
  });
});

describe("etcd load generator flags", () => {
  test("no endpoints, a bad kv flag, an unknown flag: exit 2", async () => {
    expect(await script("scripts/etcd/bench.ts", [])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--endpoints/) });
    expect(await script("scripts/etcd/bench.ts", ["--endpoints", "http://127.0.0.1:1", "--read-ratio", "2"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--read-ratio: expected a number in 0\.\.1/) });
    expect(await script("scripts/etcd/bench.ts", ["--endpoints", "http://127.0.0.1:1", "--nope"])).toMatchObject({ code: 2 });
  });
});
