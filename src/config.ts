// Service configuration: a YAML (or JSON) file with the reference's kebab-case keys, plus flags and
// environment variables for the few things a quick start needs. Every key is documented in the README and
// declared in src/config-schema.ts (the known keys come from there).

import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { CONFIG_SCHEMA, sectionKeys } from "./config-schema.js";
import { DEFAULT_MAX_EXECUTORS_PER_APP, MAX_EXECUTORS_PER_APP_LIMIT } from "./engine/app-shape.js";
import { getBinpacker } from "./engine/binpack/index.js";
import type { EngineConfig, LabelPriority } from "./engine/config.js";
import { RPC_ACCESS_MODES, type RpcAccessMode, parseSources } from "./server/access.js";

export interface ServiceConfig {
  engine: EngineConfig;
  host: string;
  port: number;
  /** The extender route is served at `/predicates` and at `<contextPath>/predicates`. */
  contextPath: string;
  /** Largest accepted request body, bytes. */
  maxBodyBytes: number;
  /**
   * Serve TLS with this PEM certificate chain and key (both set, or neither: cleartext); with a client CA bundle,
   * verify client certificates against it (mTLS, src/server/access.ts).
   */
  tls?: { certFile: string; keyFile: string; clientCaFile?: string; clientAuth?: ClientAuth };
  logLevel: string;
  /** Path to a kubeconfig; "" = in-cluster when running in a pod, else the embedded cluster. */
  kubeConfig: string;
  /** Force the embedded simulated cluster even inside Kubernetes. */
  embedded: boolean;
  /** YAML file of nodes (and optional pods) for the embedded cluster. */
  embeddedClusterFile: string;
  /** Node-pinned demand objects and unschedulable marker timeout. */
  unschedulablePodTimeoutMs: number;
  /** The longest a SIGTERM's shutdown may take before the process exits with status 1. */
  shutdownTimeoutMs: number;
  leaderElection: {
    enabled: boolean;
    /** follow-kube-scheduler: lead while this pod's kube-scheduler holds its lease; own-lease: own election. */
    mode: "follow-kube-scheduler" | "own-lease";
    namespace: string;
    leaseName: string;
    leaseDurationMs: number;
    renewDeadlineMs: number;
    retryPeriodMs: number;
  };
  /**
   * `executor-bind-answer: before-write`: an executor bound into a slot its reservation already stores on the
   * chosen node is answered before the write that records its pod name (src/pipeline/reservation-pipeline.ts).
   */
  earlyExecutorBinds: boolean;
  /** Reservation writes: attempts and exponential backoff. */
  writeRetries: { maxAttempts: number; initialBackoffMs: number; maxBackoffMs: number };
  /** Pod patches that make kube-scheduler retry refused pods (src/kube/retry-nudger.ts); rate 0 disables. */
  retryNudges: { rate: number; burst: number };
  /** Who may use the port (src/server/access.ts). */
  access: {
    /** undefined: `kubernetes` with a Kubernetes backend, `loopback` on the embedded cluster. */
    rpc?: RpcAccessMode;
    extenderAllowedSources: string[];
    cacheTtlMs: number;
    cacheSize: number;
  };
}

export const CLIENT_AUTH_MODES = ["optional", "required"] as const;
export type ClientAuth = (typeof CLIENT_AUTH_MODES)[number];

export class ConfigError extends Error {}

const KNOWN_KEYS = new Set(Object.keys(CONFIG_SCHEMA.properties));

/** Go-style durations: "300ms", "10s", "1m30s", "2h"; a bare number is seconds. */
export function parseDuration(v: unknown, key: string): number {
  if (typeof v === "number" && Number.isFinite(v) && v >= 0) return v * 1000;
  if (typeof v !== "string") throw new ConfigError(`${key}: expected a duration such as "10m", got ${JSON.stringify(v)}`);
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * unit[m[2]];
    pos = re.lastIndex;
  }
  if (pos !== s.length || s.length === 0) throw new ConfigError(`${key}: "${v}" is not a duration (use e.g. 90s, 10m, 1h)`);
  return total;
}

/** A duration in ms; unset (absent or null, as for every key) gives the default. */
function durationMs(v: unknown, key: string, dflt: number): number {
  return v === undefined || v === null ? dflt : parseDuration(v, key);
}

function bool(v: unknown, key: string, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v === "boolean") return v;
  if (v === "true") return true;
  if (v === "false") return false;
  throw new ConfigError(`${key}: expected true or false, got ${JSON.stringify(v)}`);
}

function int(v: unknown, key: string, dflt: number, min = 0): number {
  if (v === undefined || v === null) return dflt;
  // Number("") is 0: an empty string is not a number.
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min) {
    throw new ConfigError(`${key}: expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  }
  return n;
}

function maxExecutors(v: unknown): number {
  const n = int(v, "max-executors-per-application", DEFAULT_MAX_EXECUTORS_PER_APP, 1);
  if (n > MAX_EXECUTORS_PER_APP_LIMIT) {
    throw new ConfigError(`max-executors-per-application: at most ${MAX_EXECUTORS_PER_APP_LIMIT}, got ${n}`);
  }
  return n;
}

function str(v: unknown, key: string, dflt: string): string {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "string") throw new ConfigError(`${key}: expected a string, got ${JSON.stringify(v)}`);
  return v;
}

function obj(v: unknown, key: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw new ConfigError(`${key}: expected a map`);
  return v as Record<string, unknown>;
}

/** A nested map whose keys must all be known; a typo names the key instead of being ignored. */
function section(v: unknown, key: string, known: string[]): Record<string, unknown> {
  const o = obj(v, key);
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw new ConfigError(`unknown configuration key "${key}.${k}" (known: ${known.join(", ")})`);
  }
  return o;
}

function labelPriority(v: unknown, key: "driver-prioritized-node-label" | "executor-prioritized-node-label"): LabelPriority | undefined {
  if (v === undefined || v === null) return undefined;
  const o = section(v, key, sectionKeys(key));
  const labelName = str(o["label-name"], `${key}.label-name`, "");
  const values = o["label-values-descending-priority"];
  if (!labelName) throw new ConfigError(`${key}.label-name is required`);
  if (!Array.isArray(values) || values.some((x) => typeof x !== "string")) {
    throw new ConfigError(`${key}.label-values-descending-priority must be a list of strings`);
  }
  return { labelName, labelValuesDescendingPriority: values as string[] };
}

function leaderElectionMode(v: unknown): ServiceConfig["leaderElection"]["mode"] {
  const mode = str(v, "leader-election.mode", "follow-kube-scheduler");
  if (mode !== "follow-kube-scheduler" && mode !== "own-lease") {
    throw new ConfigError(`leader-election.mode: expected follow-kube-scheduler or own-lease, got "${mode}"`);
  }
  return mode;
}

function executorBindAnswer(v: unknown): "before-write" | "after-write" {
  const mode = str(v, "executor-bind-answer", "before-write");
  if (mode !== "before-write" && mode !== "after-write") {
    throw new ConfigError(`executor-bind-answer: expected before-write or after-write, got "${mode}"`);
  }
  return mode;
}

function access(v: unknown): ServiceConfig["access"] {
  const o = section(v, "access", ["rpc", "extender-allowed-sources", "cache-ttl", "cache-size"]);
  let rpc: RpcAccessMode | undefined;
  if (o.rpc !== undefined && o.rpc !== null) {
    const mode = str(o.rpc, "access.rpc", "");
    if (!(RPC_ACCESS_MODES as readonly string[]).includes(mode)) {
      throw new ConfigError(`access.rpc: expected ${RPC_ACCESS_MODES.join(", ")}, got "${mode}"`);
    }
    rpc = mode as RpcAccessMode;
  }
  const sources = o["extender-allowed-sources"] ?? [];
  if (!Array.isArray(sources) || sources.some((x) => typeof x !== "string")) {
    throw new ConfigError("access.extender-allowed-sources must be a list of IP addresses or CIDRs");
  }
  try {
    parseSources(sources as string[]);
  } catch (e) {
    throw new ConfigError(`access.extender-allowed-sources: ${(e as Error).message}`);
  }
  return {
    rpc,
    extenderAllowedSources: sources as string[],
    cacheTtlMs: durationMs(o["cache-ttl"], "access.cache-ttl", 10_000),
    cacheSize: int(o["cache-size"], "access.cache-size", 1000, 1),
  };
}

/** Builds the configuration from a parsed file (a plain object); throws ConfigError naming the bad key. */
export function configFromObject(raw: Record<string, unknown>): ServiceConfig {
  for (const k of Object.keys(raw)) {
    if (!KNOWN_KEYS.has(k)) throw new ConfigError(`unknown configuration key "${k}"`);
  }
  const binpackName = str(raw.binpack, "binpack", "distribute-evenly");
  let binpack;
  try {
    binpack = getBinpacker(binpackName);
  } catch (e) {
    throw new ConfigError(`binpack: ${(e as Error).message}`);
  }
  const fifoConfig = section(raw["fifo-config"], "fifo-config", sectionKeys("fifo-config"));
  const byGroup: Record<string, number> = {};
  const rawByGroup = obj(fifoConfig["enforce-after-pod-age-by-instance-group"], "fifo-config.enforce-after-pod-age-by-instance-group");
  for (const [g, d] of Object.entries(rawByGroup)) {
    byGroup[g] = parseDuration(d, `fifo-config.enforce-after-pod-age-by-instance-group.${g}`);
  }
  const le = section(raw["leader-election"], "leader-election", sectionKeys("leader-election"));
  const wr = section(raw["write-retries"], "write-retries", sectionKeys("write-retries"));
  const nudges = section(raw["retry-nudges"], "retry-nudges", sectionKeys("retry-nudges"));
  const tlsRaw = section(raw.tls, "tls", sectionKeys("tls"));
  const certFile = str(tlsRaw["cert-file"], "tls.cert-file", "");
  const keyFile = str(tlsRaw["key-file"], "tls.key-file", "");
  if (Boolean(certFile) !== Boolean(keyFile)) throw new ConfigError("tls.cert-file and tls.key-file must be set together");
  const clientCaFile = str(tlsRaw["client-ca-file"], "tls.client-ca-file", "");
  if (clientCaFile && !certFile) throw new ConfigError("tls.client-ca-file needs tls.cert-file and tls.key-file (client certificates are verified by the TLS server)");
  const clientAuthRaw = tlsRaw["client-auth"];
  let clientAuth: ClientAuth | undefined;
  if (clientAuthRaw !== undefined && clientAuthRaw !== null) {
    const mode = str(clientAuthRaw, "tls.client-auth", "");
    if (!(CLIENT_AUTH_MODES as readonly string[]).includes(mode)) {
      throw new ConfigError(`tls.client-auth: expected ${CLIENT_AUTH_MODES.join(" or ")}, got "${mode}"`);
    }
    if (!clientCaFile) throw new ConfigError("tls.client-auth needs tls.client-ca-file (the CAs client certificates are verified against)");
    clientAuth = mode as ClientAuth;
  }
  return {
    engine: {
      schedulerName: str(raw["scheduler-name"], "scheduler-name", "spark-scheduler"),
      binpack,
      fifo: bool(raw.fifo, "fifo", false),
      fifoDefaultEnforceAfterMs: durationMs(fifoConfig["default-enforce-after-pod-age"], "fifo-config.default-enforce-after-pod-age", 0),
      fifoEnforceAfterByInstanceGroup: byGroup,
      instanceGroupLabel: str(raw["instance-group-label"], "instance-group-label", "resource_channel"),
      driverPrioritizedNodeLabel: labelPriority(raw["driver-prioritized-node-label"], "driver-prioritized-node-label"),
      executorPrioritizedNodeLabel: labelPriority(raw["executor-prioritized-node-label"], "executor-prioritized-node-label"),
      maxExecutorsPerApp: maxExecutors(raw["max-executors-per-application"]),
      dynamicAllocationSameAz: bool(
        raw["should-schedule-dynamically-allocated-executors-in-same-az"],
        "should-schedule-dynamically-allocated-executors-in-same-az",
        false,
      ),
    },
    host: str(raw.host, "host", "0.0.0.0"),
    port: int(raw.port, "port", 8483),
    contextPath: str(raw["context-path"], "context-path", "/spark-scheduler").replace(/\/+$/, ""),
    maxBodyBytes: int(raw["max-body-bytes"], "max-body-bytes", 16 * 1024 * 1024, 1024),
    tls: certFile
      ? { certFile, keyFile, ...(clientCaFile ? { clientCaFile, clientAuth: clientAuth ?? "optional" } : {}) }
      : undefined,
    logLevel: str(raw["log-level"], "log-level", "info"),
    kubeConfig: str(raw["kube-config"], "kube-config", ""),
    embedded: bool(raw.embedded, "embedded", false),
    embeddedClusterFile: str(raw["embedded-cluster-file"], "embedded-cluster-file", "examples/cluster.yaml"),
    unschedulablePodTimeoutMs:
      durationMs(raw["unschedulable-pod-timeout-duration"], "unschedulable-pod-timeout-duration", 600_000) || 600_000,
    shutdownTimeoutMs: durationMs(raw["shutdown-timeout"], "shutdown-timeout", 25_000) || 25_000,
    leaderElection: {
      enabled: bool(le.enabled, "leader-election.enabled", true),
      mode: leaderElectionMode(le.mode),
      namespace: str(le.namespace, "leader-election.namespace", "spark"),
      leaseName: str(
        le["lease-name"],
        "leader-election.lease-name",
        leaderElectionMode(le.mode) === "own-lease" ? "spark-scheduler-extender" : "spark-scheduler",
      ),
      leaseDurationMs: durationMs(le["lease-duration"], "leader-election.lease-duration", 15_000),
      renewDeadlineMs: durationMs(le["renew-deadline"], "leader-election.renew-deadline", 10_000),
      retryPeriodMs: durationMs(le["retry-period"], "leader-election.retry-period", 2_000),
    },
    earlyExecutorBinds: executorBindAnswer(raw["executor-bind-answer"]) === "before-write",
    writeRetries: {
      maxAttempts: int(wr["max-attempts"], "write-retries.max-attempts", 5, 1),
      initialBackoffMs: durationMs(wr["initial-backoff"], "write-retries.initial-backoff", 100),
      maxBackoffMs: durationMs(wr["max-backoff"], "write-retries.max-backoff", 5_000),
    },
    retryNudges: { rate: int(nudges.rate, "retry-nudges.rate", 10), burst: int(nudges.burst, "retry-nudges.burst", 10, 1) },
    access: access(raw.access),
  };
}

/** Reads a config file (YAML or JSON); an empty path gives the defaults. */
export function loadConfig(path: string | undefined, overrides: Record<string, unknown> = {}): ServiceConfig {
  let raw: Record<string, unknown> = {};
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
    }
    const parsed = parseYaml(text) as unknown;
    if (parsed !== null && parsed !== undefined) raw = obj(parsed, `config file ${path}`);
  }
  return configFromObject({ ...raw, ...overrides });
}
