// scripts/memory-bench.ts: bad flags are one usage line (exit 2), said before anything is created.

import { describe, expect, test } from "bun:test";

const root = new URL("../..", import.meta.url).pathname;

async function script(args: string[]) {
  const proc = Bun.spawn([process.execPath, "run", `${root}/scripts/memory-bench.ts`, ...args], { stdout: "pipe", stderr: "pipe", cwd: root });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr: stderr.trim(), code };
}

describe("memory-bench flags", () => {
  const usage: [string[], RegExp][] = [
    [["--app", "sql"], /--app: expected null or kv, got sql/],
    [["--minutes", "0"], /--minutes: expected a positive number/],
    [["--every", "60", "--sample", "90"], /--sample: expected seconds > 0, at most --every \(60\)/],
    [["--replicas", "4"], /--replicas: expected an odd number 3\.\.31/],
    [["--minutes", "5", "--from", "5"], /--from: expected minutes below --minutes \(5\)/],
    [["--restart-after", "10,5"], /--restart-after: counts must increase/],
    [["--restart-after", "1e3x"], /--restart-after: expected committed op counts, got '1e3x'/],
    [["--binary", "/nonexistent/electrode"], /\/nonexistent\/electrode missing: bun run build/],
    [["--bogus"], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of usage) {
    test(`${args.join(" ")}: exit 2`, async () => {
      const out = await script(args);
      expect(out.code).toBe(2);
      expect(out.stderr.split("\n").length).toBe(1);
      expect(out.stderr).toMatch(message);
      expect(out.stdout).toBe("");
    });
  }
});
