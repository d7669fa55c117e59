// Node choice for a single rescheduled or extra (dynamic-allocation) executor (reference §4.2,
// rescheduleExecutor).
//
// - minimal-fragmentation variant: among candidates with capacity (§7.6) ≥ 1, prefer nodes already hosting the
//   app's executors, then the smallest capacity (the fullest node); ties keep candidate order.
// - otherwise: the first candidate, in order, whose `available` holds the executor in every dimension.
//
// Deviation (fixes reference bug §14.2 item 3): capacity is computed from `available` alone, which is already net
// of overhead; the reference subtracted overhead a second time.

import type { Resources } from "../resources.js";
import { fits } from "../resources.js";
import { nodeCapacity } from "./capacity.js";
import type { NodeMetadata } from "./types.js";

export interface PickExecutorOptions {
  /** The configured packer is single-az-minimal-fragmentation. */
  minimalFragmentation: boolean;
  /** Nodes already hosting this app's executors (reservation slots and soft reservations). */
  appNodes: ReadonlySet<string>;
}

/** The chosen node, or undefined when the executor fits nowhere. Candidates without metadata are skipped. */
export function pickExecutorNode(
  executor: Resources,
  candidatesInOrder: readonly string[],
  metadata: NodeMetadata,
  options: PickExecutorOptions,
): string | undefined {
  if (!options.minimalFragmentation) {
    for (const name of candidatesInOrder) {
      const node = metadata.get(name);
      if (node && fits(executor, node.available)) return name;
    }
    return undefined;
  }
  let best: string | undefined;
  let bestHostsApp = false;
  let bestCapacity = Infinity;
  for (const name of candidatesInOrder) {
    const node = metadata.get(name);
    if (!node) continue;
    const capacity = nodeCapacity(node.available, undefined, executor);
    if (capacity < 1) continue;
    const hostsApp = options.appNodes.has(name);
    const better =
      best === undefined ||
      (hostsApp && !bestHostsApp) ||
      (hostsApp === bestHostsApp && capacity < bestCapacity);
    if (better) {
      best = name;
      bestHostsApp = hostsApp;
      bestCapacity = capacity;
    }
  }
  return best;
}
