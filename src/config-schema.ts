// The configuration file's JSON Schema: every key, its type, bounds and default. src/config.ts takes the set of
// known keys (top level and in each section) from it, so a key is added in one place; `npm run manifests` writes
// it to deploy/extender-config.schema.json for editors and CI checks of the ConfigMap. test/config-schema.test.ts
// checks it against the README's Configuration table, the example and deploy configs, and configFromObject
// (the defaults written here are the code's; what the schema refuses, the code refuses).

import { DEFAULT_MAX_EXECUTORS_PER_APP, MAX_EXECUTORS_PER_APP_LIMIT } from "./engine/app-shape.js";
import { BINPACK_ALGORITHMS, DEFAULT_BINPACK_ALGORITHM } from "./engine/binpack/index.js";

/** The subset of JSON Schema (draft 2020-12) this schema uses. */
export interface JsonSchema {
  $schema?: string;
  title?: string;
  description?: string;
  type?: JsonType | readonly JsonType[];
  enum?: readonly unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  required?: readonly string[];
  items?: JsonSchema;
  dependentRequired?: Record<string, readonly string[]>;
  default?: unknown;
}
export type JsonType = "object" | "array" | "string" | "integer" | "number" | "boolean" | "null";

// Every key may be null (`key:` with no value in YAML): it means unset, the default. The service also reads
// quoted integers and booleans ("8080", "true": flags and environment variables arrive as strings), which the
// schema leaves out: in a file, write the YAML type.
const DURATION_PATTERN = "^\\s*(\\d+(\\.\\d+)?|(\\d+(\\.\\d+)?(ms|h|m|s))+)\\s*$";
const duration = (description: string, dflt?: string): JsonSchema => ({
  description: `${description} (a duration: 90s, 10m, 1h30m, 300ms; a bare number is seconds)`,
  type: ["string", "number", "null"],
  pattern: DURATION_PATTERN,
  minimum: 0,
  ...(dflt === undefined ? {} : { default: dflt }),
});
const integer = (description: string, dflt: number, minimum: number, maximum?: number): JsonSchema => ({
  description,
  type: ["integer", "null"],
  minimum,
  ...(maximum === undefined ? {} : { maximum }),
  default: dflt,
});
const boolean = (description: string, dflt: boolean): JsonSchema => ({ description, type: ["boolean", "null"], default: dflt });
const string = (description: string, dflt?: string): JsonSchema => ({
  description,
  type: ["string", "null"],
  ...(dflt === undefined ? {} : { default: dflt }),
});
const oneOf = (description: string, values: readonly string[], dflt: string): JsonSchema => ({ description, enum: [...values, null], default: dflt });
const section = (description: string, properties: Record<string, JsonSchema>): JsonSchema => ({
  description,
  type: ["object", "null"],
  properties,
  additionalProperties: false,
});
const labelPriority = (description: string): JsonSchema => ({
  description,
  type: ["object", "null"],
  properties: {
    "label-name": { description: "node label", type: "string", minLength: 1 },
    "label-values-descending-priority": { description: "its values, most preferred first", type: "array", items: { type: "string" } },
  },
  required: ["label-name", "label-values-descending-priority"],
  additionalProperties: false,
});

export const CONFIG_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  title: "spark-scheduler extender configuration",
  description: "The extender's configuration file (--config, the ConfigMap's extender.yaml). Every key is optional. README: Configuration.",
  type: "object",
  additionalProperties: false,
  properties: {
    host: string("listen address", "0.0.0.0"),
    port: integer("listen port (all protocols)", 8483, 0),
    "context-path": string("prefix under which /predicates and /convert are also served", "/spark-scheduler"),
    "max-body-bytes": integer("largest accepted request body (extender and RPC)", 16 * 1024 * 1024, 1024),
    tls: {
      ...section("serve HTTPS with this certificate and key (both, or neither); optionally verify client certificates (mTLS)", {
        "cert-file": string("PEM certificate chain"),
        "key-file": string("PEM private key"),
        "client-ca-file": string(
          "PEM bundle of the CAs client certificates are verified against (mTLS); a verified certificate identifies its caller as user = subject CN, groups = subject O, for access.rpc: kubernetes",
        ),
        "client-auth": {
          description: "with client-ca-file: optional (unset: ask for a client certificate, serve clients without a valid one too) or required (refuse their TLS handshake)",
          enum: ["optional", "required", null],
        },
      }),
      dependentRequired: {
        "cert-file": ["key-file"],
        "key-file": ["cert-file"],
        "client-ca-file": ["cert-file", "key-file"],
        "client-auth": ["client-ca-file"],
      },
    },
    "log-level": string("pino level: trace, debug, info, warn, error", "info"),
    "kube-config": string('kubeconfig path; "" = in-cluster config inside a pod, else the embedded cluster', ""),
    embedded: boolean("force the embedded simulated cluster", false),
    "embedded-cluster-file": string("nodes and optional running pods for the embedded cluster", "examples/cluster.yaml"),
    "scheduler-name": string("the kube-scheduler profile name", "spark-scheduler"),
    binpack: oneOf("bin-packing strategy", Object.keys(BINPACK_ALGORITHMS), DEFAULT_BINPACK_ALGORITHM),
    fifo: boolean("strict FIFO of drivers per instance group", false),
    "fifo-config": section("FIFO enforcement by pod age", {
      "default-enforce-after-pod-age": duration("an earlier driver younger than this does not block", "0s"),
      "enforce-after-pod-age-by-instance-group": {
        description: "per instance group override of default-enforce-after-pod-age",
        type: ["object", "null"],
        additionalProperties: duration("enforce after this pod age in the instance group"),
        default: {},
      },
    }),
    "should-schedule-dynamically-allocated-executors-in-same-az": boolean("keep rescheduled and extra executors in the app's zone", false),
    "instance-group-label": string("pod/node label defining instance groups", "resource_channel"),
    "driver-prioritized-node-label": labelPriority("preferred driver nodes"),
    "executor-prioritized-node-label": labelPriority("preferred executor nodes"),
    "max-executors-per-application": integer("most executors one application may ask for", DEFAULT_MAX_EXECUTORS_PER_APP, 1, MAX_EXECUTORS_PER_APP_LIMIT),
    "unschedulable-pod-timeout-duration": duration("pending drivers older than this get the PodExceedsClusterCapacity condition", "10m"),
    "shutdown-timeout": duration("after SIGTERM: the longest the shutdown may take before the process exits with status 1", "25s"),
    "leader-election": section("which replica decides", {
      enabled: boolean("only the leading replica schedules (Kubernetes mode only)", true),
      mode: oneOf("follow this pod's kube-scheduler's Lease, or the extender's own", ["follow-kube-scheduler", "own-lease"], "follow-kube-scheduler"),
      namespace: string("namespace of the Lease", "spark"),
      "lease-name": string("kube-scheduler's lease (default spark-scheduler), or the extender's own (own-lease: default spark-scheduler-extender)", "spark-scheduler"),
      "lease-duration": duration("own-lease: how long a lease is valid without renewal; follow: used when the lease does not say", "15s"),
      "renew-deadline": duration("the leader steps down if it cannot renew or read the lease for this long", "10s"),
      "retry-period": duration("how often the lease is renewed / read", "2s"),
    }),
    "executor-bind-answer": oneOf(
      "before-write: an executor bound into a slot already stored on its node is answered before the write that records its pod name; after-write: after it",
      ["before-write", "after-write"],
      "before-write",
    ),
    "write-retries": section("reservation writes", {
      "max-attempts": integer("attempts before the decision is rolled back", 5, 1),
      "initial-backoff": duration("first retry delay (doubles, with jitter)", "100ms"),
      "max-backoff": duration("retry delay cap", "5s"),
    }),
    "retry-nudges": section("pod patches that make kube-scheduler retry refused pods that fit now", {
      rate: integer("patches per second; 0 disables", 10, 0),
      burst: integer("patches allowed at once after a quiet period", 10, 1),
    }),
    access: section("who may call the port (src/server/access.ts)", {
      rpc: { description: "RPC access: kubernetes (TokenReview + SubjectAccessReview), loopback or none; unset: kubernetes with a Kubernetes backend, loopback on the embedded cluster", enum: ["kubernetes", "loopback", "none", null] },
      "extender-allowed-sources": {
        description: "addresses or CIDRs besides loopback that may call /predicates",
        type: ["array", "null"],
        // An IPv4 or IPv6 address, optionally with a prefix length (the code checks the ranges).
        items: { type: "string", pattern: "^(\\d{1,3}(\\.\\d{1,3}){3}|[0-9a-fA-F]*:[0-9a-fA-F:.]*)(/\\d{1,3})?$" },
        default: [],
      },
      "cache-ttl": duration("how long a token's review is reused", "10s"),
      "cache-size": integer("token reviews kept", 1000, 1),
    }),
  },
} as const satisfies JsonSchema;

/** The keys of a section (a top-level key whose value is a map of known keys). */
export function sectionKeys(key: keyof typeof CONFIG_SCHEMA.properties): string[] {
  const properties = (CONFIG_SCHEMA.properties[key] as JsonSchema).properties;
  if (!properties) throw new Error(`${key} is not a section of the configuration schema`);
  return Object.keys(properties);
}
