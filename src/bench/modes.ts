// The fast-path modes benchmarks compare side by side (demo, scripts/bench-modes.ts): each adds one
// of Electrode's optimizations to the one before. Setup attaches all of them once; a replica
// started with `--opt` uses the ones named.

export interface BenchMode {
  /** Name in tables and JSON. */
  readonly name: string;
  /** The replica's --opt. */
  readonly opt: string;
}

export const benchModes: readonly BenchMode[] = [
  { name: "none", opt: "none" },
  { name: "tc-broadcast", opt: "tc-broadcast" },
  { name: "+quorum-prune", opt: "tc-broadcast,quorum-prune" },
  { name: "all", opt: "tc-broadcast,quorum-prune,fast-reply" },
  { name: "quorum-prune", opt: "quorum-prune" },
  { name: "fast-reply", opt: "fast-reply" },
];

export const defaultModes = ["none", "tc-broadcast", "+quorum-prune", "all"] as const;

export function benchMode(name: string): BenchMode {
  const mode = benchModes.find((m) => m.name === name);
  if (!mode) throw new Error(`unknown mode '${name}' (${benchModes.map((m) => m.name).join(", ")})`);
  return mode;
}

/** Counter differences a run made, without the ones that did not move. */
export function counterDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => v !== 0));
}
