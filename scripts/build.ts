// Builds dist/electrode: one executable with everything inside (bun build --compile).
// Usage: bun run build

import { $ } from "bun";
import { mkdirSync } from "node:fs";

const root = new URL("..", import.meta.url).pathname;
mkdirSync(`${root}/dist`, { recursive: true });
const started = performance.now();
await $`bun build --compile --minify-syntax --sourcemap=none ${root}/src/cli/main.ts --outfile ${root}/dist/electrode`.cwd(root).quiet();
console.log(`built dist/electrode in ${((performance.now() - started) / 1000).toFixed(1)}s`);
