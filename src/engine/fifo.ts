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
// enforce-after age of its instance group; behind a blocker nothing is admitted, so nothing consumes. `walkFifo`
// is that walk, used by the filter and by every report (GetQueuePosition, explanations, queue listings, retries);
// queue-walks.ts keeps the filter's walk for the current state version, so consecutive calls continue it.

import { type AppShape, type Result, err, ok } from "./app-shape.js";
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

/** The application id of a driver that queues: pending, not being deleted, with no reservation yet. */
export function queuedAppId(state: ClusterState, p: PodInfo): string | undefined {
  if (p.nodeName || p.deleting || p.terminated) return undefined;
  const id = classifyPod(p);
  if (!id.ok || id.value.role !== "driver") return undefined;
  if (state.getReservation(p.namespace, id.value.appId)) return undefined; // admitted, waiting for its bind
  return id.value.appId;
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
  const self = podKey(driver.namespace, driver.name);
  const out: QueuedDriver[] = [];
  for (const key of state.drivers) {
    const p = state.pods.get(key)!;
    if (p.schedulerName !== driver.schedulerName && key !== self) continue;
    if (instanceGroupOf(p) !== group) continue;
    const appId = queuedAppId(state, p);
    if (appId !== undefined) out.push({ pod: p, appId });
  }
  out.sort((a, b) => queueOrder(a.pod, b.pod));
  return out;
}

/** Every instance group's queue of drivers scheduled by `schedulerName`, each oldest first. */
export function allQueues(
  state: ClusterState,
  schedulerName: string,
  instanceGroupOf: (p: PodInfo) => string,
): Map<string, QueuedDriver[]> {
  const out = new Map<string, QueuedDriver[]>();
  for (const key of state.drivers) {
    const p = state.pods.get(key)!;
    if (p.schedulerName !== schedulerName) continue;
    const appId = queuedAppId(state, p);
    if (appId === undefined) continue;
    const group = instanceGroupOf(p);
    let list = out.get(group);
    if (!list) out.set(group, (list = []));
    list.push({ pod: p, appId });
  }
  for (const list of out.values()) list.sort((a, b) => queueOrder(a.pod, b.pod));
  return out;
}

/** How long a non-fitting earlier driver may wait before it blocks the ones behind it. */
export function enforceAfterMs(config: EngineConfig, instanceGroup: string): number {
  return config.fifoEnforceAfterByInstanceGroup[instanceGroup] ?? config.fifoDefaultEnforceAfterMs;
}

/** One queued driver as the FIFO walk sees it. */
export interface FifoStep {
  driver: QueuedDriver;
  /** Position in the walked list, from 0. */
  index: number;
  shape: Result<AppShape>;
  /**
   * Fits in what the drivers admitted before it leave. A driver ahead of the first blocker that fits consumes
   * its placement; behind a blocker nothing is admitted, so nothing consumes (with FIFO on).
   */
  fits: boolean;
  /** Its placement, when it fits (and was packed: a dominated shape is not). */
  placement?: PackResult;
  /** Does not fit and is older than the enforce-after age: with FIFO it blocks everyone behind it. */
  blocking: boolean;
  /** With FIFO on: the first blocking driver ahead of this one, which holds it whatever it fits. */
  blockedBy?: FifoStep;
  /** Not packed: its shape is at least as large as one that failed since capacity was last consumed. */
  dominated?: boolean;
}

export interface FifoWalkOptions {
  shapeOf: (p: PodInfo) => Result<AppShape>;
  /** Packs one queued driver into `metadata`'s current capacity (without consuming it). */
  pack: (q: QueuedDriver, shape: AppShape) => PackResult;
  /** The capacity view; fitting drivers ahead of the first blocker consume it, in place. */
  metadata: NodeMetadata;
  /**
   * Consumes an admitted driver's placement instead of `consume(metadata, …)`: for a walker that keeps the
   * capacity its own way (queue-walks.ts); it must leave what the next pack reads as `consume` would.
   */
  consume?: (shape: AppShape, result: PackResult) => void;
  enforceAfter: number;
  nowMs: number;
  /** Whether a blocking driver holds the ones behind it (the FIFO setting). */
  fifo: boolean;
  /**
   * Drivers packed onto different nodes (another scheduling constraint) must not be compared for dominance:
   * the key names the nodes a driver is packed onto. Default: all the same.
   */
  constraintOf?: (q: QueuedDriver) => string;
  /**
   * Steps already walked (of this queue, under these options): the walk continues behind them, with the blocker
   * and the dominance state they leave, and `metadata` must be the capacity they leave.
   */
  prefix?: readonly FifoStep[];
}

/**
 * The FIFO walk, the one implementation of the rule for the filter, GetQueuePosition, explanations, queue
 * listings and retries: each driver in queue order is packed into what the ones admitted before it left. One
 * that fits consumes its capacity, unless a blocker is ahead of it (then it would not be admitted either). One
 * that does not fit and is older than the enforce-after age blocks everyone behind it (with FIFO on). A driver
 * whose shape cannot be read never blocks: it can never be admitted. Stop the iteration to stop the walk.
 */
export function* walkFifo(queue: readonly QueuedDriver[], o: FifoWalkOptions): Generator<FifoStep, void, undefined> {
  let blocker: FifoStep | undefined;
  // Shapes that failed since capacity was last consumed, per constraint: an app at least as large in every
  // respect cannot fit either, so it is not packed again (a deep queue of similar apps costs one pack, not one each).
  const failed = new Map<string, AppShape[]>();
  const prefix = o.prefix ?? [];
  for (const step of prefix) {
    if (!step.shape.ok) continue;
    if (step.fits) {
      if (!blocker) failed.clear();
    } else if (!step.dominated) {
      const key = o.constraintOf ? o.constraintOf(step.driver) : "";
      let list = failed.get(key);
      if (!list) failed.set(key, (list = []));
      list.push(step.shape.value);
    }
    if (step.blocking && o.fifo && !blocker) blocker = step;
  }
  for (let index = prefix.length; index < queue.length; index++) {
    const q = queue[index];
    const shape = o.shapeOf(q.pod);
    const step: FifoStep = { driver: q, index, shape, fits: false, blocking: false, blockedBy: blocker };
    if (shape.ok) {
      const key = o.constraintOf ? o.constraintOf(q) : "";
      let list = failed.get(key);
      const dominated = list !== undefined && list.some((f) => dominates(shape.value, f));
      if (dominated) step.dominated = true;
      const result = dominated ? undefined : o.pack(q, shape.value);
      if (result?.hasCapacity) {
        step.fits = true;
        step.placement = result;
        if (!blocker) {
          if (o.consume) o.consume(shape.value, result);
          else consume(o.metadata, shape.value, result);
          failed.clear();
        }
      } else if (!dominated) {
        if (!list) failed.set(key, (list = []));
        list.push(shape.value);
      }
      step.blocking = !step.fits && q.pod.createdAtMs + o.enforceAfter <= o.nowMs;
      if (step.blocking && o.fifo && !blocker) blocker = step;
    }
    yield step;
  }
}

/** Why a blocking driver holds the ones behind it (the filter's refusal reason). */
export function blockedReason(blocker: PodInfo): string {
  return `earlier drivers do not fit to the cluster: ${blocker.namespace}/${blocker.name} (created ${new Date(
    blocker.createdAtMs,
  ).toISOString()}) is ahead in the queue and does not fit`;
}

export interface FifoVerdict {
  /** The earlier driver that blocks, if any. */
  blockedBy?: QueuedDriver;
  /** Why it blocks. */
  reason?: string;
}

/**
 * Packs the drivers ahead of the current one into `metadata` (which is mutated: fitting earlier
 * applications consume capacity) and stops at the first blocking driver, which it returns.
 */
export function fitEarlierDrivers(
  earlier: readonly QueuedDriver[],
  shapeOf: (p: PodInfo) => AppShape | undefined,
  pack: (shape: AppShape) => PackResult,
  metadata: NodeMetadata,
  enforceAfter: number,
  nowMs: number,
): FifoVerdict {
  const walk = walkFifo(earlier, {
    shapeOf: (p) => {
      const s = shapeOf(p);
      return s ? ok(s) : err("invalid annotations");
    },
    pack: (_q, s) => pack(s),
    metadata,
    enforceAfter,
    nowMs,
    fifo: true,
  });
  for (const step of walk) {
    if (step.blocking) return { blockedBy: step.driver, reason: blockedReason(step.driver.pod) };
  }
  return {};
}

/** True when `a` needs at least as much as `b` everywhere: driver, executor size, and executor count. */
export function dominates(a: AppShape, b: AppShape): boolean {
  return fits(b.driver, a.driver) && fits(b.executor, a.executor) && a.minExecutors >= b.minExecutors;
}

/** Subtracts an application's placement from the available capacity, summing per node. */
export function consume(metadata: NodeMetadata, shape: AppShape, result: PackResult): void {
  for (const [node, r] of placementUsage(shape, result)) {
    const m = metadata.get(node);
    if (m) subInto(m.available, r);
  }
}

/**
 * What an application's placement uses per node (driver and executors summed): the pack's own `reserved` map,
 * which is exactly that (PackResult), else summed from its nodes. Read it, do not change it.
 */
export function placementUsage(shape: AppShape, result: PackResult): ReadonlyMap<string, Resources> {
  if (result.reserved.size > 0) return result.reserved;
  const perNode = new Map<string, Resources>();
  const plus = (node: string, r: Resources) => perNode.set(node, add(perNode.get(node) ?? { cpu: 0, memory: 0, gpu: 0 }, r));
  plus(result.driverNode, shape.driver);
  for (const n of result.executorNodes) plus(n, shape.executor);
  return perNode;
}

/** Total demand of an application at admission: driver + minimum executors. */
export function appDemand(shape: AppShape): Resources {
  return add(shape.driver, scale(shape.executor, shape.minExecutors));
}
