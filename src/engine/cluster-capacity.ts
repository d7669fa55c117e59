// Would an application fit the cluster if no Spark work were running (reference §9,
// DoesPodExceedClusterCapacity)? The unschedulable marker flags drivers for which the answer is no.
//
// - Candidate nodes: every node matching the driver's nodeSelector and required node affinity. Like the reference,
//   no Ready / cordon / taint filter: the question is about the cluster's shape, not its momentary health.
//   Nodes are taken in name order (the reference used lister order; ours is deterministic).
// - Usage: none. Reservations and soft reservations are ignored.
// - Overhead: only bound, live pods that are not spark-scheduler pods and hold no reservation.
// - Packing: the configured packer, driver and executor candidates both equal to the nodes, min executors.
//
// Pure: reads the state and changes nothing. The overhead map and the empty-cluster views are memoised per state
// version.

import type { AppShape } from "./app-shape.js";
import { attachCapacityIndex } from "./binpack/capacity-index.js";
import type { NodeMetadata } from "./binpack/types.js";
import type { EngineContext } from "./context.js";
import { nodeMatchesPodSelectors } from "./eligibility.js";
import type { PodInfo } from "./model.js";
import { podKey } from "./model.js";
import { zoneOf } from "./node-order.js";
import { type Resources, addInto, sub, zero } from "./resources.js";
import type { ClusterState } from "./state.js";

/** True when the application cannot fit even on an empty cluster (counting non-Spark overhead only). */
export function exceedsClusterCapacity(ctx: EngineContext, driver: PodInfo, shape: AppShape): boolean {
  const { names, metadata } = emptyClusterView(ctx, driver);
  const result = ctx.config.binpack.pack(shape.driver, shape.executor, shape.minExecutors, names, names, metadata);
  return !result.hasCapacity;
}

interface EmptyClusterView {
  names: string[];
  metadata: NodeMetadata;
}

const views = new WeakMap<ClusterState, { version: number; schedulerName: string; byConstraint: Map<string, EmptyClusterView> }>();

/**
 * The empty cluster as `driver`'s node constraints see it, shared by every driver with the same constraints at
 * one state version (the unschedulable marker asks for each pending driver in one pass). The packers never change
 * the view they are given, so one view with its capacity index serves them all.
 */
function emptyClusterView(ctx: EngineContext, driver: PodInfo): EmptyClusterView {
  const { state, config } = ctx;
  let memoised = views.get(state);
  if (!memoised || memoised.version !== state.version || memoised.schedulerName !== config.schedulerName) {
    memoised = { version: state.version, schedulerName: config.schedulerName, byConstraint: new Map() };
    views.set(state, memoised);
  }
  const key = JSON.stringify([driver.nodeSelector, driver.requiredNodeTerms]);
  const cached = memoised.byConstraint.get(key);
  if (cached) return cached;
  const overhead = nonSchedulableOverhead(state, config.schedulerName);
  const nodes = [...state.nodes.values()]
    .filter((n) => nodeMatchesPodSelectors(driver, n).ok)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const metadata: NodeMetadata = new Map();
  for (const node of nodes) {
    const o = overhead.get(node.name);
    const schedulable = o ? sub(node.allocatable, o) : { ...node.allocatable };
    metadata.set(node.name, {
      name: node.name,
      available: schedulable,
      schedulable: { ...schedulable },
      zone: zoneOf(node.labels),
      labels: node.labels,
      unschedulable: node.unschedulable,
      ready: node.ready,
    });
  }
  const names = nodes.map((n) => n.name);
  attachCapacityIndex(names, metadata);
  const view = { names, metadata };
  memoised.byConstraint.set(key, view);
  return view;
}

const memo = new WeakMap<ClusterState, { version: number; schedulerName: string; overhead: Map<string, Resources> }>();

/** Per node: requests of bound, live pods that hold no reservation and are not scheduled by `schedulerName`. */
function nonSchedulableOverhead(state: ClusterState, schedulerName: string): Map<string, Resources> {
  const cached = memo.get(state);
  if (cached && cached.version === state.version && cached.schedulerName === schedulerName) return cached.overhead;
  const reserved = new Set<string>();
  for (const r of state.reservations.values()) {
    for (const pod of r.pods.values()) reserved.add(podKey(r.namespace, pod));
  }
  for (const s of state.soft.values()) {
    for (const pod of s.executors.keys()) reserved.add(podKey(s.namespace, pod));
  }
  const overhead = new Map<string, Resources>();
  for (const [key, p] of state.pods) {
    if (!p.nodeName || p.terminated || p.schedulerName === schedulerName || reserved.has(key)) continue;
    let o = overhead.get(p.nodeName);
    if (!o) overhead.set(p.nodeName, (o = zero()));
    addInto(o, p.requests);
  }
  memo.set(state, { version: state.version, schedulerName, overhead });
  return overhead;
}
