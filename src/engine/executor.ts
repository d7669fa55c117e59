// Executor placement (reference §4.1–4.3): executors are steered to their application's reserved slots.
// Order of attempts: the slot this executor already holds; an unbound slot (never bound, or its executor died
// or moved) on an offered node; then "reschedule": move an unbound slot to an offered node with room, or —
// under dynamic allocation — give an extra executor a soft reservation, up to max − min.

import { pickExecutorNode } from "./binpack/index.js";
import { buildMetadata } from "./capacity-view.js";
import type { EngineContext } from "./context.js";
import { type Decision, failure } from "./decision.js";
import { nodeEligible } from "./eligibility.js";
import type { PodInfo } from "./model.js";
import { orderNodes, zoneOf } from "./node-order.js";
import { DRIVER_SLOT, type Reservation, cloneReservation, executorSlots } from "./reservation.js";
import { type Resources, fits, formatResources } from "./resources.js";
import { executorResourceProfileId } from "./spark-conf.js";

/**
 * Executor slots that can take a new executor, grouped by node, lowest slot index first. A running executor of
 * the application that no reservation names (its bind was answered before a write that was lost, or the
 * process restarted before reconciliation) holds one unbound slot on its node: those are left out, so that no
 * other executor is bound into the capacity it already uses (reconciliation then names it in that slot).
 */
export function unboundSlotsByNode(ctx: EngineContext, r: Reservation, forPod?: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const name of executorSlots(r)) {
    if (!isUnbound(ctx, r, name, forPod)) continue;
    const node = r.slots.get(name)!.node;
    const list = out.get(node);
    if (list) list.push(name);
    else out.set(node, [name]);
  }
  for (const [node, list] of out) {
    const held = ctx.state.looseExecutorsOn(r.namespace, r.appId, node, forPod);
    if (held === 0) continue;
    if (held >= list.length) out.delete(node);
    else list.splice(0, held);
  }
  return out;
}

/**
 * A slot is unbound when no pod holds it, its pod is gone, terminated or being deleted (Terminating: Spark
 * already asks for its replacement), or its pod runs on another node. A slot held by `forPod` itself also
 * counts (the executor may re-bind after its node was not offered). A Terminating pod whose slot was handed
 * on still occupies its node, as kube-scheduler counts it there: unreferenced, it is node overhead until gone.
 */
export function isUnbound(ctx: EngineContext, r: Reservation, slot: string, forPod?: string): boolean {
  const podName = r.pods.get(slot);
  if (!podName || podName === forPod) return true;
  const p = ctx.state.getPod(r.namespace, podName);
  if (!p || p.terminated || p.deleting) return true;
  return p.nodeName !== "" && p.nodeName !== r.slots.get(slot)!.node;
}

export function decideExecutor(
  ctx: EngineContext,
  pod: PodInfo,
  appId: string,
  offered: readonly string[],
): Decision {
  const { state } = ctx;
  const driver = state.findDriver(pod.namespace, appId);
  const instanceGroup = ctx.instanceGroup(driver ?? pod);
  const base = { role: "executor" as const, appId, instanceGroup };
  const r = state.getReservation(pod.namespace, appId);
  if (!r) {
    return failure(
      "failure-no-reservation",
      `application ${pod.namespace}/${appId} has no reservation: its driver has not been admitted by spark-scheduler yet`,
      base,
    );
  }
  const profileCheck = checkResourceProfile(pod, r);
  if (profileCheck) return failure("failure-invalid", profileCheck, base);
  const offeredSet = new Set(offered);
  const demandDelete = { op: "delete" as const, namespace: pod.namespace, podName: pod.name };

  // 1. Already bound (idempotent retries).
  for (const [slot, podName] of r.pods) {
    if (slot === DRIVER_SLOT || podName !== pod.name) continue;
    const node = r.slots.get(slot)?.node;
    if (node && offeredSet.has(node)) return { outcome: "success-already-bound", node, writes: [], ...base };
  }
  const soft = state.getSoft(pod.namespace, appId);
  const softSlot = soft?.executors.get(pod.name);
  if (softSlot && offeredSet.has(softSlot.node)) {
    return { outcome: "success-already-bound", node: softSlot.node, writes: [], ...base };
  }

  // Binding one of the reservation's unbound slots (steps 2 and 3): the bind is assumed at once, and a soft
  // reservation the executor held is released with the decision.
  const bindTo = (slot: string, node: string, outcome: "success" | "success-rescheduled"): Decision => {
    const next = bindSlot(r, slot, pod.name, node);
    state.assumeReservation(next);
    return {
      outcome,
      node,
      writes: [{ op: "update", reservation: next, previous: r }],
      softRemoved: softSlot ? [{ namespace: pod.namespace, appId, pod: pod.name }] : undefined,
      demand: demandDelete,
      ...base,
    };
  };

  // 2. An unbound slot on an offered node, in kube-scheduler's order.
  const unbound = unboundSlotsByNode(ctx, r, pod.name);
  for (const node of offered) {
    const slots = unbound.get(node);
    if (!slots) continue;
    return bindTo(slots[0], node, "success");
  }

  // 3. Reschedule: move an unbound slot, or place an extra executor on a soft reservation.
  let unboundCount = 0;
  for (const list of unbound.values()) unboundCount += list.length;
  const softFree = soft && !softSlot ? Math.max(0, soft.maxExtra - soft.executors.size) : 0;
  if (unboundCount + softFree === 0) {
    return failure(
      "failure-unbound",
      `application has no free executor spots to schedule this one: all ${executorSlots(r).length} reserved ` +
        `executor slots are bound` +
        (soft ? ` and all ${soft.maxExtra} extra executors hold soft reservations` : ""),
      base,
    );
  }

  const executorRes = executorResources(ctx, r, driver, pod);
  let candidates = offered.filter((n) => {
    const node = state.nodes.get(n);
    return node !== undefined && nodeEligible(pod, node).ok;
  });
  const zone = sameAzZone(ctx, pod.namespace, appId);
  if (zone !== undefined) candidates = candidates.filter((n) => zoneOf(state.nodes.get(n)!.labels) === zone);
  const metadata = buildMetadata(state, candidates);
  const { executorNodes } = orderNodes(metadata, candidates, {
    executorPriority: ctx.config.executorPrioritizedNodeLabel,
  });
  const appNodes = new Set<string>();
  for (const name of executorSlots(r)) appNodes.add(r.slots.get(name)!.node);
  for (const s of soft?.executors.values() ?? []) appNodes.add(s.node);
  const node = pickExecutorNode(executorRes, executorNodes, metadata, {
    minimalFragmentation: ctx.config.binpack.name === "single-az-minimal-fragmentation",
    appNodes,
  });
  if (!node) {
    return failure(
      "failure-fit",
      "not enough capacity to reschedule the executor" + (zone !== undefined ? ` in zone ${zone}` : ""),
      {
        ...base,
        demand: ctx.demand(
          pod,
          appId,
          instanceGroup,
          [{ resources: executorRes, count: 1, podNamesByNamespace: { [pod.namespace]: [pod.name] } }],
          zone,
        ),
      },
    );
  }

  if (unboundCount > 0) {
    const slot = lowestUnbound(unbound);
    return bindTo(slot, node, "success-rescheduled");
  }
  state.addSoft(pod.namespace, appId, pod.name, { node, resources: { ...executorRes } });
  return {
    outcome: "success-scheduled-extra-executor",
    node,
    writes: [],
    softAdded: { namespace: pod.namespace, appId, pod: pod.name },
    demand: demandDelete,
    ...base,
  };
}

/**
 * Spark resource profiles (stage-level scheduling) give executors other sizes than the default profile the
 * reservation was made for. Such an executor may use a reserved slot when its own requests fit the slot's
 * size; otherwise it is refused with a clear reason (one executor size is reserved per application).
 */
function checkResourceProfile(pod: PodInfo, r: Reservation): string | undefined {
  const profile = executorResourceProfileId(pod);
  if (profile === 0) return undefined;
  const first = executorSlots(r)[0];
  const reserved = first ? r.slots.get(first)!.resources : undefined;
  if (reserved && fits(pod.requests, reserved)) return undefined;
  return (
    `executor uses Spark resource profile ${profile} with requests ${formatResources(pod.requests)}, ` +
    (reserved ? `larger than the reserved executor size ${formatResources(reserved)}` : "and the application reserved no executors") +
    `; spark-scheduler reserves one executor size per application`
  );
}

/** A copy of `r` with `slot` bound to `pod` on `node` (and any other slot the pod held released). */
function bindSlot(r: Reservation, slot: string, pod: string, node: string): Reservation {
  const next = cloneReservation(r);
  for (const [s, p] of next.pods) if (p === pod && s !== DRIVER_SLOT) next.pods.delete(s);
  next.pods.set(slot, pod);
  next.slots.get(slot)!.node = node;
  return next;
}

function lowestUnbound(unbound: Map<string, string[]>): string {
  let best: string | undefined;
  let bestIdx = Infinity;
  for (const list of unbound.values()) {
    const idx = Number(list[0].slice("executor-".length));
    if (idx < bestIdx) {
      bestIdx = idx;
      best = list[0];
    }
  }
  return best!;
}

/** Executor size: the application's reserved executor slot, else the driver's shape, else the pod's requests. */
function executorResources(ctx: EngineContext, r: Reservation, driver: PodInfo | undefined, pod: PodInfo): Resources {
  const first = executorSlots(r)[0];
  if (first) return { ...r.slots.get(first)!.resources };
  if (driver) {
    const shape = ctx.shape(driver);
    if (shape.ok) return { ...shape.value.executor };
  }
  return { ...pod.requests };
}

/**
 * The same-AZ rule (reference §4.2): with a single-AZ packer and the option on, extra and rescheduled
 * executors stay in the one zone the application's running pods use. Undefined when the rule does not apply.
 */
function sameAzZone(ctx: EngineContext, namespace: string, appId: string): string | undefined {
  const { config, state } = ctx;
  if (!config.binpack.singleAz || !config.dynamicAllocationSameAz) return undefined;
  const zones = new Set<string>();
  const r = state.getReservation(namespace, appId);
  const names = new Set<string>(r ? r.pods.values() : []);
  for (const s of state.getSoft(namespace, appId)?.executors.keys() ?? []) names.add(s);
  for (const name of names) {
    const p = state.getPod(namespace, name);
    if (!p || !p.nodeName || p.terminated) continue;
    const node = state.nodes.get(p.nodeName);
    if (node) zones.add(zoneOf(node.labels));
  }
  return zones.size === 1 ? [...zones][0] : undefined;
}
