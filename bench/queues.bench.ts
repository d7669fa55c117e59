// Issue 9's queue benchmarks, in-process on the engine:
//
//   queues   5,000 nodes (every 20th with 8 GPUs), 1,000 running apps, and 0 / 100 / 1,000 queued drivers of
//            mixed realistic shapes (mixedAppShape): a younger driver's decision, an executor bind,
//            GetQueuePosition (Engine.queuePosition, the call behind the RPC) and one unschedulable-marker pass
//            (the marker's own synchronous judging step, which calls exceedsClusterCapacity per pending driver).
//   growth   the driver decision and GetQueuePosition at 1,250 / 2,500 / 5,000 nodes × 0 / 100 / 250 / 1,000
//            queued drivers (--quick: 625 / 1,250 / 2,500 × 0 / 25 / 60 / 250), with the fitted log-log exponent
//            versus nodes and versus queue depth.
//
// The queued drivers are younger than the 10-minute enforce-after age, so none of them blocks the queue: every
// decision behind them has to account for each one (fits, and how much it consumes, or does not fit), which is
// the expensive case. Every GetQueuePosition call and marker pass follows one informer event (a non-Spark pod
// added to or removed from a random node), as in a live cluster, so nothing can be served from a result computed
// for an unchanged state.

import * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import type { Decision } from "../src/engine/decision.js";
import type { Engine } from "../src/engine/engine.js";
import { type PodInfo, podFromObject } from "../src/engine/model.js";
import type { WalkCounters } from "../src/engine/queue-walks.js";
import { UnschedulableMarker } from "../src/kube/unschedulable-marker.js";
import {
  type BenchCluster,
  DEFAULT_CLUSTER,
  NOW_MS,
  NS,
  OfferWindow,
  Rng,
  buildCluster,
  describeCluster,
  driverObject,
  feasibleNodesToFind,
  mixedAppShape,
  otherPodObject,
} from "./cluster.js";
import type { BenchContext } from "./engine.bench.js";
import { type BenchResult, Counter, Sampler, fmtMs, table } from "./stats.js";

const ENGINE_CONFIG = { binpack: "distribute-evenly", fifo: true, "fifo-config": { "default-enforce-after-pod-age": "10m" } };
/** The marker's timeout: every queued driver (created 2.3–9 minutes before "now") is a candidate. */
const MARKER_TIMEOUT_MS = 60_000;

interface QueueCluster {
  cluster: BenchCluster;
  engine: Engine;
  /** Queued (pending, unadmitted) drivers, oldest first. */
  queued: PodInfo[];
  rng: Rng;
  offers: OfferWindow;
  churn: () => void;
  marker: UnschedulableMarker;
}

function queueCluster(ctx: BenchContext, nodes: number, startingApps: number): QueueCluster {
  const cluster = buildCluster({
    ...DEFAULT_CLUSTER,
    nodes,
    apps: Math.round((1000 * nodes) / 5000),
    overheadPods: 4 * nodes,
    gpuNodeEvery: 20,
    startingApps,
    config: ENGINE_CONFIG,
  });
  ctx.log(`  cluster: ${describeCluster(cluster)}`);
  const { engine } = cluster;
  const rng = new Rng(9_000 + nodes);
  // One informer event: a small non-Spark pod appears on, or disappears from, a random node.
  let churnPod: PodInfo | undefined;
  const churn = () => {
    if (churnPod) {
      engine.state.removePod(churnPod.namespace, churnPod.name);
      churnPod = undefined;
    } else {
      const node = cluster.nodeOrder[rng.int(cluster.nodeOrder.length)];
      churnPod = podFromObject(otherPodObject("bench-churn", "services", node, "100m", "128Mi"));
      engine.state.upsertPod(churnPod);
    }
  };
  // The marker's judging step is synchronous and reads only the engine; its API client is never used here.
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "unused", server: "http://127.0.0.1:1" }],
    users: [{ name: "unused" }],
    contexts: [{ name: "unused", cluster: "unused", user: "unused" }],
    currentContext: "unused",
  });
  const marker = new UnschedulableMarker({ kc, engine, log: pino({ level: "silent" }), timeoutMs: MARKER_TIMEOUT_MS, clock: () => NOW_MS });
  return { cluster, engine, queued: [], rng, offers: new OfferWindow(cluster.nodeOrder), churn, marker };
}

/** Grows the queue to `depth` pending drivers of mixed shapes (created 9 minutes before "now", 400 ms apart). */
function growQueue(q: QueueCluster, depth: number): void {
  for (let i = q.queued.length; i < depth; i++) {
    const app = mixedAppShape(q.rng, `queued-${String(i).padStart(4, "0")}`, NOW_MS - 540_000 + i * 400);
    const pod = podFromObject(driverObject(app));
    q.engine.state.upsertPod(pod);
    q.queued.push(pod);
  }
}

/**
 * The walk work per call between two counter readings (load-independent, unlike the latencies): packs run, steps
 * carried over a repair, node entries of earlier placements replayed (queue-walks.ts).
 */
function walkWork(before: WalkCounters, after: WalkCounters, calls: number): string {
  const per = (k: keyof WalkCounters) => (calls > 0 ? Math.round((after[k] - before[k]) / calls) : 0);
  return `per call: ${per("packed")} packs, ${per("carried")} carried, ${per("replayed")} entries replayed`;
}

function undoAdmission(engine: Engine, pod: PodInfo, d: Decision): void {
  engine.rollback(d);
  engine.state.removePod(pod.namespace, pod.name);
}

interface Limits {
  iterations: number;
  maxMs: number;
  warmup: number;
}

/** A younger driver of mixed shape (the same sequence at every depth), decided and then rolled back. */
function measureDriver(q: QueueCluster, name: string, lim: Limits): BenchResult {
  const rng = new Rng(77);
  const offerSize = feasibleNodesToFind(q.cluster.options.nodes);
  const outcomes = new Counter();
  const once = (i: number, s?: Sampler) => {
    const pod = podFromObject(driverObject(mixedAppShape(rng, `young-${i}`, NOW_MS - 1_000)));
    const offered = q.offers.next(offerSize);
    s?.start();
    const d = q.engine.filter(pod, offered, NOW_MS);
    const ms = s?.stop();
    if (s) outcomes.add(d.outcome, ms);
    undoAdmission(q.engine, pod, d);
  };
  for (let i = 0; i < lim.warmup; i++) once(-1 - i);
  const s = new Sampler(lim);
  for (let i = 0; s.more(); i++) once(i, s);
  return s.result(name, `${outcomes}; offered ${offerSize} nodes`);
}

/** GetQueuePosition of a pending driver younger than every queued one, each call after one informer event. */
function measureQueuePosition(q: QueueCluster, name: string, lim: Limits): BenchResult {
  const probe = podFromObject(
    driverObject({ appId: "probe", namespace: NS, driverCpu: "2", driverMem: "8Gi", executorCpu: "4", executorMem: "16Gi", executors: 20, createdAtMs: NOW_MS - 1_000 }),
  );
  q.engine.state.upsertPod(probe);
  let position = 0;
  let reason = "";
  const once = (s?: Sampler) => {
    q.churn();
    s?.start();
    const r = q.engine.queuePosition(NS, probe.name, NOW_MS);
    s?.stop();
    if (!r.ok) throw new Error(`bench bug: ${r.error}`);
    position = r.value.position;
    reason = r.value.reason;
  };
  for (let i = 0; i < lim.warmup; i++) once();
  const s = new Sampler(lim);
  const before = q.engine.ctx.queueWalks.totals();
  let calls = 0;
  while (s.more()) {
    once(s);
    calls++;
  }
  q.engine.state.removePod(probe.namespace, probe.name);
  return s.result(name, `position ${position} (${reason}); ${walkWork(before, q.engine.ctx.queueWalks.totals(), calls)}`);
}

/** Executor binds of admitted apps (interleaved across apps), each offered 99 random nodes + its slot's node. */
function measureExecutors(q: QueueCluster, apps: BenchCluster["startingApps"], name: string, lim: Limits): BenchResult {
  const all = q.cluster.nodeOrder;
  const work: { pod: PodInfo; offered: string[] }[] = [];
  const perApp = Math.max(0, ...apps.map((a) => a.executors.length));
  for (let k = 0; k < perApp; k++) {
    for (const a of apps) {
      if (k >= a.executors.length) continue;
      const offered = Array.from({ length: 99 }, () => all[q.rng.int(all.length)]);
      offered.splice(q.rng.int(100), 0, a.slotNodes[k]);
      work.push({ pod: a.executors[k], offered });
    }
  }
  const outcomes = new Counter();
  const bind = (w: (typeof work)[number], d: Decision) => {
    if (!d.outcome.startsWith("success")) return;
    const current = q.engine.state.getPod(w.pod.namespace, w.pod.name) ?? w.pod;
    q.engine.state.upsertPod({ ...current, nodeName: d.node!, phase: "Running" });
  };
  let i = 0;
  for (; i < Math.min(lim.warmup, work.length); i++) bind(work[i], q.engine.filter(work[i].pod, work[i].offered, NOW_MS));
  const s = new Sampler(lim);
  for (; i < work.length && s.more(); i++) {
    s.start();
    const d = q.engine.filter(work[i].pod, work[i].offered, NOW_MS);
    outcomes.add(d.outcome, s.stop());
    bind(work[i], d);
  }
  return s.result(name, `${outcomes}`);
}

/** One unschedulable-marker pass over every pending driver older than the marker timeout. */
function measureMarker(q: QueueCluster, name: string, lim: Limits): BenchResult {
  let verdicts: { exceeds: boolean }[] = [];
  const s = new Sampler(lim);
  const before = q.engine.ctx.queueWalks.totals();
  let calls = 0;
  while (s.more()) {
    q.churn();
    s.start();
    // The marker's judging step (private): the synchronous part of a pass, before its condition writes.
    verdicts = q.marker["judge"](NOW_MS);
    s.stop();
    calls++;
  }
  const work = walkWork(before, q.engine.ctx.queueWalks.totals(), calls);
  return s.result(name, `${verdicts.length} drivers judged, ${verdicts.filter((v) => v.exceeds).length} exceed the cluster's capacity; ${work}`);
}

// ---- queues ----------------------------------------------------------------------------------------------

export function benchQueues(ctx: BenchContext): void {
  const depths = [0, 100, 1000];
  const execPerDepth = ctx.quick ? 4 : 10; // apps of 50 executors
  const q = queueCluster(ctx, 5000, execPerDepth * depths.length);
  ctx.log(
    `queues/*: ${depths.join(" / ")} queued drivers of mixed shapes (driver 1–8 cpu, 2–32 GiB; 2–200 executors of 1–8 cpu, ` +
      `4–64 GiB; 1 in 10 with 1–2 GPUs per executor), all younger than the 10m enforce-after age; probes are younger still`,
  );
  depths.forEach((depth, di) => {
    // --quick: no warm-up behind a deep queue (one call may take seconds on an engine that walks the queue).
    const budget = (iterations: number, maxMs: number, warmup = 2): Limits =>
      ctx.quick ? { iterations: Math.max(3, Math.ceil(iterations / 5)), maxMs: maxMs / 4, warmup: depth > 100 ? 0 : 1 } : { iterations, maxMs, warmup };
    growQueue(q, depth);
    const pre = `queues/q=${depth}`;
    ctx.report(measureDriver(q, `${pre}/driver-decision`, budget(100, 10_000)));
    const apps = q.cluster.startingApps.slice(di * execPerDepth, (di + 1) * execPerDepth);
    ctx.report(measureExecutors(q, apps, `${pre}/executor-bind`, { ...budget(execPerDepth * 50 - 50, 5_000), warmup: ctx.quick ? 20 : 50 }));
    ctx.report(measureQueuePosition(q, `${pre}/queue-position`, budget(100, 10_000)));
    ctx.report(measureMarker(q, `${pre}/marker-pass`, budget(10, 10_000, 0)));
  });
}

// ---- growth ----------------------------------------------------------------------------------------------

/** Least-squares slope of log(y) against log(x): the exponent k of y ∝ x^k. */
export function logLogSlope(points: readonly { x: number; y: number }[]): number {
  const pts = points.filter((p) => p.x > 0 && p.y > 0).map((p) => ({ x: Math.log(p.x), y: Math.log(p.y) }));
  if (pts.length < 2) return NaN;
  const mx = pts.reduce((a, p) => a + p.x, 0) / pts.length;
  const my = pts.reduce((a, p) => a + p.y, 0) / pts.length;
  let num = 0;
  let den = 0;
  for (const p of pts) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

export function benchGrowth(ctx: BenchContext): void {
  // --quick: the same shape of grid at a quarter of the sizes (the full sizes take minutes on a walking engine).
  const nodeCounts = ctx.quick ? [625, 1250, 2500] : [1250, 2500, 5000];
  const depths = ctx.quick ? [0, 25, 60, 250] : [0, 100, 250, 1000];
  const top = depths[depths.length - 1];
  const lim: Limits = ctx.quick ? { iterations: 5, maxMs: 1_500, warmup: 1 } : { iterations: 30, maxMs: 6_000, warmup: 2 };
  ctx.log(
    `growth/*: p50 of the driver decision and of GetQueuePosition (as in queues/*) at ${nodeCounts.join(" / ")} nodes ` +
      `(running apps and overhead pods scaled with the nodes) × ${depths.join(" / ")} queued drivers`,
  );
  const p50 = { driver: new Map<string, number>(), position: new Map<string, number>() };
  const key = (n: number, d: number) => `${n}/${d}`;
  for (const nodes of nodeCounts) {
    const q = queueCluster(ctx, nodes, 0);
    for (const depth of depths) {
      growQueue(q, depth);
      const l = ctx.quick && depth > 0 ? { ...lim, warmup: 0 } : lim;
      const rd = measureDriver(q, `growth/nodes=${nodes}/q=${depth}/driver-decision`, l);
      const rq = measureQueuePosition(q, `growth/nodes=${nodes}/q=${depth}/queue-position`, l);
      ctx.report(rd);
      ctx.report(rq);
      p50.driver.set(key(nodes, depth), rd.p50Ms);
      p50.position.set(key(nodes, depth), rq.p50Ms);
    }
  }
  for (const [what, m] of [["driver decision", p50.driver], ["GetQueuePosition", p50.position]] as const) {
    const rows = depths.map((d) => [String(d), ...nodeCounts.map((n) => fmtMs(m.get(key(n, d))!))]);
    ctx.log(`  ${what} p50 (ms), queue depth × nodes:`);
    ctx.log(table(["queue", ...nodeCounts.map(String)], rows, [true, ...nodeCounts.map(() => true)]).replace(/^/gm, "    "));
    const vsNodes = depths.map((d) => `q=${d}: ${logLogSlope(nodeCounts.map((n) => ({ x: n, y: m.get(key(n, d))! }))).toFixed(2)}`);
    const nonZero = depths.filter((d) => d > 0);
    const vsDepth = nodeCounts.map(
      (n) => `${n} nodes: ${logLogSlope(nonZero.map((d) => ({ x: d, y: m.get(key(n, d))! }))).toFixed(2)}`,
    );
    ctx.log(`  ${what}: exponent versus nodes (log-log slope over ${nodeCounts.join("/")}) — ${vsNodes.join(", ")}`);
    ctx.log(`  ${what}: exponent versus queue depth (log-log slope over ${nonZero.join("/")}) — ${vsDepth.join(", ")}`);
    const perQueued = nodeCounts.map((n) => {
      const extra = (m.get(key(n, top))! - m.get(key(n, 0))!) / top;
      return `${n} nodes: ${fmtMs(extra * 1000)} µs`;
    });
    ctx.log(`  ${what}: added cost per queued driver ((q=${top} − q=0) / ${top}) — ${perQueued.join(", ")}`);
  }
}
