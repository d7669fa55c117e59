// The engine's own view of Kubernetes Pods and Nodes: small, normalised, immutable records.
// Conversions from Kubernetes JSON (the extender's ExtenderArgs, informer objects, YAML fixtures) live here too,
// because they are pure functions; they accept both string timestamps (raw JSON) and Date objects
// (@kubernetes/client-node's deserialised models).

import { type Resources, addInto, max, resourcesFromMap, zero } from "./resources.js";

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
// Conversion. One walk both converts and checks: `parsePod` returns the PodInfo and every field that does not
// have the type Kubernetes gives it (`FieldViolation`s, named by JSON path). The edge (extender route, RPCs)
// refuses a pod with violations — a malformed nodeSelector, affinity or toleration must never be dropped and the
// pod placed as if it had asked for nothing. Informer objects come from the API server, which already enforces
// these types, and go through the lenient `podFromObject`.

/** A field of a request that is malformed, named by its JSON path (e.g. `metadata.labels.spark-app-id`). */
export interface FieldViolation {
  field: string;
  description: string;
}

/** Kubernetes' limit on the total size of a pod's annotations (keys + values), bytes. */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;
/** Kubernetes' limit on object names (DNS subdomain) and on namespaces (DNS label). */
export const MAX_NAME_LENGTH = 253;
export const MAX_NAMESPACE_LENGTH = 63;

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
const absent = (v: unknown) => v === undefined || v === null;

/** Collects violations while converting; the lenient form drops bad fields silently. */
class Walk {
  readonly problems: FieldViolation[] = [];
  bad(field: string, description: string): void {
    if (this.problems.length < 50) this.problems.push({ field, description });
  }
  obj(v: unknown, field: string): Obj {
    if (absent(v)) return {};
    if (isObj(v)) return v;
    this.bad(field, "must be an object");
    return {};
  }
  arr(v: unknown, field: string): unknown[] {
    if (absent(v)) return [];
    if (Array.isArray(v)) return v;
    this.bad(field, "must be a list");
    return [];
  }
  str(v: unknown, field: string): string {
    if (absent(v)) return "";
    if (typeof v === "string") return v;
    this.bad(field, "must be a string");
    return "";
  }
  optStr(v: unknown, field: string): string | undefined {
    if (absent(v)) return undefined;
    return this.str(v, field);
  }
  strMap(v: unknown, field: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(this.obj(v, field))) {
      if (typeof val === "string") out[k] = val;
      else this.bad(`${field}.${k}`, "must be a string");
    }
    return out;
  }
  strList(v: unknown, field: string): string[] {
    const out: string[] = [];
    this.arr(v, field).forEach((x, i) => {
      if (typeof x === "string") out.push(x);
      else this.bad(`${field}[${i}]`, "must be a string");
    });
    return out;
  }
  time(v: unknown, field: string): number | undefined {
    if (absent(v)) return undefined;
    const t = v instanceof Date ? v.getTime() : typeof v === "string" ? parseRfc3339(v) : undefined;
    if (t === undefined || !Number.isFinite(t) || t < MIN_TIME_MS || t > MAX_TIME_MS) {
      this.bad(field, "must be an RFC 3339 timestamp between 0001-01-01 and 9999-12-31");
      return undefined;
    }
    return t;
  }
  resources(v: unknown, field: string): Resources {
    return resourcesFromMap(this.obj(v, field), (k) => this.bad(`${field}.${k}`, "must be a non-negative Kubernetes quantity"));
  }
}

// google.protobuf.Timestamp's range, which is also every year RFC 3339 can write.
// (Date.UTC maps years 0–99 to 1900–1999, hence setUTCFullYear.)
const MIN_TIME_MS = new Date(0).setUTCFullYear(1, 0, 1);
const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
// RFC 3339 date-time as Go's time.Parse(time.RFC3339) reads metav1.Time: "T" and "Z" upper case, optional
// fraction, offset Z or ±hh:mm.
const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))$/;

/** Parses an RFC 3339 timestamp strictly (no date-only forms, no out-of-range fields); undefined otherwise. */
export function parseRfc3339(s: string): number | undefined {
  const m = RFC3339_RE.exec(s);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate(); // leap year: Feb has 29, checked below
  if (day < 1 || day > daysInMonth) return undefined;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  if (month === 2 && day === 29 && !leap) return undefined;
  let offsetMin = 0;
  if (m[8] !== "Z") {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (m[8][0] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0);
  return d.getTime() - offsetMin * 60_000;
}

/** A timestamp in ms: Date objects (client-node models), RFC 3339 strings, numbers; 0 when unreadable. */
export function timeMs(v: unknown): number {
  if (typeof v === "number") return Number.isFinite(v) ? v : 0;
  return new Walk().time(v, "") ?? 0;
}

const OPERATORS = new Set(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]);
const TOLERATION_OPERATORS = new Set(["", "Exists", "Equal"]);
const EFFECTS = new Set(["", "NoSchedule", "PreferNoSchedule", "NoExecute"]);

function requirements(w: Walk, v: unknown, field: string): NodeSelectorRequirement[] {
  return w.arr(v, field).map((r, i) => {
    const f = `${field}[${i}]`;
    const o = w.obj(r, f);
    const operator = w.str(o.operator, `${f}.operator`);
    if (!OPERATORS.has(operator)) w.bad(`${f}.operator`, `must be one of ${[...OPERATORS].join(", ")}`);
    return { key: w.str(o.key, `${f}.key`), operator, values: w.strList(o.values, `${f}.values`) };
  });
}

/** Converts a Kubernetes Node object (JSON or client-node model) to NodeInfo. */
export function nodeFromObject(input: unknown): NodeInfo {
  const w = new Walk();
  const o = w.obj(input, "");
  const meta = w.obj(o.metadata, "metadata");
  const spec = w.obj(o.spec, "spec");
  const status = w.obj(o.status, "status");
  const conditions = w.arr(status.conditions, "status.conditions").map((c) => w.obj(c, "status.conditions[]"));
  const ready = conditions.some((c) => c.type === "Ready" && c.status === "True");
  return {
    name: w.str(meta.name, "metadata.name"),
    labels: w.strMap(meta.labels, "metadata.labels"),
    allocatable: w.resources(status.allocatable, "status.allocatable"),
    unschedulable: spec.unschedulable === true,
    ready,
    taints: w.arr(spec.taints, "spec.taints").map((t) => {
      const to = w.obj(t, "spec.taints[]");
      return { key: w.str(to.key, "key"), value: w.optStr(to.value, "value"), effect: w.str(to.effect, "effect") };
    }),
    createdAtMs: w.time(meta.creationTimestamp, "metadata.creationTimestamp") ?? 0,
  };
}

export interface ParsedPod {
  pod: PodInfo;
  /** Fields that do not have Kubernetes' types; empty for a well-formed pod. */
  problems: FieldViolation[];
  /** metadata.creationTimestamp was absent (createdAtMs is then the fallback given to parsePod). */
  noCreationTimestamp: boolean;
}

/**
 * Converts a Kubernetes Pod object (JSON or client-node model) to PodInfo and reports every malformed field.
 * A pod without a creationTimestamp is taken as created at `createdAtFallbackMs` (the edge passes the call's
 * time, so such a pod never queues ahead of the ones that were there first).
 */
export function parsePod(input: unknown, createdAtFallbackMs = 0): ParsedPod {
  const w = new Walk();
  if (!isObj(input)) w.bad("", "a pod must be a JSON object");
  const o = w.obj(input, "");
  const meta = w.obj(o.metadata, "metadata");
  const spec = w.obj(o.spec, "spec");
  const status = w.obj(o.status, "status");

  const name = w.str(meta.name, "metadata.name");
  if (name.length > MAX_NAME_LENGTH) w.bad("metadata.name", `must be at most ${MAX_NAME_LENGTH} characters`);
  const namespace = w.str(meta.namespace, "metadata.namespace");
  if (namespace.length > MAX_NAMESPACE_LENGTH) w.bad("metadata.namespace", `must be at most ${MAX_NAMESPACE_LENGTH} characters`);
  const annotations = w.strMap(meta.annotations, "metadata.annotations");
  let annotationBytes = 0;
  for (const [k, v] of Object.entries(annotations)) annotationBytes += k.length + v.length;
  if (annotationBytes > MAX_ANNOTATIONS_BYTES) w.bad("metadata.annotations", `must total at most ${MAX_ANNOTATIONS_BYTES} bytes`);
  const created = w.time(meta.creationTimestamp, "metadata.creationTimestamp");
  const deleting = !absent(meta.deletionTimestamp);
  if (deleting) w.time(meta.deletionTimestamp, "metadata.deletionTimestamp");

  const containerRequests = (c: unknown, field: string): Resources => {
    const co = w.obj(c, field);
    return w.resources(w.obj(co.resources, `${field}.resources`).requests, `${field}.resources.requests`);
  };
  const sum = zero();
  w.arr(spec.containers, "spec.containers").forEach((c, i) => addInto(sum, containerRequests(c, `spec.containers[${i}]`)));
  let requests = sum;
  w.arr(spec.initContainers, "spec.initContainers").forEach((c, i) => {
    requests = max(requests, containerRequests(c, `spec.initContainers[${i}]`));
  });
  addInto(requests, w.resources(spec.overhead, "spec.overhead"));

  const phase = w.str(status.phase, "status.phase");
  const containerStatuses = w.arr(status.containerStatuses, "status.containerStatuses").map((cs, i) => w.obj(cs, `status.containerStatuses[${i}]`));
  const allTerminated =
    containerStatuses.length > 0 && containerStatuses.every((cs) => isObj(cs.state) && !absent(cs.state.terminated));
  const terminated = phase === "Succeeded" || phase === "Failed" || allTerminated;

  const affinity = w.obj(spec.affinity, "spec.affinity");
  const nodeAffinity = w.obj(affinity.nodeAffinity, "spec.affinity.nodeAffinity");
  const reqField = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution";
  const required = w.obj(nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution, reqField);
  const requiredNodeTerms: NodeSelectorTerm[] = w.arr(required.nodeSelectorTerms, `${reqField}.nodeSelectorTerms`).map((t, i) => {
    const f = `${reqField}.nodeSelectorTerms[${i}]`;
    const to = w.obj(t, f);
    return { matchExpressions: requirements(w, to.matchExpressions, `${f}.matchExpressions`), matchFields: requirements(w, to.matchFields, `${f}.matchFields`) };
  });

  let sparkConfMap: string | undefined;
  w.arr(spec.volumes, "spec.volumes").forEach((v, i) => {
    const vo = w.obj(v, `spec.volumes[${i}]`);
    if (vo.name === "spark-conf-volume-driver") sparkConfMap = w.str(w.obj(vo.configMap, `spec.volumes[${i}].configMap`).name, `spec.volumes[${i}].configMap.name`) || undefined;
  });

  const tolerations: Toleration[] = w.arr(spec.tolerations, "spec.tolerations").map((t, i) => {
    const f = `spec.tolerations[${i}]`;
    const to = w.obj(t, f);
    const operator = w.optStr(to.operator, `${f}.operator`);
    if (operator !== undefined && !TOLERATION_OPERATORS.has(operator)) w.bad(`${f}.operator`, "must be Exists or Equal");
    const effect = w.optStr(to.effect, `${f}.effect`);
    if (effect !== undefined && !EFFECTS.has(effect)) w.bad(`${f}.effect`, "must be NoSchedule, PreferNoSchedule or NoExecute");
    if (!absent(to.tolerationSeconds) && !Number.isInteger(to.tolerationSeconds)) w.bad(`${f}.tolerationSeconds`, "must be an integer");
    return { key: w.optStr(to.key, `${f}.key`), operator, value: w.optStr(to.value, `${f}.value`), effect };
  });

  const pod: PodInfo = {
    uid: w.str(meta.uid, "metadata.uid"),
    name,
    namespace: namespace || "default",
    labels: w.strMap(meta.labels, "metadata.labels"),
    annotations,
    createdAtMs: created ?? createdAtFallbackMs,
    deleting,
    nodeName: w.str(spec.nodeName, "spec.nodeName"),
    schedulerName: w.str(spec.schedulerName, "spec.schedulerName"),
    phase,
    terminated,
    requests,
    nodeSelector: w.strMap(spec.nodeSelector, "spec.nodeSelector"),
    requiredNodeTerms,
    tolerations,
    sparkConfMap,
  };
  return { pod, problems: w.problems, noCreationTimestamp: absent(meta.creationTimestamp) };
}

/** Converts a Kubernetes Pod object to PodInfo, dropping malformed fields (for API server objects). */
export function podFromObject(input: unknown): PodInfo {
  return parsePod(input).pod;
}
