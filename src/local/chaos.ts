// Random loss and duplication on a local namespace cluster, by a test-only tc program
// (bpf/test_chaos.bpf.c, built by `bun run build` into bpf/build, never embedded in the executable).
//
// The program sits on tc egress of the bridge side of every replica's veth (in the bridge
// namespace), i.e. on everything going INTO a replica: user-space sends, the leader's tc
// broadcast clones and the followers' XDP_TX fast replies alike (the last two never pass their
// sender's netfilter or its own egress hook in user-space order, see src/local/nemesis.ts).
// Its filter uses its own handle and priority, and runs before any other filter on that hook.
//
// A helper process does the kernel work inside the bridge namespace (`nsenter --net`): the owner
// process never changes namespace. The helper holds the object, takes one JSON command a line on
// stdin and answers one JSON line on stdout; on "quit", on SIGTERM or when its stdin closes (the
// owner died) it detaches its filters and removes the clsact qdiscs it created. Whatever a killed
// helper leaves sits on devices of the cluster's namespaces and goes with them.

import type { Subprocess } from "bun";
import { ptr } from "bun:ffi";
import { readFileSync } from "node:fs";
import { check, libbpf } from "../../ffi/libbpf.ts";
import { libc } from "../../ffi/libc.ts";
import { BpfObject } from "../kernel/object.ts";
import { attachEgress, destroyClsact, detachEgress, ensureClsact, type TcFilterId } from "../kernel/tc.ts";
import type { LocalCluster } from "./cluster.ts";

/** The chaos filter's handle and priority: not electrode's (0xe1ec, 0xe1), and a lower priority
 * number, so it runs first. */
export const chaosFilter: TcFilterId = { handle: 0xc4a0, priority: 0x10 };

export const chaosObjectPath = new URL("../../bpf/build/test_chaos.bpf.o", import.meta.url).pathname;

/** Loss and duplication, in percent, of frames into one replica. */
export interface ChaosRates {
  readonly dropPct: number;
  readonly dupPct: number;
}

export interface ChaosCounters {
  readonly seen: number;
  readonly dropped: number;
  readonly duplicated: number;
  readonly dupErrors: number;
}

/** struct chaos_params: drop_ppm u32, dup_ppm u32, then four u64 counters. */
const params = { size: 40, dropPpm: 0, dupPpm: 4, seen: 8, dropped: 16, duplicated: 24, dupErrors: 32 } as const;

type Command = { op: "set"; ifaces: string[]; dropPct: number; dupPct: number } | { op: "counters"; ifaces: string[] } | { op: "quit" };

// ---- The owner's side. ----

export class Chaos {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: Record<string, unknown>) => void>();
  private closed = false;
  private readonly done: Promise<void>;

  private constructor(
    private readonly local: LocalCluster,
    private readonly proc: Subprocess<"pipe", "pipe", "pipe">,
  ) {
    this.done = this.readReplies();
  }

  /** Starts the helper in the bridge namespace with the program on every replica's port. */
  static async start(local: LocalCluster): Promise<Chaos> {
    const ifaces = local.replicas.map((r) => local.bridgePort(r.id));
    const argv = local.nsExec(local.bridgeNs, [process.execPath, "run", new URL(import.meta.url).pathname, "helper", JSON.stringify({ ifaces })]);
    const proc = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const chaos = new Chaos(local, proc);
    // The first answer says the program is loaded and attached everywhere.
    await chaos.request({ op: "counters", ifaces }).catch(async (e: Error) => {
      const stderr = await new Response(proc.stderr).text().catch(() => "");
      throw new Error(`chaos helper did not start: ${e.message} ${stderr.trim()}`);
    });
    return chaos;
  }

  private port(id: number): string {
    return this.local.bridgePort(id);
  }

  /** Sets loss and duplication of frames into the given replicas (0 and 0: none). */
  async set(replicaIds: readonly number[], rates: ChaosRates): Promise<void> {
    await this.request({ op: "set", ifaces: replicaIds.map((id) => this.port(id)), dropPct: rates.dropPct, dupPct: rates.dupPct });
  }

  /** Everything back to no loss and no duplication. */
  async clear(): Promise<void> {
    await this.set(this.local.replicas.map((r) => r.id), { dropPct: 0, dupPct: 0 });
  }

  /** Counters per replica id, since the helper started. */
  async counters(): Promise<Map<number, ChaosCounters>> {
    const reply = await this.request({ op: "counters", ifaces: this.local.replicas.map((r) => this.port(r.id)) });
    const byIface = reply.counters as Record<string, ChaosCounters>;
    return new Map(this.local.replicas.map((r) => [r.id, byIface[this.port(r.id)]!]));
  }

  /** Detaches everything and stops the helper. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const timer = setTimeout(() => this.proc.kill("SIGTERM"), 5000);
    try {
      this.send({ op: "quit" });
      this.proc.stdin.end();
    } catch {
      // already gone
    }
    await this.proc.exited;
    clearTimeout(timer);
    await this.done;
  }

  private send(command: Command & { id?: number }): void {
    this.proc.stdin.write(JSON.stringify(command) + "\n");
    this.proc.stdin.flush();
  }

  private request(command: Command): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new Error("chaos helper closed"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`chaos helper: no answer to ${command.op} in 10 s`));
      }, 10_000);
      this.waiting.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.error) reject(new Error(`chaos helper: ${String(reply.error)}`));
        else resolve(reply);
      });
      this.send({ ...command, id });
    });
  }

  private async readReplies(): Promise<void> {
    let buffered = "";
    const decoder = new TextDecoder();
    for await (const chunk of this.proc.stdout) {
      buffered += decoder.decode(chunk);
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let reply: Record<string, unknown>;
        try {
          reply = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        const id = Number(reply.id);
        this.waiting.get(id)?.(reply);
        this.waiting.delete(id);
      }
    }
    for (const [id, answer] of this.waiting) answer({ id, error: "helper exited" });
    this.waiting.clear();
  }
}

// ---- The helper, inside the bridge namespace. ----

interface Attached {
  readonly ifindex: number;
  readonly createdQdisc: boolean;
}

class ChaosHelper {
  private readonly object: BpfObject;
  private readonly mapFd: number;
  private readonly attached = new Map<string, Attached>();
  private readonly key = new Uint32Array(1);
  private readonly value = new Uint8Array(new ArrayBuffer(params.size));

  constructor(ifaces: readonly string[]) {
    this.object = BpfObject.open("test_chaos", new Uint8Array(readFileSync(chaosObjectPath)));
    try {
      this.object.load(["chaos_egress"]);
      const prog = this.object.programFd("chaos_egress");
      this.mapFd = this.object.mapFd("chaos_params");
      for (const iface of ifaces) {
        const ifindex = libc.if_nametoindex(Buffer.from(`${iface}\0`));
        if (ifindex === 0) throw new Error(`no interface ${iface} in this namespace`);
        const createdQdisc = ensureClsact(ifindex);
        this.attached.set(iface, { ifindex, createdQdisc });
        attachEgress(ifindex, prog, chaosFilter);
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private ifindex(iface: string): number {
    const a = this.attached.get(iface);
    if (!a) throw new Error(`chaos is not attached to ${iface}`);
    return a.ifindex;
  }

  /** Reads the entry of `iface` into this.value (zeros when there is none). */
  private read(iface: string): DataView {
    this.key[0] = this.ifindex(iface);
    this.value.fill(0);
    libbpf().bpf_map_lookup_elem(this.mapFd, ptr(this.key), ptr(this.value)); // ENOENT: stays zero
    return new DataView(this.value.buffer);
  }

  set(ifaces: readonly string[], dropPct: number, dupPct: number): void {
    const ppm = (pct: number) => Math.round(Math.min(100, Math.max(0, pct)) * 10_000);
    for (const iface of ifaces) {
      const v = this.read(iface); // keeps the counters
      v.setUint32(params.dropPpm, ppm(dropPct), true);
      v.setUint32(params.dupPpm, ppm(dupPct), true);
      check("bpf_map_update_elem (chaos_params)", libbpf().bpf_map_update_elem(this.mapFd, ptr(this.key), ptr(this.value), 0));
    }
  }

  counters(ifaces: readonly string[]): Record<string, ChaosCounters> {
    const out: Record<string, ChaosCounters> = {};
    for (const iface of ifaces) {
      const v = this.read(iface);
      const u64 = (at: number) => Number(v.getBigUint64(at, true));
      out[iface] = { seen: u64(params.seen), dropped: u64(params.dropped), duplicated: u64(params.duplicated), dupErrors: u64(params.dupErrors) };
    }
    return out;
  }

  close(): void {
    for (const { ifindex, createdQdisc } of this.attached.values()) {
      try {
        detachEgress(ifindex, chaosFilter);
        if (createdQdisc) destroyClsact(ifindex);
      } catch (e) {
        console.error(`chaos helper: detach from ifindex ${ifindex}: ${(e as Error).message}`);
      }
    }
    this.attached.clear();
    this.object.close();
  }
}

async function helperMain(job: { ifaces: string[] }): Promise<void> {
  const helper = new ChaosHelper(job.ifaces);
  let closed = false;
  const shutdown = () => {
    if (closed) return;
    closed = true;
    helper.close();
  };
  process.on("SIGTERM", () => {
    shutdown();
    process.exit(0);
  });
  process.on("SIGINT", () => {
    shutdown();
    process.exit(0);
  });
  try {
    for await (const line of console) {
      if (line.trim() === "") continue;
      let command: Command & { id?: number };
      try {
        command = JSON.parse(line) as Command & { id?: number };
      } catch {
        continue;
      }
      if (command.op === "quit") break;
      try {
        if (command.op === "set") {
          helper.set(command.ifaces, command.dropPct, command.dupPct);
          console.log(JSON.stringify({ id: command.id, ok: true }));
        } else {
          console.log(JSON.stringify({ id: command.id, ok: true, counters: helper.counters(command.ifaces) }));
        }
      } catch (e) {
        console.log(JSON.stringify({ id: command.id, error: (e as Error).message }));
      }
    }
  } finally {
    shutdown(); // "quit", or stdin closed: the owner is gone
  }
}

if (import.meta.main) {
  const [mode, job] = process.argv.slice(2);
  if (mode !== "helper" || !job) {
    console.error("usage (run by src/local/chaos.ts itself, inside the bridge namespace): bun run src/local/chaos.ts helper '{\"ifaces\":[...]}'");
    process.exit(2);
  }
  await helperMain(JSON.parse(job) as { ifaces: string[] });
}
