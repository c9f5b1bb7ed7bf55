// Examples shown under `--help`, by command path ("" is electrode itself). A unit test checks that
// every command and subcommand has some.

export const examples: Readonly<Record<string, readonly string[]>> = {
  "": [
    "electrode config check --config cluster.yaml   # is the file right?",
    "electrode setup --id 1                         # as root: attach the eBPF fast paths",
    "electrode replica --id 1 --metrics 0.0.0.0:9464",
    "electrode client --bench --clients 16 --duration 10",
    "electrode client info                          # what each replica runs: status, view, fast paths",
    "electrode status --json",
    "electrode demo                                 # no cluster at hand: namespaces on this machine",
  ],
  replica: [
    "electrode replica --id 1                                   # config from ./electrode.yaml or /etc/electrode/cluster.yaml",
    "electrode replica --id 2 --config /etc/electrode/cluster.yaml --metrics 0.0.0.0:9464",
    "electrode replica --id 3 --opt none                        # pure user space, even if setup attached fast paths",
    "electrode replica --id 1 --app null --stats                # protocol only; print counters as JSON on exit",
  ],
  client: [
    "electrode client put color blue",
    "electrode client get color --json",
    "electrode client --bench --clients 16 --duration 10 --json result.json",
    "electrode client --bench --workload kv --history history.jsonl   # for a linearizability checker",
    "electrode client --bench --workload kv --cas-ratio 0.3 --delete-ratio 0.1 --keys 4",
    "electrode client info                        # each replica: status, view, leader, fast paths, op, commit",
  ],
  "client info": [
    "electrode client info                 # one line per replica; exit 1 when one does not answer",
    "electrode client info --json --timeout 500",
  ],
  "client put": ["electrode client put color blue", "electrode client put color blue --json --timeout 2000"],
  "client get": ["electrode client get color", "electrode client get color --json    # {\"ok\":true,\"key\":\"color\",\"value\":\"blue\",...}"],
  "client delete": ["electrode client delete color", "electrode client delete color --json    # {\"ok\":true,\"key\":\"color\",\"existed\":true,...}"],
  "client cas": [
    "electrode client cas color green --expect blue    # swap only if it holds blue; exit 1 if not",
    "electrode client cas lock me --absent             # only if absent",
    "electrode client cas color green --expect blue --json",
  ],
  setup: [
    "electrode setup --id 1                 # as root: load, fill the peer table, pin, attach",
    "electrode setup --id 1 --check         # what the kernel and NIC support, what is attached; changes nothing",
    "electrode setup --id 1 --check --json",
    "electrode setup --id 1 --teardown      # detach and unpin everything setup made",
    "electrode setup --id 1 --opt tc-broadcast        # only some fast paths",
    "electrode setup --id 1 --xdp-mode generic        # XDP in generic (skb) mode",
    "electrode setup --stub veth-r1                   # XDP_PASS stub on a veth peer, so native XDP_TX arrives",
  ],
  floor: [
    "electrode floor --serve 10.0.0.2:12399 --duration 10     # on one host",
    "electrode floor --to 10.0.0.2:12399 --duration 3 --json  # on another: round trips with nothing in between",
    "electrode floor --to 10.0.0.2:12399 --clients 64         # 64 in flight: the most round trips/s any leader could serve",
  ],
  check: [
    "electrode check history.jsonl                  # from: electrode client --bench --workload kv --history history.jsonl",
    "electrode check history.jsonl --json --timeout 120   # exit 0 linearizable, 1 not (or undecided), 2 bad input",
  ],
  status: ["electrode status                 # the replicas of this node, what is attached, live counters", "electrode status --id 2 --json"],
  demo: ["electrode demo", "electrode demo --replicas 5 --clients 32 --duration 10 --json demo.json"],
  version: ["electrode version", "electrode version --json           # version, kernel, libbpf, bun"],
  config: ["electrode config check", "electrode config check --config cluster.yaml --json"],
  "config check": [
    "electrode config check                         # the file the lookup finds ($ELECTRODE_CONFIG, ./electrode.yaml, /etc/electrode/cluster.yaml)",
    "electrode config check --config cluster.yaml --json   # exit 2 and {\"ok\":false,...} when broken",
  ],
};

export function formatExamples(path: string): string | undefined {
  const list = examples[path];
  if (!list || list.length === 0) return undefined;
  return ["EXAMPLES", "", ...list.map((line) => `  ${line}`), ""].join("\n");
}
