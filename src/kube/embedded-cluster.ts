// The embedded simulated cluster: what the service runs on when there is no Kubernetes to talk to.
// Nodes (and optionally pods already running) come from a YAML file; reservations are kept in memory as
// ResourceReservation objects; a pod given a node is bound to it, as kube-scheduler would do.

import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { parse as parseYaml } from "yaml";
import type { DemandIntent, ReservationWrite } from "../engine/decision.js";
import type { Engine } from "../engine/engine.js";
import { type NodeInfo, type PodInfo, nodeFromObject, podFromObject, podKey } from "../engine/model.js";
import { reservationKey, reservationToObject } from "../engine/reservation.js";
import { parseCount, parseCpu, parseMemory } from "../engine/resources.js";
import type { ClusterBackend, Readiness } from "./backend.js";

export interface EmbeddedClusterSpec {
  nodes: NodeInfo[];
  pods: PodInfo[];
  /** ConfigMap data by namespace/name (e.g. Spark driver confs, for zero-configuration sizing). */
  configMaps: Map<string, Record<string, string>>;
  /** SparkApplication objects by namespace/name. */
  sparkApplications: Map<string, unknown>;
}

type Obj = Record<string, unknown>;

/**
 * Parses the embedded cluster file: `nodes:` (short form or Kubernetes Node objects), and optional `pods:`,
 * `configMaps:` and `sparkApplications:` (Kubernetes objects).
 */
export function parseClusterSpec(text: string, source = "cluster file"): EmbeddedClusterSpec {
  const doc = parseYaml(text) as Obj | null;
  if (!doc || typeof doc !== "object") throw new Error(`${source}: expected a map with a "nodes" list`);
  const rawNodes = doc.nodes;
  if (!Array.isArray(rawNodes) || rawNodes.length === 0) throw new Error(`${source}: "nodes" must be a non-empty list`);
  const nodes = rawNodes.map((n, i) => shortNode(n as Obj, `${source}: nodes[${i}]`));
  const names = new Set<string>();
  for (const n of nodes) {
    if (names.has(n.name)) throw new Error(`${source}: duplicate node name ${n.name}`);
    names.add(n.name);
  }
  const pods = (Array.isArray(doc.pods) ? doc.pods : []).map((p) => podFromObject(p));
  return {
    nodes,
    pods,
    configMaps: byKey(doc.configMaps, `${source}: configMaps`, (o) => stringData(o.data)),
    sparkApplications: byKey(doc.sparkApplications, `${source}: sparkApplications`, (o) => o),
  };
}

function byKey<T>(list: unknown, where: string, value: (o: Obj) => T): Map<string, T> {
  const out = new Map<string, T>();
  for (const item of Array.isArray(list) ? (list as Obj[]) : []) {
    const meta = (item?.metadata ?? {}) as Obj;
    if (typeof meta.name !== "string" || !meta.name) throw new Error(`${where}: every object needs metadata.name`);
    out.set(podKey(typeof meta.namespace === "string" ? meta.namespace : "default", meta.name), value(item));
  }
  return out;
}

/** The namespace and name of a namespace/name key (namespaces hold no "/"). */
function splitKey(key: string): [string, string] {
  const i = key.indexOf("/");
  return [key.slice(0, i), key.slice(i + 1)];
}

function stringData(data: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((data as Obj) ?? {})) out[k] = String(v);
  return out;
}

function shortNode(n: Obj, where: string): NodeInfo {
  if (n && typeof n === "object" && "metadata" in n) return nodeFromObject(n);
  const name = typeof n?.name === "string" ? n.name : "";
  if (!name) throw new Error(`${where}: node needs a name`);
  const num = (key: string, parse: (s: string) => number | undefined, dflt?: string): number => {
    const raw = n[key] ?? dflt;
    const v = raw === undefined ? undefined : parse(String(raw));
    if (v === undefined) throw new Error(`${where} (${name}): "${key}" is missing or not a quantity: ${JSON.stringify(raw)}`);
    return v;
  };
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries((n.labels as Obj) ?? {})) labels[k] = String(v);
  if (typeof n.zone === "string") labels["topology.kubernetes.io/zone"] = n.zone;
  labels["kubernetes.io/hostname"] ??= name;
  return {
    name,
    labels,
    allocatable: { cpu: num("cpu", parseCpu), memory: num("memory", parseMemory), gpu: num("gpu", parseCount, "0") },
    unschedulable: n.unschedulable === true,
    ready: n.ready !== false,
    taints: Array.isArray(n.taints) ? (n.taints as Obj[]).map((t) => ({ key: String(t.key), value: t.value === undefined ? undefined : String(t.value), effect: String(t.effect) })) : [],
    createdAtMs: 0,
  };
}

export class EmbeddedCluster implements ClusterBackend {
  readonly kind = "embedded" as const;
  /** Stored ResourceReservation objects by namespace/name, as an API server would hold them. */
  readonly objects = new Map<string, Record<string, unknown>>();
  private resourceVersion = 0;

  constructor(
    private readonly engine: Engine,
    private readonly spec: EmbeddedClusterSpec,
    private readonly log: Logger,
  ) {}

  static fromFile(engine: Engine, path: string, log: Logger): EmbeddedCluster {
    return new EmbeddedCluster(engine, parseClusterSpec(readFileSync(path, "utf8"), path), log);
  }

  async start(): Promise<void> {
    for (const n of this.spec.nodes) this.engine.state.upsertNode(n);
    for (const p of this.spec.pods) this.engine.state.upsertPod(p);
    for (const [k, v] of this.spec.configMaps) this.engine.state.putConfigMap(...splitKey(k), v);
    for (const [k, v] of this.spec.sparkApplications) this.engine.state.putSparkApplication(...splitKey(k), v);
    this.log.info({ nodes: this.spec.nodes.length, pods: this.spec.pods.length }, "embedded cluster loaded");
  }

  async stop(): Promise<void> {}

  readiness(): Readiness {
    return { ready: true };
  }

  synced(): boolean {
    return true;
  }

  async writeReservation(write: ReservationWrite): Promise<string> {
    const r = write.reservation;
    const rv = String(++this.resourceVersion);
    const obj = reservationToObject({ ...r, resourceVersion: rv });
    this.objects.set(reservationKey(r.namespace, r.appId), obj);
    return rv;
  }

  async applyDemand(demand: DemandIntent): Promise<void> {
    this.log.debug({ demand: `${demand.namespace}/demand-${demand.podName}`, op: demand.op }, "embedded cluster ignores demands");
  }

  /** The embedded cluster's pods are the ones its callers show: record a new one (or a new incarnation). */
  podSeen(pod: PodInfo): void {
    const known = this.engine.state.pods.get(podKey(pod.namespace, pod.name));
    if (!known || (pod.uid !== "" && known.uid !== pod.uid)) this.engine.state.upsertPod(pod);
  }

  onScheduled(pod: PodInfo, node: string): void {
    this.engine.markBound(pod.namespace, pod.name, node);
  }
}
