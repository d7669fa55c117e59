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

/** Longest per-node reason a refusal gives kube-scheduler (see `nodeReason`). */
export const NODE_REASON_MAX = 100;

/**
 * The reason a refusal gives for each offered node. kube-scheduler groups equal reasons into the pod's condition
 * ("0/5000 nodes are available: 5000 <reason>"), but the extender answer carries the reason once per node: the
 * full explanation of a driver that does not fit, repeated for 5,000 nodes, is over a megabyte of JSON per call.
 * So each node gets the decision's reason when it is short, else a short one for its outcome; the full reason is
 * reported once: in the decision (the Filter RPC's `reason`), the pod's events and the queue RPCs.
 */
export function nodeReason(d: Decision): string {
  const full = d.reason ?? d.outcome;
  if (full.length <= NODE_REASON_MAX) return full;
  const details = " (details in the pod's events)";
  switch (d.outcome) {
    case "failure-fit":
      return d.role === "executor" ? "no room for the executor" : `Spark application does not fit${details}`;
    case "failure-earlier-driver":
      return `waiting behind an earlier Spark driver that does not fit${details}`;
    case "failure-invalid":
      return `invalid Spark application${details}`;
    case "failure-non-spark-pod":
      return "not a Spark pod spark-scheduler can schedule";
    case "failure-unbound":
      return "no free executor slot in the application's reservation";
    case "failure-no-reservation":
      return "the application's driver is not admitted yet";
    case "failure-not-ready":
      return "spark-scheduler is not ready";
    default:
      return `${full.slice(0, NODE_REASON_MAX - 1)}…`;
  }
}
