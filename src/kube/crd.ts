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

import * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { RR_GROUP, RR_KIND, RR_PLURAL, RR_VERSION } from "../engine/reservation.js";
import { apiErrorCode, apiErrorMessage, isTransientApiError } from "./reservation-writer.js";

export const RR_CRD_NAME = `${RR_PLURAL}.${RR_GROUP}`;

const stringMap = { type: "object", additionalProperties: { type: "string" } };

/** The ResourceReservation CRD as this implementation creates it. */
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
              required: ["spec", "metadata"],
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
                          resources: {
                            type: "object",
                            required: ["cpu", "memory"],
                            properties: { cpu: { type: "string" }, memory: { type: "string" } },
                            additionalProperties: { type: "string" },
                          },
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
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const pollMs = options.pollMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  let lastSeen: string;
  let created = false;

  for (;;) {
    try {
      const crd = await readCrd(api);
      if (!crd) {
        await api.createCustomResourceDefinition({ body: resourceReservationCrd() });
        created = true;
        log.info({ crd: RR_CRD_NAME, op: "create" }, "created the ResourceReservation CRD");
        lastSeen = "created, not yet Established";
      } else {
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
        log.warn({ crd: RR_CRD_NAME, err: message }, "transient error while checking the ResourceReservation CRD");
      } else {
        throw new CrdError(`cannot check or create CRD ${RR_CRD_NAME}: ${message}`);
      }
    }
    if (Date.now() + pollMs > deadline) {
      throw new CrdError(
        `CRD ${RR_CRD_NAME} did not become Established within ${timeoutMs} ms (last seen: ${lastSeen}); ` +
          `it was left in place`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

async function readCrd(api: k8s.ApiextensionsV1Api): Promise<k8s.V1CustomResourceDefinition | undefined> {
  try {
    return await api.readCustomResourceDefinition({ name: RR_CRD_NAME });
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
