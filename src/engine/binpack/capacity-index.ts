// An index over a node order that finds, from a position on, the next node whose `available` holds a request,
// without reading the nodes in between.
//
// Why: the packers read the candidates in priority order, and that order puts the fullest nodes first. In a busy
// cluster the front of the order is nodes with no room for anything, and a FIFO walk packs every queued driver
// over the same order: each pack re-read the same run of full nodes before it reached one with room. A max-tree
// over the order (per dimension: cpu, memory, gpu) skips every run of nodes none of which has room in some
// dimension, so a pack costs about the number of nodes it places on, times log(nodes).
//
// An index belongs to one order array and one capacity view; `capacityIndexOf` hands it to the packers only for
// that pair. It is a filter, not a verdict: a node it returns still has its real capacity computed by the packer.
// A node it skips has `available` below the request in some dimension, so no executor or driver of that request
// fits there (the reserved amounts of the app being packed only lower what is left). That holds as long as the
// view's `available` values do not grow after the index was built or last updated; lowering them (a FIFO walk
// consuming capacity) never makes the index wrong, only less sharp, and `update` sharpens it again.

import type { Resources } from "../resources.js";
import type { NodeCapacity, NodeMetadata } from "./types.js";

export class CapacityIndex {
  private readonly size: number;
  private readonly cpu: Float64Array;
  private readonly memory: Float64Array;
  private readonly gpu: Float64Array;
  /** Each name's first position; the later positions of a name listed more than once, apart (rare). */
  private readonly first = new Map<string, number>();
  private readonly repeats = new Map<string, number[]>();

  constructor(
    public order: readonly string[],
    readonly metadata: NodeMetadata,
  ) {
    let size = 1;
    while (size < order.length) size *= 2;
    this.size = size;
    this.cpu = new Float64Array(2 * size).fill(-Infinity);
    this.memory = new Float64Array(2 * size).fill(-Infinity);
    this.gpu = new Float64Array(2 * size).fill(-Infinity);
    for (let i = 0; i < order.length; i++) {
      const name = order[i];
      if (!this.first.has(name)) this.first.set(name, i);
      else {
        const more = this.repeats.get(name);
        if (more) more.push(i);
        else this.repeats.set(name, [i]);
      }
      const a = metadata.get(name)?.available;
      if (!a) continue;
      this.cpu[size + i] = a.cpu;
      this.memory[size + i] = a.memory;
      this.gpu[size + i] = a.gpu;
    }
    for (let i = size - 1; i >= 1; i--) this.pull(i);
  }

  /**
   * Moves the index to `order`, a permutation of the order it was built over (no name listed twice): only the
   * positions from the first to the last that differ are re-read, so a few nodes moving costs about the distance
   * they moved, not a rebuild. Returns false (nothing changed) when `order` is not such a permutation.
   */
  retarget(order: readonly string[]): boolean {
    if (order.length !== this.order.length || this.repeats.size > 0) return false;
    let lo = 0;
    while (lo < order.length && order[lo] === this.order[lo]) lo++;
    if (lo === order.length) {
      this.moveTo(order);
      return true;
    }
    let hi = order.length - 1;
    while (order[hi] === this.order[hi]) hi--;
    for (let p = lo; p <= hi; p++) if (this.first.get(order[p]) === undefined) return false;
    for (let p = lo; p <= hi; p++) {
      const name = order[p];
      this.first.set(name, p);
      const a = this.metadata.get(name)?.available;
      const i = this.size + p;
      this.cpu[i] = a ? a.cpu : -Infinity;
      this.memory[i] = a ? a.memory : -Infinity;
      this.gpu[i] = a ? a.gpu : -Infinity;
    }
    for (let l = (this.size + lo) >> 1, h = (this.size + hi) >> 1; l >= 1; l >>= 1, h >>= 1) {
      for (let i = l; i <= h; i++) this.pull(i);
    }
    this.moveTo(order);
    return true;
  }

  private moveTo(order: readonly string[]): void {
    const attached = indexes.get(this.metadata);
    if (attached?.get(this.order) === this) attached.delete(this.order);
    this.order = order;
    register(order, this.metadata, this);
  }

  /** The position of `name` in the order (its first one), or undefined. */
  positionOf(name: string): number | undefined {
    return this.first.get(name);
  }

  /** Re-reads every node's `available` from the view. */
  refresh(): void {
    for (let p = 0; p < this.order.length; p++) this.leaf(p, this.metadata.get(this.order[p])?.available);
    for (let i = this.size - 1; i >= 1; i--) this.pull(i);
  }

  /** Re-reads one node's `available` from the view (after it changed). */
  update(name: string): void {
    const at = this.first.get(name);
    if (at === undefined) return;
    const a = this.metadata.get(name)?.available;
    this.set(at, a);
    const more = this.repeats.get(name);
    if (more) for (const p of more) this.set(p, a);
  }

  /**
   * Re-reads several nodes: one by one when they are few, else all their leaves and then every inner node once
   * (a FIFO walk catching up on many consumed placements).
   */
  updateMany(names: Iterable<string> & { readonly size: number }): void {
    if (names.size <= 4) {
      for (const name of names) this.update(name);
      return;
    }
    // Leaves first, then their ancestors level by level, each inner node pulled once.
    let level: number[] = [];
    for (const name of names) {
      const at = this.first.get(name);
      if (at === undefined) continue;
      const a = this.metadata.get(name)?.available;
      this.leaf(at, a);
      level.push(this.size + at);
      const more = this.repeats.get(name);
      if (more) {
        for (const p of more) {
          this.leaf(p, a);
          level.push(this.size + p);
        }
      }
    }
    if (level.length * 4 > this.size) {
      for (let i = this.size - 1; i >= 1; i--) this.pull(i);
      return;
    }
    level.sort((a, b) => a - b);
    while (level.length > 0 && level[0] > 1) {
      const up: number[] = [];
      for (const i of level) {
        const parent = i >> 1;
        if (up.length === 0 || up[up.length - 1] !== parent) {
          up.push(parent);
          this.pull(parent);
        }
      }
      level = up;
    }
  }

  private leaf(p: number, a: Resources | undefined): void {
    const i = this.size + p;
    this.cpu[i] = a ? a.cpu : -Infinity;
    this.memory[i] = a ? a.memory : -Infinity;
    this.gpu[i] = a ? a.gpu : -Infinity;
  }

  private set(p: number, a: Resources | undefined): void {
    let i = this.size + p;
    this.cpu[i] = a ? a.cpu : -Infinity;
    this.memory[i] = a ? a.memory : -Infinity;
    this.gpu[i] = a ? a.gpu : -Infinity;
    for (i >>= 1; i >= 1; i >>= 1) this.pull(i);
  }

  /**
   * An index over the same order whose nodes all start with no room, over `metadata` (a view holding some of the
   * nodes): `update` gives a node its entry. Shares this index's positions, so it is only valid while this index
   * keeps its order.
   */
  sparse(metadata: NodeMetadata): CapacityIndex {
    const index = Object.create(CapacityIndex.prototype) as CapacityIndex;
    Object.assign(index, {
      order: this.order,
      metadata,
      size: this.size,
      cpu: new Float64Array(2 * this.size).fill(-Infinity),
      memory: new Float64Array(2 * this.size).fill(-Infinity),
      gpu: new Float64Array(2 * this.size).fill(-Infinity),
      first: this.first,
      repeats: this.repeats,
    });
    return index;
  }

  /** The first position ≥ `from` whose node's `available` is at least `request` in every dimension, or -1. */
  next(from: number, request: Resources): number {
    if (from >= this.order.length) return -1;
    return this.search(1, 0, this.size, from, request);
  }

  private search(i: number, lo: number, hi: number, from: number, r: Resources): number {
    if (hi <= from || this.cpu[i] < r.cpu || this.memory[i] < r.memory || this.gpu[i] < r.gpu) return -1;
    if (hi - lo === 1) return lo;
    const mid = (lo + hi) >>> 1;
    const left = this.search(2 * i, lo, mid, from, r);
    return left >= 0 ? left : this.search(2 * i + 1, mid, hi, from, r);
  }

  private pull(i: number): void {
    const l = 2 * i;
    const r = l + 1;
    this.cpu[i] = Math.max(this.cpu[l], this.cpu[r]);
    this.memory[i] = Math.max(this.memory[l], this.memory[r]);
    this.gpu[i] = Math.max(this.gpu[l], this.gpu[r]);
  }
}

/** The indexes attached per capacity view and order array (one view may have several orders, one order several views). */
const indexes = new WeakMap<NodeMetadata, WeakMap<readonly string[], CapacityIndex>>();

function register(order: readonly string[], metadata: NodeMetadata, index: CapacityIndex): void {
  let attached = indexes.get(metadata);
  if (!attached) indexes.set(metadata, (attached = new WeakMap()));
  attached.set(order, index);
}

// ---- what a pack reads ------------------------------------------------------------------------------------
// A FIFO walk kept across state versions (queue-walks.ts) carries a step over a change only when the step's pack
// provably reads nothing the change touched. The proof needs what the pack read: the nodes whose metadata it looked
// up, and each scan of an order with the request it scanned for and the node at which it stopped. A node the pack
// did not look up was either skipped by a scan (no room for its request: the index contract above, which every
// packer keeps, is that a node without room for the request changes nothing when visited) or lies behind the node
// a scan stopped at.

/** One forEachCandidate call of a recorded pack. */
export interface ScanRead {
  order: readonly string[];
  request: Resources;
  /** The node at which `visit` returned true; undefined when the scan reached the end of the order. */
  stoppedAt?: string;
}

/** What one pack read from an observed view. */
export interface PackReads {
  nodes: Set<string>;
  scans: ScanRead[];
  /** The view was iterated (or sized): the pack may depend on every node. */
  all: boolean;
}

let recording: PackReads | undefined;

/**
 * A capacity view that records, while `recordReads` runs, which nodes are looked up. Packers treat it as any
 * NodeMetadata; iterating it counts as reading every node.
 */
export class ObservedMetadata extends Map<string, NodeCapacity> {
  override get(name: string): NodeCapacity | undefined {
    if (recording) recording.nodes.add(name);
    return super.get(name);
  }

  override has(name: string): boolean {
    if (recording) recording.nodes.add(name);
    return super.has(name);
  }

  override get size(): number {
    if (recording) recording.all = true;
    return super.size;
  }

  override forEach(fn: (value: NodeCapacity, key: string, map: Map<string, NodeCapacity>) => void, thisArg?: unknown): void {
    if (recording) recording.all = true;
    super.forEach(fn, thisArg);
  }

  override entries(): MapIterator<[string, NodeCapacity]> {
    if (recording) recording.all = true;
    return super.entries();
  }

  override keys(): MapIterator<string> {
    if (recording) recording.all = true;
    return super.keys();
  }

  override values(): MapIterator<NodeCapacity> {
    if (recording) recording.all = true;
    return super.values();
  }

  override [Symbol.iterator](): MapIterator<[string, NodeCapacity]> {
    if (recording) recording.all = true;
    return super[Symbol.iterator]();
  }
}

/** Runs `fn` (one pack) and returns its result with what it read from ObservedMetadata views and scans. */
export function recordReads<T>(fn: () => T): { result: T; reads: PackReads } {
  const outer = recording;
  const reads: PackReads = { nodes: new Set(), scans: [], all: false };
  recording = reads;
  try {
    return { result: fn(), reads };
  } finally {
    recording = outer;
  }
}

/** Builds an index over `order` and `metadata` and attaches it to the pair for the packers to find. */
export function attachCapacityIndex(order: readonly string[], metadata: NodeMetadata): CapacityIndex {
  const index = new CapacityIndex(order, metadata);
  register(order, metadata, index);
  return index;
}

/** The index attached to `order` over this very capacity view. */
export function capacityIndexOf(order: readonly string[], metadata: NodeMetadata): CapacityIndex | undefined {
  return indexes.get(metadata)?.get(order);
}

/**
 * Calls `visit` with each position of `order` whose node may hold `request`, in order, until it returns true:
 * through the attached index when there is one, else every position.
 */
export function forEachCandidate(
  order: readonly string[],
  metadata: NodeMetadata,
  request: Resources,
  visit: (name: string, position: number) => boolean | void,
): void {
  const index = capacityIndexOf(order, metadata);
  const scan: ScanRead | undefined = recording ? { order, request } : undefined;
  if (scan) recording!.scans.push(scan);
  if (!index) {
    for (let i = 0; i < order.length; i++) {
      if (scan) recording!.nodes.add(order[i]);
      if (visit(order[i], i)) {
        if (scan) scan.stoppedAt = order[i];
        return;
      }
    }
    return;
  }
  for (let i = index.next(0, request); i >= 0; i = index.next(i + 1, request)) {
    if (scan) recording!.nodes.add(order[i]);
    if (visit(order[i], i)) {
      if (scan) scan.stoppedAt = order[i];
      return;
    }
  }
}
