// Test fixtures for the bin-packing tests: compact node metadata builders in the spec's §13 notation.

import { type Resources, res } from "../../../src/engine/resources.js";
import type { NodeCapacity, NodeMetadata, PackResult } from "../../../src/engine/binpack/types.js";

/** R(c, m, g): raw integer units (the cpu field simply holds the integer). */
export const R = (c: number, m: number, g = 0): Resources => res(c, m, g);

/**
 * The reference tests' "infinite" schedulable total (MaxInt64 ≈ 2^63). As a double, (2^63 − k) / 2^63 is
 * exactly 1 for small k, so every node's efficiency saturates to 1.0 as in the reference, and zone choices among
 * such nodes tie (→ the earlier zone).
 */
export const INF = 2 ** 63;

export interface NodeSpec {
  name: string;
  available: Resources;
  zone?: string;
  /** Defaults to INF in every dimension. */
  schedulable?: Resources;
  labels?: Record<string, string>;
  unschedulable?: boolean;
  ready?: boolean;
}

export function node(name: string, available: Resources, zone = "zone1", schedulable?: Resources): NodeSpec {
  return { name, available, zone, schedulable };
}

/** "WithTotals": available/total per dimension. */
export function withTotals(name: string, available: Resources, total: Resources, zone = "zone1"): NodeSpec {
  return { name, available, zone, schedulable: total };
}

export function metadataOf(specs: readonly NodeSpec[]): NodeMetadata {
  const m: NodeMetadata = new Map();
  for (const s of specs) {
    const cap: NodeCapacity = {
      name: s.name,
      available: { ...s.available },
      schedulable: s.schedulable ? { ...s.schedulable } : R(INF, INF, INF),
      zone: s.zone ?? "default",
      labels: s.labels ?? {},
      unschedulable: s.unschedulable ?? false,
      ready: s.ready ?? true,
    };
    m.set(s.name, cap);
  }
  return m;
}

/** Executors per node, e.g. { n1: 2, n3: 1 }. */
export function counts(nodes: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of nodes) out[n] = (out[n] ?? 0) + 1;
  return out;
}

/** A compact view of a result for assertions. */
export function summary(r: PackResult): { hasCapacity: boolean; driver: string; executors: Record<string, number> } {
  return { hasCapacity: r.hasCapacity, driver: r.driverNode, executors: counts(r.executorNodes) };
}

export const NO_FIT = { hasCapacity: false, driver: "", executors: {} };

/** Snapshot of the metadata's available values, to check packers do not mutate their input. */
export function availableSnapshot(m: NodeMetadata): Record<string, Resources> {
  const out: Record<string, Resources> = {};
  for (const [k, v] of m) out[k] = { ...v.available };
  return out;
}
