// Self-consistency check of ClusterState's incremental counters. The state keeps reserved resources and
// overhead per node up to date on every change, so decisions never rescan every pod; a bug in that
// bookkeeping would silently skew every later decision. This recomputes both from the objects the state
// holds and reports where they disagree (the service exports the count as a metric and logs the details).
//
// Pure and synchronous: reads the state, changes nothing. Cost is one pass over reservations, soft
// reservations and pods.

import { podKey } from "./model.js";
import { type Resources, addInto, equals, zero } from "./resources.js";
import type { ClusterState } from "./state.js";

export type CounterName = "reserved" | "overhead";

export interface Mismatch {
  counter: CounterName;
  node: string;
  /** What the incremental counter says. */
  incremental: Resources;
  /** What a recomputation from scratch gives. */
  recomputed: Resources;
}

export interface ConsistencyReport {
  /** Nodes compared (every node named by a node object, a slot or a bound pod). */
  nodesChecked: number;
  mismatches: Mismatch[];
}

function addTo(map: Map<string, Resources>, node: string, r: Resources): void {
  let sum = map.get(node);
  if (!sum) map.set(node, (sum = zero()));
  addInto(sum, r);
}

/** Recomputes reserved (hard + soft slots) and overhead per node and compares them with the state's counters. */
export function checkConsistency(state: ClusterState): ConsistencyReport {
  const reserved = new Map<string, Resources>();
  const referenced = new Set<string>();
  for (const r of state.reservations.values()) {
    for (const slot of r.slots.values()) addTo(reserved, slot.node, slot.resources);
    for (const pod of r.pods.values()) referenced.add(podKey(r.namespace, pod));
  }
  for (const s of state.soft.values()) {
    for (const [pod, slot] of s.executors) {
      addTo(reserved, slot.node, slot.resources);
      referenced.add(podKey(s.namespace, pod));
    }
  }
  // Overhead: bound, live pods that no reservation or soft reservation names (ClusterState's definition).
  const overhead = new Map<string, Resources>();
  for (const [key, p] of state.pods) {
    if (p.nodeName && !p.terminated && !referenced.has(key)) addTo(overhead, p.nodeName, p.requests);
  }
  const nodes = new Set<string>([...state.nodes.keys(), ...reserved.keys(), ...overhead.keys(), ...state.overhead().keys()]);
  const mismatches: Mismatch[] = [];
  for (const node of [...nodes].sort()) {
    const checks: [CounterName, Resources, Resources][] = [
      ["reserved", state.reservedOn(node), reserved.get(node) ?? zero()],
      ["overhead", state.overheadOn(node), overhead.get(node) ?? zero()],
    ];
    for (const [counter, incremental, recomputed] of checks) {
      if (!equals(incremental, recomputed)) mismatches.push({ counter, node, incremental: { ...incremental }, recomputed });
    }
  }
  return { nodesChecked: nodes.size, mismatches };
}
