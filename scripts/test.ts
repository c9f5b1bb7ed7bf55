// The test command (README, .ci/run): unit and simulation tests, then the compiled binary, then
// integration tests on real network namespaces (root). Prints one closing line
// "tests: N passed, N failed" summed over all groups.
//
// Usage: bun run test [unit|sim|integration ...]

import { $ } from "bun";

const root = new URL("..", import.meta.url).pathname;
const groups: Record<string, string[]> = {
  unit: ["test/unit"],
  sim: ["test/sim"],
  integration: ["test/integration"],
};
const wanted = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(groups);
let passed = 0;
let failed = 0;
let broken = false;
let built = false;

for (const name of wanted) {
  const paths = groups[name];
  if (!paths) {
    console.error(`unknown test group '${name}' (groups: ${Object.keys(groups).join(", ")})`);
    process.exit(2);
  }
  if (name === "integration" && process.getuid?.() !== 0) {
    console.error("integration tests need root (network namespaces, eBPF): run as root");
    process.exit(1);
  }
  if (!built) {
    // The eBPF objects are imported by the kernel modules some unit tests load, and the
    // integration tests run the compiled binary: build once, first.
    console.log("== building bpf/build and dist/electrode");
    await $`bun run ${root}/scripts/build.ts`.cwd(root);
    built = true;
  }
  console.log(`== ${name}: bun test ${paths.join(" ")}`);
  // Integration tests start clusters: give each test up to two minutes.
  const proc = Bun.spawn(["bun", "test", "--timeout", "120000", ...paths.map((p) => `./${p}`)], {
    cwd: root,
    stdout: "inherit",
    stderr: "pipe",
    env: { ...process.env, FORCE_COLOR: "0" },
  });
  // bun test writes its report to stderr; pass it through and read the totals.
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of proc.stderr) {
    const s = decoder.decode(chunk);
    text += s;
    process.stderr.write(s);
  }
  const code = await proc.exited;
  const pass = Number(/^\s*(\d+) pass$/m.exec(text)?.[1] ?? 0);
  const fail = Number(/^\s*(\d+) fail$/m.exec(text)?.[1] ?? 0);
  passed += pass;
  failed += fail;
  if (code !== 0 && fail === 0) broken = true; // crashed or found no tests
  if (pass + fail === 0) broken = true;
}

console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 || broken ? 1 : 0);
