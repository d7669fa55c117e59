// The FIFO walk of a queue, kept across calls and repaired across state changes, so that the calls behind a queue
// (kube-scheduler retrying the queued drivers one after another, GetQueuePosition, the unschedulable marker) do not
// re-pack every driver ahead of them each time.
//
// A walk belongs to one queue (scheduler name, instance group) and one scheduling constraint (the nodes its drivers
// are packed onto). It holds the queue, the capacity view at its state version (the base), the node order derived
// from it, the steps walked so far and the capacity they leave (the frontier). A call for the driver at position i
// walks on to i if needed and packs the driver into the capacity left by the drivers admitted ahead of it: the
// frontier when it stands at i or a blocker ahead has frozen it, else the base minus the placements of the fitting
// drivers ahead. Nothing is computed for drivers no call asks about.
//
// Across a state change the walk is repaired, not rebuilt (`repair`). The state's journal names the nodes the
// change touched; only their entries of the base are re-derived, and only they move in the node order (the
// relative order of the others cannot change while the zones keep their ranking; when it changes, or too much
// changed, the walk is rebuilt). A step whose pack read none of the changed nodes — it did not look them up, and
// each of its scans either finds no room for its request on them or stopped before reaching them (capacity-index.ts
// records that) — returns what it returned before, so the walk keeps every step up to the first one that may be
// affected, rewinds the frontier to that step, and walks on from there. Walking on, a step whose pack may be
// affected is packed again; one that is not is carried over; a step whose consumption differs from before adds the
// nodes it or its old placement used to the changed set. The repaired walk is step for step the walk a fresh one
// would make (test/engine/queue-walks.test.ts compares them over random changes).
//
// A walk is also bounded in time: a driver that did not fit and was younger than the enforce-after age starts to
// block once it is old enough, which changes the walk behind it, so the walk is used (and repaired) only before
// that moment.

import type { AppShape } from "./app-shape.js";
import {
  type CapacityIndex,
  ObservedMetadata,
  type PackReads,
  attachCapacityIndex,
  recordReads,
} from "./binpack/capacity-index.js";
import type { NodeCapacity, NodeMetadata, PackResult } from "./binpack/types.js";
import { nodeCapacity } from "./binpack/capacity.js";
import { buildMetadata, nodeCapacityOf, sameNodeCapacity } from "./capacity-view.js";
import type { EngineConfig } from "./config.js";
import { constraintKey } from "./eligibility.js";
import {
  type FifoStep,
  type FifoWalkOptions,
  type QueuedDriver,
  consume,
  driverQueue,
  enforceAfterMs,
  placementUsage,
  walkFifo,
} from "./fifo.js";
import { type PodInfo, podKey } from "./model.js";
import { type NodeSortKey, compareNodeKeys, prioritizeByLabel, rankZones, sortNodes, zoneTotals } from "./node-order.js";
import { type Resources, addInto, fits, subInto } from "./resources.js";
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

/** One step's pack: what it returned and what it read. */
interface StepPack {
  result: PackResult;
  reads: PackReads;
  /**
   * For a pack that failed short of executor capacity (PackResult.shortfall): the capacities of the nodes changed
   * since, at most what they hold now, and the sum with them (see `stillShort`).
   */
  over?: ReadonlyMap<string, number>;
  total?: number;
}

/** The walk before the last repair, whose steps the walk on may carry over. */
interface Previous {
  steps: readonly FifoStep[];
  packs: readonly (StepPack | undefined)[];
  /** Steps from here on are not carried (the queue differs from here, or the old walk ended here). */
  limit: number;
  /**
   * The old steps from the walk's position up to here are still consumed in the frontier (see `repair`): walking
   * on replaces each one's consumption by the new step's, which costs nothing when they use the same.
   */
  pendingEnd: number;
  /** Per old step index k: how many node entries the old steps before k consume from (what replaying them costs). */
  cost: number[];
  /** Nodes whose entry, position or consumption may differ from the old walk's at the step being walked. */
  changed: Set<string>;
  /**
   * The cursor's entries of the changed nodes (at least what the step being walked sees on them), and per order
   * index one over them only (see `carriable`).
   */
  changedView: NodeMetadata;
  trees: Map<CapacityIndex, CapacityIndex>;
}

/** Counters for tests and benchmarks. */
export interface WalkCounters {
  /** Packs run. */
  packed: number;
  /** Packs carried over from the walk before a repair. */
  carried: number;
  /** Repairs (state versions the walk was carried across). */
  repairs: number;
  /**
   * Node entries of placements walked before a repair that the walk gave back or consumed again after it (the
   * replay: what carrying a step over costs beyond its pack).
   */
  replayed: number;
}

export class QueueWalk {
  steps: FifoStep[] = [];
  readonly counters: WalkCounters = { packed: 0, carried: 0, repairs: 0, replayed: 0 };
  /** Per step: its pack (undefined when it was not packed: invalid shape, or dominated). */
  private packs: (StepPack | undefined)[] = [];
  private previous: Previous | undefined;
  private walker: Generator<FifoStep, void, undefined>;
  private readonly options: FifoWalkOptions;
  private positions = new Map<string, number>();
  private blockerIndex: number | undefined;
  private done = false;
  /** The walk holds from this time (the latest one it walked at) until `untilMs`. */
  private fromMs: number;
  private untilMs = Infinity;
  /** The state version the walk describes, the journal position it has read to, the shape inputs it read. */
  version: number;
  private journalAt: number;
  private shapeVersion: number;
  /** The state's queue version `queue` was read at. */
  queueVersion: number;
  queue: readonly QueuedDriver[];
  /** The capacity view at `version` over `eligible`, not consumed. */
  private readonly base: NodeMetadata;
  private totals: Map<string, Resources>;
  private zoneRank: Map<string, number>;
  /** Node priority order at this version; candidate lists for the queued drivers and for executors. */
  sorted: string[];
  driverNodes!: string[];
  executorNodes!: string[];
  private readonly frontierView = new ObservedMetadata();
  private driverIndex!: CapacityIndex;
  private executorIndex: CapacityIndex | undefined;
  /**
   * The capacity left by the steps before `cursorAt` (a second view with indexes of its own): what a step packed
   * again after a repair is packed into while the frontier still holds the old steps behind it (see `repair`).
   */
  private readonly cursorView = new ObservedMetadata();
  private cursorAt = 0;
  private cursorDriverIndex!: CapacityIndex;
  private cursorExecutorIndex: CapacityIndex | undefined;
  private readonly cursorDirty = new Set<string>();
  /** Reused from repair to repair: the changed nodes' view and one sparse tree per order index (see `carriable`). */
  private readonly changedView: NodeMetadata = new Map();
  private sparseTrees = new Map<CapacityIndex, CapacityIndex>();
  /** Every order array a recorded scan may name (current and earlier ones) → the index of its current order. */
  private readonly orderIndex = new WeakMap<readonly string[], CapacityIndex>();
  /**
   * Nodes the walk consumed from since the indexes last read them. Consuming only lowers capacity, which leaves an
   * index right (a node it does not skip is still checked), so the indexes catch up once before the next pack
   * instead of after every step (carried steps do not pack).
   */
  private readonly dirty = new Set<string>();

  constructor(
    private readonly state: ClusterState,
    private readonly config: EngineConfig,
    queue: readonly QueuedDriver[],
    readonly eligible: readonly string[],
    private readonly enforceAfter: number,
    shapeOf: (p: PodInfo) => ReturnType<FifoWalkOptions["shapeOf"]>,
    nowMs: number,
  ) {
    this.version = state.version;
    this.journalAt = state.journalEnd;
    this.shapeVersion = state.shapeVersion;
    this.queueVersion = state.queueVersion;
    this.queue = queue;
    this.indexQueue();
    this.base = buildMetadata(state, eligible);
    for (const [name, e] of this.base) {
      this.frontierView.set(name, copyEntry(e));
      this.cursorView.set(name, copyEntry(e));
    }
    this.totals = zoneTotals(this.base);
    this.zoneRank = rankZones(this.totals);
    this.sorted = sortNodes(this.base);
    this.deriveOrders();
    // The walk packs every queued driver over these two orders and the frontier: index them once (the frontier
    // only shrinks as the walk consumes, which keeps an index right; advance() keeps it sharp).
    this.driverIndex = attachCapacityIndex(this.driverNodes, this.frontierView);
    this.orderIndex.set(this.driverNodes, this.driverIndex);
    this.cursorDriverIndex = attachCapacityIndex(this.driverNodes, this.cursorView);
    if (this.executorNodes !== this.driverNodes) {
      this.executorIndex = attachCapacityIndex(this.executorNodes, this.frontierView);
      this.orderIndex.set(this.executorNodes, this.executorIndex);
      this.cursorExecutorIndex = attachCapacityIndex(this.executorNodes, this.cursorView);
    }
    this.fromMs = nowMs;
    this.options = {
      // A step carried across a repair has the shape it had (same pod, same shape inputs).
      shapeOf: (p) => {
        const prev = this.previous;
        const i = this.steps.length;
        if (prev && i < prev.limit && prev.steps[i].driver.pod === p) return prev.steps[i].shape;
        return shapeOf(p);
      },
      // The drivers ahead are packed onto every node their constraint allows, whatever one call was offered.
      pack: (_q, s) => this.packStep(s),
      metadata: this.frontierView,
      consume: (shape, result) => this.consumeStep(shape, result),
      enforceAfter,
      nowMs,
      fifo: true,
    };
    this.walker = walkFifo(queue, this.options);
  }

  /** The capacity view at this version, before any queued driver (read it, do not change it). */
  get baseView(): NodeMetadata {
    return this.base;
  }

  get frontier(): NodeMetadata {
    return this.frontierView;
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

  /**
   * The driver order restricted to `names` (nodes of this walk, repeats allowed): sorted by position when they
   * are few rather than filtering the whole order.
   */
  restrictDriverNodes(names: readonly string[]): string[] {
    const wanted = new Set(names);
    if (wanted.size * 8 > this.driverNodes.length) return this.driverNodes.filter((n) => wanted.has(n));
    const at = [...wanted].map((name) => ({ name, p: this.driverIndex.positionOf(name) ?? -1 })).filter((e) => e.p >= 0);
    at.sort((a, b) => a.p - b.p);
    return at.map((e) => e.name);
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
    const capacity: NodeMetadata = new Map();
    for (const [name, e] of this.base) capacity.set(name, copyEntry(e));
    for (const s of steps) if (s.fits && s.placement && s.shape.ok) consume(capacity, s.shape.value, s.placement);
    return { steps, capacity };
  }

  /**
   * Carries the walk over to the state's current version, for `queue` (the queue at that version) at `nowMs`.
   * Returns false, changing nothing, when it cannot (the caller builds a fresh walk): the walk's time is up, what
   * sizes applications changed, the journal was trimmed, a node changed zone, the zones' ranking changed, or so
   * many nodes changed that re-deriving them costs about a rebuild.
   */
  repair(nowMs: number, queue: readonly QueuedDriver[]): boolean {
    if (nowMs < this.fromMs || nowMs >= this.untilMs) return false;
    if (this.state.shapeVersion !== this.shapeVersion) return false;
    const touched = this.state.touchedSince(this.journalAt);
    if (!touched) return false;
    const fresh = new Map<string, NodeCapacity>();
    const seen = new Set<string>();
    for (const name of touched) {
      if (seen.has(name)) continue;
      seen.add(name);
      const old = this.base.get(name);
      if (!old) continue; // not one of this walk's nodes
      const now = nodeCapacityOf(this.state, name);
      if (!now || now.zone !== old.zone) return false;
      if (!sameNodeCapacity(now, old)) fresh.set(name, now);
    }
    if (fresh.size > Math.max(64, this.eligible.length / 8)) return false;
    let totals = this.totals;
    let zoneRank = this.zoneRank;
    if (fresh.size > 0) {
      totals = new Map([...this.totals].map(([z, t]) => [z, { ...t }]));
      for (const [name, now] of fresh) {
        const t = totals.get(now.zone)!;
        subInto(t, this.base.get(name)!.available);
        addInto(t, now.available);
      }
      zoneRank = rankZones(totals);
      for (const [z, r] of zoneRank) if (this.zoneRank.get(z) !== r) return false;
    }
    let k = 0;
    const common = Math.min(queue.length, this.queue.length);
    while (k < common && queue[k].pod === this.queue[k].pod && queue[k].appId === this.queue[k].appId) k++;

    // Committed from here on. The sparse trees of the last repair go back to empty while their positions hold.
    this.counters.repairs++;
    for (const name of this.changedView.keys()) {
      this.changedView.delete(name);
      for (const tree of this.sparseTrees.values()) tree.update(name);
    }
    // New base entries and node order (only the changed nodes move).
    const oldBase = new Map<string, NodeCapacity>();
    for (const name of fresh.keys()) oldBase.set(name, this.base.get(name)!);
    this.totals = totals;
    this.zoneRank = zoneRank;
    if (fresh.size > 0) {
      for (const [name, now] of fresh) this.base.set(name, now);
      const sorted = this.sorted.filter((n) => !fresh.has(n));
      for (const name of fresh.keys()) {
        const key = this.sortKey(name);
        let lo = 0;
        let hi = sorted.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (compareNodeKeys(this.sortKey(sorted[mid]), key) < 0) lo = mid + 1;
          else hi = mid;
        }
        sorted.splice(lo, 0, name);
      }
      this.sorted = sorted;
      this.deriveOrders();
      this.driverIndex = this.retarget(this.driverIndex, this.driverNodes, this.frontierView);
      this.cursorDriverIndex = this.retarget(this.cursorDriverIndex, this.driverNodes, this.cursorView);
      if (this.executorNodes !== this.driverNodes) {
        this.executorIndex = this.retarget(this.executorIndex!, this.executorNodes, this.frontierView);
        this.cursorExecutorIndex = this.retarget(this.cursorExecutorIndex!, this.executorNodes, this.cursorView);
      }
    }

    // The first step that may be affected. No step before it read a changed node, so none placed on one: up to
    // it, a changed node's capacity is its new base entry.
    const limit = Math.min(this.steps.length, k);
    let j = 0;
    for (; j < limit; j++) {
      const st = this.steps[j];
      if (!st.shape.ok || st.dominated) continue;
      const p = this.packs[j];
      if (!p) break;
      if (p.result.shortfall) {
        // A pack short of executor capacity stays short while the changed nodes do not make up the difference.
        const still = this.stillShort(p, fresh.keys(), (n) => fresh.get(n)!.available);
        if (!still) break;
        this.packs[j] = still;
      } else if (!this.unaffected(p.reads, fresh.keys(), (n) => fresh.get(n)!.available)) break;
    }

    // The cursor goes back to step j at most (giving back what the steps from there consumed), and takes the
    // changed nodes' new entries (nothing before j consumed from them).
    const cost = consumptionCost(this.steps);
    if (this.cursorAt > j) {
      // Giving back costs what the steps consumed; starting again from the base costs a pass over the nodes.
      if (cost[this.cursorAt] - cost[j] > this.resetCost() + cost[j]) this.resetCursor();
      else for (let i = j; i < this.cursorAt; i++) giveBack(this.cursorView, this.steps[i], this.cursorDirty, this.counters);
      this.cursorAt = Math.min(this.cursorAt, j);
    }
    // The frontier is not rewound: it keeps the consumption of the old steps from j to `limit`, which the walk on
    // replaces step by step (nothing to do for a step that consumes the same), and gives back only the old steps
    // that cannot be carried (behind `limit`). A changed node's entry moves by what its base entry moved.
    for (const [name, now] of fresh) {
      this.cursorView.set(name, copyEntry(now));
      this.cursorDirty.add(name);
      const was = oldBase.get(name)!.available;
      const entry = copyEntry(now);
      const f = this.frontierView.get(name)!.available;
      entry.available = { cpu: f.cpu + now.available.cpu - was.cpu, memory: f.memory + now.available.memory - was.memory, gpu: f.gpu + now.available.gpu - was.gpu };
      this.frontierView.set(name, entry);
      this.dirty.add(name);
    }
    for (let i = Math.max(j, limit); i < this.steps.length; i++) giveBack(this.frontierView, this.steps[i], this.dirty, this.counters);

    this.previous = undefined;
    if (j < limit) {
      for (const index of [...this.sparseTrees.keys()]) if (index !== this.driverIndex && index !== this.executorIndex) this.sparseTrees.delete(index);
      for (const index of [this.driverIndex, this.executorIndex]) {
        if (index && !this.sparseTrees.has(index)) this.sparseTrees.set(index, index.sparse(this.changedView));
      }
      const prev: Previous = {
        steps: this.steps,
        packs: this.packs,
        limit,
        pendingEnd: limit,
        cost,
        changed: new Set(),
        changedView: this.changedView,
        trees: this.sparseTrees,
      };
      for (const name of fresh.keys()) this.markChanged(prev, name);
      this.previous = prev;
    }
    this.steps = this.steps.slice(0, j);
    this.packs = this.packs.slice(0, j);
    this.blockerIndex = undefined;
    this.untilMs = Infinity;
    for (const st of this.steps) {
      if (st.blocking) {
        this.blockerIndex = st.index;
        break;
      }
      if (st.shape.ok && !st.fits) this.untilMs = Math.min(this.untilMs, st.driver.pod.createdAtMs + this.enforceAfter);
    }
    this.done = false;
    this.fromMs = Math.max(this.fromMs, nowMs);
    this.options.nowMs = nowMs;
    if (k < this.queue.length || queue.length !== this.queue.length) {
      this.queue = queue;
      this.indexQueue();
    }
    this.options.prefix = this.steps;
    this.walker = walkFifo(this.queue, this.options);
    this.version = this.state.version;
    this.journalAt = this.state.journalEnd;
    this.queueVersion = this.state.queueVersion;
    return true;
  }

  private advance(n: number, nowMs: number, untilBlocker: boolean): void {
    this.walkOn(n, nowMs, untilBlocker);
    // The walk stops here for now: the frontier must be the capacity the steps walked leave, so the old steps it
    // still holds give theirs back (a later walk on packs them again or carries them over as usual).
    const prev = this.previous;
    if (prev && this.steps.length < prev.pendingEnd) {
      for (let i = this.steps.length; i < prev.pendingEnd; i++) giveBack(this.frontierView, prev.steps[i], this.dirty, this.counters);
      prev.pendingEnd = this.steps.length;
    }
    // The caller packs into the frontier over these indexes.
    this.flush();
  }

  private flush(): void {
    if (this.dirty.size === 0) return;
    this.driverIndex.updateMany(this.dirty);
    this.executorIndex?.updateMany(this.dirty);
    this.dirty.clear();
  }

  private walkOn(n: number, nowMs: number, untilBlocker: boolean): void {
    if (this.done || this.steps.length >= n || (untilBlocker && this.blockerIndex !== undefined)) return;
    this.options.nowMs = nowMs;
    this.fromMs = Math.max(this.fromMs, nowMs);
    while (this.steps.length < n) {
      const next = this.walker.next();
      if (next.done) {
        this.done = true;
        this.previous = undefined;
        return;
      }
      const step = next.value;
      this.steps.push(step);
      const prev = this.previous;
      if (prev) {
        if (step.index < prev.limit) {
          const old = prev.steps[step.index];
          // A step that consumes otherwise than before changes what every later step sees on the nodes where it
          // uses otherwise (the order of its executors does not: only what it uses per node). The frontier still
          // holds the old step's consumption there until the pending steps end: it takes the new one's instead.
          if (consumes(old) || consumes(step)) this.swapConsumption(prev, old, step, step.index < prev.pendingEnd);
        }
        if (step.index + 1 >= prev.limit) this.previous = undefined;
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

  /** Marks the nodes where `step` uses otherwise than `old` did as changed, and (`inFrontier`) swaps them there. */
  private swapConsumption(prev: Previous, old: FifoStep, step: FifoStep, inFrontier: boolean): void {
    const was = consumes(old) ? placementUsage(shapeOf(old), old.placement!) : NO_USAGE;
    const now = consumes(step) ? placementUsage(shapeOf(step), step.placement!) : NO_USAGE;
    if (was === now) return;
    const adjust = (node: string, plus: Resources | undefined, minus: Resources | undefined) => {
      this.markChanged(prev, node);
      if (!inFrontier) return;
      this.counters.replayed++;
      const m = this.frontierView.get(node);
      if (!m) return;
      if (plus) addInto(m.available, plus);
      if (minus) subInto(m.available, minus);
      this.dirty.add(node);
    };
    for (const [node, r] of was) {
      const o = now.get(node);
      if (!o || o.cpu !== r.cpu || o.memory !== r.memory || o.gpu !== r.gpu) adjust(node, r, o);
    }
    for (const [node, r] of now) if (!was.has(node)) adjust(node, undefined, r);
  }

  /** walkFifo consuming an admitted step's placement (the step at `steps.length`, not pushed yet). */
  private consumeStep(shape: AppShape, result: PackResult): void {
    const prev = this.previous;
    // The frontier still holds the old step's consumption here: walkOn swaps it for this one's when they differ.
    if (prev && this.steps.length < prev.pendingEnd) return;
    const again = prev !== undefined && this.steps.length < prev.limit;
    for (const [node, r] of placementUsage(shape, result)) {
      if (again) this.counters.replayed++;
      const m = this.frontierView.get(node);
      if (!m) continue;
      subInto(m.available, r);
      this.dirty.add(node);
    }
  }

  /** walkFifo's pack of the step it is at: carried over from the walk before a repair when that is provably right. */
  private packStep(shape: AppShape): PackResult {
    const i = this.steps.length;
    const prev = this.previous;
    if (prev && i < prev.limit) {
      const old = prev.packs[i];
      // The changed nodes' entries in the sparse view are at least what this step sees on them.
      const carried = !old
        ? undefined
        : old.result.shortfall
          ? this.stillShort(old, prev.changed, (n) => prev.changedView.get(n)?.available)
          : this.carriable(old.reads, prev)
            ? old
            : undefined;
      if (carried) {
        this.packs[i] = carried;
        this.counters.carried++;
        return old!.result;
      }
    }
    let view: NodeMetadata;
    // The frontier holds the old steps behind this one. Either the cursor is brought to this step, or the frontier
    // gives back the old steps from here on (and the walk on consumes into it as usual): whichever replays less.
    const settle = prev && i < prev.pendingEnd ? 2 * (prev.cost[prev.pendingEnd] - prev.cost[i]) : 0;
    const advance = prev ? prev.cost[i] - prev.cost[this.cursorAt] : 0;
    if (prev && settle > Math.min(advance, this.resetCost() + prev.cost[i])) {
      if (advance > this.resetCost() + prev.cost[i]) this.resetCursor();
      this.advanceCursor(i, prev);
      view = this.cursorView;
    } else {
      if (prev && i < prev.pendingEnd) {
        for (let k = i; k < prev.pendingEnd; k++) giveBack(this.frontierView, prev.steps[k], this.dirty, this.counters);
        prev.pendingEnd = i;
      }
      this.flush();
      view = this.frontierView;
    }
    const rec = recordReads(() => this.packInto(shape, this.driverNodes, view));
    this.packs[i] = rec;
    this.counters.packed++;
    return rec.result;
  }

  /** About what `resetCursor` costs, in node entries consumed. */
  private resetCost(): number {
    return this.base.size / 8;
  }

  /** The cursor back at the start: the base, read in place, and its indexes re-read whole. */
  private resetCursor(): void {
    for (const [name, e] of this.base) {
      const c = this.cursorView.get(name)!.available;
      c.cpu = e.available.cpu;
      c.memory = e.available.memory;
      c.gpu = e.available.gpu;
    }
    this.cursorAt = 0;
    this.cursorDirty.clear();
    this.cursorDriverIndex.refresh();
    this.cursorExecutorIndex?.refresh();
  }

  /** Brings the cursor to step `i` (consuming the steps from where it stands) and its indexes up to date. */
  private advanceCursor(i: number, prev: Previous): void {
    for (; this.cursorAt < i; this.cursorAt++) {
      const st = this.steps[this.cursorAt];
      if (!consumes(st)) continue;
      take(this.cursorView, st, this.cursorDirty, this.counters);
      // The changed nodes' trees read the cursor's entries: keep them sharp.
      for (const node of st.placement!.reserved.keys()) {
        if (prev.changed.has(node)) for (const tree of prev.trees.values()) tree.update(node);
      }
    }
    if (this.cursorDirty.size === 0) return;
    this.cursorDriverIndex.updateMany(this.cursorDirty);
    this.cursorExecutorIndex?.updateMany(this.cursorDirty);
    this.cursorDirty.clear();
  }

  /**
   * Whether a pack that read `reads` returns the same when the nodes `changed` have the capacity `availableOf`
   * gives (and their new positions), everything else being as it was: it looked none of them up, and each of its
   * scans either finds no room for its request on them or stopped at a node ahead of them.
   */
  private unaffected(reads: PackReads, changed: Iterable<string>, availableOf: (name: string) => Resources): boolean {
    if (reads.all) return false;
    for (const name of changed) {
      if (reads.nodes.has(name)) return false;
      const available = availableOf(name);
      for (const scan of reads.scans) {
        if (!fits(scan.request, available)) continue;
        const index = this.orderIndex.get(scan.order);
        if (!index || scan.stoppedAt === undefined) return false;
        const at = index.positionOf(name);
        if (at === undefined) continue; // not in this order: the scan never meets it
        const stop = index.positionOf(scan.stoppedAt);
        if (stop === undefined || at < stop) return false;
      }
    }
    return true;
  }

  /**
   * For a pack that failed short of executor capacity: whether it still fails when the nodes `names` hold at most
   * what `availableOf` gives (the rest as when it was packed, or as recorded since), and then its record with their
   * capacities; undefined when they may make up the difference (it must be packed again). The strategies fit
   * exactly when the executor candidates' capacities add up to the count, and a driver on one only lowers them, so
   * a sum below the count fails wherever the driver goes.
   */
  private stillShort(p: StepPack, names: Iterable<string>, availableOf: (name: string) => Resources | undefined): StepPack | undefined {
    const s = p.result.shortfall!;
    const candidates = this.executorIndex ?? this.driverIndex;
    let over: Map<string, number> | undefined;
    let total = p.total ?? s.total;
    for (const name of names) {
      const was = p.over?.get(name) ?? s.capacities.get(name) ?? 0;
      const a = candidates.positionOf(name) !== undefined ? availableOf(name) : undefined;
      const now = a ? Math.min(s.count, nodeCapacity(a, undefined, s.executor)) : 0;
      if (now === was) continue;
      total += now - was;
      over ??= new Map(p.over);
      over.set(name, now);
    }
    if (total >= s.count) return undefined;
    return over ? { result: p.result, reads: p.reads, over, total } : p;
  }

  /**
   * `unaffected` while walking on, in O(log n) per scan however many nodes changed: a scan is unaffected when no
   * changed node with room for its request lies ahead of its stop (or anywhere in the order, for a scan that ran
   * to its end), which the index over the changed nodes answers.
   */
  private carriable(reads: PackReads, prev: Previous): boolean {
    if (reads.all) return false;
    if (prev.changed.size <= reads.nodes.size) {
      for (const name of prev.changed) if (reads.nodes.has(name)) return false;
    } else {
      for (const name of reads.nodes) if (prev.changed.has(name)) return false;
    }
    for (const scan of reads.scans) {
      const index = this.orderIndex.get(scan.order);
      const tree = index && prev.trees.get(index);
      if (!index || !tree) return false;
      const first = tree.next(0, scan.request);
      if (first < 0) continue;
      if (scan.stoppedAt === undefined) return false;
      const stop = index.positionOf(scan.stoppedAt);
      if (stop === undefined || first < stop) return false;
    }
    return true;
  }

  private markChanged(prev: Previous, name: string): void {
    if (prev.changed.has(name)) return;
    prev.changed.add(name);
    const entry = this.cursorView.get(name);
    if (!entry) return;
    prev.changedView.set(name, entry);
    for (const tree of prev.trees.values()) tree.update(name);
  }

  private deriveOrders(): void {
    const { driverPrioritizedNodeLabel: dp, executorPrioritizedNodeLabel: ep } = this.config;
    this.driverNodes = dp ? prioritizeByLabel(this.sorted, this.base, dp) : this.sorted;
    const ready = this.sorted.filter((name) => {
      const n = this.base.get(name)!;
      return !n.unschedulable && n.ready;
    });
    this.executorNodes = ep ? prioritizeByLabel(ready, this.base, ep) : ready;
  }

  /**
   * Moves an index over `view` to a new order array (rebuilding it when the order is no permutation of the old
   * one). The frontier's indexes give the positions of recorded scans.
   */
  private retarget(index: CapacityIndex, order: string[], view: NodeMetadata): CapacityIndex {
    const next = index.retarget(order) ? index : attachCapacityIndex(order, view);
    if (view !== this.frontierView) return next;
    this.orderIndex.set(order, next);
    // Scans recorded over the old array find the node positions in the new one.
    if (next !== index) this.orderIndex.set(index.order, next);
    return next;
  }

  private sortKey(name: string): NodeSortKey {
    const e = this.base.get(name)!;
    return { name, zonePriority: this.zoneRank.get(e.zone)!, available: e.available };
  }

  private indexQueue(): void {
    this.positions = new Map();
    this.queue.forEach((q, i) => this.positions.set(podKey(q.pod.namespace, q.pod.name), i));
  }
}

function copyEntry(e: NodeCapacity): NodeCapacity {
  return { ...e, available: { ...e.available } };
}

/** Subtracts what a consuming step uses per node from `view`, noting the nodes in `dirty`. */
function take(view: NodeMetadata, step: FifoStep, dirty: Set<string>, counters: WalkCounters): void {
  for (const [node, r] of placementUsage(step.shape.ok ? step.shape.value : never(), step.placement!)) {
    counters.replayed++;
    const m = view.get(node);
    if (!m) continue;
    subInto(m.available, r);
    dirty.add(node);
  }
}

/** Gives back to `view` what a step consumed (nothing when it did not), noting the nodes in `dirty`. */
function giveBack(view: NodeMetadata, step: FifoStep, dirty: Set<string>, counters: WalkCounters): void {
  if (!consumes(step)) return;
  for (const [node, r] of placementUsage(step.shape.ok ? step.shape.value : never(), step.placement!)) {
    counters.replayed++;
    const m = view.get(node);
    if (!m) continue;
    addInto(m.available, r);
    dirty.add(node);
  }
}

/** Per index k of `steps`, how many node entries the steps before k consume from. */
function consumptionCost(steps: readonly FifoStep[]): number[] {
  const out = [0];
  for (const st of steps) out.push(out[out.length - 1] + (consumes(st) ? st.placement!.reserved.size || 1 : 0));
  return out;
}

/** Whether walkFifo consumed the step's placement from the frontier. */
function consumes(step: FifoStep): boolean {
  return step.fits && step.placement !== undefined && !step.blockedBy;
}

const NO_USAGE: ReadonlyMap<string, Resources> = new Map();

function shapeOf(step: FifoStep): AppShape {
  return step.shape.ok ? step.shape.value : never();
}

function never(): never {
  throw new Error("a consuming FIFO step without a shape");
}

/** How many walks (queue × constraint) are kept; the least recently used goes first. */
const MAX_WALKS = 32;

/**
 * The walks of one engine, keyed by queue and scheduling constraint, each repaired across state changes (or
 * rebuilt when it cannot be).
 */
export class QueueWalks {
  private readonly walks = new Map<string, QueueWalk>();

  constructor(
    private readonly state: ClusterState,
    private readonly config: EngineConfig,
  ) {}

  /**
   * The walk of `driver`'s queue over `eligible` (its eligible nodes) at the current state version: continued when
   * it still holds, repaired when the state changed, else started afresh. `instanceGroupOf` and `shapeOf` are the
   * context's.
   */
  walkFor(
    driver: PodInfo,
    eligible: readonly string[],
    nowMs: number,
    instanceGroupOf: (p: PodInfo) => string,
    shapeOf: (p: PodInfo) => ReturnType<FifoWalkOptions["shapeOf"]>,
  ): QueueWalk {
    const group = instanceGroupOf(driver);
    const key = `${JSON.stringify([driver.schedulerName, group])}${constraintKey(driver)}`;
    const cached = this.walks.get(key);
    if (cached && sameNodes(cached.eligible, eligible)) {
      // The driver itself may have been observed since: a walk over a queue without it is still right for it
      // (it is placed by creation time), and a queued one knows its position.
      if (cached.holds(this.state.version, nowMs)) return this.use(key, cached);
      if (cached.version !== this.state.version) {
        const queue =
          cached.queueVersion === this.state.queueVersion ? cached.queue : driverQueue(this.state, this.config, driver, instanceGroupOf);
        if (cached.repair(nowMs, queue)) return this.use(key, cached);
      }
    }
    const queue = driverQueue(this.state, this.config, driver, instanceGroupOf);
    const walk = new QueueWalk(this.state, this.config, queue, eligible, enforceAfterMs(this.config, group), shapeOf, nowMs);
    return this.use(key, walk);
  }

  /** The counters of the walks kept now, summed (for benchmarks: a walk dropped takes its counts with it). */
  totals(): WalkCounters {
    const out: WalkCounters = { packed: 0, carried: 0, repairs: 0, replayed: 0 };
    for (const w of this.walks.values()) {
      out.packed += w.counters.packed;
      out.carried += w.counters.carried;
      out.repairs += w.counters.repairs;
      out.replayed += w.counters.replayed;
    }
    return out;
  }

  private use(key: string, walk: QueueWalk): QueueWalk {
    this.walks.delete(key);
    this.walks.set(key, walk);
    if (this.walks.size > MAX_WALKS) this.walks.delete(this.walks.keys().next().value!);
    return walk;
  }
}

function sameNodes(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
