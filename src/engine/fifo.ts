// The FIFO rule (reference §3.2 step 6), in one place.
//
// A driver's queue is every pending driver of the same scheduler and instance group (across namespaces) that
// is not being deleted and holds no reservation yet. Queue order is creation time, then namespace/name, so
// that drivers created in the same second still have one strict order (the reference left such ties to Go's
// unstable sort, and let both pass).
//
// Before a driver is packed, every driver ahead of it is packed first into the same capacity view. One that
// fits consumes its capacity (summed per node: the reference assigned instead of adding, under-reserving for
// earlier applications). One that does not fit blocks everyone behind it, unless it is younger than the
// enforce-after age of its instance group.

import type { AppShape } from "./app-shape.js";
import type { NodeMetadata, PackResult } from "./binpack/types.js";
import type { EngineConfig } from "./config.js";
import { type PodInfo, podKey } from "./model.js";
import { type Resources, add, fits, scale, subInto } from "./resources.js";
import { classifyPod } from "./spark-pods.js";
import type { ClusterState } from "./state.js";

export interface QueuedDriver {
  pod: PodInfo;
  appId: string;
}

/** Total order of the queue: creation time, then namespace/name. */
export function queueOrder(a: PodInfo, b: PodInfo): number {
  if (a.createdAtMs !== b.createdAtMs) return a.createdAtMs - b.createdAtMs;
  const ka = podKey(a.namespace, a.name);
  const kb = podKey(b.namespace, b.name);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * The queue `driver` belongs to, oldest first, including `driver` itself when it is pending.
 * `instanceGroupOf` resolves a pod's instance group ("" when it has none: such drivers share one queue).
 */
export function driverQueue(
  state: ClusterState,
  config: EngineConfig,
  driver: PodInfo,
  instanceGroupOf: (p: PodInfo) => string,
): QueuedDriver[] {
  const group = instanceGroupOf(driver);
  const out: QueuedDriver[] = [];
  for (const key of state.drivers) {
    const p = state.pods.get(key)!;
    if (p.nodeName || p.deleting || p.terminated) continue;
    if (p.schedulerName !== driver.schedulerName && key !== podKey(driver.namespace, driver.name)) continue;
    if (instanceGroupOf(p) !== group) continue;
    const id = classifyPod(p);
    if (!id.ok) continue;
    if (state.getReservation(p.namespace, id.value.appId)) continue; // admitted, waiting for its bind
    out.push({ pod: p, appId: id.value.appId });
  }
  out.sort((a, b) => queueOrder(a.pod, b.pod));
  return out;
}

/** How long a non-fitting earlier driver may wait before it blocks the ones behind it. */
export function enforceAfterMs(config: EngineConfig, instanceGroup: string): number {
  return config.fifoEnforceAfterByInstanceGroup[instanceGroup] ?? config.fifoDefaultEnforceAfterMs;
}

export interface FifoVerdict {
  /** The earlier driver that blocks, if any. */
  blockedBy?: QueuedDriver;
  /** Why it blocks. */
  reason?: string;
}

/**
 * Packs the drivers ahead of the current one into `metadata` (which is mutated: fitting earlier
 * applications consume capacity). Returns the first blocking driver.
 */
export function fitEarlierDrivers(
  earlier: readonly QueuedDriver[],
  shapeOf: (p: PodInfo) => AppShape | undefined,
  pack: (shape: AppShape) => PackResult,
  metadata: NodeMetadata,
  enforceAfter: number,
  nowMs: number,
): FifoVerdict {
  // Shapes that failed since capacity was last consumed: an app at least as large in every respect cannot
  // fit either, so it is not packed again (a deep queue of similar apps then costs one pack, not one each).
  let failed: AppShape[] = [];
  for (const q of earlier) {
    const shape = shapeOf(q.pod);
    if (!shape) continue; // invalid annotations: it can never be admitted, so it does not block
    const dominated = failed.some((f) => dominates(shape, f));
    const result = dominated ? undefined : pack(shape);
    if (result?.hasCapacity) {
      consume(metadata, shape, result);
      failed = [];
      continue;
    }
    if (!dominated) failed.push(shape);
    if (q.pod.createdAtMs + enforceAfter > nowMs) continue;
    return {
      blockedBy: q,
      reason: `earlier drivers do not fit to the cluster: ${q.pod.namespace}/${q.pod.name} (created ${new Date(
        q.pod.createdAtMs,
      ).toISOString()}) is ahead in the queue and does not fit`,
    };
  }
  return {};
}

/** True when `a` needs at least as much as `b` everywhere: driver, executor size, and executor count. */
export function dominates(a: AppShape, b: AppShape): boolean {
  return fits(b.driver, a.driver) && fits(b.executor, a.executor) && a.minExecutors >= b.minExecutors;
}

/** Subtracts an application's placement from the available capacity, summing per node. */
export function consume(metadata: NodeMetadata, shape: AppShape, result: PackResult): void {
  const perNode = new Map<string, Resources>();
  const plus = (node: string, r: Resources) => perNode.set(node, add(perNode.get(node) ?? { cpu: 0, memory: 0, gpu: 0 }, r));
  plus(result.driverNode, shape.driver);
  for (const n of result.executorNodes) plus(n, shape.executor);
  for (const [node, r] of perNode) {
    const m = metadata.get(node);
    if (m) subInto(m.available, r);
  }
}

/** Total demand of an application at admission: driver + minimum executors. */
export function appDemand(shape: AppShape): Resources {
  return add(shape.driver, scale(shape.executor, shape.minExecutors));
}
