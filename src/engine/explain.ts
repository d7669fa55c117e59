// Why a pod waits, in structure rather than one sentence: the decision the engine would take now, every node's
// verdict grouped into a handful of reasons, the application's shortfall per resource and zone, and the FIFO
// blocker chain. Also the per-queue walk that gives every pending driver of an instance group its verdict
// (ListQueues, WatchQueue) and the batch what-if.
//
// Everything here reads the state and changes nothing: decisions are planned with `planApplication`, never
// taken, and capacity views are private copies. Pure and synchronous; time is an argument.

import type { AppShape, Result } from "./app-shape.js";
import { type CapacityIndex, attachCapacityIndex } from "./binpack/capacity-index.js";
import type { NodeMetadata, PackResult } from "./binpack/types.js";
import { buildMetadata } from "./capacity-view.js";
import { exceedsClusterCapacity } from "./cluster-capacity.js";
import type { EngineContext } from "./context.js";
import type { Outcome } from "./decision.js";
import { planApplication } from "./driver.js";
import { constraintKey, nodeEligible } from "./eligibility.js";
import { isUnbound, unboundSlotsByNode } from "./executor.js";
import { type FifoStep, type QueuedDriver, allQueues as fifoQueues, appDemand, consume, enforceAfterMs, walkFifo } from "./fifo.js";
import { type PodInfo, podKey } from "./model.js";
import { orderNodes } from "./node-order.js";
import { DRIVER_SLOT, executorSlots } from "./reservation.js";
import { type Resources, fits, formatCpu, formatMemory, formatResources, zero } from "./resources.js";
import { classifyPod } from "./spark-pods.js";

// ---------------------------------------------------------------------------------------------
// Results

export type NodeVerdict = "not-eligible" | "insufficient" | "fits";

export interface NodeGroup {
  verdict: NodeVerdict;
  reason: string;
  nodeCount: number;
  /** Up to SAMPLE_NODES node names, in name order. */
  sampleNodes: string[];
  /** Largest free amount per resource among the group (each resource on its own); unset for not-eligible. */
  largestFree?: Resources;
}

export type ResourceName = "cpu" | "memory" | "nvidia.com/gpu";

export interface ResourceShortfall {
  resource: ResourceName;
  missing: number;
  nodesShort: number;
  largestFree: number;
  perPod: number;
}

export interface ZoneShortfall {
  zone: string;
  executorsPlaceable: number;
  driverFits: boolean;
  free: Resources;
  missing: Resources;
}

export interface Shortfall {
  fits: boolean;
  demand: Resources;
  free: Resources;
  missing: Resources;
  resources: ResourceShortfall[];
  executorsRequired: number;
  executorsPlaceable: number;
  driverFits: boolean;
  closestZone?: ZoneShortfall;
  eligibleNodes: number;
  summary: string;
}

export interface QueueEntryInfo {
  namespace: string;
  podName: string;
  appId: string;
  createdAtMs: number;
  /** Driver + minimum executors; unset when the shape cannot be read. */
  demand?: Resources;
  /** Whether it fits in what the entries before it leave. */
  fits: boolean;
}

export interface QueueBlocker {
  entry: QueueEntryInfo;
  /** Older than the enforce-after age: with FIFO it blocks everyone behind it. */
  blocking: boolean;
  shortfall?: Shortfall;
}

export interface Explanation {
  namespace: string;
  podName: string;
  role: "driver" | "executor";
  appId: string;
  instanceGroup: string;
  outcome: Outcome;
  node?: string;
  reason: string;
  nodeGroups: NodeGroup[];
  shortfall?: Shortfall;
  blockers: QueueBlocker[];
  queuePosition: number;
  queueLength: number;
  totalNodes: number;
}

export const MAX_NODE_GROUPS = 12;
export const SAMPLE_NODES = 5;
export const MAX_BLOCKERS = 20;

// ---------------------------------------------------------------------------------------------
// Shortfall

const RESOURCES: readonly [ResourceName, keyof Resources][] = [
  ["cpu", "cpu"],
  ["memory", "memory"],
  ["nvidia.com/gpu", "gpu"],
];

function nonNegative(r: Resources): Resources {
  return { cpu: Math.max(0, r.cpu), memory: Math.max(0, r.memory), gpu: Math.max(0, r.gpu) };
}

function missingOf(demand: Resources, free: Resources): Resources {
  return nonNegative({ cpu: demand.cpu - free.cpu, memory: demand.memory - free.memory, gpu: demand.gpu - free.gpu });
}

/** How many pods of size `unit` fit in `available` (Infinity for an all-zero unit). */
function slotsIn(available: Resources, unit: Resources): number {
  let n = Infinity;
  for (const [, k] of RESOURCES) {
    if (unit[k] > 0) n = Math.min(n, Math.floor(Math.max(0, available[k]) / unit[k]));
  }
  return n;
}

function formatAmount(resource: ResourceName, v: number): string {
  return resource === "cpu" ? formatCpu(v) : resource === "memory" ? formatMemory(v) : String(v);
}

/**
 * Executors the nodes could hold next to the driver: each node on its own, the driver on the node where it
 * costs the fewest executor spots. Undefined driver placement (no node has room) gives driverFits false.
 */
function placeable(nodes: readonly Resources[], shape: AppShape): { driverFits: boolean; executors: number } {
  const count = shape.minExecutors;
  let total = 0;
  let bestLoss = Infinity;
  for (const a of nodes) {
    const here = count > 0 ? Math.min(count, slotsIn(a, shape.executor)) : 0;
    total += here;
    if (fits(shape.driver, a)) {
      const after = { cpu: a.cpu - shape.driver.cpu, memory: a.memory - shape.driver.memory, gpu: a.gpu - shape.driver.gpu };
      const left = count > 0 ? Math.min(count, slotsIn(after, shape.executor)) : 0;
      bestLoss = Math.min(bestLoss, here - left);
    }
  }
  const driverFits = bestLoss !== Infinity;
  return { driverFits, executors: driverFits ? Math.min(count, Math.max(0, total - bestLoss)) : Math.min(count, total) };
}

/**
 * The shortfall of `shape` against the available capacity of `nodes` in `metadata`. `fitsNow` is the packer's
 * verdict (the bounds computed here ignore the packer's zone and ordering rules).
 */
export function shortfallOf(shape: AppShape, nodes: readonly string[], metadata: NodeMetadata, fitsNow: boolean): Shortfall {
  const demand = appDemand(shape);
  const unit = shape.minExecutors > 0 ? shape.executor : shape.driver;
  const unitName = shape.minExecutors > 0 ? "executor" : "driver";
  const free = zero();
  const available: Resources[] = [];
  const byZone = new Map<string, Resources[]>();
  const stats = RESOURCES.map(([resource, k]) => ({ resource, k, nodesShort: 0, largestFree: 0 }));
  for (const name of nodes) {
    const m = metadata.get(name);
    if (!m) continue;
    const a = nonNegative(m.available);
    available.push(a);
    free.cpu += a.cpu;
    free.memory += a.memory;
    free.gpu += a.gpu;
    let z = byZone.get(m.zone);
    if (!z) byZone.set(m.zone, (z = []));
    z.push(a);
    for (const s of stats) {
      if (a[s.k] < unit[s.k]) s.nodesShort++;
      s.largestFree = Math.max(s.largestFree, a[s.k]);
    }
  }
  const missing = missingOf(demand, free);
  const resources: ResourceShortfall[] = stats
    .filter((s) => demand[s.k] > 0)
    .map((s) => ({ resource: s.resource, missing: missing[s.k], nodesShort: s.nodesShort, largestFree: s.largestFree, perPod: unit[s.k] }));
  const overall = placeable(available, shape);

  let closestZone: ZoneShortfall | undefined;
  for (const zone of [...byZone.keys()].sort()) {
    const list = byZone.get(zone)!;
    const p = placeable(list, shape);
    const zfree = zero();
    for (const a of list) {
      zfree.cpu += a.cpu;
      zfree.memory += a.memory;
      zfree.gpu += a.gpu;
    }
    const z: ZoneShortfall = { zone, executorsPlaceable: p.executors, driverFits: p.driverFits, free: zfree, missing: missingOf(demand, zfree) };
    const better =
      !closestZone ||
      Number(z.driverFits) - Number(closestZone.driverFits) ||
      z.executorsPlaceable - closestZone.executorsPlaceable ||
      closestZone.missing.memory - z.missing.memory ||
      closestZone.missing.cpu - z.missing.cpu;
    if (better === true || (typeof better === "number" && better > 0)) closestZone = z;
  }

  const parts: string[] = [];
  if (fitsNow) parts.push(`fits: ${formatResources(demand)} requested`);
  else {
    const execs = shape.minExecutors === 1 ? "1 executor" : `${shape.minExecutors} executors`;
    parts.push(`needs ${formatResources(demand)} (driver + ${execs}) on ${nodes.length} eligible nodes`);
    if (!overall.driverFits) parts.push("no eligible node has room for the driver");
    for (const r of resources) {
      if (r.missing > 0 || r.nodesShort > 0) {
        const lack = r.missing > 0 ? `${formatAmount(r.resource, r.missing)} missing in total; ` : "";
        parts.push(
          `${r.resource}: ${lack}${r.nodesShort} ${r.nodesShort === 1 ? "node lacks" : "nodes lack"} ${formatAmount(r.resource, r.perPod)} for one ${unitName} ` +
            `(largest free ${formatAmount(r.resource, r.largestFree)})`,
        );
      }
    }
    if (shape.minExecutors > 0) parts.push(`room for ${overall.executors} of ${shape.minExecutors} executors next to the driver`);
    if (closestZone && byZone.size > 1) {
      parts.push(`closest zone ${closestZone.zone} (${closestZone.executorsPlaceable} of ${shape.minExecutors} executors${closestZone.driverFits ? "" : ", no room for the driver"})`);
    }
  }
  return {
    fits: fitsNow,
    demand,
    free,
    missing,
    resources,
    executorsRequired: shape.minExecutors,
    executorsPlaceable: overall.executors,
    driverFits: overall.driverFits,
    closestZone,
    eligibleNodes: nodes.length,
    summary: parts.join("; "),
  };
}

// ---------------------------------------------------------------------------------------------
// Node groups

/**
 * Every node's verdict for pods of size `unit` (and `driver` for the driver-room distinction), grouped by reason.
 * Capacity is the current available capacity of `metadata` (which must hold every eligible node).
 */
export function groupNodes(
  ctx: EngineContext,
  pod: PodInfo,
  metadata: NodeMetadata,
  unit: { resources: Resources; name: string },
  driver?: Resources,
): NodeGroup[] {
  const groups = new Map<string, NodeGroup>();
  const names = [...ctx.state.nodes.keys()].sort();
  const put = (key: string, verdict: NodeVerdict, reason: string, node: string, free?: Resources) => {
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { verdict, reason, nodeCount: 0, sampleNodes: [], largestFree: free ? zero() : undefined }));
    g.nodeCount++;
    if (g.sampleNodes.length < SAMPLE_NODES) g.sampleNodes.push(node);
    if (free && g.largestFree) {
      g.largestFree.cpu = Math.max(g.largestFree.cpu, free.cpu);
      g.largestFree.memory = Math.max(g.largestFree.memory, free.memory);
      g.largestFree.gpu = Math.max(g.largestFree.gpu, free.gpu);
    }
  };
  for (const name of names) {
    const node = ctx.state.nodes.get(name)!;
    const e = nodeEligible(pod, node);
    if (!e.ok) {
      put(`x:${e.reason}`, "not-eligible", `not eligible: ${e.reason}`, name);
      continue;
    }
    const m = metadata.get(name);
    const free = nonNegative(m ? m.available : zero());
    const short = RESOURCES.filter(([, k]) => free[k] < unit.resources[k]).map(([r]) => r);
    if (short.length > 0) {
      const need = short.map((r) => formatAmount(r, unit.resources[RESOURCES.find(([n]) => n === r)![1]])).join(", ");
      put(`i:${short.join(",")}`, "insufficient", `insufficient ${short.join(" and ")} for one ${unit.name} (needs ${need})`, name, free);
    } else if (driver && unit.name !== "driver" && !fits(driver, free)) {
      put("f:no-driver", "fits", `room for an ${unit.name}, not for the driver`, name, free);
    } else {
      put("f:ok", "fits", driver && unit.name !== "driver" ? `room for the driver or an ${unit.name}` : `room for one ${unit.name}`, name, free);
    }
  }
  const sorted = [...groups.values()].sort((a, b) => b.nodeCount - a.nodeCount || (a.reason < b.reason ? -1 : 1));
  if (sorted.length <= MAX_NODE_GROUPS) return sorted;
  const kept = sorted.slice(0, MAX_NODE_GROUPS - 1);
  const rest = sorted.slice(MAX_NODE_GROUPS - 1);
  kept.push({
    verdict: "not-eligible",
    reason: `other reasons (${rest.length} more groups)`,
    nodeCount: rest.reduce((n, g) => n + g.nodeCount, 0),
    sampleNodes: rest.flatMap((g) => g.sampleNodes).slice(0, SAMPLE_NODES),
  });
  return kept;
}

// ---------------------------------------------------------------------------------------------
// Queues

/** Every instance group's queue: pending drivers of this scheduler holding no reservation, oldest first. */
export function allQueues(ctx: EngineContext): Map<string, QueuedDriver[]> {
  return fifoQueues(ctx.state, ctx.config.schedulerName, (p) => ctx.instanceGroup(p));
}

export interface QueueVerdict {
  driver: QueuedDriver;
  entry: QueueEntryInfo;
  position: number;
  reason: string;
  /** Does not fit and is older than the enforce-after age. */
  blocking: boolean;
  /** With FIFO on: the first blocking driver ahead, which holds this one whatever it fits. */
  blockedBy?: QueuedDriver;
  shortfall?: Shortfall;
}

/** Packing inputs per distinct scheduling constraint (drivers of one group usually share one). */
export class PackCache {
  private readonly byConstraint = new Map<string, { eligible: readonly string[]; driverNodes: string[]; executorNodes: string[] }>();
  private readonly indexes: CapacityIndex[] = [];
  constructor(
    private readonly ctx: EngineContext,
    readonly metadata: NodeMetadata,
  ) {}

  /** The scheduling constraint of a pod: pods with equal keys are packed onto the same nodes. */
  key(pod: PodInfo): string {
    return constraintKey(pod);
  }

  nodes(pod: PodInfo): { eligible: readonly string[]; driverNodes: string[]; executorNodes: string[] } {
    const key = this.key(pod);
    let v = this.byConstraint.get(key);
    if (!v) {
      const eligible = this.ctx.eligibleNodes(pod);
      // Ordered over the eligible nodes only, like a decision; packed into the shared view.
      const order = orderNodes(buildMetadata(this.ctx.state, eligible), eligible, {
        driverPriority: this.ctx.config.driverPrioritizedNodeLabel,
        executorPriority: this.ctx.config.executorPrioritizedNodeLabel,
      });
      v = { eligible, ...order };
      // Every driver of this constraint is packed over these orders and the shared view: index them once.
      this.indexes.push(attachCapacityIndex(v.driverNodes, this.metadata));
      if (v.executorNodes !== v.driverNodes) this.indexes.push(attachCapacityIndex(v.executorNodes, this.metadata));
      this.byConstraint.set(key, v);
    }
    return v;
  }

  pack(pod: PodInfo, s: AppShape): PackResult {
    const { driverNodes, executorNodes } = this.nodes(pod);
    return this.ctx.config.binpack.pack(s.driver, s.executor, s.minExecutors, driverNodes, executorNodes, this.metadata);
  }

  /** After the walk consumed a placement from the view: re-reads its nodes into the indexes. */
  consumed(result: PackResult): void {
    const touched = new Set([result.driverNode, ...result.executorNodes]);
    for (const node of touched) for (const index of this.indexes) index.update(node);
  }
}

/**
 * Walks one queue with the FIFO walk (fifo.ts), each driver packed onto its own eligible nodes, giving every
 * entry its verdict and reason. `shortfallFor` limits which entries get a shortfall computed (each costs a pass
 * over its eligible nodes). The capacity view `cache.metadata` is consumed in place.
 *
 * Without a `cache`, when FIFO is on and every driver of the queue has one scheduling constraint (the usual case),
 * the verdicts come from the engine's kept walk of that queue (queue-walks.ts), the one the filter and
 * GetQueuePosition use, so a caller that asks again after a state change (the unschedulable marker, the retries)
 * gets a repaired walk instead of packing the whole queue again. That walk packs every driver onto the same nodes
 * in the same order into the same capacity, so its verdicts are the ones the walk below would give.
 */
export function walkQueue(
  ctx: EngineContext,
  group: string,
  queue: readonly QueuedDriver[],
  nowMs: number,
  cache?: PackCache,
  shortfallFor: (index: number, v: QueueVerdict) => boolean = () => true,
): QueueVerdict[] {
  if (!cache) {
    const kept = keptWalkVerdicts(ctx, queue, nowMs, shortfallFor);
    if (kept) return kept;
  }
  const pc = cache ?? new PackCache(ctx, buildMetadata(ctx.state, ctx.state.nodes.keys()));
  const out: QueueVerdict[] = [];
  const walk = walkFifo(queue, {
    shapeOf: (p) => ctx.shape(p),
    pack: (q, s) => pc.pack(q.pod, s),
    metadata: pc.metadata,
    enforceAfter: enforceAfterMs(ctx.config, group),
    nowMs,
    fifo: ctx.config.fifo,
    constraintOf: (q) => pc.key(q.pod),
  });
  for (const step of walk) {
    if (step.fits && step.placement && !step.blockedBy) pc.consumed(step.placement);
    out.push(verdictOf(step, shortfallFor, () => ({ eligible: pc.nodes(step.driver.pod).eligible, capacity: pc.metadata })));
  }
  return out;
}

/** walkQueue's verdicts from the kept walk, or undefined when that walk is not the queue's (see walkQueue). */
function keptWalkVerdicts(
  ctx: EngineContext,
  queue: readonly QueuedDriver[],
  nowMs: number,
  shortfallFor: (index: number, v: QueueVerdict) => boolean,
): QueueVerdict[] | undefined {
  if (!ctx.config.fifo || queue.length === 0) return undefined;
  const first = queue[0].pod;
  const key = constraintKey(first);
  if (queue.some((q) => constraintKey(q.pod) !== key)) return undefined;
  const eligible = ctx.eligibleNodes(first);
  const walk = ctx.queueWalks.walkFor(first, eligible, nowMs, (p) => ctx.instanceGroup(p), (p) => ctx.shape(p));
  if (walk.queue.length !== queue.length || walk.queue.some((q, i) => q.pod !== queue[i].pod)) return undefined;
  const { steps } = walk.ahead(queue.length, nowMs);
  // What a step was packed into: the capacity the steps ahead of it leave.
  return steps.map((step) => verdictOf(step, shortfallFor, () => ({ eligible, capacity: walk.ahead(step.index, nowMs).capacity })));
}

/** One walked step as a verdict; `at` gives the nodes and the capacity the step was packed into (for a shortfall). */
function verdictOf(
  step: FifoStep,
  shortfallFor: (index: number, v: QueueVerdict) => boolean,
  at: () => { eligible: readonly string[]; capacity: NodeMetadata },
): QueueVerdict {
  const q = step.driver;
  const entry: QueueEntryInfo = { namespace: q.pod.namespace, podName: q.pod.name, appId: q.appId, createdAtMs: q.pod.createdAtMs, fits: step.fits };
  const v: QueueVerdict = { driver: q, entry, position: step.index + 1, reason: "", blocking: step.blocking, blockedBy: step.blockedBy?.driver };
  if (!step.shape.ok) {
    v.reason = `invalid: ${step.shape.error}`;
    return v;
  }
  entry.demand = appDemand(step.shape.value);
  const blocker = step.blockedBy?.driver.pod;
  if (blocker) {
    v.reason = `waiting behind ${blocker.namespace}/${blocker.name}, an earlier driver that does not fit`;
  } else if (entry.fits) {
    v.reason = "fits; waiting for kube-scheduler to retry the driver";
  } else {
    v.reason = "does not fit";
  }
  if (!entry.fits && shortfallFor(step.index, v)) {
    const { eligible, capacity } = at();
    v.shortfall = shortfallOf(step.shape.value, eligible, capacity, false);
    if (!blocker) v.reason = `does not fit: ${v.shortfall.summary}`;
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Explain

/** Explains a pod known to the state. */
export function explainPod(ctx: EngineContext, namespace: string, podName: string, nowMs: number): Result<Explanation> {
  const pod = ctx.state.getPod(namespace, podName);
  if (!pod) return { ok: false, error: `pod ${namespace}/${podName} is not known to spark-scheduler` };
  const id = classifyPod(pod);
  if (!id.ok) return { ok: false, error: id.error };
  const base = {
    namespace,
    podName,
    appId: id.value.appId,
    nodeGroups: [] as NodeGroup[],
    blockers: [] as QueueBlocker[],
    queuePosition: 0,
    queueLength: 0,
    totalNodes: ctx.state.nodes.size,
  };
  if (id.value.role === "executor") return { ok: true, value: explainExecutor(ctx, pod, base) };
  return { ok: true, value: explainDriver(ctx, pod, base, nowMs) };
}

type Base = Omit<Explanation, "role" | "instanceGroup" | "outcome" | "reason">;

function explainDriver(ctx: EngineContext, pod: PodInfo, base: Base, nowMs: number): Explanation {
  const { state, config } = ctx;
  const instanceGroup = ctx.instanceGroup(pod);
  const out: Explanation = { ...base, role: "driver", instanceGroup, outcome: "success", reason: "" };
  if (pod.nodeName) return { ...out, node: pod.nodeName, reason: `driver is bound to node ${pod.nodeName}` };
  if (pod.terminated) return { ...out, outcome: "failure-invalid", reason: "driver has terminated" };
  const existing = state.getReservation(pod.namespace, base.appId);
  const slot = existing?.slots.get(DRIVER_SLOT);
  if (existing && slot) {
    return { ...out, node: slot.node, reason: `application is admitted; its driver is reserved on node ${slot.node}` };
  }
  const shape = ctx.shape(pod);
  if (!shape.ok) return { ...out, outcome: "failure-invalid", reason: shape.error };

  const current = buildMetadata(state, state.nodes.keys());
  const unit = shape.value.minExecutors > 0 ? { resources: shape.value.executor, name: "executor" } : { resources: shape.value.driver, name: "driver" };
  out.nodeGroups = groupNodes(ctx, pod, current, unit, shape.value.driver);

  // The queue ahead, walked into a private copy of the capacity view.
  const queue = allQueues(ctx).get(instanceGroup) ?? [];
  const self = podKey(pod.namespace, pod.name);
  const idx = queue.findIndex((q) => podKey(q.pod.namespace, q.pod.name) === self);
  const ahead = idx >= 0 ? queue.slice(0, idx) : queue.filter((q) => q.pod.createdAtMs < pod.createdAtMs);
  const cache = new PackCache(ctx, buildMetadata(state, state.nodes.keys()));
  let recorded = 0;
  const verdicts = walkQueue(ctx, instanceGroup, ahead, nowMs, cache, (_i, v) => !v.entry.fits && recorded++ < MAX_BLOCKERS);
  if (config.fifo) {
    out.blockers = verdicts
      .filter((v) => !v.entry.fits && v.entry.demand !== undefined)
      .slice(0, MAX_BLOCKERS)
      .map((v) => ({ entry: v.entry, blocking: v.blocking, shortfall: v.shortfall }));
  }
  out.queuePosition = idx + 1;
  out.queueLength = queue.length;

  // The decision itself, exactly as the filter would plan it with every node offered.
  const plan = planApplication(ctx, pod, shape.value, undefined, nowMs, config.fifo);
  const eligible = cache.nodes(pod).eligible;
  const fitsAfterQueue = cache.pack(pod, shape.value).hasCapacity;
  out.shortfall = shortfallOf(shape.value, eligible, config.fifo ? cache.metadata : current, plan.blockedBy ? fitsAfterQueue : plan.result.hasCapacity);
  if (plan.blockedBy) {
    out.outcome = "failure-earlier-driver";
    out.reason = plan.reason ?? "an earlier driver does not fit";
  } else if (!plan.result.hasCapacity) {
    out.outcome = "failure-fit";
    out.reason = plan.reason ?? "application does not fit to the cluster";
  } else {
    out.node = plan.result.driverNode;
    out.reason = `application fits: driver on ${plan.result.driverNode}, ${plan.result.executorNodes.length} executors on ${new Set(plan.result.executorNodes).size} nodes`;
  }
  return out;
}

function explainExecutor(ctx: EngineContext, pod: PodInfo, base: Base): Explanation {
  const { state } = ctx;
  const driver = state.findDriver(pod.namespace, base.appId);
  const instanceGroup = ctx.instanceGroup(driver ?? pod);
  const out: Explanation = { ...base, role: "executor", instanceGroup, outcome: "success", reason: "" };
  if (pod.nodeName) return { ...out, node: pod.nodeName, reason: `executor is bound to node ${pod.nodeName}` };
  const r = state.getReservation(pod.namespace, base.appId);
  if (!r) {
    return {
      ...out,
      outcome: "failure-no-reservation",
      reason: `application ${pod.namespace}/${base.appId} has no reservation: its driver has not been admitted by spark-scheduler yet`,
    };
  }
  const current = buildMetadata(state, state.nodes.keys());
  const first = executorSlots(r)[0];
  const size = first ? { ...r.slots.get(first)!.resources } : { ...pod.requests };
  out.nodeGroups = groupNodes(ctx, pod, current, { resources: size, name: "executor" });
  const eligible = ctx.eligibleNodes(pod);
  const shape: AppShape = { driver: zero(), executor: size, minExecutors: 1, maxExecutors: 1, dynamicAllocation: false, source: "annotations" };
  const anyRoom = eligible.some((n) => fits(size, nonNegative(current.get(n)!.available)));

  for (const [slot, podName] of r.pods) {
    if (slot !== DRIVER_SLOT && podName === pod.name && !isUnbound(ctx, r, slot)) {
      return { ...out, outcome: "success-already-bound", node: r.slots.get(slot)!.node, reason: `executor holds slot ${slot}` };
    }
  }
  const unbound = unboundSlotsByNode(ctx, r, pod.name);
  const eligibleSet = new Set(eligible);
  for (const [node, slots] of [...unbound].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (eligibleSet.has(node)) return { ...out, node, reason: `executor would take unbound slot ${slots[0]} on node ${node}` };
  }
  let unboundCount = 0;
  for (const list of unbound.values()) unboundCount += list.length;
  const soft = state.getSoft(pod.namespace, base.appId);
  const softFree = soft && !soft.executors.has(pod.name) ? Math.max(0, soft.maxExtra - soft.executors.size) : 0;
  if (unboundCount + softFree === 0) {
    return {
      ...out,
      outcome: "failure-unbound",
      reason: `application has no free executor spots: all ${executorSlots(r).length} reserved executor slots are bound` + (soft ? ` and all ${soft.maxExtra} extra executors hold soft reservations` : ""),
    };
  }
  out.shortfall = shortfallOf(shape, eligible, current, anyRoom);
  if (!anyRoom) return { ...out, outcome: "failure-fit", reason: "not enough capacity to reschedule the executor" };
  const node = eligible.find((n) => fits(size, nonNegative(current.get(n)!.available)))!;
  return unboundCount > 0
    ? { ...out, outcome: "success-rescheduled", node, reason: `an unbound slot would move to a node with room (e.g. ${node})` }
    : { ...out, outcome: "success-scheduled-extra-executor", node, reason: `an extra executor would get a soft reservation (e.g. on ${node})` };
}

// ---------------------------------------------------------------------------------------------
// Queue summaries

export interface QueueSummaryInfo {
  instanceGroup: string;
  length: number;
  oldestCreatedAtMs?: number;
  head?: QueueVerdict;
}

/**
 * Verdicts for every pending driver of the given instance groups (all when undefined). Shortfalls are computed
 * for the head of each queue only, plus any entry `shortfallFor` selects.
 */
export function queueVerdicts(ctx: EngineContext, nowMs: number, groups?: ReadonlySet<string>): Map<string, QueueVerdict[]> {
  const queues = allQueues(ctx);
  const cache = new PackCache(ctx, buildMetadata(ctx.state, ctx.state.nodes.keys()));
  const out = new Map<string, QueueVerdict[]>();
  for (const group of [...queues.keys()].sort()) {
    if (groups && !groups.has(group)) continue;
    // Only the first non-fitting entries get a shortfall: deep queues stay one pack per distinct shape.
    let budget = MAX_BLOCKERS;
    out.set(group, walkQueue(ctx, group, queues.get(group)!, nowMs, cache, (i, v) => i === 0 || (!v.entry.fits && budget-- > 0)));
  }
  return out;
}

/** Instance groups that exist: from queues, node labels and extra names (e.g. groups with decisions). */
export function instanceGroups(ctx: EngineContext, queues: ReadonlyMap<string, unknown>, extra: Iterable<string> = []): string[] {
  const out = new Set<string>(queues.keys());
  for (const n of ctx.state.nodes.values()) {
    const v = n.labels[ctx.config.instanceGroupLabel];
    if (v !== undefined) out.add(v);
  }
  for (const g of extra) out.add(g);
  return [...out].sort();
}

// ---------------------------------------------------------------------------------------------
// Batch simulation

export interface BatchApp {
  name: string;
  driver: PodInfo;
  shape: AppShape;
}

export interface BatchOutcome {
  name: string;
  admitted: boolean;
  driverNode: string;
  executorNodes: string[];
  instanceGroup: string;
  queuePosition: number;
  blocks: string[];
  fitsEmptyCluster: boolean;
  reason: string;
  shortfall?: Shortfall;
  demand: Resources;
}

/**
 * Several applications submitted now, in order. Each instance group's existing queue is walked first (with
 * FIFO its fitting drivers are admitted ahead of the batch, and an old non-fitting one blocks the batch); then
 * each application is packed into what is left, and an admitted one consumes its capacity for the ones after.
 * A batch application that does not fit joins the end of its queue. With FIFO it blocks the later applications
 * of its instance group: at once when the group's enforce-after age is 0, else once it has waited that long
 * (then the later ones are still admitted now, and `blocks` names them).
 */
export function simulateBatch(ctx: EngineContext, apps: readonly BatchApp[], nowMs: number): BatchOutcome[] {
  const { config, state } = ctx;
  const cache = new PackCache(ctx, buildMetadata(state, state.nodes.keys()));
  const queues = allQueues(ctx);
  const walked = new Map<string, { blockedBy?: QueueVerdict; length: number }>();
  const waiting = new Map<string, BatchOutcome[]>(); // batch apps that joined each queue
  const out: BatchOutcome[] = [];
  for (const app of apps) {
    const group = ctx.instanceGroup(app.driver);
    let w = walked.get(group);
    if (!w) {
      const queue = queues.get(group) ?? [];
      const verdicts = walkQueue(ctx, group, queue, nowMs, cache, () => false);
      w = { blockedBy: config.fifo ? verdicts.find((v) => v.blocking) : undefined, length: queue.length };
      walked.set(group, w);
    }
    const ahead = waiting.get(group) ?? [];
    const o: BatchOutcome = {
      name: app.name,
      admitted: false,
      driverNode: "",
      executorNodes: [],
      instanceGroup: group,
      queuePosition: 0,
      blocks: [],
      fitsEmptyCluster: !exceedsClusterCapacity(ctx, app.driver, app.shape),
      reason: "",
      demand: appDemand(app.shape),
    };
    const blockingNow = config.fifo && enforceAfterMs(config, group) <= 0 ? ahead[0] : undefined;
    const result = cache.pack(app.driver, app.shape);
    if (w.blockedBy) {
      o.reason = `waiting behind ${w.blockedBy.entry.namespace}/${w.blockedBy.entry.podName}, an earlier driver that does not fit`;
    } else if (blockingNow) {
      o.reason = `waiting behind ${blockingNow.name}, an earlier application of the batch that does not fit`;
      if (result.hasCapacity) blockingNow.blocks.push(app.name);
    } else if (result.hasCapacity) {
      o.admitted = true;
      o.driverNode = result.driverNode;
      o.executorNodes = result.executorNodes;
      consume(cache.metadata, app.shape, result);
      cache.consumed(result);
      // With FIFO, earlier batch apps of this group that wait would block this one once old enough.
      if (config.fifo) for (const a of ahead) a.blocks.push(app.name);
    } else {
      o.reason = "does not fit";
    }
    if (!o.admitted) {
      o.queuePosition = w.length + ahead.length + 1;
      o.shortfall = shortfallOf(app.shape, cache.nodes(app.driver).eligible, cache.metadata, false);
      if (!w.blockedBy && !blockingNow) o.reason = `does not fit: ${o.shortfall.summary}`;
      if (!o.fitsEmptyCluster) o.reason += "; it would not fit even an empty cluster";
      ahead.push(o);
      waiting.set(group, ahead);
    }
    out.push(o);
  }
  return out;
}
