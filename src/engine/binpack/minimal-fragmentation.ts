// `minimal-fragmentation` executor strategy (reference §7.6, lib minimal_fragmentation.go).
//
// 1. Capacity (§7.6) of every executor candidate given the reserved map; drop zero-capacity nodes.
// 2. Stable sort ascending by capacity (equal capacities keep priority order); maxCap = the largest.
// 3. "Avoid near-empty nodes" (lib#104): if count < maxCap, first try the inner routine on only the nodes whose
//    capacity is < floor((count + maxCap) / 2); if that works, use it.
// 4. Otherwise run the inner routine on all nodes.
// Inner routine, with n executors left: if some node holds n, put all n on the first (smallest) such node; else
// fill every largest-capacity node completely while n ≥ its capacity, drop those nodes and repeat.
//
// Deviation (fixes reference bug §14.2 item 6b): the placed executors are written into the reserved map, so the
// reported efficiencies — and single-az-minimal-fragmentation's zone choice — account for them.

import type { Resources } from "../resources.js";
import { nodeCapacity } from "./capacity.js";
import { forEachCandidate } from "./capacity-index.js";
import { type ExecutorStrategy, type ReservedMap, pushTimes, reserve, sparkBinPack } from "./spark-binpack.js";
import type { NodeMetadata, Packer } from "./types.js";

export interface CapacityCandidate {
  name: string;
  capacity: number;
}

/** Ascending capacity; Infinity-safe (Array#sort is stable, so ties keep priority order). */
function byCapacity(a: CapacityCandidate, b: CapacityCandidate): number {
  return a.capacity < b.capacity ? -1 : a.capacity > b.capacity ? 1 : 0;
}

/** First index in [lo, hi) of ascending `caps` whose value is ≥ `value` (hi when none). */
function lowerBound(caps: readonly number[], lo: number, hi: number, value: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (caps[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The inner routine over nodes [0, end) of the ascending `caps`. Appends one name per executor to `out` and
 * returns true on success; on failure `out` may hold a partial placement.
 */
function fillSmallestFirst(names: readonly string[], caps: readonly number[], end: number, count: number, out: string[]): boolean {
  let n = count;
  while (end > 0 && n > 0) {
    const fitAll = lowerBound(caps, 0, end, n);
    if (fitAll < end) {
      pushTimes(out, names[fitAll], n);
      return true;
    }
    const m = caps[end - 1];
    const firstM = lowerBound(caps, 0, end, m);
    let i = firstM;
    while (i < end && n >= m) {
      pushTimes(out, names[i], m);
      n -= m;
      i += 1;
    }
    if (n === 0) return true;
    if (i < end) {
      // Unused nodes of capacity m > n remain; the smallest node ≥ n is before firstM or at i.
      const j = lowerBound(caps, 0, firstM, n);
      pushTimes(out, names[j < firstM ? j : i], n);
      return true;
    }
    end = firstM; // every node of capacity m was filled: drop them
  }
  return n === 0;
}

/**
 * Plans `count` executors over candidates given in priority order with their capacities (steps 1–4 above).
 * Returns one node name per executor in placement order, or undefined when they do not fit.
 */
export function planMinimalFragmentation(candidates: readonly CapacityCandidate[], count: number): string[] | undefined {
  const out: string[] = [];
  if (count === 0) return out;
  const sorted = candidates.filter((c) => c.capacity > 0).sort(byCapacity);
  if (sorted.length === 0) return undefined;
  const names = sorted.map((c) => c.name);
  const caps = sorted.map((c) => c.capacity);
  const maxCap = caps[caps.length - 1];
  if (count < maxCap) {
    const target = Math.floor((count + maxCap) / 2);
    const prefix = lowerBound(caps, 0, caps.length, target);
    if (prefix > 0 && fillSmallestFirst(names, caps, prefix, count, out)) return out;
    out.length = 0;
  }
  return fillSmallestFirst(names, caps, caps.length, count, out) ? out : undefined;
}

export const minimalFragmentationExecutors: ExecutorStrategy = (
  executor: Resources,
  count: number,
  executorOrder: readonly string[],
  metadata: NodeMetadata,
  reserved: ReservedMap,
) => {
  if (count === 0) return [];
  const candidates: CapacityCandidate[] = [];
  const seen = new Set<string>();
  // Zero-capacity nodes are dropped by the plan anyway, so the capacity index may skip them.
  forEachCandidate(executorOrder, metadata, executor, (name) => {
    if (seen.has(name)) return; // a repeated name must not be handed its capacity twice
    seen.add(name);
    const node = metadata.get(name);
    if (!node) return;
    candidates.push({ name, capacity: nodeCapacity(node.available, reserved.get(name), executor) });
  });
  const placed = planMinimalFragmentation(candidates, count);
  if (!placed) return undefined;
  // Record the executors (the reference did not; see the header).
  let i = 0;
  while (i < placed.length) {
    let j = i + 1;
    while (j < placed.length && placed[j] === placed[i]) j += 1;
    reserve(reserved, placed[i], executor, j - i);
    i = j;
  }
  return placed;
};

/** Driver-first placement with minimal-fragmentation executors (used by single-az-minimal-fragmentation). */
export const minimalFragmentation: Packer = (driver, executor, count, driverOrder, executorOrder, metadata) =>
  sparkBinPack(driver, executor, count, driverOrder, executorOrder, metadata, minimalFragmentationExecutors);
