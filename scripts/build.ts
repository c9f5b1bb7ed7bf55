// Builds dist/electrode: one executable with everything inside (bun build --compile).
// Usage: bun run build

import { $ } from "bun";
import { mkdirSync } from "node:fs";

const root = new URL("..", import.meta.url).pathname;
mkdirSync(`${root}/dist`, { recursive: true });
const started = performance.now();

// eBPF programs first: the executable embeds them (all but test_chaos, which only the tests and
// the soak load, from bpf/build, for loss and duplication on the local cluster: src/local/chaos.ts).
mkdirSync(`${root}/bpf/build`, { recursive: true });
for (const name of ["tc_broadcast", "xdp_fast", "xdp_pass", "test_chaos"]) {
  const source = `${root}/bpf/${name}.bpf.c`;
  const object = `${root}/bpf/build/${name}.bpf.o`;
  await $`clang -O2 -g -Wall -Werror -target bpf -I/usr/include/x86_64-linux-gnu -I${root}/bpf -c ${source} -o ${object}`;
  await $`llvm-strip -g ${object}`; // drop DWARF, keep BTF
}

// The metrics worker is a second entry point: a Worker's code must be listed to be in the binary.
await $`bun build --compile --minify-syntax --sourcemap=none ${root}/src/cli/main.ts ${root}/src/node/metrics-worker.ts --outfile ${root}/dist/electrode`.cwd(root).quiet();
console.log(`built dist/electrode in ${((performance.now() - started) / 1000).toFixed(1)}s`);
