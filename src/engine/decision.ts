// What one scheduling decision produces: an outcome, the chosen node, and the writes the kube layer must
// persist before the answer is given (the engine has already applied them to its state, tentatively).

import type { Reservation } from "./reservation.js";
import type { Resources } from "./resources.js";
import type { SparkRole } from "./spark-pods.js";

export type Outcome =
  | "success"
  | "success-already-bound"
  | "success-rescheduled"
  | "success-scheduled-extra-executor"
  | "failure-fit"
  | "failure-earlier-driver"
  | "failure-unbound"
  | "failure-non-spark-pod"
  | "failure-invalid"
  | "failure-not-ready"
  | "failure-internal"
  | "failure-no-reservation";

export function isSuccess(o: Outcome): boolean {
  return o.startsWith("success");
}

export type ReservationWrite =
  | { op: "create"; reservation: Reservation }
  | { op: "update"; reservation: Reservation; previous: Reservation };

export interface DemandUnit {
  resources: Resources;
  count: number;
  /** Pods this unit stands for (so an autoscaler does not count a pending pod twice). */
  podNamesByNamespace?: Record<string, string[]>;
}

/** Demand for a cluster autoscaler (scaler.palantir.com Demand, reference §6). */
export type DemandIntent =
  | {
      op: "create";
      namespace: string;
      podName: string;
      podUid: string;
      appId: string;
      instanceGroup: string;
      units: DemandUnit[];
      enforceSingleZone: boolean;
      zone?: string;
    }
  | { op: "delete"; namespace: string; podName: string };

export interface Decision {
  outcome: Outcome;
  /** The node the pod must go to (success only). */
  node?: string;
  /** Why the pod cannot be placed (failure only). */
  reason?: string;
  role?: SparkRole;
  appId?: string;
  instanceGroup?: string;
  /** Reservation writes to persist, in order. Already applied to the engine state. */
  writes: ReservationWrite[];
  /** Soft reservation added by this decision (in memory only; undone on rollback). */
  softAdded?: { namespace: string; appId: string; pod: string };
  /**
   * Soft reservations this decision's writes replace (an extra executor moved into a hard slot). They are ended
   * only once the write of their application is stored (Engine.settle), so an in-flight write never frees room.
   */
  softRemoved?: { namespace: string; appId: string; pod: string }[];
  demand?: DemandIntent;
  /** FIFO: the earlier driver (namespace/name) that blocks this one. */
  blockedBy?: string;
}

export function failure(outcome: Outcome, reason: string, extra: Partial<Decision> = {}): Decision {
  return { outcome, reason, writes: [], ...extra };
}
