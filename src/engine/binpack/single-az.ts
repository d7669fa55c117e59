// `single-az-tightly-pack` and `single-az-minimal-fragmentation` (reference §7.5, lib single_az.go).
//
// Group the driver candidates and the executor candidates by zone (zones in order of first appearance in the
// driver list; nodes without metadata dropped). For each zone with both, run driver-first placement restricted to
// that zone. Among the zones that fit, pick the one whose average Max efficiency (§7.7) over
// [driverNode, ...executorNodes] (pods weight nodes) is strictly greatest; ties go to the earlier zone.
//
// Deviations (fixes of reference bugs, §14.2 item 6):
// (a) the reference started the best average at 0, so when every fitting zone averaged exactly 0 it returned
//     "no capacity"; we return the first fitting zone.
// (b) minimal-fragmentation records its executors in the reserved map (see minimal-fragmentation.ts), so the zone
//     choice under single-az-minimal-fragmentation accounts for where the executors go.

import type { Resources } from "../resources.js";
import { averageEfficiency, efficienciesFor } from "./efficiency.js";
import { minimalFragmentationExecutors } from "./minimal-fragmentation.js";
import { type ExecutorStrategy, type Placement, placeDriverFirst, toPackResult } from "./spark-binpack.js";
import { tightlyPackExecutors } from "./tightly-pack.js";
import type { NodeMetadata, Packer, PackResult } from "./types.js";

/** Groups names by their node's zone, zones in order of first appearance; names without metadata are dropped. */
export function groupByZone(names: readonly string[], metadata: NodeMetadata): Map<string, string[]> {
  const zones = new Map<string, string[]>();
  for (const name of names) {
    const node = metadata.get(name);
    if (!node) continue;
    const list = zones.get(node.zone);
    if (list) list.push(name);
    else zones.set(node.zone, [name]);
  }
  return zones;
}

/** Average Max efficiency of a placement over its pods' nodes. */
export function placementScore(placement: Placement, metadata: NodeMetadata): number {
  const pods = [placement.driverNode, ...placement.executorNodes];
  const efficiencies = efficienciesFor(pods, metadata, placement.reserved);
  return averageEfficiency(pods, efficiencies, metadata).max;
}

/** Single-zone packing with the given executor strategy. */
export function singleAzPack(
  driver: Resources,
  executor: Resources,
  count: number,
  driverOrder: readonly string[],
  executorOrder: readonly string[],
  metadata: NodeMetadata,
  strategy: ExecutorStrategy,
): PackResult {
  const driverZones = groupByZone(driverOrder, metadata);
  const executorZones = groupByZone(executorOrder, metadata);
  let best: Placement | undefined;
  let bestScore = 0;
  for (const [zone, drivers] of driverZones) {
    const executors = executorZones.get(zone);
    if (!executors) continue;
    const placement = placeDriverFirst(driver, executor, count, drivers, executors, metadata, strategy);
    if (!placement) continue;
    const score = placementScore(placement, metadata);
    if (best === undefined || score > bestScore) {
      best = placement;
      bestScore = score;
    }
  }
  return toPackResult(best);
}

export const singleAzTightlyPack: Packer = (driver, executor, count, driverOrder, executorOrder, metadata) =>
  singleAzPack(driver, executor, count, driverOrder, executorOrder, metadata, tightlyPackExecutors);

export const singleAzMinimalFragmentation: Packer = (driver, executor, count, driverOrder, executorOrder, metadata) =>
  singleAzPack(driver, executor, count, driverOrder, executorOrder, metadata, minimalFragmentationExecutors);
