// Would an application fit the cluster if no Spark work were running (reference §9,
// DoesPodExceedClusterCapacity)? The unschedulable marker flags drivers for which the answer is no.
//
// - Candidate nodes: every node matching the driver's nodeSelector and required node affinity. Like the reference,
//   no Ready / cordon / taint filter: the question is about the cluster's shape, not its momentary health.
//   Nodes are taken in name order (the reference used lister order; ours is deterministic).
// - Usage: none. Reservations and soft reservations are ignored.
// - Overhead: only bound, live pods that are not spark-scheduler pods and hold no reservation.
// - Packing: the configured packer, driver and executor candidates both equal to the nodes, min executors.
//
// Pure: reads the state and changes nothing. The empty-cluster views are kept and caught up with the nodes each
// state change touched.

import type { AppShape } from "./app-shape.js";
import { type CapacityIndex, ObservedMetadata, type PackReads, attachCapacityIndex, recordReads } from "./binpack/capacity-index.js";
import type { NodeCapacity } from "./binpack/types.js";
import { sameNodeCapacity } from "./capacity-view.js";
import type { EngineContext } from "./context.js";
import { nodeMatchesPodSelectors, selectorKey } from "./eligibility.js";
import type { NodeInfo, PodInfo } from "./model.js";
import { zoneOf } from "./node-order.js";
import { fits, sub } from "./resources.js";
import type { ClusterState } from "./state.js";

/** True when the application cannot fit even on an empty cluster (counting non-Spark overhead only). */
export function exceedsClusterCapacity(ctx: EngineContext, driver: PodInfo, shape: AppShape): boolean {
  const view = emptyClusterView(ctx, driver);
  // Drivers of one shape get one verdict, kept while the nodes its pack read stay as they were.
  const key = shapeKey(shape);
  const known = view.verdicts.get(key);
  if (known) return !known.fits;
  const { names, metadata } = view;
  const { result, reads } = recordReads(() =>
    ctx.config.binpack.pack(shape.driver, shape.executor, shape.minExecutors, names, names, metadata),
  );
  if (view.verdicts.size >= MAX_VERDICTS) view.verdicts.clear();
  view.verdicts.set(key, { fits: result.hasCapacity, reads });
  return !result.hasCapacity;
}

const shapeKeys = new WeakMap<AppShape, string>();

/** What sizes an application's pack, as a key (kept per shape object: the context keeps one per pod object). */
function shapeKey(shape: AppShape): string {
  let key = shapeKeys.get(shape);
  if (key === undefined) shapeKeys.set(shape, (key = JSON.stringify([shape.driver, shape.executor, shape.minExecutors])));
  return key;
}

/** Verdicts kept per view (distinct application shapes). */
const MAX_VERDICTS = 10_000;

interface EmptyClusterView {
  names: string[];
  metadata: ObservedMetadata;
  index: CapacityIndex;
  /** Pack verdicts by shape, with what each pack read (dropped when a node it depends on changes). */
  verdicts: Map<string, { fits: boolean; reads: PackReads }>;
}

interface Views {
  nodesVersion: number;
  schedulerName: string;
  binpack: string;
  /** The state version and journal position the views were brought to. */
  version: number;
  journalAt: number;
  byConstraint: Map<string, EmptyClusterView>;
}

const views = new WeakMap<ClusterState, Views>();

/**
 * The empty cluster as `driver`'s node constraints see it, shared by every driver with the same constraints (the
 * unschedulable marker asks for each pending driver in one pass). The packers never change the view they are
 * given, so one view with its capacity index serves them all. Kept across state versions: the nodes the state's
 * journal names as touched are re-read (their overhead may have changed), the rest stays; a change of the node
 * set rebuilds.
 */
export function emptyClusterView(ctx: EngineContext, driver: PodInfo): EmptyClusterView {
  const { state, config } = ctx;
  let m = views.get(state);
  const touched = m && m.version !== state.version ? state.touchedSince(m.journalAt) : [];
  if (!m || m.nodesVersion !== state.nodesVersion || m.schedulerName !== config.schedulerName || m.binpack !== config.binpack.name || !touched) {
    m = { nodesVersion: state.nodesVersion, schedulerName: config.schedulerName, binpack: config.binpack.name, version: state.version, journalAt: state.journalEnd, byConstraint: new Map() };
    views.set(state, m);
  } else if (m.version !== state.version) {
    const names = new Set(touched);
    for (const view of m.byConstraint.values()) {
      const changed: NodeCapacity[] = [];
      for (const name of names) {
        const old = view.metadata.get(name);
        if (!old) continue;
        const now = emptyNodeEntry(state, state.nodes.get(name)!, config.schedulerName);
        if (sameNodeCapacity(old, now)) continue;
        view.metadata.set(name, now);
        view.index.update(name);
        changed.push(now);
      }
      if (changed.length > 0) {
        for (const [key, v] of view.verdicts) if (affected(v.reads, changed, view.index)) view.verdicts.delete(key);
      }
    }
    m.version = state.version;
    m.journalAt = state.journalEnd;
  }
  const key = selectorKey(driver);
  const cached = m.byConstraint.get(key);
  if (cached) return cached;
  const nodes = [...state.nodes.values()]
    .filter((n) => nodeMatchesPodSelectors(driver, n).ok)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const metadata = new ObservedMetadata();
  for (const node of nodes) metadata.set(node.name, emptyNodeEntry(state, node, config.schedulerName));
  const names = nodes.map((n) => n.name);
  const view = { names, metadata, index: attachCapacityIndex(names, metadata), verdicts: new Map() };
  m.byConstraint.set(key, view);
  return view;
}

/**
 * Whether a pack that read `reads` over this view may return otherwise now that the `changed` nodes have their
 * new entries (the order, by name, is the same): it looked one up, or one of its scans finds room on one that lies
 * ahead of where the scan stopped (the rule of queue-walks.ts).
 */
function affected(reads: PackReads, changed: readonly NodeCapacity[], index: CapacityIndex): boolean {
  if (reads.all) return true;
  for (const node of changed) {
    if (reads.nodes.has(node.name)) return true;
    for (const scan of reads.scans) {
      if (!fits(scan.request, node.available)) continue;
      if (scan.order !== index.order || scan.stoppedAt === undefined) return true;
      if (index.positionOf(node.name)! < index.positionOf(scan.stoppedAt)!) return true;
    }
  }
  return false;
}

/**
 * A node of the empty cluster: allocatable minus the requests of bound, live pods that hold no reservation and are
 * not scheduled by `schedulerName` (the state's overhead without the part of that scheduler's own pods).
 */
function emptyNodeEntry(state: ClusterState, node: NodeInfo, schedulerName: string): NodeCapacity {
  const o = state.overheadOn(node.name);
  const own = state.overheadOfScheduler(schedulerName, node.name);
  const schedulable = sub(node.allocatable, own ? sub(o, own) : o);
  return {
    name: node.name,
    available: schedulable,
    schedulable: { ...schedulable },
    zone: zoneOf(node.labels),
    labels: node.labels,
    unschedulable: node.unschedulable,
    ready: node.ready,
  };
}
