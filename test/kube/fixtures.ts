// Shared fixtures of the Kubernetes backend tests: polling, object builders, and a KubeCluster + Scheduler
// pair running against a FakeApiServer, with kube-scheduler's part (binding pods) played by the test.

import { pino } from "pino";
import { type ServiceConfig, configFromObject } from "../../src/config.js";
import type { Decision } from "../../src/engine/decision.js";
import { Engine } from "../../src/engine/engine.js";
import { podFromObject } from "../../src/engine/model.js";
import { RR_CRD_NAME, resourceReservationCrd } from "../../src/kube/crd.js";
import { type ClusterInformerOptions, type ClusterInformers, clusterInformers } from "../../src/kube/informers.js";
import { KubeCluster, type KubeClusterOptions } from "../../src/kube/kube-cluster.js";
import { Mutex } from "../../src/pipeline/mutex.js";
import { Scheduler, type SchedulerOptions } from "../../src/pipeline/scheduler.js";
import type { ClusterState } from "../../src/engine/state.js";
import type { FakeApiServer, StoredObject } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";

export const PODS = "pods";
export const NODES = "nodes";
export const RRS = "resourcereservations.sparkscheduler.palantir.com";
export const CRDS = "customresourcedefinitions.apiextensions.k8s.io";
export const LEASES = "leases.coordination.k8s.io";
export const CONFIGMAPS = "configmaps";
export const NS = "spark";

export const silentLog = pino({ level: "silent" });

/** Polls `check` until it stops throwing (and returns a truthy value when it returns a boolean). */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5000, intervalMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await check();
      if (value !== false) return value;
      throw new Error("condition is false");
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Service configuration for tests: the extender's own short lease, and fast write retries. */
export function testConfig(overrides: Record<string, unknown> = {}): ServiceConfig {
  return configFromObject({
    "leader-election": {
      enabled: true,
      mode: "own-lease",
      namespace: NS,
      "lease-name": "spark-scheduler-test",
      "lease-duration": "400ms",
      "renew-deadline": "250ms",
      "retry-period": "40ms",
    },
    "write-retries": { "max-attempts": 4, "initial-backoff": "5ms", "max-backoff": "20ms" },
    ...overrides,
  });
}

/** Stores the CRD as an API server would after creating it: Established. */
export function putEstablishedCrd(server: FakeApiServer): void {
  server.put(CRDS, { ...resourceReservationCrd(), status: { conditions: [{ type: "Established", status: "True" }] } });
}

/** Plays the apiextensions controller: marks the CRD Established once someone has created it. */
export function establishWhenCreated(server: FakeApiServer): () => void {
  const timer = setInterval(() => {
    const crd = server.get(CRDS, RR_CRD_NAME);
    if (crd && !crd.status) {
      server.put(CRDS, { ...crd, status: { conditions: [{ type: "Established", status: "True" }] } });
    }
  }, 10);
  return () => clearInterval(timer);
}

export function nodeObject(name: string, cpu = "8", memory = "8Gi", zone = "z1"): object {
  return {
    metadata: { name, labels: { "topology.kubernetes.io/zone": zone } },
    status: { allocatable: { cpu, memory }, conditions: [{ type: "Ready", status: "True" }] },
  };
}

export interface SparkPodOptions {
  namespace?: string;
  executors?: number;
  /** Dynamic allocation min/max instead of a static count. */
  dynamic?: { min: number; max: number };
  nodeName?: string;
  phase?: string;
}

export function driverObject(name: string, appId: string, opts: SparkPodOptions = {}): object {
  const sizing: Record<string, string> = opts.dynamic
    ? {
        "spark-dynamic-allocation-enabled": "true",
        "spark-dynamic-allocation-min-executor-count": String(opts.dynamic.min),
        "spark-dynamic-allocation-max-executor-count": String(opts.dynamic.max),
      }
    : { "spark-executor-count": String(opts.executors ?? 2) };
  return sparkPod(name, "driver", appId, opts, {
    "spark-driver-cpu": "1",
    "spark-driver-mem": "1Gi",
    "spark-executor-cpu": "1",
    "spark-executor-mem": "1Gi",
    ...sizing,
  });
}

export function executorObject(name: string, appId: string, opts: SparkPodOptions = {}): object {
  return sparkPod(name, "executor", appId, opts, {});
}

function sparkPod(name: string, role: string, appId: string, opts: SparkPodOptions, annotations: Record<string, string>): object {
  return {
    metadata: { name, namespace: opts.namespace ?? NS, labels: { "spark-role": role, "spark-app-id": appId }, annotations },
    spec: {
      schedulerName: "spark-scheduler",
      nodeName: opts.nodeName,
      containers: [{ name: "spark", resources: { requests: { cpu: "1", memory: "1Gi" } } }],
    },
    status: { phase: opts.phase ?? (opts.nodeName ? "Running" : "Pending") },
  };
}

/** The stored pod bound to `node` and running, as kube-scheduler and the kubelet would leave it. */
export function bindPod(server: FakeApiServer, name: string, node: string, namespace = NS): StoredObject {
  const stored = server.get(PODS, name, namespace);
  if (!stored) throw new Error(`no pod ${namespace}/${name}`);
  return server.put(PODS, {
    ...stored,
    spec: { ...(stored.spec as object), nodeName: node },
    status: { ...(stored.status as object), phase: "Running" },
  });
}

export function setPhase(server: FakeApiServer, name: string, phase: string, namespace = NS): StoredObject {
  const stored = server.get(PODS, name, namespace)!;
  return server.put(PODS, { ...stored, status: { ...(stored.status as object), phase } });
}

export interface Replica {
  engine: Engine;
  cluster: KubeCluster;
  scheduler: Scheduler;
  /** Asks the scheduler about a stored pod, offering `nodes`; binds the pod in the API server on success. */
  schedule(name: string, nodes: string[], namespace?: string): Promise<Decision>;
  stop(): Promise<void>;
}

/** A KubeCluster + Scheduler sharing one engine and mutex, as main.ts wires them. Not started. */
export function replica(
  server: FakeApiServer,
  config: ServiceConfig = testConfig(),
  extra: Partial<KubeClusterOptions> = {},
  schedulerOptions: Omit<SchedulerOptions, "mutex"> = {},
): Replica {
  const engine = new Engine(config.engine);
  const mutex = new Mutex();
  const cluster = new KubeCluster({
    kc: makeKubeConfig(server.url),
    engine,
    mutex,
    config,
    log: silentLog,
    informerBackoff: { initialMs: 20, maxMs: 200 },
    crd: { timeoutMs: 2000, pollMs: 20 },
    ...extra,
  });
  const scheduler = new Scheduler(engine, cluster, silentLog, { ...schedulerOptions, mutex });
  let stopped = false;
  return {
    engine,
    cluster,
    scheduler,
    async schedule(name, nodes, namespace = NS) {
      const stored = server.get(PODS, name, namespace);
      if (!stored) throw new Error(`no pod ${namespace}/${name}`);
      const decision = await scheduler.filter(podFromObject(stored), nodes);
      if (decision.outcome.startsWith("success")) bindPod(server, name, decision.node!, namespace);
      return decision;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await cluster.stop();
    },
  };
}

/** Slot names of a stored reservation object, sorted. */
export function slotNames(obj: StoredObject): string[] {
  return Object.keys((obj.spec as { reservations: Record<string, unknown> }).reservations).sort();
}

/** status.pods of a stored reservation object: slot → pod name. */
export function slotPods(obj: StoredObject): Record<string, string> {
  return (obj.status as { pods: Record<string, string> }).pods;
}

/** Stored reservation objects, by name, in one namespace. */
export function storedReservations(server: FakeApiServer, namespace = NS): Map<string, StoredObject> {
  return new Map(server.list(RRS, namespace).map((o) => [o.metadata.name, o]));
}

/** The cluster informers against `server`, with fast test backoff, started and synced. */
export async function startInformers(
  server: FakeApiServer,
  state: ClusterState,
  options: Pick<ClusterInformerOptions, "timing" | "hooks" | "echoes"> = {},
): Promise<ClusterInformers> {
  const mutex = new Mutex();
  const informers = clusterInformers({
    kc: makeKubeConfig(server.url),
    state,
    serialize: (fn) => mutex.run(fn),
    log: silentLog,
    schedulerName: "spark-scheduler",
    backoff: { initialMs: 20, maxMs: 100 },
    ...options,
  });
  await Promise.all(Object.values(informers).map((i) => i.start()));
  return informers;
}
