// Operating the compiled binary on a namespace cluster: Prometheus metrics scraped from inside the
// namespaces move with a bench (fast-path counters included), `setup --check` says what is
// attached and what is missing, `config check` rejects broken files with exit 2, and a metrics
// port in use fails the replica with one line.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseExposition } from "../prometheus.ts";
import { bench, binary, isRoot, runBinary, startCluster, type Harness } from "./harness.ts";

const metricsPort = 9464;

/** GET url from inside namespace `ns` (traffic stays in the namespaces): status, type and body. */
async function scrapeFrom(h: Harness, ns: string, url: string) {
  const script = "const r = await fetch(process.argv.at(-1)); console.log(JSON.stringify({ status: r.status, type: r.headers.get('content-type'), body: await r.text() }))";
  const proc = Bun.spawn(h.cluster.local.nsExec(ns, [process.execPath, "-e", script, url]), { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`scrape ${url} from ${ns} failed: ${err}`);
  return JSON.parse(out) as { status: number; type: string; body: string };
}

async function metricsOf(h: Harness, replicaIndex: number): Promise<Map<string, number>> {
  const r = h.cluster.local.replicas[replicaIndex]!;
  const page = await scrapeFrom(h, h.cluster.local.clients[0]!.ns, `http://${r.ip}:${metricsPort}/metrics`);
  expect(page.status).toBe(200);
  expect(page.type).toBe("text/plain; version=0.0.4; charset=utf-8");
  return parseExposition(page.body);
}

async function runIn(h: Harness, ns: string, args: string[], asNobody = false) {
  const drop = asNobody ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
  const proc = Bun.spawn(h.cluster.local.nsExec(ns, [...drop, binary, ...args]), { stdout: "pipe", stderr: "pipe", cwd: "/" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

describe.skipIf(!isRoot)("metrics and setup --check on a namespace cluster", () => {
  let h: Harness | undefined;
  beforeAll(async () => {
    h = await startCluster(3, { setup: true, replicaArgs: ["--metrics", `0.0.0.0:${metricsPort}`] });
  });
  afterAll(async () => {
    await h?.close();
  });

  test("scrapes show one leader, and the request, commit and fast-path counters move with a bench", async () => {
    const before = await Promise.all([0, 1, 2].map((i) => metricsOf(h!, i)));
    const leaders = before.filter((m) => m.get('electrode_role{role="leader"}') === 1);
    expect(leaders.length).toBe(1);
    const leader = before.indexOf(leaders[0]!);
    for (const m of before) {
      expect(m.get("electrode_view")).toBe(before[leader]!.get("electrode_view")!);
      expect(m.get('electrode_info{version="0.2.0",cluster="' + h!.cluster.config.name + '",replica="' + (before.indexOf(m) + 1) + '",fast_paths="tc-broadcast,quorum-prune,fast-reply"}')).toBe(1);
    }
    const load = bench(h!.cluster, ["--clients", "8", "--duration", "2", "--warmup", "0.3"]);
    await Bun.sleep(1300);
    const during = await metricsOf(h!, leader); // the worker answers while the loop is busy
    const result = await load;
    expect(result.errors).toBe(0);
    expect(result.ops).toBeGreaterThan(100);
    await Bun.sleep(1200); // fast-path counters are refreshed about once a second
    const after = await Promise.all([0, 1, 2].map((i) => metricsOf(h!, i)));
    const grew = (i: number, name: string) => after[i]!.get(name)! - before[i]!.get(name)!;
    expect(grew(leader, "electrode_requests_total")).toBeGreaterThanOrEqual(result.ops);
    expect(during.get("electrode_requests_total")!).toBeGreaterThan(before[leader]!.get("electrode_requests_total")!);
    expect(during.get("electrode_requests_total")!).toBeLessThanOrEqual(after[leader]!.get("electrode_requests_total")!);
    expect(grew(leader, "electrode_replies_total")).toBeGreaterThanOrEqual(result.ops);
    expect(grew(leader, "electrode_commit_number")).toBeGreaterThanOrEqual(result.ops);
    expect(grew(leader, "electrode_commit_latency_seconds_count")).toBeGreaterThanOrEqual(result.ops);
    expect(grew(leader, 'electrode_commit_latency_seconds_bucket{le="+Inf"}')).toBe(grew(leader, "electrode_commit_latency_seconds_count"));
    expect(grew(leader, 'electrode_messages_sent_total{type="Prepare"}')).toBeGreaterThan(0);
    expect(grew(leader, 'electrode_messages_received_total{type="PrepareOk"}')).toBeGreaterThan(0);
    // The leader sends one marked datagram per Prepare; the tc program makes the clones. Its XDP
    // passes up one ack per op, the followers' XDP acks their Prepares and hands them over.
    expect(grew(leader, 'electrode_fast_path_total{counter="tc_broadcast_clones"}')).toBeGreaterThan(0);
    expect(grew(leader, 'electrode_fast_path_total{counter="xdp_pass_quorum"}')).toBeGreaterThan(0);
    for (const i of [0, 1, 2].filter((x) => x !== leader)) {
      expect(grew(i, 'electrode_fast_path_total{counter="xdp_fast_acked"}')).toBeGreaterThan(0);
      expect(after[i]!.get("electrode_commit_number")!).toBeGreaterThan(before[i]!.get("electrode_commit_number")!);
      expect(after[i]!.get('electrode_role{role="follower"}')).toBe(1);
    }
  });

  test("other paths answer 404; a scrape does not disturb serving", async () => {
    const r = h!.cluster.local.replicas[0]!;
    const page = await scrapeFrom(h!, h!.cluster.local.clients[0]!.ns, `http://${r.ip}:${metricsPort}/nope`);
    expect(page.status).toBe(404);
    const put = await h!.cluster.client(["put", "after-scrape", "yes"]);
    expect(put.code).toBe(0);
  });

  test("setup --check with the fast paths attached: exit 0, everything ok", async () => {
    const r = h!.cluster.local.replicas[1]!;
    const out = await runIn(h!, r.ns, ["setup", "--check", "--id", String(r.id), "--config", h!.cluster.configPath, "--json"]);
    expect(out.code).toBe(0);
    const report = JSON.parse(out.stdout);
    expect(report.ok).toBe(true);
    expect(report.wouldAttach[0]).toMatchObject({ fastPath: "tc-broadcast", attached: true });
    const names = report.checks.map((c: { name: string }) => c.name);
    for (const name of ["kernel", "libbpf", "permission", "bpffs", "btf", "clsact", "nic", "driver", "peer 1", "peer 3"]) expect(names).toContain(name);
    expect(report.checks.find((c: { name: string }) => c.name === "driver").detail).toContain("veth: native XDP likely");
  });

  test("setup --check without permission: exit 1, says permission is missing", async () => {
    const r = h!.cluster.local.replicas[1]!;
    // A copy of the config that nobody can read (the harness's directory is private).
    const dir = mkdtempSync(join(tmpdir(), "electrode-ops-nobody-"));
    chmodSync(dir, 0o755);
    const config = join(dir, "cluster.yaml");
    writeFileSync(config, readFileSync(h!.cluster.configPath));
    chmodSync(config, 0o644);
    let out: Awaited<ReturnType<typeof runIn>>;
    try {
      out = await runIn(h!, r.ns, ["setup", "--check", "--id", String(r.id), "--config", config], true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/MISSING\s+permission\s+uid 65534 lacks CAP_BPF and CAP_NET_ADMIN/);
    expect(out.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^electrode: setup --check: missing: permission/)]);
  });

  test("SIGTERM logs that the fast paths stay attached; after teardown setup --check exits 1 saying tc-broadcast is not attached", async () => {
    const cluster = h!.cluster;
    await cluster.stopAll();
    const log = await Bun.file(cluster.replicas[0]!.logFile).text();
    expect(log).toContain("SIGTERM: stopping; tc-broadcast stays attached on eth0 (electrode setup --id 1 --teardown removes it); this process's XDP instance detaches as it exits (the next start attaches a new one)");
    await cluster.setupAll(true);
    const r = cluster.local.replicas[0]!;
    const out = await runIn(h!, r.ns, ["setup", "--check", "--id", String(r.id), "--config", cluster.configPath]);
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/tc-broadcast\s+NOT attached/);
    expect(out.stderr.trim()).toBe(`electrode: setup --check: not attached: tc-broadcast, quorum-prune, fast-reply (run: electrode setup --id ${r.id})`);
  });
});

describe("config check and --metrics errors", () => {
  const dir = mkdtempSync(join(tmpdir(), "electrode-ops-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const good = "f: 1\nreplicas:\n  - { id: 1, addr: 127.0.0.1:47301 }\n  - { id: 2, addr: 127.0.0.1:47302 }\n  - { id: 3, addr: 127.0.0.1:47303 }\n";

  const run = (args: string[]) => runBinary(args, { cwd: dir });

  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  test("a good file: exit 0 and a summary", async () => {
    const out = await run(["config", "check", "--config", file("good.yaml", `name: ops\n${good}metrics: 127.0.0.1:9464\n`)]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain("cluster ops");
    expect(out.stdout).toContain("f=1, 3 replicas, quorum 2");
    expect(out.stdout).toContain("127.0.0.1:47302");
    expect(out.stdout).toContain("metrics: http://127.0.0.1:9464/metrics");
  });

  const broken: [string, string, RegExp][] = [
    ["yaml.yaml", "f: 1\nreplicas: [\n", /not valid YAML at line/],
    ["count.yaml", good.replace(/  - \{ id: 3.*\n/, ""), /replicas: f: 1 needs exactly 3 replicas \(2f\+1\), found 2/],
    ["unknown.yaml", `${good}metric: 1.2.3.4:9\n`, /metric: unknown field/],
    ["metrics.yaml", `${good}metrics: 9464\n`, /metrics: expected ADDR:PORT/],
    ["dup.yaml", good.replace("47303", "47302"), /replicas\[2\]\.addr: 127\.0\.0\.1:47302 is also used by replicas\[1\]/],
  ];
  for (const [name, text, pattern] of broken) {
    test(`broken (${name}): exit 2, one line naming what is wrong; --json says ok: false`, async () => {
      const path = file(name, text);
      const out = await run(["config", "check", "--config", path]);
      expect(out.code).toBe(2);
      expect(out.stdout).toBe("");
      const lines = out.stderr.trim().split("\n");
      expect(lines.length).toBe(1);
      expect(lines[0]).toMatch(pattern);
      expect(lines[0]).toContain(name);
      const json = await run(["config", "check", "--config", path, "--json"]);
      expect(json.code).toBe(2);
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, file: path });
    });
  }

  test("missing file: exit 2", async () => {
    const out = await run(["config", "check", "--config", join(dir, "absent.yaml")]);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/absent\.yaml: file not found/);
  });

  test("--metrics nonsense: exit 2; metrics port in use: exit 1 with one line", async () => {
    const path = file("loop.yaml", good);
    const bad = await run(["replica", "--id", "1", "--config", path, "--metrics", "9464"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe("electrode: --metrics: expected ADDR:PORT (e.g. 0.0.0.0:9464) or off, got '9464'");
    const holder = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("taken") });
    try {
      const busy = await run(["replica", "--id", "1", "--config", path, "--metrics", `127.0.0.1:${holder.port}`, "--quiet"]);
      expect(busy.code).toBe(1);
      expect(busy.stderr.trim()).toBe(`electrode: cannot serve metrics on 127.0.0.1:${holder.port}: address already in use`);
    } finally {
      holder.stop(true);
    }
  });
});
