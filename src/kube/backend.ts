// What the scheduler needs from a cluster: somewhere durable to write reservations and demands, and a
// readiness signal. Two implementations: the embedded simulated cluster and the Kubernetes API server.

import type { DemandIntent, ReservationWrite } from "../engine/decision.js";
import type { PodInfo } from "../engine/model.js";

export interface Readiness {
  ready: boolean;
  /** Why not ready (shown to kube-scheduler and in health checks). */
  reason?: string;
}

export interface ClusterBackend {
  readonly kind: "embedded" | "kubernetes";
  /** Starts watching the cluster and feeding the engine. Resolves once the initial state is loaded. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Whether this replica may make scheduling decisions now (state rebuilt, leader). */
  readiness(): Readiness;
  /**
   * Whether the state is loaded from the cluster, so this replica serves read RPCs and can stand by for
   * leadership. A synced follower is "ready" for Kubernetes (its readiness probe passes) but not a decider.
   */
  synced(): boolean;
  /**
   * Persists one reservation write; resolves with the new resourceVersion. Rejects when the write could not
   * be made durable after retries — the caller then rolls the decision back.
   */
  writeReservation(write: ReservationWrite): Promise<string | undefined>;
  /** Creates or deletes an autoscaler Demand (best effort; never blocks a decision). */
  applyDemand(demand: DemandIntent): Promise<void>;
  /**
   * Called with every pod a filter call shows, before the decision. The embedded cluster has no API server, so
   * the pods its callers show are its pods; the Kubernetes backend has informers and ignores it.
   */
  podSeen?(pod: PodInfo): void;
  /** Called after a pod was given a node (the embedded cluster binds it, as kube-scheduler would). */
  onScheduled(pod: PodInfo, node: string): void;
}
