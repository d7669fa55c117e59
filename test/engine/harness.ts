// Test harness for engine scenarios, modelled on the reference's extender test harness (spec §13.7):
// nodes of 8 cpu / 8Gi / 1 GPU in instance group batch-medium-priority; drivers annotated cpu 1, mem 1 byte,
// gpu 1 (so at most one driver per node); executors cpu 1, mem 1. `schedule` binds a pod on success, as
// kube-scheduler would.

import { configFromObject } from "../../src/config.js";
import type { Decision } from "../../src/engine/decision.js";
import { Engine } from "../../src/engine/engine.js";
import { type NodeInfo, type PodInfo, nodeFromObject, podFromObject } from "../../src/engine/model.js";

export const IG_LABEL = "resource_channel";
export const IG = "batch-medium-priority";
export const NS = "namespace";
export const GiB = 2 ** 30;

export interface NodeOpts {
  zone?: string;
  cpu?: string;
  memory?: string;
  gpu?: string;
  labels?: Record<string, string>;
  unschedulable?: boolean;
  ready?: boolean;
  taints?: { key: string; value?: string; effect: string }[];
}

export function node(name: string, opts: NodeOpts = {}): NodeInfo {
  return nodeFromObject({
    metadata: {
      name,
      labels: {
        [IG_LABEL]: IG,
        "com.palantir.rubix/instance-group": IG,
        test: "something",
        "topology.kubernetes.io/zone": opts.zone ?? "zone1",
        ...opts.labels,
      },
    },
    spec: { unschedulable: opts.unschedulable ?? false, taints: opts.taints },
    status: {
      allocatable: { cpu: opts.cpu ?? "8", memory: opts.memory ?? "8Gi", "nvidia.com/gpu": opts.gpu ?? "1" },
      conditions: [{ type: "Ready", status: opts.ready === false ? "False" : "True" }],
    },
  });
}

export interface AppOpts {
  driverCpu?: string;
  driverMem?: string;
  driverGpu?: string;
  executorCpu?: string;
  executorMem?: string;
  executorGpu?: string;
  count?: number;
  dynamic?: { min: number; max: number };
  createdAtMs?: number;
  instanceGroup?: string | null;
  namespace?: string;
  extraAnnotations?: Record<string, string>;
}

let uid = 0;

export function driverPod(app: string, opts: AppOpts = {}): PodInfo {
  const annotations: Record<string, string> = {
    "spark-driver-cpu": opts.driverCpu ?? "1",
    "spark-driver-mem": opts.driverMem ?? "1",
    "spark-driver-nvidia.com/gpu": opts.driverGpu ?? "1",
    "spark-executor-cpu": opts.executorCpu ?? "1",
    "spark-executor-mem": opts.executorMem ?? "1",
    ...(opts.executorGpu ? { "spark-executor-nvidia.com/gpu": opts.executorGpu } : {}),
    ...opts.extraAnnotations,
  };
  if (opts.dynamic) {
    annotations["spark-dynamic-allocation-enabled"] = "true";
    annotations["spark-dynamic-allocation-min-executor-count"] = String(opts.dynamic.min);
    annotations["spark-dynamic-allocation-max-executor-count"] = String(opts.dynamic.max);
  } else {
    annotations["spark-executor-count"] = String(opts.count ?? 2);
  }
  const ig = opts.instanceGroup === undefined ? IG : opts.instanceGroup;
  return podFromObject({
    metadata: {
      name: `${app}-spark-driver`,
      namespace: opts.namespace ?? NS,
      uid: `uid-${++uid}`,
      labels: { "spark-role": "driver", "spark-app-id": app },
      annotations,
      creationTimestamp: new Date(opts.createdAtMs ?? 0).toISOString(),
    },
    spec: {
      schedulerName: "spark-scheduler",
      affinity:
        ig === null
          ? undefined
          : {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [{ matchExpressions: [{ key: IG_LABEL, operator: "In", values: [ig] }] }],
                },
              },
            },
    },
  });
}

export function executorPod(app: string, i: number | string, opts: { namespace?: string } = {}): PodInfo {
  return podFromObject({
    metadata: {
      name: `${app}-spark-exec-${i}`,
      namespace: opts.namespace ?? NS,
      uid: `uid-${++uid}`,
      labels: { "spark-role": "executor", "spark-app-id": app },
      creationTimestamp: new Date(0).toISOString(),
    },
    spec: {
      schedulerName: "spark-scheduler",
      containers: [{ name: "executor", resources: { requests: { cpu: "1", memory: "1" } } }],
    },
  });
}

export function otherPod(name: string, nodeName: string, cpu: string, memory = "1Gi"): PodInfo {
  return podFromObject({
    metadata: { name, namespace: "other", uid: `uid-${++uid}`, creationTimestamp: new Date(0).toISOString() },
    spec: { nodeName, containers: [{ name: "c", resources: { requests: { cpu, memory } } }] },
    status: { phase: "Running" },
  });
}

export function harnessConfig(overrides: Record<string, unknown> = {}) {
  return configFromObject({
    binpack: "single-az-tightly-pack",
    fifo: true,
    "instance-group-label": IG_LABEL,
    "should-schedule-dynamically-allocated-executors-in-same-az": true,
    ...overrides,
  }).engine;
}

export class Harness {
  readonly engine: Engine;
  now = 1_000_000;

  constructor(nodes: NodeInfo[], overrides: Record<string, unknown> = {}) {
    this.engine = new Engine(harnessConfig(overrides));
    for (const n of nodes) this.engine.state.upsertNode(n);
  }

  get state() {
    return this.engine.state;
  }

  /**
   * One filter call as the pipeline makes it (compaction first, as its own step; writes taken as stored at
   * once); on success the pod is bound to the node and Running.
   */
  schedule(pod: PodInfo, nodeNames: string[]): Decision {
    this.engine.settle(this.engine.compact(this.now));
    const current = this.state.getPod(pod.namespace, pod.name) ?? pod;
    const d = this.engine.filter(current, nodeNames, this.now);
    this.engine.settle(d);
    if (d.outcome.startsWith("success")) {
      this.state.upsertPod({ ...current, nodeName: d.node!, phase: "Running" });
    }
    return d;
  }

  /** Adds a pod to the state without scheduling it (a pending pod the informer saw). */
  add(pod: PodInfo): void {
    this.state.upsertPod(pod);
  }

  /** Marks a pod's containers terminated (it still exists). */
  terminate(pod: PodInfo): void {
    const p = this.state.getPod(pod.namespace, pod.name)!;
    this.state.upsertPod({ ...p, terminated: true, phase: "Failed" });
  }

  delete(pod: PodInfo): void {
    this.state.removePod(pod.namespace, pod.name);
  }

  /** Pods bound to executor slots across all reservations, sorted. */
  reservedExecutors(): string[] {
    const out: string[] = [];
    for (const r of this.state.reservations.values()) {
      for (const [slot, pod] of r.pods) if (slot !== "driver") out.push(pod);
    }
    return out.sort();
  }

  /** Soft reservations: pod → node. */
  soft(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const s of this.state.soft.values()) for (const [pod, slot] of s.executors) out[pod] = slot.node;
    return out;
  }
}
