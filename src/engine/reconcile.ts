// Reconciliation after gaining leadership (reference §8): makes the reservations account for every running
// Spark pod of this scheduler, so that a new leader does not hand out capacity that running pods already use.
// Pure: no I/O, time is an argument; like a decision, the returned writes are already applied to the state
// and must be persisted (or rolled back) by the caller.
//
// For every application with running pods (bound to a node, not terminated, not being deleted) that no
// reservation or soft reservation accounts for:
//  (a) it has a reservation: each such executor takes an unbound executor slot on its own node; failing that, any
//      other unbound executor slot, moved to its node (as compaction does). Never the driver slot.
//  (b) it has none but its driver runs: the reservation is rebuilt from the driver's shape. The first
//      min(#executors, min) running executors get slots on their current nodes, already bound; the remaining
//      slots are placed on eligible nodes with free capacity, one executor at a time (pickExecutorNode against a
//      capacity view that already counts every earlier placement).
//  (c) executors left over: under dynamic allocation they get soft reservations on their nodes, up to max − min.
// Every running dynamic-allocation driver with a reservation also gets its (possibly empty) soft-reservation
// entry, so that later extra executors can be placed.
//
// Deviations from the reference (§8, §7.9, §14.2 items 7, 8, 15): pods are keyed by namespace + name (the
// reference matched pod names across namespaces and app ids loosely); the driver slot is never given to an
// executor; placement does not over-subtract a phantom executor; an application whose driver cannot be found
// is reported instead of crashing; executors that cannot take a slot on their own node may take a free slot
// elsewhere instead of leaving it reserved and idle; everything is processed in a deterministic order.

import type { AppShape } from "./app-shape.js";
import { pickExecutorNode } from "./binpack/index.js";
import { buildMetadata } from "./capacity-view.js";
import type { EngineContext } from "./context.js";
import type { ReservationWrite } from "./decision.js";
import { newReservation } from "./driver.js";
import { isUnbound } from "./executor.js";
import { type PodInfo, podKey } from "./model.js";
import { orderNodes, zoneOf } from "./node-order.js";
import { type Reservation, cloneReservation, executorSlotName, executorSlots } from "./reservation.js";
import { subInto } from "./resources.js";
import { classifyPod } from "./spark-pods.js";

export interface ReconcileProblem {
  namespace: string;
  appId: string;
  message: string;
}

export interface ReconcileReport {
  /** Reservation writes to persist, in order (at most one per application). Already applied to the state. */
  writes: ReservationWrite[];
  /** Executors given a soft reservation (in memory only). */
  softAdded: { namespace: string; appId: string; pod: string }[];
  /** Running pods that could not be accounted for, with the reason. */
  problems: ReconcileProblem[];
}

interface RunningApp {
  namespace: string;
  appId: string;
  drivers: PodInfo[];
  executors: PodInfo[];
}

export function reconcile(ctx: EngineContext, nowMs: number): ReconcileReport {
  const report: ReconcileReport = { writes: [], softAdded: [], problems: [] };
  ensureSoftEntries(ctx);
  for (const app of unaccountedApps(ctx)) {
    const problem = (message: string) => report.problems.push({ namespace: app.namespace, appId: app.appId, message });
    const existing = ctx.state.getReservation(app.namespace, app.appId);
    let extras: PodInfo[];
    if (existing) {
      for (const d of app.drivers) problem(`driver ${d.name} runs, but the reservation belongs to driver ${existing.driverPod}`);
      extras = bindExecutors(ctx, existing, app.executors, report);
    } else if (app.drivers.length === 1) {
      const rebuilt = rebuild(ctx, app, app.drivers[0], nowMs, report, problem);
      if (!rebuilt) continue;
      extras = rebuilt;
    } else {
      problem(
        app.drivers.length === 0
          ? `${app.executors.length} executor(s) run, but the application has no reservation and no running driver`
          : `${app.drivers.length} running drivers share this application id; cannot rebuild its reservation`,
      );
      continue;
    }
    softReserve(ctx, app, extras, report, problem);
  }
  return report;
}

/** Running pods of this scheduler that no reservation or soft reservation accounts for, grouped by app. */
function unaccountedApps(ctx: EngineContext): RunningApp[] {
  const { state, config } = ctx;
  const claimed = new Set<string>();
  for (const r of state.reservations.values()) {
    if (r.driverPod) claimed.add(podKey(r.namespace, r.driverPod));
    for (const pod of r.pods.values()) claimed.add(podKey(r.namespace, pod));
  }
  for (const s of state.soft.values()) {
    for (const pod of s.executors.keys()) claimed.add(podKey(s.namespace, pod));
  }
  const apps = new Map<string, RunningApp>();
  for (const [key, p] of state.pods) {
    if (!running(p) || p.schedulerName !== config.schedulerName || claimed.has(key)) continue;
    const id = classifyPod(p);
    if (!id.ok) continue;
    const appKey = podKey(p.namespace, id.value.appId);
    let app = apps.get(appKey);
    if (!app) apps.set(appKey, (app = { namespace: p.namespace, appId: id.value.appId, drivers: [], executors: [] }));
    (id.value.role === "driver" ? app.drivers : app.executors).push(p);
  }
  const byAge = (a: PodInfo, b: PodInfo) => a.createdAtMs - b.createdAtMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return [...apps.keys()].sort().map((k) => {
    const app = apps.get(k)!;
    app.drivers.sort(byAge);
    app.executors.sort(byAge);
    return app;
  });
}

function running(p: PodInfo): boolean {
  return p.nodeName !== "" && !p.terminated && !p.deleting;
}

/** (a) Binds executors to unbound slots of their application's reservation; returns those left over. */
function bindExecutors(ctx: EngineContext, r: Reservation, executors: PodInfo[], report: ReconcileReport): PodInfo[] {
  const next = cloneReservation(r);
  const unboundSlots = () => executorSlots(next).filter((s) => isUnbound(ctx, next, s));
  const left: PodInfo[] = [];
  for (const e of executors) {
    const slot = unboundSlots().find((s) => next.slots.get(s)!.node === e.nodeName);
    if (slot) next.pods.set(slot, e.name);
    else left.push(e);
  }
  const extras: PodInfo[] = [];
  for (const e of left) {
    const slot = unboundSlots()[0];
    if (!slot) {
      extras.push(e);
      continue;
    }
    next.pods.set(slot, e.name);
    next.slots.get(slot)!.node = e.nodeName;
  }
  if (extras.length < executors.length) {
    ctx.state.putReservation(next);
    report.writes.push({ op: "update", reservation: next, previous: r });
  }
  return extras;
}

/** (b) Rebuilds the reservation of a running driver; returns the executors beyond its minimum. */
function rebuild(
  ctx: EngineContext,
  app: RunningApp,
  driver: PodInfo,
  nowMs: number,
  report: ReconcileReport,
  problem: (message: string) => void,
): PodInfo[] | undefined {
  const shape = ctx.shape(driver);
  if (!shape.ok) {
    problem(`cannot rebuild the reservation of running driver ${driver.name}: ${shape.error}`);
    return undefined;
  }
  const { minExecutors } = shape.value;
  const bound = app.executors.slice(0, Math.min(app.executors.length, minExecutors));
  const boundNodes = bound.map((e) => e.nodeName);
  const build = (executorNodes: string[]) => {
    const r = newReservation(
      driver,
      app.appId,
      shape.value,
      { driverNode: driver.nodeName, executorNodes, reserved: new Map(), hasCapacity: true },
      nowMs,
    );
    bound.forEach((e, i) => r.pods.set(executorSlotName(i + 1), e.name));
    return r;
  };
  // The running pods' reservation first, so that the capacity view below no longer counts them as overhead.
  ctx.state.putReservation(build(boundNodes));
  const missing = minExecutors - bound.length;
  const placed = missing > 0 ? placeExecutors(ctx, driver, shape.value, missing, new Set(boundNodes)) : [];
  if (placed.length < missing) {
    problem(`only ${placed.length} of ${missing} unstarted executor slot(s) fit to the cluster; the reservation has fewer slots`);
  }
  const reservation = build([...boundNodes, ...placed]);
  ctx.state.putReservation(reservation);
  report.writes.push({ op: "create", reservation });
  return app.executors.slice(bound.length);
}

/** Nodes for `count` executors of the driver's application, one at a time, each counted before the next. */
function placeExecutors(ctx: EngineContext, driver: PodInfo, shape: AppShape, count: number, appNodes: Set<string>): string[] {
  const { state, config } = ctx;
  let candidates = ctx.eligibleNodes(driver);
  if (config.binpack.singleAz) {
    const zone = zoneOf(state.nodes.get(driver.nodeName)?.labels);
    candidates = candidates.filter((n) => zoneOf(state.nodes.get(n)!.labels) === zone);
  }
  const metadata = buildMetadata(state, candidates);
  const { executorNodes } = orderNodes(metadata, [], { executorPriority: config.executorPrioritizedNodeLabel });
  const options = { minimalFragmentation: config.binpack.name === "single-az-minimal-fragmentation", appNodes };
  const placed: string[] = [];
  while (placed.length < count) {
    const node = pickExecutorNode(shape.executor, executorNodes, metadata, options);
    if (!node) break;
    subInto(metadata.get(node)!.available, shape.executor);
    appNodes.add(node);
    placed.push(node);
  }
  return placed;
}

/** (c) Soft reservations for executors beyond the reservation, under dynamic allocation, up to max − min. */
function softReserve(
  ctx: EngineContext,
  app: RunningApp,
  extras: PodInfo[],
  report: ReconcileReport,
  problem: (message: string) => void,
): void {
  if (extras.length === 0) return;
  const { state } = ctx;
  const driver = state.findDriver(app.namespace, app.appId);
  const shape = driver ? ctx.shape(driver) : undefined;
  if (!shape?.ok) {
    const why = shape ? shape.error : "its driver cannot be found";
    problem(`${extras.length} executor(s) run beyond the reservation and cannot get soft reservations: ${why}`);
    return;
  }
  const { minExecutors, maxExecutors, executor } = shape.value;
  const soft = maxExecutors > minExecutors ? state.ensureSoft(app.namespace, app.appId, maxExecutors - minExecutors) : undefined;
  for (const e of extras) {
    if (soft && soft.executors.size < soft.maxExtra) {
      state.addSoft(app.namespace, app.appId, e.name, { node: e.nodeName, resources: { ...executor } });
      if (soft.executors.has(e.name)) {
        report.softAdded.push({ namespace: app.namespace, appId: app.appId, pod: e.name });
        continue;
      }
    }
    const limit = soft ? `all ${soft.maxExtra} soft reservations are taken` : "the application has no dynamic allocation";
    problem(`executor ${e.name} runs beyond the reservation (${limit}); counted as overhead`);
  }
}

/** An (empty) soft-reservation entry for every running, admitted dynamic-allocation driver of this scheduler. */
function ensureSoftEntries(ctx: EngineContext): void {
  const { state, config } = ctx;
  for (const key of [...state.drivers].sort()) {
    const p = state.pods.get(key);
    if (!p || !running(p) || p.schedulerName !== config.schedulerName) continue;
    const id = classifyPod(p);
    if (!id.ok || !state.getReservation(p.namespace, id.value.appId)) continue;
    const shape = ctx.shape(p);
    if (shape.ok && shape.value.maxExecutors > shape.value.minExecutors) {
      state.ensureSoft(p.namespace, id.value.appId, shape.value.maxExecutors - shape.value.minExecutors);
    }
  }
}
