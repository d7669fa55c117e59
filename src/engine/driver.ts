// Driver admission (reference §3.2–3.3): a driver is admitted only when the driver and all its (minimum)
// executors fit, after existing reservations, overhead and — with FIFO — the drivers ahead of it.
// Admission creates the application's reservation: one slot for the driver, one per executor.

import type { AppShape } from "./app-shape.js";
import type { NodeMetadata, PackResult } from "./binpack/types.js";
import { buildMetadata } from "./capacity-view.js";
import type { EngineContext } from "./context.js";
import { type Decision, type DemandIntent, type DemandUnit, failure } from "./decision.js";
import { appDemand, blockedReason } from "./fifo.js";
import type { PodInfo } from "./model.js";
import { podKey } from "./model.js";
import { addInto, formatResources, zero } from "./resources.js";
import { APP_ID_LABEL } from "./spark-pods.js";
import { orderNodes } from "./node-order.js";
import {
  DRIVER_SLOT,
  type Reservation,
  type Slot,
  cloneReservation,
  executorSlotName,
} from "./reservation.js";

/** Placement of an application against the current state, without changing anything. */
export interface Placement {
  shape: AppShape;
  result: PackResult;
  /** Set when FIFO blocks the application. */
  blockedBy?: PodInfo;
  /** With blockedBy: the application itself fits the free capacity; only the queue holds it. */
  fitsItself?: boolean;
  reason?: string;
  /** The capacity view the application was packed into (before its own placement), when it was packed. */
  capacity?: NodeMetadata;
}

/**
 * Plans where an application would go: candidate nodes, capacity view, FIFO, bin-packing.
 * `offered` restricts the driver's node (kube-scheduler's feasible nodes); executors may use any eligible node.
 * The drivers ahead in the queue are packed onto every eligible node, not only the ones offered for this driver:
 * their fit does not depend on which nodes kube-scheduler offered another pod, so one walk serves every call.
 */
export function planApplication(
  ctx: EngineContext,
  driver: PodInfo,
  shape: AppShape,
  offered: readonly string[] | undefined,
  nowMs: number,
  fifo: boolean,
): Placement {
  const { state, config } = ctx;
  const eligible = ctx.eligibleNodes(driver);
  const eligibleSet = ctx.eligibleSet(driver);
  const driverCandidates = offered ? offered.filter((n) => eligibleSet.has(n)) : eligible;
  const offeredCount = offered ? driverCandidates.length : undefined;

  if (fifo) {
    // The queue's walk at this state version (queue-walks.ts): continued, not redone, by the next driver's call.
    const walk = ctx.queueWalks.walkFor(driver, eligible, nowMs, (p) => ctx.instanceGroup(p), (p) => ctx.shape(p));
    const ahead = walk.ahead(walk.aheadOf(driver), nowMs, true);
    const driverNodes = offered ? walk.restrictDriverNodes(driverCandidates) : walk.driverNodes;
    const pack = (s: AppShape) => walk.packInto(s, driverNodes, ahead.capacity);
    if (ahead.blocker) {
      // Whether it fits what is free once the drivers ahead that fit are placed: then only FIFO holds it.
      const fitsItself = pack(shape).hasCapacity;
      const blocker = ahead.blocker.driver.pod;
      return { shape, result: emptyResult(), blockedBy: blocker, reason: blockedReason(blocker), fitsItself };
    }
    const result = pack(shape);
    if (!result.hasCapacity) {
      return { shape, result, reason: describeNoFit(shape, offeredCount, walk.executorNodes, ahead.capacity), capacity: ahead.capacity };
    }
    return { shape, result, capacity: ahead.capacity };
  }

  const metadata = buildMetadata(state, eligible);
  const { driverNodes, executorNodes } = orderNodes(metadata, driverCandidates, {
    driverPriority: config.driverPrioritizedNodeLabel,
    executorPriority: config.executorPrioritizedNodeLabel,
  });
  const result = config.binpack.pack(shape.driver, shape.executor, shape.minExecutors, driverNodes, executorNodes, metadata);
  if (!result.hasCapacity) {
    return { shape, result, reason: describeNoFit(shape, offeredCount, executorNodes, metadata), capacity: metadata };
  }
  return { shape, result, capacity: metadata };
}

function emptyResult(): PackResult {
  return { driverNode: "", executorNodes: [], reserved: new Map(), hasCapacity: false };
}

/**
 * Why an application does not fit. `driverNodes` counts the offered nodes eligible for the driver, undefined when
 * nothing was offered (a report, not a filter call): kube-scheduler offers a subset of the eligible nodes at each
 * attempt, so a report must not claim an offer count it never saw.
 */
export function describeNoFit(shape: AppShape, driverNodes: number | undefined, executorNodes: readonly string[], metadata: NodeMetadata): string {
  if (driverNodes === 0) return "application does not fit to the cluster: no offered node is eligible for the driver";
  if (executorNodes.length === 0) return "application does not fit to the cluster: no node is eligible for the driver";
  const free = zero();
  for (const n of executorNodes) {
    const a = metadata.get(n)!.available;
    addInto(free, { cpu: Math.max(0, a.cpu), memory: Math.max(0, a.memory), gpu: Math.max(0, a.gpu) });
  }
  const execs = shape.minExecutors === 1 ? "1 executor" : `${shape.minExecutors} executors`;
  return (
    `application does not fit to the cluster: the driver and ${execs} need ${formatResources(appDemand(shape))} ` +
    `at once; ${executorNodes.length} eligible nodes have ${formatResources(free)} free in total` +
    (driverNodes === undefined ? "" : ` (${driverNodes} offered for the driver)`)
  );
}

/** The driver flow of the extender filter. */
export function decideDriver(
  ctx: EngineContext,
  pod: PodInfo,
  appId: string,
  offered: readonly string[],
  nowMs: number,
): Decision {
  const { state } = ctx;
  const instanceGroup = ctx.instanceGroup(pod);
  const base = { role: "driver" as const, appId, instanceGroup };

  // 1. An application that is already admitted gets its reserved node back (retries, bind failures).
  const existing = state.getReservation(pod.namespace, appId);
  if (existing) {
    const slot = existing.slots.get(DRIVER_SLOT);
    if (!slot) return failure("failure-internal", `reservation ${pod.namespace}/${appId} has no driver slot`, base);
    if (existing.driverPod !== pod.name && state.isActive(pod.namespace, existing.driverPod)) {
      return failure(
        "failure-invalid",
        `application id ${appId} is already used by running driver ${pod.namespace}/${existing.driverPod}; ` +
          `give each application its own ${APP_ID_LABEL}`,
        base,
      );
    }
    if (!offered.includes(slot.node)) {
      return failure(
        "failure-fit",
        `driver is reserved on node ${slot.node}, which kube-scheduler did not offer (it may be full or cordoned)`,
        base,
      );
    }
    const writes: Decision["writes"] = [];
    const replaced = existing.driverPod !== pod.name || (pod.uid !== "" && existing.driverUid !== pod.uid);
    if (replaced || existing.pods.get(DRIVER_SLOT) !== pod.name) {
      // A replacement driver (same application id; another name, or the same name re-created) takes over the
      // reservation, so its owner is the live pod.
      const next = cloneReservation(existing);
      next.driverPod = pod.name;
      next.driverUid = pod.uid;
      next.pods.set(DRIVER_SLOT, pod.name);
      state.assumeReservation(next);
      writes.push({ op: "update", reservation: next, previous: existing });
    }
    return { outcome: "success", node: slot.node, writes, ...base };
  }

  // 2. Shape of the application.
  const shape = ctx.shape(pod);
  if (!shape.ok) return failure("failure-invalid", shape.error, base);

  // 3. Plan: FIFO, then bin-packing.
  const plan = planApplication(ctx, pod, shape.value, offered, nowMs, ctx.config.fifo);
  if (plan.blockedBy) {
    return failure("failure-earlier-driver", plan.reason!, {
      ...base,
      blockedBy: podKey(plan.blockedBy.namespace, plan.blockedBy.name),
      // A Demand asks the autoscaler for nodes: a driver held only by the queue needs none (the blocker's
      // own Demand asks for its room), and one it asked for before is withdrawn.
      demand: plan.fitsItself
        ? { op: "delete", namespace: pod.namespace, podName: pod.name }
        : demandFor(ctx, pod, appId, shape.value, instanceGroup),
    });
  }
  if (!plan.result.hasCapacity) {
    return failure("failure-fit", plan.reason!, { ...base, demand: demandFor(ctx, pod, appId, shape.value, instanceGroup) });
  }

  // 4. Admit: reservation with a driver slot and one slot per executor.
  const reservation = newReservation(pod, appId, shape.value, plan.result, nowMs);
  state.assumeReservation(reservation);
  const decision: Decision = {
    outcome: "success",
    node: plan.result.driverNode,
    writes: [{ op: "create", reservation }],
    demand: { op: "delete", namespace: pod.namespace, podName: pod.name },
    ...base,
  };
  if (shape.value.maxExecutors > shape.value.minExecutors) {
    state.ensureSoft(pod.namespace, appId, shape.value.maxExecutors - shape.value.minExecutors);
  }
  return decision;
}

export function newReservation(
  pod: PodInfo,
  appId: string,
  shape: AppShape,
  result: PackResult,
  nowMs: number,
): Reservation {
  const slots = new Map<string, Slot>();
  slots.set(DRIVER_SLOT, { node: result.driverNode, resources: { ...shape.driver } });
  result.executorNodes.forEach((node, i) => {
    slots.set(executorSlotName(i + 1), { node, resources: { ...shape.executor } });
  });
  return {
    namespace: pod.namespace,
    appId,
    driverPod: pod.name,
    driverUid: pod.uid,
    slots,
    pods: new Map([[DRIVER_SLOT, pod.name]]),
    // The API server stamps creationTimestamp in whole seconds, and that is what a restart reads back: the
    // reservation reports the same creation time before and after one.
    createdAtMs: Math.floor(nowMs / 1000) * 1000,
  };
}

/** Application demand: the driver, plus the minimum executors when there are any. */
function demandFor(ctx: EngineContext, pod: PodInfo, appId: string, shape: AppShape, instanceGroup: string): DemandIntent {
  const units: DemandUnit[] = [
    { resources: { ...shape.driver }, count: 1, podNamesByNamespace: { [pod.namespace]: [pod.name] } },
  ];
  if (shape.minExecutors > 0) units.push({ resources: { ...shape.executor }, count: shape.minExecutors });
  return ctx.demand(pod, appId, instanceGroup, units);
}
