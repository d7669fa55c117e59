// The scheduling engine's front door: pure, synchronous and deterministic. Time is always an argument.
// Callers feed Kubernetes objects into `state`, ask for decisions (their reservation content is assumed in the
// state), persist the decision's writes, then `settle` what the stored writes end (soft reservations); the
// pipeline (src/pipeline/) forgets what a failed write did not store.

import type { AppShape, Result } from "./app-shape.js";
import { compactSoftReservations } from "./compaction.js";
import type { EngineConfig } from "./config.js";
import { EngineContext } from "./context.js";
import { type Decision, failure } from "./decision.js";
import { decideDriver, describeNoFit, planApplication } from "./driver.js";
import type { QueueWalk } from "./queue-walks.js";
import { decideExecutor, isUnbound } from "./executor.js";
import { type FifoStep, type QueuedDriver, appDemand, driverQueue, enforceAfterMs, walkFifo } from "./fifo.js";
import { nodeEfficiency } from "./binpack/efficiency.js";
import type { PackResult } from "./binpack/types.js";
import type { PodInfo } from "./model.js";
import { type Reservation, reservationKey } from "./reservation.js";
import { type Resources, add, zero } from "./resources.js";
import { classifyPod } from "./spark-pods.js";
import { ClusterState } from "./state.js";
import { buildMetadata } from "./capacity-view.js";
import { orderNodes } from "./node-order.js";

/** How long a pod seen only in extender arguments stays visible without the informer confirming it. */
export const OBSERVED_POD_TTL_MS = 30_000;

export class Engine {
  readonly state: ClusterState;
  readonly ctx: EngineContext;

  constructor(
    readonly config: EngineConfig,
    state = new ClusterState(),
  ) {
    this.state = state;
    this.ctx = new EngineContext(state, config);
  }

  /**
   * One extender filter call: the node `pod` must go to, or why it cannot be placed. The returned writes are
   * already assumed in the state. Compaction is not part of it (see `compact`).
   */
  filter(pod: PodInfo, offered: readonly string[], nowMs: number): Decision {
    this.state.expireObserved(nowMs);
    const id = classifyPod(pod);
    if (!id.ok) {
      const outcome = pod.labels["spark-role"] === undefined || !["driver", "executor"].includes(pod.labels["spark-role"])
        ? "failure-non-spark-pod"
        : "failure-invalid";
      return failure(outcome, id.error);
    }
    if (offered.length === 0) {
      return failure("failure-fit", "kube-scheduler offered no nodes", { role: id.value.role, appId: id.value.appId });
    }
    // The informer is the only writer of pods. A pod it has not shown yet (kube-scheduler's watch can be ahead
    // of ours) is only observed: visible to decisions until the informer confirms it or the overlay expires, so
    // a pod created and deleted while our watch was down does not stay behind as a phantom.
    this.state.observePod(pod, nowMs + OBSERVED_POD_TTL_MS);
    return id.value.role === "driver"
      ? decideDriver(this.ctx, pod, id.value.appId, offered, nowMs)
      : decideExecutor(this.ctx, pod, id.value.appId, offered);
  }

  /**
   * Compaction, as its own step: soft-reserved executors move into hard slots freed by deleted pods. Returns the
   * writes (assumed) and the soft reservations they end once stored.
   */
  compact(nowMs: number): Decision {
    this.state.expireObserved(nowMs);
    const { writes, softRemoved } = compactSoftReservations(this.ctx);
    return { outcome: "success", writes, softRemoved };
  }

  /** Whether there is compaction work (a reservation that may have a freed slot). */
  compactionPending(): boolean {
    return this.state.compactionCandidates.size > 0;
  }

  /** After a decision's writes are stored: ends the soft reservations its stored writes replaced. */
  settle(decision: Decision, appKeys?: ReadonlySet<string>): void {
    for (const s of decision.softRemoved ?? []) {
      if (appKeys && !appKeys.has(reservationKey(s.namespace, s.appId))) continue;
      this.state.removeSoft(s.namespace, s.appId, s.pod, false);
    }
  }

  /** Undoes a decision whose writes could not be persisted (reconciliation, which holds no reservations). */
  rollback(decision: Decision): void {
    for (const w of [...decision.writes].reverse()) {
      if (w.op === "create") this.state.removeReservation(w.reservation.namespace, w.reservation.appId);
      else this.state.putReservation(w.previous);
    }
    if (decision.softAdded) {
      const s = decision.softAdded;
      this.state.removeSoft(s.namespace, s.appId, s.pod, false);
    }
  }

  /** Records that kube-scheduler bound a pod to a node (used by the embedded cluster). */
  markBound(namespace: string, name: string, node: string): void {
    const p = this.state.getPod(namespace, name);
    if (p && p.nodeName !== node) this.state.upsertPod({ ...p, nodeName: node, phase: "Running" });
  }

  // ---- read side ----------------------------------------------------------------------------

  listReservations(namespace?: string): Reservation[] {
    // The sorted keys are kept until a reservation comes or goes (state.queueVersion moves then): a read RPC
    // under load (one per page) no longer sorts every reservation, building two keys per comparison.
    if (this.sortedKeysVersion !== this.state.queueVersion) {
      this.sortedKeys = [...this.state.reservations.keys()].sort();
      this.sortedKeysVersion = this.state.queueVersion;
    }
    const out: Reservation[] = [];
    for (const key of this.sortedKeys) {
      const r = this.state.reservations.get(key);
      if (r && (!namespace || r.namespace === namespace)) out.push(r);
    }
    return out;
  }

  private sortedKeys: string[] = [];
  private sortedKeysVersion = -1;

  /** Whether a slot's bound pod is alive and on the slot's node. */
  slotActive(r: Reservation, slot: string): boolean {
    return r.pods.has(slot) && !isUnbound(this.ctx, r, slot);
  }

  queuePosition(namespace: string, podName: string, nowMs: number): Result<QueueReport> {
    const pod = this.state.getPod(namespace, podName);
    if (!pod) return { ok: false, error: `pod ${namespace}/${podName} is not known to spark-scheduler` };
    const id = classifyPod(pod);
    if (!id.ok) return { ok: false, error: id.error };
    if (id.value.role !== "driver") return { ok: false, error: `pod ${namespace}/${podName} is not a Spark driver` };
    const instanceGroup = this.ctx.instanceGroup(pod);
    if (pod.nodeName || pod.terminated) {
      return { ok: true, value: emptyReport("scheduled", instanceGroup, "driver is already bound to a node") };
    }
    if (this.state.getReservation(namespace, id.value.appId)) {
      return { ok: true, value: emptyReport("admitted", instanceGroup, "application is admitted; waiting for kube-scheduler to bind the driver") };
    }
    // Walk the queue as FIFO does (fifo.ts), noting for every entry whether it fits in what the ones admitted
    // before it leave; what is left is what the driver itself would be packed into. With FIFO on it is the
    // filter's own walk at this state version (queue-walks.ts), so the filter and this report share one walk.
    const eligible = this.ctx.eligibleNodes(pod);
    let queue: readonly QueuedDriver[];
    let steps: Iterable<FifoStep>;
    let pack: (s: AppShape) => PackResult;
    let walk: QueueWalk | undefined;
    if (this.config.fifo) {
      walk = this.ctx.queueWalks.walkFor(pod, eligible, nowMs, (p) => this.ctx.instanceGroup(p), (p) => this.ctx.shape(p));
      queue = walk.queue;
      const ahead = walk.ahead(Math.max(0, queue.findIndex((q) => q.pod.namespace === namespace && q.pod.name === podName)), nowMs);
      steps = ahead.steps;
      pack = (s) => walk!.packInto(s, walk!.driverNodes, ahead.capacity);
    } else {
      queue = driverQueue(this.state, this.config, pod, (p) => this.ctx.instanceGroup(p));
      const idx = queue.findIndex((q) => q.pod.namespace === namespace && q.pod.name === podName);
      const metadata = buildMetadata(this.state, eligible);
      const { driverNodes, executorNodes } = orderNodes(metadata, eligible, {
        driverPriority: this.config.driverPrioritizedNodeLabel,
        executorPriority: this.config.executorPrioritizedNodeLabel,
      });
      pack = (s) => this.config.binpack.pack(s.driver, s.executor, s.minExecutors, driverNodes, executorNodes, metadata);
      steps = walkFifo(queue.slice(0, Math.max(0, idx)), {
        shapeOf: (p) => this.ctx.shape(p),
        pack: (_q, s) => pack(s),
        metadata,
        enforceAfter: enforceAfterMs(this.config, instanceGroup),
        nowMs,
        fifo: false,
      });
    }
    const idx = queue.findIndex((q) => q.pod.namespace === namespace && q.pod.name === podName);
    const entries: QueueEntryReport[] = [];
    let aheadDemand = zero();
    let blocking: QueueEntryReport | undefined;
    for (const step of steps) {
      const q = step.driver;
      const entry: QueueEntryReport = { namespace: q.pod.namespace, podName: q.pod.name, appId: q.appId, createdAtMs: q.pod.createdAtMs, fits: step.fits };
      if (step.shape.ok) {
        entry.demand = appDemand(step.shape.value);
        aheadDemand = add(aheadDemand, entry.demand);
      }
      if (step.blocking && !blocking) blocking = entry;
      entries.push(entry);
    }
    const own = this.ctx.shape(pod);
    let fitsNow = false;
    let reason: string;
    if (!own.ok) reason = own.error;
    else {
      fitsNow = pack(own.value).hasCapacity;
      if (this.config.fifo && blocking) {
        reason = `waiting behind ${blocking.namespace}/${blocking.podName}, an earlier driver that does not fit`;
      } else if (!fitsNow) {
        const why = walk ? noFitReason(walk, own.value) : planApplication(this.ctx, pod, own.value, undefined, nowMs, false).reason;
        reason = why ?? "application does not fit to the cluster";
      } else {
        reason = "application fits; waiting for kube-scheduler to retry the driver";
      }
    }
    return {
      ok: true,
      value: {
        state: "waiting",
        position: idx + 1,
        queueLength: queue.length,
        instanceGroup,
        ahead: entries,
        reason,
        fitsNow,
        aheadDemand,
        fifoEnforced: this.config.fifo,
      },
    };
  }

  /** What-if placement of an application; changes nothing. */
  simulate(driver: PodInfo, shape: AppShape, nodeNames: readonly string[] | undefined, nowMs: number): SimulationReport {
    const plan = planApplication(this.ctx, driver, shape, nodeNames && nodeNames.length > 0 ? nodeNames : undefined, nowMs, false);
    const used = [plan.result.driverNode, ...plan.result.executorNodes].filter((n) => n);
    let eff = 0;
    for (const n of used) {
      const node = plan.capacity?.get(n);
      if (node) eff += nodeEfficiency(node, plan.result.reserved.get(n)).max;
    }
    return {
      fits: plan.result.hasCapacity,
      driverNode: plan.result.driverNode,
      executorNodes: plan.result.executorNodes,
      reason: plan.result.hasCapacity ? "" : plan.reason ?? "application does not fit to the cluster",
      packingEfficiency: used.length > 0 ? eff / used.length : 0,
      binpack: this.config.binpack.name,
    };
  }
}

/**
 * What planApplication without FIFO says of an application that does not fit (its reason), from the walk's view
 * of the cluster at this version: the same nodes, order and capacity, without building them again.
 */
function noFitReason(walk: QueueWalk, shape: AppShape): string | undefined {
  if (walk.packInto(shape, walk.driverNodes, walk.baseView).hasCapacity) return undefined;
  return describeNoFit(shape, undefined, walk.executorNodes, walk.baseView);
}

export interface QueueEntryReport {
  namespace: string;
  podName: string;
  appId: string;
  createdAtMs: number;
  demand?: Resources;
  fits: boolean;
}

export interface QueueReport {
  state: "waiting" | "admitted" | "scheduled";
  position: number;
  queueLength: number;
  instanceGroup: string;
  ahead: QueueEntryReport[];
  reason: string;
  fitsNow: boolean;
  aheadDemand: Resources;
  fifoEnforced: boolean;
}

function emptyReport(state: QueueReport["state"], instanceGroup: string, reason: string): QueueReport {
  return { state, position: 0, queueLength: 0, instanceGroup, ahead: [], reason, fitsNow: true, aheadDemand: zero(), fifoEnforced: false };
}

export interface SimulationReport {
  fits: boolean;
  driverNode: string;
  executorNodes: string[];
  reason: string;
  packingEfficiency: number;
  binpack: string;
}
