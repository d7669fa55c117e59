// Service configuration: defaults, every key's parsing, and clear errors naming the key.

import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { ConfigError, configFromObject, loadConfig, parseDuration } from "../src/config.js";

const loadConfigText = (text: string) => configFromObject(parseYaml(text) as Record<string, unknown>);

describe("configuration", () => {
  it("has the documented defaults", () => {
    const c = configFromObject({});
    expect(c).toMatchObject({
      host: "0.0.0.0",
      port: 8483,
      contextPath: "/spark-scheduler",
      maxBodyBytes: 16 * 1024 * 1024,
      logLevel: "info",
      kubeConfig: "",
      embedded: false,
      embeddedClusterFile: "examples/cluster.yaml",
      unschedulablePodTimeoutMs: 600_000,
      leaderElection: { enabled: true, mode: "follow-kube-scheduler", namespace: "spark", leaseName: "spark-scheduler", leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
      writeRetries: { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 5_000 },
    });
    expect(c.engine).toMatchObject({
      schedulerName: "spark-scheduler",
      fifo: false,
      fifoDefaultEnforceAfterMs: 0,
      fifoEnforceAfterByInstanceGroup: {},
      instanceGroupLabel: "resource_channel",
      dynamicAllocationSameAz: false,
    });
    expect(c.engine.binpack.name).toBe("distribute-evenly");
  });

  it("examples/config.yaml is valid and spells out the defaults", () => {
    const example = loadConfig("examples/config.yaml");
    const defaults = configFromObject({});
    expect({ ...example, engine: { ...example.engine, binpack: example.engine.binpack.name } }).toEqual({
      ...defaults,
      engine: { ...defaults.engine, binpack: defaults.engine.binpack.name },
    });
  });

  it("reads every key", () => {
    const c = configFromObject({
      port: "9000",
      "context-path": "/x/",
      binpack: "single-az-minimal-fragmentation",
      fifo: true,
      "fifo-config": { "default-enforce-after-pod-age": "5m", "enforce-after-pod-age-by-instance-group": { interactive: "90s" } },
      "should-schedule-dynamically-allocated-executors-in-same-az": "true",
      "instance-group-label": "instance-group",
      "driver-prioritized-node-label": { "label-name": "lifecycle", "label-values-descending-priority": ["on-demand", "spot"] },
      "unschedulable-pod-timeout-duration": "1h30m",
      "leader-election": { mode: "own-lease", "lease-duration": "20s" },
      "write-retries": { "max-attempts": 3, "initial-backoff": "250ms" },
      tls: { "cert-file": "/etc/tls/tls.crt", "key-file": "/etc/tls/tls.key" },
      access: { rpc: "none", "extender-allowed-sources": ["10.0.0.0/8", "fd00::1"], "cache-ttl": "30s", "cache-size": 5 },
    });
    expect(c.access).toEqual({ rpc: "none", extenderAllowedSources: ["10.0.0.0/8", "fd00::1"], cacheTtlMs: 30_000, cacheSize: 5 });
    expect(c.tls).toEqual({ certFile: "/etc/tls/tls.crt", keyFile: "/etc/tls/tls.key" });
    expect(c.port).toBe(9000);
    expect(c.contextPath).toBe("/x");
    expect(c.engine.binpack).toMatchObject({ name: "single-az-minimal-fragmentation", singleAz: true });
    expect(c.engine.fifoDefaultEnforceAfterMs).toBe(300_000);
    expect(c.engine.fifoEnforceAfterByInstanceGroup).toEqual({ interactive: 90_000 });
    expect(c.engine.dynamicAllocationSameAz).toBe(true);
    expect(c.engine.driverPrioritizedNodeLabel).toEqual({ labelName: "lifecycle", labelValuesDescendingPriority: ["on-demand", "spot"] });
    expect(c.unschedulablePodTimeoutMs).toBe(5_400_000);
    expect(c.leaderElection).toMatchObject({ mode: "own-lease", leaseName: "spark-scheduler-extender", leaseDurationMs: 20_000 });
    expect(c.writeRetries).toMatchObject({ maxAttempts: 3, initialBackoffMs: 250 });
  });

  it.each([
    [{ bogus: 1 }, 'unknown configuration key "bogus"'],
    [{ "leader-election": { lease_name: "x" } }, 'unknown configuration key "leader-election.lease_name"'],
    [{ "write-retries": { attempts: 3 } }, 'unknown configuration key "write-retries.attempts"'],
    [{ "fifo-config": { "default-enforce-after": "1m" } }, 'unknown configuration key "fifo-config.default-enforce-after"'],
    [{ binpack: "tightest" }, 'binpack: unknown binpack algorithm "tightest"'],
    [{ fifo: "yes" }, "fifo: expected true or false"],
    [{ port: -1 }, "port: expected an integer >= 0"],
    [{ "max-body-bytes": 10 }, "max-body-bytes: expected an integer >= 1024"],
    [{ "fifo-config": { "default-enforce-after-pod-age": "soon" } }, 'fifo-config.default-enforce-after-pod-age: "soon" is not a duration'],
    [{ "driver-prioritized-node-label": { "label-name": "x" } }, "label-values-descending-priority must be a list"],
    [{ "leader-election": { mode: "raft" } }, "leader-election.mode: expected follow-kube-scheduler or own-lease"],
    [{ tls: { "cert-file": "c.pem" } }, "tls.cert-file and tls.key-file must be set together"],
    [{ tls: { cert: "c.pem" } }, 'unknown configuration key "tls.cert"'],
    // Number("") is 0: an empty port would have listened on a random one.
    [{ port: "" }, "port: expected an integer >= 0"],
    [{ "retry-nudges": { rate: " " } }, "retry-nudges.rate: expected an integer >= 0"],
    [{ access: { rpc: "token" } }, 'access.rpc: expected kubernetes, loopback, none, got "token"'],
    [{ access: { "extender-allowed-sources": ["10.0.0.0/40"] } }, 'access.extender-allowed-sources: "10.0.0.0/40" is not an IP address or CIDR'],
    [{ access: { "extender-allowed-sources": "10.0.0.0/8" } }, "access.extender-allowed-sources must be a list"],
    [{ access: { cache: 1 } }, 'unknown configuration key "access.cache"'],
  ])("refuses %j naming the key", (raw, message) => {
    expect(() => configFromObject(raw)).toThrow(ConfigError);
    expect(() => configFromObject(raw)).toThrow(message);
  });

  it("reads a key with no value (YAML `key:`, null) as unset, durations too", () => {
    const c = loadConfigText("leader-election:\n  lease-duration:\n  namespace:\nwrite-retries:\n  max-backoff:\nunschedulable-pod-timeout-duration:\nport:\n");
    const defaults = configFromObject({});
    expect(c.leaderElection).toEqual(defaults.leaderElection);
    expect(c.writeRetries).toEqual(defaults.writeRetries);
    expect(c.unschedulablePodTimeoutMs).toBe(defaults.unschedulablePodTimeoutMs);
    expect(c.port).toBe(defaults.port);
  });

  it("parses Go-style durations", () => {
    expect(parseDuration("300ms", "k")).toBe(300);
    expect(parseDuration("1h2m3s", "k")).toBe(3_723_000);
    expect(parseDuration("1.5s", "k")).toBe(1500);
    expect(parseDuration(90, "k")).toBe(90_000);
    expect(parseDuration("45", "k")).toBe(45_000);
    expect(() => parseDuration("", "k")).toThrow(/not a duration/);
    expect(() => parseDuration("5 minutes", "k")).toThrow(/not a duration/);
  });

  it("reports an unreadable config file", () => {
    expect(() => loadConfig("/nonexistent/config.yaml")).toThrow(/cannot read config file \/nonexistent\/config.yaml/);
  });
});
