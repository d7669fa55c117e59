// What the scheduler needs from a cluster: somewhere durable to write reservations and demands, and a
// readiness signal. Two implementations: the embedded simulated cluster and the Kubernetes API server.

import type { Decision, DemandIntent, ReservationWrite } from "../engine/decision.js";
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
  /** Called with every answer kube-scheduler gets (the Kubernetes backend remembers refusals to retry them). */
  onDecision?(pod: PodInfo, decision: Decision): void;
}

// ---------------------------------------------------------------------------------------------
// Which backend to run (README "Running against Kubernetes"). Fail closed: a process inside a Kubernetes pod
// never falls back to the embedded simulated cluster, whose decisions nobody persists — it either talks to the
// API server or refuses to start.

/** Where a pod's service-account credentials are mounted. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io";
export const SERVICE_ACCOUNT_TOKEN = `${SERVICE_ACCOUNT_DIR}/serviceaccount/token`;

export type BackendChoice =
  | { kind: "embedded"; why: string }
  | { kind: "kubernetes"; why: string }
  | { kind: "refuse"; message: string };

export interface BackendProbe {
  /** `embedded: true` (or `--embedded-cluster`). */
  embedded: boolean;
  /** `kube-config`. */
  kubeConfig: string;
  env: Record<string, string | undefined>;
  exists(path: string): boolean;
  /** The file's contents, or undefined when it cannot be read. */
  read(path: string): string | undefined;
}

/**
 * Decides the backend. Explicit choices win (`embedded: true`, then `kube-config`). Otherwise the process is
 * inside a pod when KUBERNETES_SERVICE_HOST is set (the kubelet sets it in every container) or the
 * service-account directory exists; there it needs a non-empty token and the API server address, or it refuses.
 * Only with no sign of Kubernetes at all does it run the embedded cluster (the quick start).
 */
export function chooseBackend(p: BackendProbe): BackendChoice {
  if (p.embedded) return { kind: "embedded", why: "embedded: true" };
  if (p.kubeConfig !== "") return { kind: "kubernetes", why: `kube-config ${p.kubeConfig}` };
  const host = p.env.KUBERNETES_SERVICE_HOST;
  const inPod = (host !== undefined && host !== "") || p.exists(SERVICE_ACCOUNT_DIR);
  if (!inPod) return { kind: "embedded", why: "no Kubernetes detected (no KUBERNETES_SERVICE_HOST, no service-account mount)" };
  const token = p.read(SERVICE_ACCOUNT_TOKEN);
  const problems: string[] = [];
  if (token === undefined || token.trim() === "") problems.push(`no readable service-account token at ${SERVICE_ACCOUNT_TOKEN}`);
  if (!host || !p.env.KUBERNETES_SERVICE_PORT) problems.push("KUBERNETES_SERVICE_HOST or KUBERNETES_SERVICE_PORT is not set");
  if (problems.length === 0) return { kind: "kubernetes", why: "in-cluster service account" };
  return {
    kind: "refuse",
    message:
      `running inside Kubernetes but ${problems.join(", and ")}; refusing to fall back to the embedded simulated ` +
      "cluster. Mount the service-account token (automountServiceAccountToken: true), or set kube-config, or set " +
      "embedded: true to run the simulated cluster on purpose",
  };
}
