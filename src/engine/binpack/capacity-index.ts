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
import type { NodeMetadata } from "./types.js";

export class CapacityIndex {
  private readonly size: number;
  private readonly cpu: Float64Array;
  private readonly memory: Float64Array;
  private readonly gpu: Float64Array;
  /** Each name's first position; the later positions of a name listed more than once, apart (rare). */
  private readonly first = new Map<string, number>();
  private readonly repeats = new Map<string, number[]>();

  constructor(
    readonly order: readonly string[],
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

  /** Re-reads one node's `available` from the view (after it changed). */
  update(name: string): void {
    const at = this.first.get(name);
    if (at === undefined) return;
    const a = this.metadata.get(name)?.available;
    for (const p of [at, ...(this.repeats.get(name) ?? [])]) {
      let i = this.size + p;
      this.cpu[i] = a ? a.cpu : -Infinity;
      this.memory[i] = a ? a.memory : -Infinity;
      this.gpu[i] = a ? a.gpu : -Infinity;
      for (i >>= 1; i >= 1; i >>= 1) this.pull(i);
    }
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

const indexes = new WeakMap<readonly string[], CapacityIndex>();

/** Builds an index over `order` and `metadata` and attaches it to the order array for the packers to find. */
export function attachCapacityIndex(order: readonly string[], metadata: NodeMetadata): CapacityIndex {
  const index = new CapacityIndex(order, metadata);
  indexes.set(order, index);
  return index;
}

/** The index attached to `order`, when it was built over this very capacity view. */
export function capacityIndexOf(order: readonly string[], metadata: NodeMetadata): CapacityIndex | undefined {
  const index = indexes.get(order);
  return index && index.metadata === metadata ? index : undefined;
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
  if (!index) {
    for (let i = 0; i < order.length; i++) if (visit(order[i], i)) return;
    return;
  }
  for (let i = index.next(0, request); i >= 0; i = index.next(i + 1, request)) if (visit(order[i], i)) return;
}
