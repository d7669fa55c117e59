// In-process benchmarks of Engine.filter (scenarios 1–4): driver admission, executor binding, FIFO with a deep
// queue, and one large application. Each prints one result line per variant, plus a phase profile built from the
// engine's exported functions so that slow numbers come with the place where the time goes.

import type { AppShape } from "../src/engine/app-shape.js";
import { computeEfficiencies } from "../src/engine/binpack/efficiency.js";
import { nodeCapacity } from "../src/engine/binpack/index.js";
import { buildMetadata } from "../src/engine/capacity-view.js";
import { compactSoftReservations } from "../src/engine/compaction.js";
import { configFromObject } from "../src/config.js";
import type { Decision } from "../src/engine/decision.js";
import { planApplication } from "../src/engine/driver.js";
import { Engine } from "../src/engine/engine.js";
import { unboundSlotsByNode } from "../src/engine/executor.js";
import { driverQueue, enforceAfterMs, fitEarlierDrivers } from "../src/engine/fifo.js";
import { type PodInfo, podFromObject } from "../src/engine/model.js";
import { orderNodes } from "../src/engine/node-order.js";
import { cloneReservation, executorSlots } from "../src/engine/reservation.js";
import { parseCpu, parseMemory } from "../src/engine/resources.js";
import {
  type AppSpec,
  type BenchCluster,
  DEFAULT_CLUSTER,
  IG,
  IG_LABEL,
  NOW_MS,
  NS,
  OfferWindow,
  Rng,
  buildCluster,
  describeCluster,
  driverObject,
  feasibleNodesToFind,
} from "./cluster.js";
import { type BenchResult, Counter, Sampler, fmtInt, fmtMs, median, medianMs, timed } from "./stats.js";

export interface BenchContext {
  quick: boolean;
  log: (line: string) => void;
  /** Every result line is also collected here for the summary table. */
  report: (r: BenchResult) => void;
}

/** Driver admission p50 above this gets a "SLOW" flag (the brief's threshold). */
const SLOW_ADMISSION_MS = 50;

const NODES = 5000;

function clusterFor(ctx: BenchContext, config: Record<string, unknown>, extra: Partial<typeof DEFAULT_CLUSTER> = {}): BenchCluster {
  const c = buildCluster({ ...DEFAULT_CLUSTER, nodes: NODES, ...extra, config });
  ctx.log(`  cluster: ${describeCluster(c)}`);
  return c;
}

/** Binds a pod to the node it was given, as kube-scheduler (and the test harness) would. */
function bindPod(engine: Engine, pod: PodInfo, node: string): void {
  const current = engine.state.getPod(pod.namespace, pod.name) ?? pod;
  engine.state.upsertPod({ ...current, nodeName: node, phase: "Running" });
}

/** Undoes an admission and forgets the driver pod, so that the next iteration sees the same state. */
function undoAdmission(engine: Engine, pod: PodInfo, d: Decision): void {
  engine.rollback(d);
  engine.state.removePod(pod.namespace, pod.name);
}

function etlApp(appId: string, executors: number, createdAtMs: number): AppSpec {
  // AWS EMR-on-EKS TPC-DS shape (spec §6): driver 4c/6Gi, executors 4c/8Gi.
  return { appId, namespace: NS, driverCpu: "4", driverMem: "6Gi", executorCpu: "4", executorMem: "8Gi", executors, createdAtMs };
}

function shapeOf(engine: Engine, pod: PodInfo): AppShape {
  const s = engine.ctx.shape(pod);
  if (!s.ok) throw new Error(`bench bug: ${s.error}`);
  return s.value;
}

/**
 * Times the phases of planApplication separately (median of `reps`), with the driver pod present in the state
 * as Engine.filter leaves it. Returns a one-line profile.
 */
function profileDriverPhases(engine: Engine, pod: PodInfo, offered: readonly string[], reps: number): { line: string; explainedMs: number } {
  const { state, ctx, config } = engine;
  state.upsertPod(pod);
  const shape = shapeOf(engine, pod);
  const eligible = ctx.eligibleNodes(pod);
  const eligibleSet = new Set(eligible);
  const driverCandidates = offered.filter((n) => eligibleSet.has(n));
  const tEligible = medianMs(reps, () => ctx.eligibleNodes(pod));
  const tOverhead = medianMs(reps, () => {
    state.upsertPod(pod); // what every filter call does: invalidates the overhead cache
    state.overhead();
  });
  const tMetadata = medianMs(reps, () => buildMetadata(state, eligible));
  const metadata = buildMetadata(state, eligible);
  const tOrder = medianMs(reps, () =>
    orderNodes(metadata, driverCandidates, {
      driverPriority: config.driverPrioritizedNodeLabel,
      executorPriority: config.executorPrioritizedNodeLabel,
    }),
  );
  const { driverNodes, executorNodes } = orderNodes(metadata, driverCandidates);
  const tPack = medianMs(reps, () =>
    config.binpack.pack(shape.driver, shape.executor, shape.minExecutors, driverNodes, executorNodes, metadata),
  );
  const tEff = medianMs(reps, () => computeEfficiencies(metadata, new Map()));
  const tQueue = config.fifo ? medianMs(reps, () => driverQueue(state, config, pod, (p) => ctx.instanceGroup(p))) : 0;
  const tPlan = medianMs(reps, () => planApplication(ctx, pod, shape, offered, NOW_MS, config.fifo));
  const tCompaction = medianMs(reps, () => compactSoftReservations(ctx));
  state.removePod(pod.namespace, pod.name);
  state.overhead();
  const parts = [
    `compactSoftReservations ${fmtMs(tCompaction)}`,
    `eligibleNodes ${fmtMs(tEligible)}`,
    `state.overhead() after a pod upsert ${fmtMs(tOverhead)} (incremental; ${fmtInt(state.pods.size)} pods)`,
    `buildMetadata ${fmtMs(tMetadata)}`,
    `orderNodes ${fmtMs(tOrder)}`,
    `pack ${fmtMs(tPack)} (of which efficiencies over all ${fmtInt(metadata.size)} nodes ~${fmtMs(tEff)})`,
    ...(config.fifo ? [`driverQueue ${fmtMs(tQueue)}`] : []),
  ];
  return {
    line: `${parts.join(" | ")} || planApplication with a warm overhead cache ${fmtMs(tPlan)}`,
    explainedMs: tOverhead + tPlan + tCompaction,
  };
}

// ---- 1. driver admission ---------------------------------------------------------------------------

export function benchAdmission(ctx: BenchContext): void {
  const iterations = ctx.quick ? 30 : 150;
  const warmup = ctx.quick ? 5 : 15;
  const offerSize = feasibleNodesToFind(NODES);
  for (const binpack of ["distribute-evenly", "tightly-pack", "single-az-minimal-fragmentation"]) {
    const name = `admission/${binpack}`;
    ctx.log(`${name}: new drivers with 50 executors (driver 4c/6Gi, executors 4c/8Gi), FIFO on, ` +
      `driver offered ${offerSize} nodes (kube-scheduler's adaptive numFeasibleNodesToFind), bound after success`);
    const cluster = clusterFor(ctx, { binpack, fifo: true });
    const { engine } = cluster;
    const offers = new OfferWindow(cluster.nodeOrder);
    const total = warmup + iterations;
    const pods = Array.from({ length: total + 1 }, (_, i) =>
      podFromObject(driverObject(etlApp(`new-${String(i).padStart(4, "0")}`, 50, NOW_MS - 5_000 + i))),
    );
    const offered = pods.map(() => offers.next(offerSize));
    const outcomes = new Counter();
    for (let i = 0; i < warmup; i++) {
      const d = engine.filter(pods[i], offered[i], NOW_MS);
      if (d.outcome.startsWith("success")) bindPod(engine, pods[i], d.node!);
    }
    const s = new Sampler({ iterations, maxMs: ctx.quick ? 5_000 : 15_000 });
    for (let i = warmup; i < total && s.more(); i++) {
      s.start();
      const d = engine.filter(pods[i], offered[i], NOW_MS);
      outcomes.add(d.outcome, s.stop());
      if (d.outcome.startsWith("success")) bindPod(engine, pods[i], d.node!);
    }
    const r = s.result(name, `${outcomes}`);
    ctx.report(r);
    const prof = profileDriverPhases(engine, pods[total], offered[total], 9);
    const slow = r.p50Ms > SLOW_ADMISSION_MS ? `SLOW (p50 ${fmtMs(r.p50Ms)} ms > ${SLOW_ADMISSION_MS} ms); ` : "";
    ctx.log(`  profile (median of 9, ms): ${slow}${prof.line}`);
    ctx.log(
      `  → overhead + compaction + planApplication ≈ ${fmtMs(prof.explainedMs)} ms vs the ${fmtMs(r.p50Ms)} ms p50 ` +
        `(phases timed separately after the loop; the rest is filter's bookkeeping, reservation creation and GC)`,
    );
  }
}

// ---- 2. executor binding -----------------------------------------------------------------------------

export function benchExecutors(ctx: BenchContext): void {
  const appsPerVariant = ctx.quick ? 20 : 100;
  const executorsPerApp = 50;
  const warmup = ctx.quick ? 100 : 300;
  const iterations = appsPerVariant * executorsPerApp - warmup;
  const offerSize = 100;
  ctx.log(`executor/*: ${appsPerVariant} admitted apps × ${executorsPerApp} pending executors per variant, executors of ` +
    `all apps interleaved, each offered ${offerSize} nodes, bound after success`);
  const cluster = clusterFor(ctx, { binpack: "distribute-evenly", fifo: true }, { startingApps: 2 * appsPerVariant });
  const { engine } = cluster;
  if (cluster.startingApps.length < 2 * appsPerVariant) {
    ctx.log(`  note: only ${cluster.startingApps.length} of ${2 * appsPerVariant} starting apps fit`);
  }
  const half = Math.floor(cluster.startingApps.length / 2);
  const rng = new Rng(7);
  const allNodes = cluster.nodeOrder;

  const variants: { name: string; apps: typeof cluster.startingApps; offer: (slotNode: string) => string[]; what: string }[] = [
    {
      name: "executor/slot-node-offered",
      apps: cluster.startingApps.slice(0, half),
      what:
        "99 random nodes + the node of the executor's own slot (the hot path; a few are still rescheduled because an " +
        "earlier executor of the app, offered that node by chance, took the slot there)",
      offer: (slotNode) => {
        const set = new Set<string>();
        while (set.size < offerSize - 1) {
          const n = allNodes[rng.int(allNodes.length)];
          if (n !== slotNode) set.add(n);
        }
        const list = [...set];
        list.splice(rng.int(offerSize), 0, slotNode);
        return list;
      },
    },
    (() => {
      const window = new OfferWindow(allNodes);
      return {
        name: "executor/rotating-window",
        apps: cluster.startingApps.slice(half),
        what:
          "rotating window of 100 nodes as kube-scheduler samples feasible nodes; the reserved node is usually not " +
          "offered, so the slot is moved (reschedule path)",
        offer: () => window.next(offerSize),
      };
    })(),
  ];

  for (const v of variants) {
    // Interleave executors across apps: executor 1 of every app, then executor 2, …
    const work: { pod: PodInfo; offered: string[] }[] = [];
    for (let k = 0; k < executorsPerApp; k++) {
      for (const a of v.apps) if (k < a.executors.length) work.push({ pod: a.executors[k], offered: v.offer(a.slotNodes[k]) });
    }
    const outcomes = new Counter();
    let i = 0;
    for (; i < Math.min(warmup, work.length); i++) {
      const d = engine.filter(work[i].pod, work[i].offered, NOW_MS);
      if (d.outcome.startsWith("success")) bindPod(engine, work[i].pod, d.node!);
    }
    const s = new Sampler({ iterations, maxMs: ctx.quick ? 4_000 : 10_000 });
    for (; i < work.length && s.more(); i++) {
      s.start();
      const d = engine.filter(work[i].pod, work[i].offered, NOW_MS);
      outcomes.add(d.outcome, s.stop());
      if (d.outcome.startsWith("success")) bindPod(engine, work[i].pod, d.node!);
    }
    ctx.log(`  ${v.name}: ${v.what}`);
    ctx.report(s.result(v.name, `${outcomes}`));
  }

  // Where an executor decision's time goes (ms, medians).
  const state = engine.state;
  let softApps = 0;
  let softExecs = 0;
  for (const sft of state.soft.values()) {
    if (sft.executors.size > 0) softApps++;
    softExecs += sft.executors.size;
  }
  const tCompaction = medianMs(200, () => compactSoftReservations(engine.ctx));
  const r50 = state.getReservation(NS, cluster.startingApps[0].app.appId)!;
  const tUnbound = medianMs(20, () => unboundSlotsByNode(engine.ctx, r50, "x"));
  const tSlots = medianMs(20, () => executorSlots(r50));
  const candidates = allNodes.slice(0, offerSize);
  const somePod = cluster.startingApps[0].executors[0];
  const tMetaCold = medianMs(10, () => {
    state.upsertPod(state.getPod(somePod.namespace, somePod.name) ?? somePod); // what each filter call does
    buildMetadata(state, candidates);
  });
  const tMetaWarm = medianMs(10, () => buildMetadata(state, candidates));
  ctx.log(
    `  profile (medians, ms): compactSoftReservations scan on every filter call ${fmtMs(tCompaction)} ` +
      `(${softApps} apps with ${softExecs} soft executors) | unboundSlotsByNode(50-slot app) ${fmtMs(tUnbound)} ` +
      `| executorSlots sort ${fmtMs(tSlots)} | reschedule path: buildMetadata(${offerSize} candidates) after a pod upsert ` +
      `${fmtMs(tMetaCold)} (overhead is incremental; ${fmtInt(state.pods.size)} pods) vs ${fmtMs(tMetaWarm)} without the upsert`,
  );
}

// ---- 3. FIFO with a deep queue -----------------------------------------------------------------------

export function benchFifo(ctx: BenchContext): void {
  const queueLength = 500;
  const iterations = ctx.quick ? 5 : 10;
  const warmup = 2;
  const offerSize = feasibleNodesToFind(NODES);
  for (const binpack of ["distribute-evenly", "single-az-tightly-pack"]) {
    const name = `fifo/${binpack}`;
    const cluster = clusterFor(ctx, { binpack, fifo: true, "fifo-config": { "default-enforce-after-pod-age": "10m" } });
    const { engine } = cluster;
    const { state } = engine;
    const offers = new OfferWindow(cluster.nodeOrder);

    // How many 8c/32Gi executors the free capacity holds: each queued app asks for one more than that.
    const eligible = [...state.nodes.keys()];
    const exec = { cpu: parseCpu("8")!, memory: parseMemory("32Gi")!, gpu: 0 };
    let capacity = 0;
    for (const m of buildMetadata(state, eligible).values()) capacity += Math.max(0, nodeCapacity(m.available, undefined, exec));
    const bigCount = capacity + 1;
    for (let i = 0; i < queueLength; i++) {
      const app: AppSpec = {
        appId: `queued-${String(i).padStart(4, "0")}`,
        namespace: NS,
        driverCpu: "4",
        driverMem: "16Gi",
        executorCpu: "8",
        executorMem: "32Gi",
        executors: bigCount,
        // Within the 10m enforce-after window: they do not block, but every younger decision packs each of them.
        createdAtMs: NOW_MS - 9 * 60_000 + i * 1_000,
      };
      state.upsertPod(podFromObject(driverObject(app)));
    }
    ctx.log(`${name}: ${queueLength} pending drivers in instance group ${IG} that do not fit (each wants ${fmtInt(bigCount)} × 8c/32Gi ` +
      `executors, 1 more than the free capacity holds), all younger than the 10m enforce-after age; then a younger ` +
      `small driver (1c/2Gi + 10 × 2c/8Gi) that fits; rolled back after each decision`);

    const young = (i: number, createdAtMs: number) =>
      podFromObject(driverObject({ appId: `young-${i}`, namespace: NS, driverCpu: "1", driverMem: "2Gi", executorCpu: "2", executorMem: "8Gi", executors: 10, createdAtMs }));
    const runOnce = (i: number, nowMs: number, s?: Sampler, outcomes?: Counter) => {
      const pod = young(i, nowMs);
      const offered = offers.next(offerSize);
      s?.start();
      const d = engine.filter(pod, offered, nowMs);
      const ms = s?.stop();
      outcomes?.add(d.outcome, ms);
      undoAdmission(engine, pod, d);
    };
    for (let i = 0; i < warmup; i++) runOnce(i, NOW_MS);
    const outcomes = new Counter();
    const s = new Sampler({ iterations, maxMs: ctx.quick ? 8_000 : 20_000 });
    for (let i = warmup; s.more(); i++) runOnce(i, NOW_MS, s, outcomes);
    const r = s.result(`${name} (queue walked)`, `${outcomes}`);
    ctx.report(r);

    // Contrast: one hour later every queued driver is past its enforce-after age, so the oldest blocks at once.
    const outcomesLate = new Counter();
    const sLate = new Sampler({ iterations, maxMs: 5_000 });
    for (let i = 1000; sLate.more(); i++) runOnce(i, NOW_MS + 3_600_000, sLate, outcomesLate);
    ctx.report(sLate.result(`${name} (head blocks)`, `${outcomesLate} — oldest queued driver past enforce-after`));

    // Profile: the FIFO walk alone, its per-entry cost, and the cost of re-reading 500 shapes from annotations.
    const pod = young(9999, NOW_MS);
    const profOffered = offers.next(offerSize);
    state.upsertPod(pod);
    const metadataBase = buildMetadata(state, eligible);
    const { driverNodes, executorNodes } = orderNodes(metadataBase, profOffered);
    const queue = driverQueue(state, engine.config, pod, (p) => engine.ctx.instanceGroup(p));
    const earlier = queue.filter((q) => q.pod.name !== pod.name);
    const tQueue = medianMs(5, () => driverQueue(state, engine.config, pod, (p) => engine.ctx.instanceGroup(p)));
    const tShapes = medianMs(5, () => earlier.map((q) => engine.ctx.shape(q.pod)));
    const tMetadata = medianMs(5, () => buildMetadata(state, eligible));
    const tWalk = medianMs(3, () => {
      const metadata = buildMetadata(state, eligible);
      fitEarlierDrivers(
        earlier,
        (p) => shapeOf(engine, p),
        (sh) => engine.config.binpack.pack(sh.driver, sh.executor, sh.minExecutors, driverNodes, executorNodes, metadata),
        metadata,
        enforceAfterMs(engine.config, IG),
        NOW_MS,
      );
    }) - tMetadata;
    const tOnePack = medianMs(20, () => {
      const sh = shapeOf(engine, earlier[0].pod);
      engine.config.binpack.pack(sh.driver, sh.executor, sh.minExecutors, driverNodes, executorNodes, metadataBase);
    });
    state.removePod(pod.namespace, pod.name);
    const perEntry = tWalk / earlier.length;
    const sweepS = (queueLength * queueLength * perEntry) / 2 / 1000;
    ctx.log(
      `  profile (ms): fitEarlierDrivers over ${earlier.length} queued apps ${fmtMs(tWalk)} ` +
        `(${fmtMs(perEntry * 1000)} µs per queued app; one failing pack alone ${fmtMs(tOnePack)} over ` +
        `${fmtInt(executorNodes.length)} executor candidates, × ${earlier.length} = ${fmtMs(tOnePack * earlier.length)}; ` +
        `re-parsing ${earlier.length} shapes from annotations ${fmtMs(tShapes)}; driverQueue ${fmtMs(tQueue)}) ` +
        `vs the decision's p50 ${fmtMs(r.p50Ms)}`,
    );
    ctx.log(
      `  implication: every queued driver's own kube-scheduler retry walks the ones ahead of it, so one retry sweep of ` +
        `the whole queue costs ≈ Q²/2 × ${fmtMs(perEntry * 1000)} µs ≈ ${sweepS.toFixed(0)} s of the single decision thread ` +
        `(Q = ${queueLength}), during which no other pod is decided`,
    );
    // Latency against queue position, measured on a few queued drivers' own retries (they fail: failure-fit).
    const positions = [1, Math.floor(queueLength / 4), Math.floor(queueLength / 2), queueLength];
    const byPos = positions.map((p) => {
      const q = queue[p - 1].pod;
      const offered = offers.next(offerSize);
      const { ms, value } = timed(() => engine.filter(q, offered, NOW_MS));
      return `#${p}: ${fmtMs(ms)} ms (${value.outcome})`;
    });
    ctx.log(`  queued drivers' own retries by queue position: ${byPos.join(", ")}`);
  }
}

// ---- 4. a large application -------------------------------------------------------------------------

export function benchLargeApp(ctx: BenchContext): void {
  const iterations = ctx.quick ? 5 : 20;
  const warmup = 3;
  const executors = 1000;
  const offerSize = feasibleNodesToFind(NODES);
  ctx.log(`large-app/*: one driver (4c/6Gi) with ${executors} executors (4c/8Gi) admitted, then rolled back`);
  const cluster = clusterFor(ctx, { binpack: "distribute-evenly", fifo: true });
  const state = cluster.engine.state;
  const offers = new OfferWindow(cluster.nodeOrder);
  for (const binpack of ["distribute-evenly", "tightly-pack", "single-az-minimal-fragmentation"]) {
    // Same state, another packer: Engine is a thin front over the shared ClusterState.
    const engine = new Engine(configFromObject({ "instance-group-label": IG_LABEL, binpack, fifo: true }).engine, state);
    const name = `large-app/${binpack}`;
    const pod = (i: number) => podFromObject(driverObject(etlApp(`large-${binpack}-${i}`, executors, NOW_MS - 1_000)));
    for (let i = 0; i < warmup; i++) {
      const p = pod(i);
      undoAdmission(engine, p, engine.filter(p, offers.next(offerSize), NOW_MS));
    }
    const outcomes = new Counter();
    const s = new Sampler({ iterations, maxMs: 10_000 });
    for (let i = warmup; s.more(); i++) {
      const p = pod(i);
      const offered = offers.next(offerSize);
      s.start();
      const d = engine.filter(p, offered, NOW_MS);
      outcomes.add(d.outcome, s.stop());
      undoAdmission(engine, p, d);
    }
    const r = s.result(name, `${outcomes}`);
    ctx.report(r);
    if (r.p50Ms > SLOW_ADMISSION_MS) {
      const prof = profileDriverPhases(engine, pod(99_999), offers.next(offerSize), 3);
      ctx.log(`  profile (median of 3, ms): SLOW (p50 ${fmtMs(r.p50Ms)} ms > ${SLOW_ADMISSION_MS} ms); ${prof.line}`);
    }
  }

  // Then its executors: 1,000 bindings into one 1,000-slot reservation (each offered 100 nodes incl. its slot node).
  const engine = new Engine(configFromObject({ "instance-group-label": IG_LABEL, binpack: "distribute-evenly", fifo: true }).engine, state);
  const app = etlApp("large-kept", executors, NOW_MS - 1_000);
  const driver = podFromObject(driverObject(app));
  const d = engine.filter(driver, offers.next(offerSize), NOW_MS);
  if (!d.outcome.startsWith("success")) {
    ctx.log(`  large-app/executors: skipped, the large app was not admitted (${d.outcome}: ${d.reason})`);
    return;
  }
  bindPod(engine, driver, d.node!);
  const r = state.getReservation(NS, app.appId)!;
  const slotNodes = executorSlots(r).map((sl) => r.slots.get(sl)!.node);
  const rng = new Rng(11);
  const all = cluster.nodeOrder;
  const outcomes = new Counter();
  const s = new Sampler({ iterations: executors, maxMs: ctx.quick ? 5_000 : 10_000 });
  const first: number[] = [];
  const last: number[] = [];
  for (let k = 0; k < slotNodes.length && s.more(); k++) {
    const pod = podFromObject({
      metadata: {
        name: `${app.appId}-exec-${k + 1}`,
        namespace: NS,
        uid: `${app.appId}-exec-${k + 1}-uid`,
        creationTimestamp: new Date(NOW_MS).toISOString(),
        labels: { "spark-role": "executor", "spark-app-id": app.appId },
      },
      spec: { schedulerName: "spark-scheduler", containers: [{ name: "e", resources: { requests: { cpu: "4", memory: "8Gi" } } }] },
    });
    const offered = Array.from({ length: 99 }, () => all[rng.int(all.length)]);
    offered.splice(rng.int(100), 0, slotNodes[k]);
    s.start();
    const dd = engine.filter(pod, offered, NOW_MS);
    const ms = s.stop();
    if (dd.outcome === "success") (k < slotNodes.length / 2 ? first : last).push(ms);
    outcomes.add(dd.outcome, ms);
    if (dd.outcome.startsWith("success")) bindPod(engine, pod, dd.node!);
  }
  const res = s.result(
    "large-app/executor-binding",
    `${outcomes}; hot-path (success) p50 first half ${fmtMs(median(first))} ms vs second half ${fmtMs(median(last))} ms`,
  );
  ctx.report(res);
  const full = state.getReservation(NS, app.appId)!;
  const tSlots = medianMs(20, () => executorSlots(full));
  const tUnbound = medianMs(20, () => unboundSlotsByNode(engine.ctx, full, "x"));
  const tClone = medianMs(20, () => cloneReservation(full));
  const tPut = medianMs(20, () => state.putReservation(full));
  ctx.log(
    `  profile (median of 20, ms) on the ${executors}-slot reservation: executorSlots (sort with a regex per comparison) ` +
      `${fmtMs(tSlots)} | unboundSlotsByNode ${fmtMs(tUnbound)} | cloneReservation ${fmtMs(tClone)} | putReservation ${fmtMs(tPut)} ` +
      `— each executor decision does all four`,
  );
}
