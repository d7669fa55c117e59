// The ResourceReservation CustomResourceDefinition (reference §5.1) and its start-up check.
//
// Wire compatibility: group sparkscheduler.palantir.com, kind ResourceReservation, plural resourcereservations,
// short name rr, category all, namespaced, the v1beta2 schema and the `driver` printer column, exactly as the
// reference defines them, so that objects written by either implementation read the same.
//
// Versions. When the CRD is missing we create it with v1beta2 only, served and storage, and no conversion
// webhook: this implementation reads and writes v1beta2 and has nothing to convert. When the CRD already exists
// (for example installed by the reference, which kept v1beta1 as storage version behind a conversion webhook) we
// leave it exactly as it is and only verify that v1beta2 is served: rewriting versions or conversion settings of
// a live CRD can make stored objects unreadable. Moving a cluster off the reference therefore needs either the
// reference's conversion webhook kept reachable or its objects migrated to v1beta2 storage first.
//
// Deviation (reference §5.3, §14.2 item 11): the reference DELETED the CRD — and with it every reservation — when
// it did not become Established in time. ensureCrd never deletes or rewrites the CRD; a timeout is a start-up
// error that names what was seen.
//
// deploy/base/crd.yaml is generated from it (`npm run manifests`; a test keeps the two identical).

import type * as k8s from "@kubernetes/client-node";
import { KubeApi, objectPath } from "./client.js";
import type { Logger } from "pino";
import { RR_GROUP, RR_KIND, RR_PLURAL, RR_VERSION } from "../engine/reservation.js";
import { apiErrorCode, apiErrorMessage, backoffMs, isTransientApiError, sleep } from "./reservation-writer.js";

export const RR_CRD_NAME = `${RR_PLURAL}.${RR_GROUP}`;

const stringMap = { type: "object", additionalProperties: { type: "string" } };

/**
 * A resource quantity as Kubernetes serialises one (resource.Quantity is int-or-string on the wire): a string
 * such as "500m" or "2Gi", or a bare integer written by hand. The pattern is Kubernetes' quantity syntax.
 */
export const QUANTITY_SCHEMA = {
  "x-kubernetes-int-or-string": true,
  anyOf: [{ type: "integer" }, { type: "string" }],
  pattern: String.raw`^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`,
};

/**
 * The ResourceReservation CRD as this implementation creates it. The schema is structural (apiextensions.k8s.io/v1
 * accepts nothing else): every node has a type or is int-or-string, and a map is `additionalProperties` alone —
 * `properties` beside it is refused — so `resources` is a map of quantities (cpu, memory, nvidia.com/gpu; a
 * missing key reads as 0, as in the reference). Required: spec.reservations, each slot's node and resources,
 * and status.pods — the fields the reference's v1beta2 type requires.
 */
export function resourceReservationCrd(): k8s.V1CustomResourceDefinition {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: RR_CRD_NAME },
    spec: {
      group: RR_GROUP,
      scope: "Namespaced",
      names: {
        plural: RR_PLURAL,
        singular: "resourcereservation",
        kind: RR_KIND,
        listKind: `${RR_KIND}List`,
        shortNames: ["rr"],
        categories: ["all"],
      },
      versions: [
        {
          name: RR_VERSION,
          served: true,
          storage: true,
          additionalPrinterColumns: [
            { name: "driver", type: "string", jsonPath: ".status.pods.driver", description: "Pod name of the driver" },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              required: ["spec"],
              properties: {
                spec: {
                  type: "object",
                  required: ["reservations"],
                  properties: {
                    reservations: {
                      type: "object",
                      additionalProperties: {
                        type: "object",
                        required: ["node", "resources"],
                        properties: {
                          node: { type: "string" },
                          resources: { type: "object", additionalProperties: QUANTITY_SCHEMA },
                        },
                      },
                    },
                  },
                },
                status: {
                  type: "object",
                  required: ["pods"],
                  properties: { pods: stringMap },
                },
              },
            },
          },
        },
      ],
    },
  };
}

/**
 * For callers of client-node's typed API (the service itself sends the wire form as plain JSON, through
 * src/kube/client.ts). client-node's typed API serialises a CRD through its model classes. V1JSONSchemaProps names the schema
 * extensions `x_kubernetes_int_or_string` etc. and silently drops the wire names, while some of its fields
 * (`additionalProperties`, `items`, `default`, ...) are typed `any` and are sent exactly as given. A wire-form
 * schema passed as is therefore loses every extension outside those fields, and the server gets a CRD that
 * is not structural. The definition above is in wire form (it is also the YAML manifest); this renames the
 * extensions where the model expects its own names and leaves the `any` subtrees in wire form.
 */
export function forClientModel<T>(wire: T): T {
  const RAW = new Set(["additionalProperties", "additionalItems", "items", "default", "example", "enum"]);
  const schema = (v: unknown): unknown => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k.startsWith("x-kubernetes-")) out[k.replaceAll("-", "_")] = x;
      else if (RAW.has(k)) out[k] = x;
      else if (k === "properties" || k === "patternProperties" || k === "definitions") {
        out[k] = Object.fromEntries(Object.entries(x as object).map(([name, child]) => [name, schema(child)]));
      } else if (k === "allOf" || k === "anyOf" || k === "oneOf") out[k] = (x as unknown[]).map(schema);
      else if (k === "not") out[k] = schema(x);
      else out[k] = x;
    }
    return out;
  };
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== "object") return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === "openAPIV3Schema" ? schema(x) : walk(x)]));
  };
  return walk(wire) as T;
}

/** The CRD is unusable or did not become Established: a start-up error (the CRD is left in place). */
export class CrdError extends Error {}

export interface EnsureCrdOptions {
  /** How long to wait for the CRD to be Established (and for a reachable API server). Default 60 s. */
  timeoutMs?: number;
  /** Poll interval while waiting. Default 250 ms. */
  pollMs?: number;
}

/**
 * Makes sure the ResourceReservation CRD exists, serves v1beta2 and is Established: creates it when missing,
 * otherwise only verifies it. Transient API errors are retried until the timeout. Never deletes the CRD.
 */
export async function ensureCrd(kc: k8s.KubeConfig, log: Logger, options: EnsureCrdOptions = {}): Promise<void> {
  const api = new KubeApi(kc);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const pollMs = options.pollMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  let lastSeen: string;
  let created = false;
  // Consecutive transient failures: an unreachable or overloaded API server is retried with the backoff of
  // src/kube/ (pollMs doubling to 5 s), not polled every pollMs by every replica of a crash-looping service.
  let failures = 0;

  for (;;) {
    let waitMs = pollMs;
    try {
      const crd = await readCrd(api);
      if (!crd) {
        await api.create(objectPath("apiextensions.k8s.io/v1", "customresourcedefinitions"), resourceReservationCrd());
        created = true;
        log.info({ crd: RR_CRD_NAME, op: "create" }, "created the ResourceReservation CRD");
        lastSeen = "created, not yet Established";
      } else {
        failures = 0;
        verifyServesV1beta2(crd);
        if (isEstablished(crd)) {
          log.info({ crd: RR_CRD_NAME, created }, "ResourceReservation CRD is Established");
          return;
        }
        lastSeen = `present but not Established (conditions: ${describeConditions(crd)})`;
      }
    } catch (e) {
      if (e instanceof CrdError) throw e;
      const message = apiErrorMessage(e);
      if (apiErrorCode(e) === 409) {
        lastSeen = "created concurrently by another replica";
      } else if (isTransientApiError(e)) {
        lastSeen = `API error: ${message}`;
        failures++;
        waitMs = backoffMs({ initialBackoffMs: pollMs, maxBackoffMs: Math.max(pollMs, 5_000) }, failures);
        log.warn({ crd: RR_CRD_NAME, err: message, attempt: failures, delayMs: waitMs }, "transient error while checking the ResourceReservation CRD");
      } else {
        throw new CrdError(`cannot check or create CRD ${RR_CRD_NAME}: ${message}`);
      }
    }
    if (Date.now() + waitMs > deadline) {
      throw new CrdError(
        `CRD ${RR_CRD_NAME} did not become Established within ${timeoutMs} ms (last seen: ${lastSeen}); ` +
          `it was left in place`,
      );
    }
    await sleep(waitMs);
  }
}

async function readCrd(api: KubeApi): Promise<k8s.V1CustomResourceDefinition | undefined> {
  try {
    return await api.get<k8s.V1CustomResourceDefinition>(objectPath("apiextensions.k8s.io/v1", "customresourcedefinitions", undefined, RR_CRD_NAME));
  } catch (e) {
    if (apiErrorCode(e) === 404) return undefined;
    throw e;
  }
}

function verifyServesV1beta2(crd: k8s.V1CustomResourceDefinition): void {
  const version = crd.spec?.versions?.find((v) => v.name === RR_VERSION);
  if (!version?.served) {
    const served = (crd.spec?.versions ?? []).filter((v) => v.served).map((v) => v.name);
    throw new CrdError(
      `CRD ${RR_CRD_NAME} exists but does not serve ${RR_VERSION} (served: ${served.join(", ") || "none"}); ` +
        `spark-scheduler reads and writes ${RR_VERSION}. Add it to the CRD (see deploy/base/crd.yaml); ` +
        `spark-scheduler does not modify an existing CRD`,
    );
  }
}

function isEstablished(crd: k8s.V1CustomResourceDefinition): boolean {
  return (crd.status?.conditions ?? []).some((c) => c.type === "Established" && c.status === "True");
}

function describeConditions(crd: k8s.V1CustomResourceDefinition): string {
  const conditions = crd.status?.conditions ?? [];
  return conditions.length === 0 ? "none" : conditions.map((c) => `${c.type}=${c.status}`).join(", ");
}
