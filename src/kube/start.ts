// Kubernetes mode: builds the KubeCluster backend and the components that run beside it (autoscaler
// demands, SparkApplications for zero-config sizing, the unschedulable-pod marker, Kubernetes events),
// all on one KubeConfig.

import type * as k8s from "@kubernetes/client-node";
import { KubeConfig } from "./client.js";
import type { Logger } from "pino";
import type { ServiceConfig } from "../config.js";
import type { Decision } from "../engine/decision.js";
import type { Engine } from "../engine/engine.js";
import type { PodInfo } from "../engine/model.js";
import { DemandWriter } from "./demands.js";
import { EventRecorder } from "./events.js";
import { KubeCluster } from "./kube-cluster.js";
import { SparkApplicationWatcher } from "./spark-applications.js";
import type { Mutex } from "../pipeline/mutex.js";
import { UnschedulableMarker } from "./unschedulable-marker.js";

export interface KubeBackend {
  backend: KubeCluster;
  /** The KubeConfig every component uses (also for the access reviews of src/kube/access-review.ts). */
  kc: k8s.KubeConfig;
  /** Records a Kubernetes event for a decision (Scheduler `onDecision`). */
  onDecision: (pod: PodInfo, decision: Decision) => void;
  /** Starts the side components; call after the backend has started. */
  startExtras: () => Promise<void>;
  stopExtras: () => Promise<void>;
}

export function loadKubeConfig(path: string): k8s.KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromCluster();
  return kc;
}

export function createKubeBackend(opts: {
  config: ServiceConfig;
  engine: Engine;
  mutex: Mutex;
  log: Logger;
  identity: string;
}): KubeBackend {
  const { config, engine, mutex, log, identity } = opts;
  const kc = loadKubeConfig(config.kubeConfig);
  // Each component names itself (`component`); they get the root logger, so no line carries the key twice.
  const demands = new DemandWriter({ kc, log });
  const backend = new KubeCluster({ kc, engine, mutex, config, log, demands, identity });
  const sparkApps = new SparkApplicationWatcher({
    kc,
    state: engine.state,
    serialize: (fn) => mutex.run(fn),
    log,
  });
  const recorder = new EventRecorder({ kc, log });
  const marker = new UnschedulableMarker({
    kc,
    engine,
    log,
    timeoutMs: config.unschedulablePodTimeoutMs,
    isLeader: () => backend.readiness().ready,
    runExclusive: (fn) => mutex.run(async () => fn()),
  });
  // On becoming ready (leader, state rebuilt), re-learn the demands another replica may have created.
  let wasReady = false;
  const leadershipWatch = setInterval(() => {
    const ready = backend.readiness().ready;
    if (ready && !wasReady) void demands.resync();
    wasReady = ready;
  }, 1000);
  leadershipWatch.unref();
  return {
    backend,
    kc,
    onDecision: (pod, d) => recorder.record(pod, d),
    async startExtras() {
      await Promise.all([demands.start(), sparkApps.start()]);
      marker.start();
    },
    async stopExtras() {
      clearInterval(leadershipWatch);
      marker.stop();
      demands.stop();
      await sparkApps.stop();
      await recorder.flush();
    },
  };
}
