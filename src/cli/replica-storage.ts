// `electrode replica`'s data directory: the config's `storage:` with --data-dir supplying or
// overriding its dir (several replicas on one machine each need their own). --data-dir alone
// means `storage: { fsync: always }`.

import type { Config, ReplicaConfig, StorageConfig } from "../config/config.ts";
import type { DurableState } from "../core/types.ts";
import { DataDirError, Store } from "../storage/store.ts";
import { UsageError } from "./common.ts";

export interface OpenedStorage {
  readonly store: Store;
  readonly durable: DurableState | undefined;
  /** The disk holds all this replica acknowledged: it rejoins by a view change (store.ts). */
  readonly rejoin: boolean;
  readonly config: StorageConfig;
}

/** The storage this replica runs with (undefined: memory only), opened and loaded. */
export function openStorage(dataDir: string | undefined, config: Config, self: ReplicaConfig, log: { info(m: string): void; warn(m: string): void }): OpenedStorage | undefined {
  if (dataDir === "") throw new UsageError("--data-dir: expected a directory");
  const storage: StorageConfig | undefined = config.storage ?? (dataDir === undefined ? undefined : { dir: undefined, fsync: "always", fsyncIntervalMs: 100 });
  if (!storage) return undefined;
  const dir = dataDir ?? storage.dir;
  if (dir === undefined) throw new UsageError(`${config.file}: storage: has no dir: give it one, or --data-dir DIR`);
  let store: Store;
  try {
    store = Store.open(dir, { clusterId: config.clusterId, replicaId: self.id }, storage.fsync, storage.fsyncIntervalMs);
  } catch (e) {
    if (e instanceof DataDirError) throw new UsageError(e.message);
    throw e;
  }
  const loaded = store.load();
  for (const note of loaded.notes) log.warn(`storage: ${note}`);
  const d = loaded.state;
  const what = d ? `checkpoint ${d.checkpoint?.op ?? "none"}, log to op ${(d.checkpoint?.op ?? 0) + d.entries.reduce((n, e) => n + e.count, 0)}, view ${d.view}` : "empty";
  log.info(`storage: ${dir}, fsync ${storage.fsync}${storage.fsync === "interval" ? ` every ${storage.fsyncIntervalMs} ms` : ""}; loaded ${what} in ${(store.metrics.recoveryS * 1000).toFixed(0)} ms`);
  const rejoin = d !== undefined && storage.fsync === "always" && !loaded.damaged;
  if (d) log.info(rejoin ? "storage: its disk holds all this replica acknowledged: it rejoins its view (a view change only if it led that view)" : `storage: ${loaded.damaged ? "a damaged disk" : `fsync ${storage.fsync}`} may lack what this replica acknowledged: it recovers from its peers (its disk counts only if the whole cluster restarts)`);
  return { store, durable: d, rejoin, config: storage };
}

/** Why fast reply cannot run with this storage (undefined: it can). */
export function fastReplyConflict(storage: StorageConfig | undefined): string | undefined {
  if (storage?.fsync !== "always") return undefined;
  return "storage.fsync always: the kernel acks a Prepare before user space sees it, so the ack could not wait for the disk";
}
