// The FIFO walk of a queue, kept while the state does not change, so that repeated calls at one state version
// (kube-scheduler retrying the queued drivers one after another, GetQueuePosition) continue one walk instead of
// re-packing every driver ahead of each of them: a sweep over a queue of Q drivers costs O(Q) packs, not O(Q²).
//
// A walk belongs to one queue (scheduler name, instance group) and one scheduling constraint (the nodes its drivers
// are packed onto), at one state version. It holds the queue, the node order at that version, the steps walked so
// far and the capacity they leave (the frontier). A call for the driver at position i walks on to i if needed and
// packs the driver into the capacity left by the drivers admitted ahead of it: the frontier when it stands at i or
// a blocker ahead has frozen it, else a fresh view minus the placements of the fitting drivers ahead.
//
// Nothing here costs more than the walk it replaces when the state changed since (a miss builds what the plan
// builds anyway: the capacity view and the node order), and nothing is computed for drivers no call asks about.
//
// A walk is also bounded in time: a driver that did not fit and was younger than the enforce-after age starts to
// block once it is old enough, which changes the walk behind it, so the walk is used only before that moment.

import type { AppShape } from "./app-shape.js";
import { type CapacityIndex, attachCapacityIndex } from "./binpack/capacity-index.js";
import type { NodeMetadata, PackResult } from "./binpack/types.js";
import { buildMetadata } from "./capacity-view.js";
import type { EngineConfig } from "./config.js";
import { type FifoStep, type FifoWalkOptions, type QueuedDriver, consume, driverQueue, enforceAfterMs, walkFifo } from "./fifo.js";
import { type PodInfo, podKey } from "./model.js";
import { prioritizeByLabel, sortNodes } from "./node-order.js";
import type { ClusterState } from "./state.js";

/** What a plan needs from the queue ahead of one driver. */
export interface QueueAhead {
  /** The walk's steps for the drivers ahead, in order (do not change them). */
  steps: readonly FifoStep[];
  /** The first blocking driver ahead, if any. */
  blocker?: FifoStep;
  /**
   * The capacity left by the drivers admitted ahead (those before the first blocker that fit). Shared with the
   * walk: read it, pack into it, never consume from it.
   */
  capacity: NodeMetadata;
}

export class QueueWalk {
  readonly steps: FifoStep[] = [];
  private readonly walker: Generator<FifoStep, void, undefined>;
  private readonly options: FifoWalkOptions;
  private readonly positions = new Map<string, number>();
  private blockerIndex: number | undefined;
  private done = false;
  /** The walk holds from this time (the latest one it walked at) until `untilMs`. */
  private fromMs: number;
  private untilMs = Infinity;
  /** Node priority order at this version; candidate lists for the queued drivers and for executors. */
  readonly sorted: string[];
  readonly driverNodes: string[];
  readonly executorNodes: string[];
  private readonly indexes: CapacityIndex[];

  constructor(
    private readonly state: ClusterState,
    private readonly config: EngineConfig,
    readonly version: number,
    readonly queue: readonly QueuedDriver[],
    readonly eligible: readonly string[],
    /** The capacity view at this version over `eligible`; it becomes the frontier (consumed in place). */
    metadata: NodeMetadata,
    private readonly enforceAfter: number,
    shapeOf: (p: PodInfo) => ReturnType<FifoWalkOptions["shapeOf"]>,
    nowMs: number,
  ) {
    queue.forEach((q, i) => this.positions.set(podKey(q.pod.namespace, q.pod.name), i));
    this.sorted = sortNodes(metadata);
    const { driverPrioritizedNodeLabel: dp, executorPrioritizedNodeLabel: ep } = config;
    this.driverNodes = dp ? prioritizeByLabel(this.sorted, metadata, dp) : this.sorted;
    const ready = this.sorted.filter((name) => {
      const n = metadata.get(name)!;
      return !n.unschedulable && n.ready;
    });
    this.executorNodes = ep ? prioritizeByLabel(ready, metadata, ep) : ready;
    // The walk packs every queued driver over these two orders and the frontier: index them once (the frontier
    // only shrinks as the walk consumes, which keeps an index right; advance() keeps it sharp).
    this.indexes = [attachCapacityIndex(this.driverNodes, metadata)];
    if (this.executorNodes !== this.driverNodes) this.indexes.push(attachCapacityIndex(this.executorNodes, metadata));
    this.fromMs = nowMs;
    this.options = {
      shapeOf,
      // The drivers ahead are packed onto every node their constraint allows, whatever one call was offered.
      pack: (_q, s) => this.packInto(s, this.driverNodes, metadata),
      metadata,
      enforceAfter,
      nowMs,
      fifo: true,
    };
    this.walker = walkFifo(queue, this.options);
  }

  get frontier(): NodeMetadata {
    return this.options.metadata;
  }

  /** Whether the walk still describes the state at `version` and time `nowMs`. */
  holds(version: number, nowMs: number): boolean {
    return version === this.version && nowMs >= this.fromMs && nowMs < this.untilMs;
  }

  /** How many queued drivers are ahead of `driver`: its position, or (not queued) those created before it. */
  aheadOf(driver: PodInfo): number {
    const at = this.positions.get(podKey(driver.namespace, driver.name));
    if (at !== undefined) return at;
    let n = 0;
    while (n < this.queue.length && this.queue[n].pod.createdAtMs < driver.createdAtMs) n++;
    return n;
  }

  packInto(shape: AppShape, driverNodes: readonly string[], metadata: NodeMetadata): PackResult {
    return this.config.binpack.pack(shape.driver, shape.executor, shape.minExecutors, driverNodes as string[], this.executorNodes, metadata);
  }

  /**
   * The walk up to (not including) position `n`, and the capacity it leaves. With `untilBlocker` the walk stops
   * at the first blocker (a plan needs nothing behind it; a report lists every driver ahead).
   */
  ahead(n: number, nowMs: number, untilBlocker = false): QueueAhead {
    this.advance(n, nowMs, untilBlocker);
    const blocker = this.blockerIndex !== undefined && this.blockerIndex < n ? this.steps[this.blockerIndex] : undefined;
    const steps = this.steps.slice(0, n);
    // Behind a blocker nothing more consumes: the frontier is what every driver behind it sees.
    if (blocker || this.steps.length === n) return { steps, blocker, capacity: this.frontier };
    const capacity = buildMetadata(this.state, this.eligible);
    for (const s of steps) if (s.fits && s.placement && s.shape.ok) consume(capacity, s.shape.value, s.placement);
    return { steps, capacity };
  }

  private advance(n: number, nowMs: number, untilBlocker: boolean): void {
    if (this.done || this.steps.length >= n || (untilBlocker && this.blockerIndex !== undefined)) return;
    this.options.nowMs = nowMs;
    this.fromMs = Math.max(this.fromMs, nowMs);
    while (this.steps.length < n) {
      const next = this.walker.next();
      if (next.done) {
        this.done = true;
        return;
      }
      const step = next.value;
      this.steps.push(step);
      if (step.fits && step.placement && !step.blockedBy) {
        // walkFifo consumed this placement from the frontier.
        const touched = new Set([step.placement.driverNode, ...step.placement.executorNodes]);
        for (const node of touched) for (const index of this.indexes) index.update(node);
      }
      if (this.blockerIndex !== undefined) continue;
      if (step.blocking) {
        this.blockerIndex = step.index;
        if (untilBlocker) return;
      } else if (step.shape.ok && !step.fits) {
        // Not blocking yet: once it is old enough it blocks, and the walk behind it changes.
        this.untilMs = Math.min(this.untilMs, step.driver.pod.createdAtMs + this.enforceAfter);
      }
    }
  }
}

/**
 * The walks of one engine, for the current state version only: a change of the state drops them all. Keyed by
 * queue and scheduling constraint.
 */
export class QueueWalks {
  private version = -1;
  private readonly walks = new Map<string, QueueWalk>();

  constructor(
    private readonly state: ClusterState,
    private readonly config: EngineConfig,
  ) {}

  /**
   * The walk of `driver`'s queue over `eligible` (its eligible nodes), continued when it still holds, else
   * started afresh. `instanceGroupOf` and `shapeOf` are the context's.
   */
  walkFor(
    driver: PodInfo,
    eligible: readonly string[],
    nowMs: number,
    instanceGroupOf: (p: PodInfo) => string,
    shapeOf: (p: PodInfo) => ReturnType<FifoWalkOptions["shapeOf"]>,
  ): QueueWalk {
    if (this.version !== this.state.version) {
      this.walks.clear();
      this.version = this.state.version;
    }
    const group = instanceGroupOf(driver);
    const key = JSON.stringify([driver.schedulerName, group, driver.nodeSelector, driver.requiredNodeTerms, driver.tolerations]);
    const cached = this.walks.get(key);
    if (cached && cached.holds(this.state.version, nowMs) && sameNodes(cached.eligible, eligible)) {
      // The driver itself may have been observed since: a walk over a queue without it is still right for it
      // (it is placed by creation time), and a queued one knows its position.
      return cached;
    }
    const queue = driverQueue(this.state, this.config, driver, instanceGroupOf);
    const walk = new QueueWalk(
      this.state,
      this.config,
      this.state.version,
      queue,
      eligible,
      buildMetadata(this.state, eligible),
      enforceAfterMs(this.config, group),
      shapeOf,
      nowMs,
    );
    this.walks.set(key, walk);
    return walk;
  }
}

function sameNodes(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
