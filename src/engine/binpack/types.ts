// Shared types of the bin-packing algorithms (reference §7).

import type { Resources } from "../resources.js";

/** Per-node scheduling metadata, computed fresh for every decision. */
export interface NodeCapacity {
  name: string;
  /** allocatable − (reserved usage + overhead). May be negative. */
  available: Resources;
  /** allocatable − overhead: what Spark work could use on an otherwise empty node. */
  schedulable: Resources;
  /** Zone label value, or "default" when the node has none. */
  zone: string;
  labels: Record<string, string>;
  unschedulable: boolean;
  ready: boolean;
}

export type NodeMetadata = Map<string, NodeCapacity>;

export interface Efficiency {
  cpu: number;
  memory: number;
  gpu: number;
  max: number;
}

export interface PackResult {
  /** Node chosen for the driver, "" when hasCapacity is false. */
  driverNode: string;
  /** One entry per executor (repeats are normal), in placement order. */
  executorNodes: string[];
  /**
   * What this app reserves per node (driver and executors summed), empty when hasCapacity is false. Efficiencies
   * are derived from it on demand (packEfficiencies), not per pack: a FIFO walk packs every queued driver and
   * reads none of them, and computing them touched every node of the cluster per pack.
   */
  reserved: ReadonlyMap<string, Resources>;
  hasCapacity: boolean;
  /**
   * Set by driver-first packing when it did not fit because the executor candidates' capacities without any driver
   * (per node, clamped to the count) add up to less than the executor count: the proof that it cannot fit as long
   * as they do (a kept FIFO walk re-checks it on the nodes a change touched instead of packing again).
   */
  shortfall?: ExecutorShortfall;
}

export interface ExecutorShortfall {
  executor: Resources;
  count: number;
  /** Each executor candidate with room for one executor: how many it holds (at most `count`); others hold none. */
  capacities: ReadonlyMap<string, number>;
  /** Their sum, below `count`. */
  total: number;
}

/**
 * A bin-packer: places one driver and `executorCount` executors.
 * `driverOrder` / `executorOrder` are candidate node names in priority order.
 */
export type Packer = (
  driver: Resources,
  executor: Resources,
  executorCount: number,
  driverOrder: readonly string[],
  executorOrder: readonly string[],
  metadata: NodeMetadata,
) => PackResult;

export interface BinpackAlgorithm {
  name: string;
  pack: Packer;
  /** Single-AZ packers: demands are zone-enforced and the dynamic-allocation same-AZ rule can apply. */
  singleAz: boolean;
}
