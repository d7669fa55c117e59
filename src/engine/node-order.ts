// Node priority order for bin-packing (reference §7.1, PotentialNodes) and the zone label lookup.
//
// 1. Group the nodes of the metadata by zone and sum `available` per zone.
// 2. Zone priority: ascending by that sum, memory first, then cpu (the zone with the least free room first).
// 3. Nodes: zone priority, then `available` ascending (memory, then cpu: fullest first), then name.
// 4. driverNodes = sorted ∩ offered list; executorNodes = sorted nodes that are schedulable and Ready.
// 5. Optional label prioritisation per list: stable sort by the rank of the node's label value; nodes without the
//    label or with an unlisted value come after every ranked node, in their previous order.
//
// Deviations: the reference left the order of zones with equal memory and cpu sums, and of nodes whose
// `available` differs only in GPUs, to an unstable sort. We break those ties by GPU (ascending), then by name, so
// the order is fully deterministic. zoneOf reads `topology.kubernetes.io/zone` and falls back to the deprecated
// `failure-domain.beta.kubernetes.io/zone`; the reference's packer read only the beta label.

import type { Resources } from "./resources.js";
import type { NodeMetadata } from "./binpack/types.js";

export const ZONE_LABEL = "topology.kubernetes.io/zone";
export const LEGACY_ZONE_LABEL = "failure-domain.beta.kubernetes.io/zone";
export const DEFAULT_ZONE = "default";

/** The node's zone: the GA label, else the deprecated beta label, else "default". Empty values count as absent. */
export function zoneOf(labels: Readonly<Record<string, string>> | undefined): string {
  if (!labels) return DEFAULT_ZONE;
  return labels[ZONE_LABEL] || labels[LEGACY_ZONE_LABEL] || DEFAULT_ZONE;
}

export interface LabelPriority {
  labelName: string;
  /** Label values, most preferred first. */
  labelValuesDescendingPriority: readonly string[];
}

export interface NodeOrderOptions {
  driverPriority?: LabelPriority;
  executorPriority?: LabelPriority;
}

export interface NodeOrder {
  /** Sorted nodes that are in the offered list. */
  driverNodes: string[];
  /** Sorted nodes that are not unschedulable and are Ready. */
  executorNodes: string[];
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Ascending by memory, then cpu, then gpu (the gpu step is our deterministic tie-break). */
export function compareAvailable(a: Resources, b: Resources): number {
  return a.memory - b.memory || a.cpu - b.cpu || a.gpu - b.gpu;
}

/** What nodes are sorted by. */
export interface NodeSortKey {
  name: string;
  zonePriority: number;
  available: Resources;
}

/** Zone priority, then available (memory, cpu, gpu), then name. */
export function compareNodeKeys(a: NodeSortKey, b: NodeSortKey): number {
  return a.zonePriority - b.zonePriority || compareAvailable(a.available, b.available) || compareStrings(a.name, b.name);
}

/** Summed `available` per zone. */
export function zoneTotals(metadata: NodeMetadata): Map<string, Resources> {
  const totals = new Map<string, Resources>();
  for (const node of metadata.values()) {
    let t = totals.get(node.zone);
    if (!t) {
      t = { cpu: 0, memory: 0, gpu: 0 };
      totals.set(node.zone, t);
    }
    t.cpu += node.available.cpu;
    t.memory += node.available.memory;
    t.gpu += node.available.gpu;
  }
  return totals;
}

/** Zone → priority index from the zones' summed `available` (0 = least; ties by gpu, then zone name). */
export function rankZones(totals: ReadonlyMap<string, Resources>): Map<string, number> {
  const zones = [...totals.keys()].sort(
    (a, b) => compareAvailable(totals.get(a)!, totals.get(b)!) || compareStrings(a, b),
  );
  return new Map(zones.map((zone, i) => [zone, i]));
}

/** Zone → priority index (0 = least summed `available`, memory then cpu; ties by gpu, then zone name). */
export function zonePriorities(metadata: NodeMetadata): Map<string, number> {
  return rankZones(zoneTotals(metadata));
}

/** All node names of the metadata in priority order (steps 1–3). */
export function sortNodes(metadata: NodeMetadata): string[] {
  const priority = zonePriorities(metadata);
  const keys: NodeSortKey[] = [];
  for (const [name, node] of metadata) {
    keys.push({ name, zonePriority: priority.get(node.zone)!, available: node.available });
  }
  keys.sort(compareNodeKeys);
  return keys.map((k) => k.name);
}

/**
 * Stable-sorts `names` by the rank of their node's value for `priority.labelName`; unranked nodes (no metadata,
 * no label, unlisted value) go last, keeping their relative order. Returns a new array.
 */
export function prioritizeByLabel(
  names: readonly string[],
  metadata: NodeMetadata,
  priority: LabelPriority,
): string[] {
  const rankOf = new Map<string, number>();
  priority.labelValuesDescendingPriority.forEach((value, i) => {
    if (!rankOf.has(value)) rankOf.set(value, i);
  });
  const unranked = rankOf.size;
  const ranked = names.map((name) => {
    const value = metadata.get(name)?.labels[priority.labelName];
    const rank = value === undefined ? undefined : rankOf.get(value);
    return { name, rank: rank ?? unranked };
  });
  ranked.sort((a, b) => a.rank - b.rank); // Array#sort is stable
  return ranked.map((r) => r.name);
}

/** Driver and executor candidate lists in priority order (steps 1–5). */
export function orderNodes(
  metadata: NodeMetadata,
  offered: Iterable<string>,
  options: NodeOrderOptions = {},
): NodeOrder {
  const sorted = sortNodes(metadata);
  const offeredSet = offered instanceof Set ? (offered as Set<string>) : new Set(offered);
  let driverNodes = sorted.filter((name) => offeredSet.has(name));
  let executorNodes = sorted.filter((name) => {
    const node = metadata.get(name)!;
    return !node.unschedulable && node.ready;
  });
  if (options.driverPriority) driverNodes = prioritizeByLabel(driverNodes, metadata, options.driverPriority);
  if (options.executorPriority) executorNodes = prioritizeByLabel(executorNodes, metadata, options.executorPriority);
  return { driverNodes, executorNodes };
}
