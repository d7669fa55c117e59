// The engine's own view of Kubernetes Pods and Nodes: small, normalised, immutable records.
// Conversions from Kubernetes JSON (the extender's ExtenderArgs, informer objects, YAML fixtures) live here too,
// because they are pure functions; they accept both string timestamps (raw JSON) and Date objects
// (@kubernetes/client-node's deserialised models).

import { type Resources, max, resourcesFromMap, zero, addInto } from "./resources.js";

export interface Taint {
  key: string;
  value?: string;
  effect: string; // NoSchedule | PreferNoSchedule | NoExecute
}

export interface Toleration {
  key?: string;
  operator?: string; // Exists | Equal (default Equal)
  value?: string;
  effect?: string;
}

export interface NodeSelectorRequirement {
  key: string;
  operator: string; // In | NotIn | Exists | DoesNotExist | Gt | Lt
  values?: string[];
}

export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

export interface NodeInfo {
  name: string;
  labels: Record<string, string>;
  allocatable: Resources;
  unschedulable: boolean;
  ready: boolean;
  taints: Taint[];
  createdAtMs: number;
}

export interface PodInfo {
  uid: string;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  createdAtMs: number;
  /** metadata.deletionTimestamp is set. */
  deleting: boolean;
  /** spec.nodeName, "" when not bound. */
  nodeName: string;
  schedulerName: string;
  phase: string;
  /** Succeeded/Failed, or every container has terminated: the pod holds no resources any more. */
  terminated: boolean;
  /** Effective requests: sum of containers, raised to the largest init container, plus pod overhead. */
  requests: Resources;
  nodeSelector: Record<string, string>;
  /** requiredDuringSchedulingIgnoredDuringExecution terms (ORed); empty when none. */
  requiredNodeTerms: NodeSelectorTerm[];
  tolerations: Toleration[];
  /** Name of the ConfigMap mounted as Spark's driver conf volume (`spark-conf-volume-driver`), if any. */
  sparkConfMap?: string;
}

export function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

// ---------------------------------------------------------------------------------------------

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {};
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(obj(v))) {
    if (typeof val === "string") out[k] = val;
    else if (typeof val === "number" || typeof val === "boolean") out[k] = String(val);
  }
  return out;
}

export function timeMs(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === "string" && v !== "") {
    const t = Date.parse(v);
    return Number.isNaN(t) ? 0 : t;
  }
  if (typeof v === "number") return v;
  return 0;
}

function requirements(v: unknown): NodeSelectorRequirement[] {
  return arr(v).map((r) => {
    const o = obj(r);
    return { key: str(o.key), operator: str(o.operator), values: arr(o.values).map(String) };
  });
}

/** Converts a Kubernetes Node object (JSON or client-node model) to NodeInfo. */
export function nodeFromObject(input: unknown): NodeInfo {
  const o = obj(input);
  const meta = obj(o.metadata);
  const spec = obj(o.spec);
  const status = obj(o.status);
  const conditions = arr(status.conditions).map(obj);
  const ready = conditions.some((c) => c.type === "Ready" && c.status === "True");
  return {
    name: str(meta.name),
    labels: strMap(meta.labels),
    allocatable: resourcesFromMap(obj(status.allocatable)),
    unschedulable: spec.unschedulable === true,
    ready,
    taints: arr(spec.taints).map((t) => {
      const to = obj(t);
      return { key: str(to.key), value: typeof to.value === "string" ? to.value : undefined, effect: str(to.effect) };
    }),
    createdAtMs: timeMs(meta.creationTimestamp),
  };
}

function containerRequests(c: unknown): Resources {
  return resourcesFromMap(obj(obj(obj(c).resources).requests));
}

/** Converts a Kubernetes Pod object (JSON or client-node model) to PodInfo. */
export function podFromObject(input: unknown): PodInfo {
  const o = obj(input);
  const meta = obj(o.metadata);
  const spec = obj(o.spec);
  const status = obj(o.status);

  const sum = zero();
  for (const c of arr(spec.containers)) addInto(sum, containerRequests(c));
  let requests = sum;
  for (const c of arr(spec.initContainers)) requests = max(requests, containerRequests(c));
  addInto(requests, resourcesFromMap(obj(spec.overhead)));

  const phase = str(status.phase);
  const containerStatuses = arr(status.containerStatuses).map(obj);
  const allTerminated =
    containerStatuses.length > 0 && containerStatuses.every((cs) => obj(cs.state).terminated != null);
  const terminated = phase === "Succeeded" || phase === "Failed" || allTerminated;

  const affinity = obj(obj(obj(spec.affinity).nodeAffinity).requiredDuringSchedulingIgnoredDuringExecution);
  const requiredNodeTerms: NodeSelectorTerm[] = arr(affinity.nodeSelectorTerms).map((t) => {
    const to = obj(t);
    return { matchExpressions: requirements(to.matchExpressions), matchFields: requirements(to.matchFields) };
  });

  let sparkConfMap: string | undefined;
  for (const v of arr(spec.volumes)) {
    const vo = obj(v);
    if (vo.name === "spark-conf-volume-driver") sparkConfMap = str(obj(vo.configMap).name) || undefined;
  }

  return {
    uid: str(meta.uid),
    name: str(meta.name),
    namespace: str(meta.namespace) || "default",
    labels: strMap(meta.labels),
    annotations: strMap(meta.annotations),
    createdAtMs: timeMs(meta.creationTimestamp),
    deleting: meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null,
    nodeName: str(spec.nodeName),
    schedulerName: str(spec.schedulerName),
    phase,
    terminated,
    requests,
    nodeSelector: strMap(spec.nodeSelector),
    requiredNodeTerms,
    tolerations: arr(spec.tolerations).map((t) => {
      const to = obj(t);
      return {
        key: typeof to.key === "string" ? to.key : undefined,
        operator: typeof to.operator === "string" ? to.operator : undefined,
        value: typeof to.value === "string" ? to.value : undefined,
        effect: typeof to.effect === "string" ? to.effect : undefined,
      };
    }),
    sparkConfMap,
  };
}
