// Generic driver-first placement (reference §7.2, SparkBinPack).
//
// For each driver candidate in priority order that exists in the metadata and fits its `available`, start a fresh
// reserved map holding only the driver and run the executor strategy; the first success wins. Efficiencies are then
// computed over every node in the metadata with the final reserved map (driver and executors).
//
// Performance: an executor strategy succeeds exactly when the executor capacities of its candidate nodes
// (§7.6, given the reserved map) add up to at least the executor count — true of distribute-evenly,
// tightly-pack and minimal-fragmentation alike. We compute the driver-less capacities once and, per driver
// candidate, adjust only the driver's own node, so driver candidates that cannot work are skipped in O(1) instead
// of re-running the strategy: O(nodes) per pack instead of O(nodes²) when the app does not fit. The sums are
// only computed after a first strategy run failed, so a pack that fits costs what its strategy reads. When the sums
// fall short of the executor count even without a driver, no candidate can work and the driver scan stops: a
// queued app too large for what is left costs one pass over the executor candidates, and a kept FIFO walk
// (queue-walks.ts) sees it read no driver candidate behind the first.

import { type Resources, fits, zero } from "../resources.js";
import { nodeCapacity } from "./capacity.js";
import { forEachCandidate } from "./capacity-index.js";
import type { NodeMetadata, PackResult } from "./types.js";

/** Per-node resources reserved by the app being packed. Entries are owned (mutable) copies. */
export type ReservedMap = Map<string, Resources>;

/**
 * Places `count` executors over `executorOrder`, recording them in `reserved` (which already holds the driver).
 * Returns one node name per executor, or undefined when they do not all fit (reserved is then garbage).
 */
export type ExecutorStrategy = (
  executor: Resources,
  count: number,
  executorOrder: readonly string[],
  metadata: NodeMetadata,
  reserved: ReservedMap,
) => string[] | undefined;

/** A successful placement, before efficiencies are computed. */
export interface Placement {
  driverNode: string;
  executorNodes: string[];
  reserved: ReservedMap;
}

/** Adds `times` × `r` to reserved[name] in place (creating the entry once). */
export function reserve(reserved: ReservedMap, name: string, r: Resources, times = 1): void {
  let entry = reserved.get(name);
  if (!entry) {
    entry = zero();
    reserved.set(name, entry);
  }
  entry.cpu += r.cpu * times;
  entry.memory += r.memory * times;
  entry.gpu += r.gpu * times;
}

/** Appends `name` to `out` `times` times. */
export function pushTimes(out: string[], name: string, times: number): void {
  for (let i = 0; i < times; i++) out.push(name);
}

/** The "does not fit" result. */
export function noCapacity(): PackResult {
  return { driverNode: "", executorNodes: [], reserved: new Map(), hasCapacity: false };
}

/** Turns a placement into a PackResult. */
export function toPackResult(placement: Placement | undefined): PackResult {
  if (!placement) return noCapacity();
  return { driverNode: placement.driverNode, executorNodes: placement.executorNodes, reserved: placement.reserved, hasCapacity: true };
}

/** Driver-first placement (§7.2); undefined when no driver candidate lets the executors fit. */
export function placeDriverFirst(
  driver: Resources,
  executor: Resources,
  count: number,
  driverOrder: readonly string[],
  executorOrder: readonly string[],
  metadata: NodeMetadata,
  strategy: ExecutorStrategy,
  onShortfall?: (sums: { base: ReadonlyMap<string, number>; total: number }) => void,
): Placement | undefined {
  // The capacity sums are computed only once a strategy has failed: the first driver candidate that holds the
  // driver usually works, and the strategies stop at the node that takes the last executor, so a pack that fits
  // reads only the front of the node order instead of every node (a FIFO walk packs every queued driver).
  let sums: { base: Map<string, number>; total: number } | undefined;
  let placement: Placement | undefined;
  // Only nodes the driver fits on are candidates, so the capacity index may skip the others.
  forEachCandidate(driverOrder, metadata, driver, (d) => {
    const node = metadata.get(d);
    if (!node || !fits(driver, node.available)) return false;
    if (sums) {
      // A node missing from the sums has no room for an executor (or is no executor candidate): the driver
      // changes nothing there.
      const base = sums.base.get(d);
      if (base !== undefined) {
        const withDriver = Math.min(count, nodeCapacity(node.available, driver, executor));
        if (sums.total - base + withDriver < count) return false;
      } else if (sums.total < count) {
        return false;
      }
    }
    const reserved: ReservedMap = new Map();
    reserve(reserved, d, driver);
    const executorNodes = strategy(executor, count, executorOrder, metadata, reserved);
    if (executorNodes) {
      placement = { driverNode: d, executorNodes, reserved };
      return true;
    }
    sums ??= capacitySums(executor, count, executorOrder, metadata);
    // With the driver anywhere, the executors have at most these capacities: when even they fall short, no later
    // candidate can work, so the scan stops here (the pack reads no more driver candidates).
    if (sums.total >= count) return false;
    onShortfall?.(sums);
    return true;
  });
  return placement;
}

/** Driver-less capacity of each executor candidate, clamped to `count` (more is irrelevant, keeps sums finite). */
function capacitySums(
  executor: Resources,
  count: number,
  executorOrder: readonly string[],
  metadata: NodeMetadata,
): { base: Map<string, number>; total: number } {
  const base = new Map<string, number>();
  let total = 0;
  forEachCandidate(executorOrder, metadata, executor, (name) => {
    let cap = base.get(name);
    if (cap === undefined) {
      const node = metadata.get(name);
      cap = node ? Math.min(count, nodeCapacity(node.available, undefined, executor)) : 0;
      base.set(name, cap);
    }
    total += cap;
  });
  return { base, total };
}

/** SparkBinPack: driver-first placement with the given executor strategy, as a PackResult. */
export function sparkBinPack(
  driver: Resources,
  executor: Resources,
  count: number,
  driverOrder: readonly string[],
  executorOrder: readonly string[],
  metadata: NodeMetadata,
  strategy: ExecutorStrategy,
): PackResult {
  let shortfall: { base: ReadonlyMap<string, number>; total: number } | undefined;
  const placement = placeDriverFirst(driver, executor, count, driverOrder, executorOrder, metadata, strategy, (s) => (shortfall = s));
  const result = toPackResult(placement);
  if (!placement && shortfall) {
    // Only the nodes that hold an executor (with a capacity index the others are never visited).
    const capacities = new Map<string, number>();
    for (const [name, cap] of shortfall.base) if (cap > 0) capacities.set(name, cap);
    result.shortfall = { executor, count, capacities, total: shortfall.total };
  }
  return result;
}
