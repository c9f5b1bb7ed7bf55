// A strict reader of the Prometheus text exposition format (0.0.4) for tests: every sample must
// belong to a family announced with HELP and TYPE; returns "name{labels}" -> value.

export function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const helped = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const help = /^# HELP (\w+) \S/.exec(line);
    if (help) {
      helped.add(help[1]!);
      continue;
    }
    const type = /^# TYPE (\w+) (gauge|counter|histogram)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const name = m[1]!;
    const base = name.replace(/_(bucket|sum|count)$/, "");
    const family = types.get(name) ? name : types.get(base) === "histogram" ? base : undefined;
    if (!family || !helped.has(family)) throw new Error(`sample without HELP/TYPE: ${line}`);
    const value = m[3] === "+Inf" ? Infinity : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== "NaN") throw new Error(`bad value: ${line}`);
    samples.set(`${name}${m[2] ?? ""}`, value);
  }
  return samples;
}
