// etcd's KV service as the benchmark uses it: put, linearizable get, and finding the leader.
//
// Requests go to the leader: a follower would forward a Put to it and, for a linearizable Range,
// ask it for a read index first, adding a hop that electrode's client (which sends to the replica
// it believes leads) does not pay. The leader is the member whose Status names itself as leader.
//
// Connections: `conns` HTTP/2 connections to the leader (default 1), the closed-loop clients
// spread over them round-robin, each request a stream. One connection for all is what one
// clientv3.Client does (it multiplexes every call on the connection to its pinned endpoint) and
// etcd's own benchmark tool defaults to (--conns 1); scripts/vs-etcd.ts takes --etcd-conns to check
// that the connection is not what limits.

import { GrpcConnection } from "./grpc.ts";
import {
  decodePutResponse,
  decodeRangeResponse,
  decodeStatusResponse,
  encodePutRequest,
  encodeRangeRequest,
  encodeStatusRequest,
  etcdMethods,
  type StatusResponse,
} from "./messages.ts";

export interface MemberStatus {
  readonly endpoint: string;
  readonly status: StatusResponse;
}

/** Status of every member, in the order given; throws naming the members that did not answer. */
export async function memberStatuses(endpoints: readonly string[], timeoutMs: number): Promise<MemberStatus[]> {
  const results = await Promise.allSettled(
    endpoints.map(async (endpoint) => {
      const conn = await GrpcConnection.connect(endpoint, timeoutMs);
      try {
        return { endpoint, status: decodeStatusResponse(await conn.call(etcdMethods.status, encodeStatusRequest(), timeoutMs)) };
      } finally {
        conn.close();
      }
    }),
  );
  const failed = results.flatMap((r, i) => (r.status === "rejected" ? [`${endpoints[i]}: ${(r.reason as Error).message}`] : []));
  if (failed.length > 0) throw new Error(`no Status from ${failed.join("; ")}`);
  return results.map((r) => (r as PromiseFulfilledResult<MemberStatus>).value);
}

/** The endpoint of the member every member agrees leads, or undefined (no leader yet, or an election). */
export function leaderOf(statuses: readonly MemberStatus[]): string | undefined {
  const leader = statuses[0]?.status.leader;
  if (!leader || statuses.some((s) => s.status.leader !== leader)) return undefined;
  return statuses.find((s) => s.status.header.memberId === leader)?.endpoint;
}

/** WAL fsyncs a member made since it started, from its Prometheus metrics (served on the client
 * URL). With --unsafe-no-fsync the WAL skips them (a couple happen while the WAL is created). */
export async function walFsyncs(endpoint: string): Promise<{ count: number; seconds: number }> {
  const text = await (await fetch(`${endpoint}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
  const metric = (name: string) => {
    const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
    if (!m) throw new Error(`${endpoint}/metrics: no ${name}`);
    return Number(m[1]);
  };
  return { count: metric("etcd_disk_wal_fsync_duration_seconds_count"), seconds: metric("etcd_disk_wal_fsync_duration_seconds_sum") };
}

export class EtcdKv {
  private constructor(
    readonly endpoint: string,
    private readonly conns: GrpcConnection[],
    private readonly timeoutMs: number,
  ) {}

  static async connect(endpoint: string, opts: { conns: number; timeoutMs: number }): Promise<EtcdKv> {
    const conns = await Promise.all(Array.from({ length: opts.conns }, () => GrpcConnection.connect(endpoint, opts.timeoutMs)));
    return new EtcdKv(endpoint, conns, opts.timeoutMs);
  }

  /** The connection of closed-loop client `index`: round-robin, fixed for the client. */
  private conn(index: number): GrpcConnection {
    return this.conns[index % this.conns.length]!;
  }

  async put(index: number, key: Uint8Array, value: Uint8Array): Promise<void> {
    decodePutResponse(await this.conn(index).call(etcdMethods.put, encodePutRequest(key, value), this.timeoutMs));
  }

  /** Linearizable get (etcd's default Range): the value, or null when the key is absent. */
  async get(index: number, key: Uint8Array): Promise<Uint8Array | null> {
    const answer = decodeRangeResponse(await this.conn(index).call(etcdMethods.range, encodeRangeRequest(key), this.timeoutMs));
    return answer.kvs[0]?.value ?? null;
  }

  close(): void {
    for (const c of this.conns) c.close();
  }
}
