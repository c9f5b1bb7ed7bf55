// The cluster config: found, parsed and validated once; every command takes a Config.
//
// Contract (../shared/DESIGN.md): YAML from --config FILE, else $ELECTRODE_CONFIG, else
// ./electrode.yaml, else /etc/electrode/cluster.yaml. A bad file gets one message naming the
// field and the file, and exit code 2.

import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { clusterIdOf } from "../wire/codec.ts";
import { replicasMax } from "../wire/layout.ts";
import { defaultLimits } from "../core/types.ts";

export interface ReplicaConfig {
  readonly id: number;
  /** Position in `replicas`: view v is led by index v mod n. */
  readonly index: number;
  readonly host: string;
  readonly port: number;
  readonly addr: string;
  readonly iface: string | undefined;
  readonly mac: string | undefined;
}

export interface Timing {
  /** One protocol tick. */
  readonly tickMs: number;
  readonly viewChangeMs: number;
  readonly heartbeatMs: number;
  readonly resendMs: number;
  /** Leader leases for reads (src/core/lease.ts); 0: none. */
  readonly leaseMs: number;
  /** The bound on clock drift the leases assume, in parts per million. */
  readonly clockDriftPpm: number;
}

export interface Config {
  readonly file: string;
  /** Cluster name: setup state lives under /run/electrode/<name>/. */
  readonly name: string;
  readonly clusterId: number;
  readonly f: number;
  readonly replicas: readonly ReplicaConfig[];
  readonly timing: Timing;
  readonly batchMax: number;
  readonly pipelineMax: number;
  /** A checkpoint every this many committed ops; the log keeps logRetainOps below it. */
  readonly checkpointOps: number;
  readonly logRetainOps: number;
  /** Client sessions a replica holds at most (the oldest is evicted). */
  readonly clientsMax: number;
  /** Client: resend a request to every replica after this long without a reply. */
  readonly clientRetryMs: number;
  /** Client: give up (outcome unknown) after this long. */
  readonly clientTimeoutMs: number;
  /** Prometheus endpoint each replica serves (`metrics: ADDR:PORT`); off when absent. */
  readonly metrics: ListenAddr | undefined;
  /** Durable storage (`storage:`); memory only when absent. */
  readonly storage: StorageConfig | undefined;
}

export type FsyncMode = "always" | "interval" | "off";

/** `storage: { dir, fsync, fsync_interval_ms }` (src/storage/store.ts states what each mode
 * guarantees). `dir` may come from `electrode replica --data-dir` instead. */
export interface StorageConfig {
  readonly dir: string | undefined;
  readonly fsync: FsyncMode;
  readonly fsyncIntervalMs: number;
}

/** An IPv4 address and port to listen on, e.g. 0.0.0.0:9464. */
export interface ListenAddr {
  readonly host: string;
  readonly port: number;
  readonly addr: string;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    detail: string,
  ) {
    super(field ? `config ${file}: ${field}: ${detail}` : `config ${file}: ${detail}`);
  }
}

export const defaults = {
  name: "electrode",
  tickMs: 5,
  viewChangeMs: 300,
  heartbeatMs: 50,
  resendMs: 50,
  /** The lease: half of view_change_ms unless set. 1% drift: 20 times the 500 ppm NTP slews at most. */
  clockDriftPpm: 10_000,
  batchMax: 64,
  pipelineMax: 1024,
  checkpointOps: defaultLimits.checkpointOps,
  logRetainOps: defaultLimits.logRetainOps,
  clientsMax: defaultLimits.clientsMax,
  clientRetryMs: 200,
  clientTimeoutMs: 5000,
} as const;

const topLevelKeys = new Set([
  "f",
  "replicas",
  "name",
  "timing",
  "batch_max",
  "pipeline_max",
  "checkpoint_ops",
  "log_retain_ops",
  "clients_max",
  "client",
  "metrics",
  "storage",
]);

const storageKeys = new Set(["dir", "fsync", "fsync_interval_ms"]);

function validateStorage(raw: unknown, file: string): StorageConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isRecord(raw)) throw new ConfigError(file, "storage", "expected a mapping { dir, fsync, fsync_interval_ms }");
  checkKeys(raw, storageKeys, file, "storage.");
  if (raw.dir !== undefined && (typeof raw.dir !== "string" || raw.dir === "")) throw new ConfigError(file, "storage.dir", "expected a directory path");
  const fsync = raw.fsync ?? "always";
  if (fsync !== "always" && fsync !== "interval" && fsync !== "off") throw new ConfigError(file, "storage.fsync", `expected always, interval or off, got '${String(fsync)}'`);
  const fsyncIntervalMs = optionalInt(raw, "fsync_interval_ms", file, "storage.fsync_interval_ms", 1, 60_000, 100);
  return { dir: raw.dir as string | undefined, fsync, fsyncIntervalMs };
}
const replicaKeys = new Set(["id", "addr", "iface", "mac"]);
const timingKeys = new Set(["tick_ms", "view_change_ms", "heartbeat_ms", "resend_ms", "lease_ms", "clock_drift_ppm"]);
const clientKeys = new Set(["retry_ms", "timeout_ms"]);

/** The config file to use, by the contract's lookup order; throws ConfigError if none exists. */
export function findConfigFile(explicit?: string, env = process.env): string {
  if (explicit) {
    if (!existsSync(explicit)) throw new ConfigError(explicit, "", "file not found");
    return resolve(explicit);
  }
  const fromEnv = env.ELECTRODE_CONFIG;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new ConfigError(fromEnv, "", "file not found (from $ELECTRODE_CONFIG)");
    return resolve(fromEnv);
  }
  for (const candidate of ["./electrode.yaml", "/etc/electrode/cluster.yaml"]) {
    if (existsSync(candidate)) return resolve(candidate);
  }
  throw new ConfigError(
    "(none)",
    "",
    "no config found: pass --config FILE, set $ELECTRODE_CONFIG, or create ./electrode.yaml or /etc/electrode/cluster.yaml",
  );
}

export function loadConfig(explicit?: string): Config {
  const file = findConfigFile(explicit);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(file, "", `cannot read: ${(e as Error).message}`);
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file = "(inline)"): Config {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    const where = e instanceof YAMLParseError && e.linePos ? ` at line ${e.linePos[0].line}` : "";
    throw new ConfigError(file, "", `not valid YAML${where}: ${(e as Error).message.split("\n")[0]}`);
  }
  return validate(doc, file);
}

/** A config given as a value (the YAML document's shape, e.g. from a library user), checked as a
 * file would be; `file` names it in errors. */
export function configFromValue(doc: unknown, file = "(config object)"): Config {
  return validate(doc, file);
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function checkKeys(obj: Record<string, unknown>, allowed: Set<string>, file: string, prefix: string) {
  for (const key of Object.keys(obj)) {
    if (!allowed.has(key)) {
      const known = [...allowed].join(", ");
      throw new ConfigError(file, prefix + key, `unknown field (known: ${known})`);
    }
  }
}

function int(value: unknown, file: string, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(file, field, `expected an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function optionalInt(obj: Record<string, unknown>, key: string, file: string, field: string, min: number, max: number, fallback: number) {
  return obj[key] === undefined ? fallback : int(obj[key], file, field, min, max);
}

const ipv4Pattern = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const macPattern = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** Splits "a.b.c.d:port" and checks both parts; returns undefined when malformed. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const colon = text.lastIndexOf(":");
  if (colon < 0) return undefined;
  const host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  const m = ipv4Pattern.exec(host);
  if (!m || m.slice(1).some((octet) => Number(octet) > 255)) return undefined;
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  return { host, port };
}

function validateReplica(raw: unknown, index: number, file: string): ReplicaConfig {
  const field = `replicas[${index}]`;
  if (!isRecord(raw)) throw new ConfigError(file, field, "expected a mapping like { id: 1, addr: 10.0.0.1:12345 }");
  checkKeys(raw, replicaKeys, file, `${field}.`);
  const id = int(raw.id, file, `${field}.id`, 0, 2 ** 31 - 1);
  if (typeof raw.addr !== "string") throw new ConfigError(file, `${field}.addr`, "expected IPv4:port, e.g. 10.0.0.1:12345");
  const hostPort = parseHostPort(raw.addr);
  if (!hostPort) throw new ConfigError(file, `${field}.addr`, `expected IPv4:port, got '${raw.addr}'`);
  let iface: string | undefined;
  if (raw.iface !== undefined) {
    if (typeof raw.iface !== "string" || raw.iface.length === 0 || raw.iface.length > 15) {
      throw new ConfigError(file, `${field}.iface`, "expected an interface name of 1..15 characters");
    }
    iface = raw.iface;
  }
  let mac: string | undefined;
  if (raw.mac !== undefined) {
    if (typeof raw.mac !== "string" || !macPattern.test(raw.mac)) {
      throw new ConfigError(file, `${field}.mac`, `expected a MAC like 02:00:00:00:00:01, got ${JSON.stringify(raw.mac)}`);
    }
    mac = raw.mac.toLowerCase();
  }
  return { id, index, host: hostPort.host, port: hostPort.port, addr: raw.addr, iface, mac };
}

function validateTiming(raw: unknown, file: string): Timing {
  if (raw === undefined) raw = {};
  if (!isRecord(raw)) throw new ConfigError(file, "timing", "expected a mapping");
  checkKeys(raw, timingKeys, file, "timing.");
  const tickMs = optionalInt(raw, "tick_ms", file, "timing.tick_ms", 1, 1000, defaults.tickMs);
  const viewChangeMs = optionalInt(raw, "view_change_ms", file, "timing.view_change_ms", 1, 600_000, defaults.viewChangeMs);
  const heartbeatMs = optionalInt(raw, "heartbeat_ms", file, "timing.heartbeat_ms", 1, 600_000, defaults.heartbeatMs);
  const resendMs = optionalInt(raw, "resend_ms", file, "timing.resend_ms", 1, 600_000, defaults.resendMs);
  if (heartbeatMs * 2 > viewChangeMs) {
    throw new ConfigError(file, "timing.heartbeat_ms", `must be at most half of view_change_ms (${viewChangeMs})`);
  }
  if (tickMs > heartbeatMs) throw new ConfigError(file, "timing.tick_ms", `must not exceed heartbeat_ms (${heartbeatMs})`);
  // Above view_change_ms a lease would hold back view changes after a leader's crash too.
  const leaseMs = optionalInt(raw, "lease_ms", file, "timing.lease_ms", 0, viewChangeMs, Math.floor(viewChangeMs / 2));
  const clockDriftPpm = optionalInt(raw, "clock_drift_ppm", file, "timing.clock_drift_ppm", 0, 500_000, defaults.clockDriftPpm);
  return { tickMs, viewChangeMs, heartbeatMs, resendMs, leaseMs, clockDriftPpm };
}

function validateMetrics(raw: unknown, file: string): ListenAddr | undefined {
  if (raw === undefined || raw === null) return undefined;
  const hostPort = typeof raw === "string" ? parseHostPort(raw) : undefined;
  if (!hostPort) {
    throw new ConfigError(file, "metrics", `expected ADDR:PORT for the Prometheus endpoint, e.g. 0.0.0.0:9464, got ${JSON.stringify(raw)}`);
  }
  return { ...hostPort, addr: raw as string };
}

function validate(doc: unknown, file: string): Config {
  if (!isRecord(doc)) throw new ConfigError(file, "", "expected a mapping with 'f' and 'replicas'");
  checkKeys(doc, topLevelKeys, file, "");
  const f = int(doc.f, file, "f", 0, (replicasMax - 1) / 2);
  if (!Array.isArray(doc.replicas)) throw new ConfigError(file, "replicas", "expected a list of { id, addr }");
  const replicas = doc.replicas.map((r, i) => validateReplica(r, i, file));
  if (replicas.length !== 2 * f + 1) {
    throw new ConfigError(file, "replicas", `f: ${f} needs exactly ${2 * f + 1} replicas (2f+1), found ${replicas.length}`);
  }
  checkUnique(replicas, file);
  let name: string = defaults.name;
  if (doc.name !== undefined) {
    if (typeof doc.name !== "string" || !/^[A-Za-z0-9_-]{1,32}$/.test(doc.name)) {
      throw new ConfigError(file, "name", "expected 1..32 characters of A-Z a-z 0-9 _ -");
    }
    name = doc.name;
  }
  const client = doc.client === undefined ? {} : doc.client;
  if (!isRecord(client)) throw new ConfigError(file, "client", "expected a mapping");
  checkKeys(client, clientKeys, file, "client.");
  const clientRetryMs = optionalInt(client, "retry_ms", file, "client.retry_ms", 1, 600_000, defaults.clientRetryMs);
  const clientTimeoutMs = optionalInt(client, "timeout_ms", file, "client.timeout_ms", 1, 3_600_000, defaults.clientTimeoutMs);
  return {
    file,
    name,
    clusterId: clusterIdOf(replicas.map((r) => r.addr), f),
    f,
    replicas,
    timing: validateTiming(doc.timing, file),
    batchMax: optionalInt(doc, "batch_max", file, "batch_max", 1, 1024, defaults.batchMax),
    pipelineMax: optionalInt(doc, "pipeline_max", file, "pipeline_max", 1, 1 << 20, defaults.pipelineMax),
    checkpointOps: optionalInt(doc, "checkpoint_ops", file, "checkpoint_ops", 1, 1 << 30, defaults.checkpointOps),
    logRetainOps: optionalInt(doc, "log_retain_ops", file, "log_retain_ops", 0, 1 << 30, defaults.logRetainOps),
    clientsMax: optionalInt(doc, "clients_max", file, "clients_max", 1, 1 << 20, defaults.clientsMax),
    clientRetryMs,
    clientTimeoutMs,
    metrics: validateMetrics(doc.metrics, file),
    storage: validateStorage(doc.storage, file),
  };
}

function checkUnique(replicas: readonly ReplicaConfig[], file: string): void {
  const ids = new Map<number, number>();
  const addrs = new Map<string, number>();
  for (const r of replicas) {
    const sameId = ids.get(r.id);
    if (sameId !== undefined) throw new ConfigError(file, `replicas[${r.index}].id`, `id ${r.id} is also used by replicas[${sameId}]`);
    const sameAddr = addrs.get(r.addr);
    if (sameAddr !== undefined) {
      throw new ConfigError(file, `replicas[${r.index}].addr`, `${r.addr} is also used by replicas[${sameAddr}]`);
    }
    ids.set(r.id, r.index);
    addrs.set(r.addr, r.index);
  }
}

/** The replica with this id, or a ConfigError listing the ids that exist. */
export function replicaById(config: Config, id: number): ReplicaConfig {
  const replica = config.replicas.find((r) => r.id === id);
  if (!replica) {
    throw new ConfigError(config.file, "", `no replica with id ${id} (ids: ${config.replicas.map((r) => r.id).join(", ")})`);
  }
  return replica;
}

/** Ticks for a duration, at least 1. */
export function ticks(ms: number, timing: Timing): number {
  return Math.max(1, Math.round(ms / timing.tickMs));
}
