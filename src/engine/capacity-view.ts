// Per-decision view of node capacity (reference §3.2 step 3): for every candidate node,
// available = allocatable − (reserved + overhead) and schedulable = allocatable − overhead.

import type { NodeCapacity, NodeMetadata } from "./binpack/types.js";
import { zoneOf } from "./node-order.js";
import { sub } from "./resources.js";
import type { ClusterState } from "./state.js";

export function buildMetadata(state: ClusterState, nodeNames: Iterable<string>): NodeMetadata {
  const overhead = state.overhead();
  const out: NodeMetadata = new Map();
  for (const name of nodeNames) {
    if (out.has(name)) continue;
    const node = state.nodes.get(name);
    if (!node) continue;
    const o = overhead.get(name);
    const schedulable = o ? sub(node.allocatable, o) : { ...node.allocatable };
    const entry: NodeCapacity = {
      name,
      available: sub(schedulable, state.reservedOn(name)),
      schedulable,
      zone: zoneOf(node.labels),
      labels: node.labels,
      unschedulable: node.unschedulable,
      ready: node.ready,
    };
    out.set(name, entry);
  }
  return out;
}
