// Per-decision view of node capacity (reference §3.2 step 3): for every candidate node,
// available = allocatable − (reserved + overhead) and schedulable = allocatable − overhead.

import type { NodeCapacity, NodeMetadata } from "./binpack/types.js";
import { zoneOf } from "./node-order.js";
import { type Resources, sub } from "./resources.js";
import type { ClusterState } from "./state.js";

export function buildMetadata(state: ClusterState, nodeNames: Iterable<string>): NodeMetadata {
  const out: NodeMetadata = new Map();
  for (const name of nodeNames) {
    if (out.has(name)) continue;
    const entry = nodeCapacityOf(state, name);
    if (entry) out.set(name, entry);
  }
  return out;
}

/** One node's entry of the view (undefined: no such node). */
export function nodeCapacityOf(state: ClusterState, name: string): NodeCapacity | undefined {
  const node = state.nodes.get(name);
  if (!node) return undefined;
  const o = state.overhead().get(name);
  const schedulable = o ? sub(node.allocatable, o) : { ...node.allocatable };
  return {
    name,
    available: sub(schedulable, state.reservedOn(name)),
    schedulable,
    zone: zoneOf(node.labels),
    labels: node.labels,
    unschedulable: node.unschedulable,
    ready: node.ready,
  };
}

/** Whether two entries of a view say the same about their node (labels compared by content). */
export function sameNodeCapacity(a: NodeCapacity, b: NodeCapacity): boolean {
  return (
    a.name === b.name &&
    sameResources(a.available, b.available) &&
    sameResources(a.schedulable, b.schedulable) &&
    a.zone === b.zone &&
    a.unschedulable === b.unschedulable &&
    a.ready === b.ready &&
    sameLabels(a.labels, b.labels)
  );
}

function sameResources(a: Resources, b: Resources): boolean {
  return a.cpu === b.cpu && a.memory === b.memory && a.gpu === b.gpu;
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  if (a === b) return true;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}
