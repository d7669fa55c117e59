// Synthetic, deterministic clusters for the benchmarks.
//
// Sizes follow shared/spec/spark-on-kubernetes.md §6: nodes of 32 cpu / 256Gi in 3 zones and one instance group;
// a mix of tiny apps (2 × 1c/1408Mi), medium apps (10–50 × 4c/8Gi, some with dynamic allocation and running
// extras on soft reservations) and a few large ones (200–400 × 4c/8Gi); ~4 non-Spark pods per node (overhead).
//
// The already-running applications are written straight into the engine state (reservations, bound pods, soft
// reservations), as the informers would rebuild it after a restart — admitting 1,000 apps through Engine.filter
// would take longer than the benchmarks themselves. Placement is a simple first-fit from a random node of a random
// zone, which leaves a realistic mix of full, partly used and empty nodes.
//
// Everything is driven by a seeded PRNG and fixed timestamps, so a run is reproducible.

import { configFromObject } from "../src/config.js";
import { Engine } from "../src/engine/engine.js";
import { type NodeInfo, type PodInfo, nodeFromObject, podFromObject } from "../src/engine/model.js";
import { DRIVER_SLOT, type Reservation, type Slot, executorSlotName } from "../src/engine/reservation.js";
import { parseCpu, parseMemory } from "../src/engine/resources.js";

/** "Now" for every decision: fixed so that FIFO ages and timestamps are reproducible. */
export const NOW_MS = Date.UTC(2026, 0, 15, 12, 0, 0);
export const IG_LABEL = "resource_channel";
export const IG = "batch";
export const NS = "spark";
export const ZONE_LABEL = "topology.kubernetes.io/zone";

type Obj = Record<string, unknown>;

// ---- PRNG ---------------------------------------------------------------------------------------

/** mulberry32: tiny, fast, good enough for workload generation. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

// ---- Kubernetes-shaped objects ------------------------------------------------------------------

export function nodeObject(name: string, zone: string, cpu: string, memory: string, gpus = 0): Obj {
  const gpu = gpus > 0 ? { "nvidia.com/gpu": String(gpus) } : {};
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      creationTimestamp: new Date(NOW_MS - 86_400_000).toISOString(),
      labels: {
        [IG_LABEL]: IG,
        [ZONE_LABEL]: zone,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "r5.8xlarge",
      },
    },
    spec: {},
    status: {
      allocatable: { cpu, memory, pods: "110", ...gpu },
      capacity: { cpu, memory, pods: "110", ...gpu },
      conditions: [{ type: "Ready", status: "True" }],
    },
  };
}

/** An application's shape, with quantities as they appear in annotations and requests. */
export interface AppSpec {
  appId: string;
  namespace: string;
  driverCpu: string;
  driverMem: string;
  executorCpu: string;
  executorMem: string;
  /** nvidia.com/gpu per driver / per executor (default 0). */
  driverGpu?: number;
  executorGpu?: number;
  /** Static executor count, or the DA minimum. */
  executors: number;
  /** Dynamic allocation maximum (undefined: static allocation). */
  maxExecutors?: number;
  createdAtMs: number;
}

/** A Spark driver pod as spark-submit creates it, with the spark-scheduler annotations. */
export function driverObject(app: AppSpec, nodeName = ""): Obj {
  const annotations: Record<string, string> = {
    "spark-driver-cpu": app.driverCpu,
    "spark-driver-mem": app.driverMem,
    "spark-executor-cpu": app.executorCpu,
    "spark-executor-mem": app.executorMem,
  };
  if (app.driverGpu) annotations["spark-driver-nvidia.com/gpu"] = String(app.driverGpu);
  if (app.executorGpu) annotations["spark-executor-nvidia.com/gpu"] = String(app.executorGpu);
  if (app.maxExecutors !== undefined) {
    annotations["spark-dynamic-allocation-enabled"] = "true";
    annotations["spark-dynamic-allocation-min-executor-count"] = String(app.executors);
    annotations["spark-dynamic-allocation-max-executor-count"] = String(app.maxExecutors);
  } else {
    annotations["spark-executor-count"] = String(app.executors);
  }
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `${app.appId}-driver`,
      namespace: app.namespace,
      uid: `${app.appId}-driver-uid`,
      creationTimestamp: new Date(app.createdAtMs).toISOString(),
      labels: { "spark-role": "driver", "spark-app-id": app.appId, "spark-app-selector": app.appId },
      annotations,
    },
    ...sparkPodBody(nodeName, "spark-kubernetes-driver", app.driverCpu, app.driverMem, app.driverGpu),
  };
}

export function executorObject(app: AppSpec, i: number, nodeName = ""): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `${app.appId}-exec-${i}`,
      namespace: app.namespace,
      uid: `${app.appId}-exec-${i}-uid`,
      creationTimestamp: new Date(app.createdAtMs + 10_000).toISOString(),
      labels: { "spark-role": "executor", "spark-app-id": app.appId, "spark-app-selector": app.appId, "spark-exec-id": String(i) },
    },
    ...sparkPodBody(nodeName, "spark-kubernetes-executor", app.executorCpu, app.executorMem, app.executorGpu),
  };
}

/** spec and status of a Spark pod in the instance group, bound to `nodeName` (Running) or pending. */
function sparkPodBody(nodeName: string, container: string, cpu: string, memory: string, gpus = 0): Obj {
  const gpu = gpus > 0 ? { "nvidia.com/gpu": String(gpus) } : {};
  return {
    spec: {
      schedulerName: "spark-scheduler",
      ...(nodeName ? { nodeName } : {}),
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: IG_LABEL, operator: "In", values: [IG] }] }],
          },
        },
      },
      containers: [
        { name: container, image: "apache/spark:3.5.3", resources: { requests: { cpu, memory, ...gpu }, limits: { memory, ...gpu } } },
      ],
      restartPolicy: "Never",
    },
    status: { phase: nodeName ? "Running" : "Pending" },
  };
}

/** A non-Spark pod already running on a node (its requests count as overhead). */
export function otherPodObject(name: string, namespace: string, nodeName: string, cpu: string, memory: string): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, uid: `${namespace}-${name}-uid`, creationTimestamp: new Date(NOW_MS - 3_600_000).toISOString() },
    spec: { nodeName, containers: [{ name: "main", resources: { requests: { cpu, memory } } }] },
    status: { phase: "Running" },
  };
}

// ---- kube-scheduler's view of "which nodes to offer" ---------------------------------------------

/**
 * kube-scheduler's numFeasibleNodesToFind with the default adaptive percentageOfNodesToScore:
 * max(5, 50 − nodes/125) percent, at least 100 nodes.
 */
export function feasibleNodesToFind(nodes: number): number {
  if (nodes < 100) return nodes;
  const pct = Math.max(5, 50 - Math.floor(nodes / 125));
  return Math.min(nodes, Math.max(100, Math.floor((nodes * pct) / 100)));
}

/** Rotating windows over a fixed node order, like kube-scheduler's nextStartNodeIndex. */
export class OfferWindow {
  private start = 0;
  constructor(private readonly order: readonly string[]) {}
  next(size: number): string[] {
    const out: string[] = [];
    const n = this.order.length;
    for (let i = 0; i < Math.min(size, n); i++) out.push(this.order[(this.start + i) % n]);
    this.start = (this.start + size) % n;
    return out;
  }
}

// ---- the engine's cluster ------------------------------------------------------------------------

export interface ClusterOptions {
  seed: number;
  nodes: number;
  zones: number;
  nodeCpu: string;
  nodeMemory: string;
  /** Every `gpuNodeEvery`-th node has 8 nvidia.com/gpu (0: no GPU nodes). */
  gpuNodeEvery?: number;
  /** Already-admitted, running applications. */
  apps: number;
  /** Non-Spark pods bound to nodes (overhead). */
  overheadPods: number;
  /** Admitted applications whose driver runs but whose executors are still pending (for executor binding). */
  startingApps: number;
  startingAppExecutors: number;
  /** Engine configuration keys (binpack, fifo, fifo-config …). */
  config: Record<string, unknown>;
}

export const DEFAULT_CLUSTER: Omit<ClusterOptions, "config"> = {
  seed: 20260115,
  nodes: 5000,
  zones: 3,
  nodeCpu: "32",
  nodeMemory: "256Gi",
  apps: 1000,
  overheadPods: 20_000,
  startingApps: 0,
  startingAppExecutors: 50,
};

/** An admitted application whose executors have not been created yet. */
export interface StartingApp {
  app: AppSpec;
  /** Node of executor slot k (index k-1). */
  slotNodes: string[];
  /** The pending executor pods, in creation order. */
  executors: PodInfo[];
}

export interface BenchCluster {
  engine: Engine;
  options: ClusterOptions;
  /** Node names in a fixed shuffled order (kube-scheduler's node tree order stand-in). */
  nodeOrder: string[];
  startingApps: StartingApp[];
  /** Applications written as running (some may have been skipped for lack of room). */
  runningApps: number;
  softExtras: number;
  pods: number;
  buildMs: number;
  /** cpu used by overhead + reservations / allocatable, at build time. */
  cpuUtilisation: number;
  memUtilisation: number;
}

interface Free {
  cpu: number;
  mem: number;
}

/** First-fit placer used only to lay out the pre-existing applications. */
class Placer {
  constructor(
    private readonly free: Map<string, Free>,
    private readonly zones: string[][],
    private readonly rng: Rng,
  ) {}

  /** Places one driver and `count` executors in one zone; undefined when no zone has room. */
  place(driver: Free, executor: Free, count: number): { driverNode: string; executorNodes: string[] } | undefined {
    const z0 = this.rng.int(this.zones.length);
    for (let dz = 0; dz < this.zones.length; dz++) {
      const zone = this.zones[(z0 + dz) % this.zones.length];
      const got = this.placeInZone(zone, driver, executor, count);
      if (got) return got;
    }
    return undefined;
  }

  private placeInZone(zone: string[], driver: Free, executor: Free, count: number) {
    const start = this.rng.int(zone.length);
    const taken: { node: string; r: Free }[] = [];
    const take = (node: string, r: Free) => {
      const f = this.free.get(node)!;
      f.cpu -= r.cpu;
      f.mem -= r.mem;
      taken.push({ node, r });
    };
    let driverNode = "";
    const executorNodes: string[] = [];
    for (let i = 0; i < zone.length && (driverNode === "" || executorNodes.length < count); i++) {
      const node = zone[(start + i) % zone.length];
      const f = this.free.get(node)!;
      if (driverNode === "" && f.cpu >= driver.cpu && f.mem >= driver.mem) {
        take(node, driver);
        driverNode = node;
      }
      while (executorNodes.length < count && f.cpu >= executor.cpu && f.mem >= executor.mem) {
        take(node, executor);
        executorNodes.push(node);
      }
    }
    if (driverNode !== "" && executorNodes.length === count) return { driverNode, executorNodes };
    for (const t of taken) {
      const f = this.free.get(t.node)!;
      f.cpu += t.r.cpu;
      f.mem += t.r.mem;
    }
    return undefined;
  }
}

/** Shapes of the pre-existing applications (spec §6 mix). */
function runningAppShape(rng: Rng, i: number): AppSpec {
  const appId = `running-${String(i).padStart(4, "0")}`;
  const createdAtMs = NOW_MS - 3_600_000 + i * 1000;
  const roll = rng.next();
  if (roll < 0.55) {
    // Spark defaults: 1 core × 1408Mi driver and 2 executors.
    return { appId, namespace: NS, driverCpu: "1", driverMem: "1408Mi", executorCpu: "1", executorMem: "1408Mi", executors: 2, createdAtMs };
  }
  if (roll < 0.98) {
    const executors = rng.range(10, 50);
    const dynamic = rng.next() < 0.1;
    return {
      appId,
      namespace: NS,
      driverCpu: "4",
      driverMem: "6Gi",
      executorCpu: "4",
      executorMem: "8Gi",
      executors,
      maxExecutors: dynamic ? executors + 10 : undefined,
      createdAtMs,
    };
  }
  return { appId, namespace: NS, driverCpu: "4", driverMem: "8Gi", executorCpu: "4", executorMem: "8Gi", executors: rng.range(200, 400), createdAtMs };
}

/**
 * A queued application of mixed, realistic shape (issue 9): driver 1–8 cpu / 2–32 GiB; 2–200 executors
 * (log-uniform, so most apps are small and a few are big) of 1–8 cpu / 4–64 GiB; one app in ten asks for
 * 1–2 nvidia.com/gpu per executor.
 */
export function mixedAppShape(rng: Rng, appId: string, createdAtMs: number): AppSpec {
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
  const gpu = rng.next() < 0.1;
  return {
    appId,
    namespace: NS,
    driverCpu: String(pick([1, 2, 4, 8])),
    driverMem: `${pick([2, 4, 8, 16, 32])}Gi`,
    executorCpu: String(pick([1, 2, 4, 8])),
    executorMem: `${pick([4, 8, 16, 32, 64])}Gi`,
    executorGpu: gpu ? rng.range(1, 2) : undefined,
    executors: Math.min(200, Math.round(2 * Math.pow(100, rng.next()))),
    createdAtMs,
  };
}

const OVERHEAD_SHAPES: [string, string, string][] = [
  ["kube-proxy", "100m", "128Mi"],
  ["node-exporter", "100m", "256Mi"],
  ["fluent-bit", "250m", "512Mi"],
];

export function buildCluster(opts: ClusterOptions): BenchCluster {
  const t0 = performance.now();
  const rng = new Rng(opts.seed);
  const config = configFromObject({ "instance-group-label": IG_LABEL, ...opts.config }).engine;
  const engine = new Engine(config);
  const state = engine.state;

  // Nodes.
  const zoneNames = Array.from({ length: opts.zones }, (_, z) => `zone-${String.fromCharCode(97 + z)}`);
  const zones: string[][] = zoneNames.map(() => []);
  const nodes: NodeInfo[] = [];
  for (let i = 0; i < opts.nodes; i++) {
    const name = `node-${String(i).padStart(5, "0")}`;
    const z = i % opts.zones;
    const gpus = opts.gpuNodeEvery && i % opts.gpuNodeEvery === 0 ? 8 : 0;
    nodes.push(nodeFromObject(nodeObject(name, zoneNames[z], opts.nodeCpu, opts.nodeMemory, gpus)));
    zones[z].push(name);
  }
  for (const n of nodes) state.upsertNode(n);
  const free = new Map<string, Free>(nodes.map((n) => [n.name, { cpu: n.allocatable.cpu, mem: n.allocatable.memory }]));
  let pods = 0;
  const bind = (obj: Obj) => {
    state.upsertPod(podFromObject(obj));
    pods++;
  };

  // Overhead: daemonset-like pods on every node, plus random service pods up to `overheadPods`.
  let overhead = 0;
  for (let round = 0; overhead < opts.overheadPods; round++) {
    for (let i = 0; i < nodes.length && overhead < opts.overheadPods; i++) {
      const node = nodes[i].name;
      let name: string, ns: string, cpu: string, mem: string;
      if (round < OVERHEAD_SHAPES.length) {
        [name, cpu, mem] = OVERHEAD_SHAPES[round];
        name = `${name}-${node}`;
        ns = "kube-system";
      } else {
        name = `svc-${round}-${i}`;
        ns = "services";
        cpu = `${rng.range(1, 8) * 250}m`;
        mem = `${rng.range(1, 16) * 512}Mi`;
      }
      const f = free.get(node)!;
      const c = parseCpu(cpu)!;
      const m = parseMemory(mem)!;
      f.cpu -= c;
      f.mem -= m;
      bind(otherPodObject(name, ns, node, cpu, mem));
      overhead++;
    }
  }

  // Running applications: reservation fully bound, plus soft extras for dynamic allocation.
  const placer = new Placer(free, zones, rng);
  let runningApps = 0;
  let softExtras = 0;
  for (let i = 0; i < opts.apps; i++) {
    const app = runningAppShape(rng, i);
    const d = { cpu: parseCpu(app.driverCpu)!, mem: parseMemory(app.driverMem)! };
    const e = { cpu: parseCpu(app.executorCpu)!, mem: parseMemory(app.executorMem)! };
    const extras = app.maxExecutors !== undefined ? rng.range(0, app.maxExecutors - app.executors) : 0;
    const placed = placer.place(d, e, app.executors + extras);
    if (!placed) continue;
    runningApps++;
    const hard = placed.executorNodes.slice(0, app.executors);
    const soft = placed.executorNodes.slice(app.executors);
    bind(driverObject(app, placed.driverNode));
    const slots = new Map<string, Slot>([[DRIVER_SLOT, { node: placed.driverNode, resources: { cpu: d.cpu, memory: d.mem, gpu: 0 } }]]);
    const podsBySlot = new Map<string, string>([[DRIVER_SLOT, `${app.appId}-driver`]]);
    hard.forEach((node, k) => {
      bind(executorObject(app, k + 1, node));
      slots.set(executorSlotName(k + 1), { node, resources: { cpu: e.cpu, memory: e.mem, gpu: 0 } });
      podsBySlot.set(executorSlotName(k + 1), `${app.appId}-exec-${k + 1}`);
    });
    state.putReservation(reservationOf(app, slots, podsBySlot));
    if (app.maxExecutors !== undefined) {
      state.ensureSoft(NS, app.appId, app.maxExecutors - app.executors);
      soft.forEach((node, k) => {
        const idx = app.executors + k + 1;
        bind(executorObject(app, idx, node));
        state.addSoft(NS, app.appId, `${app.appId}-exec-${idx}`, { node, resources: { cpu: e.cpu, memory: e.mem, gpu: 0 } });
        softExtras++;
      });
    }
  }

  // Starting applications: admitted, driver running, executors not created yet.
  const startingApps: StartingApp[] = [];
  for (let i = 0; i < opts.startingApps; i++) {
    const app: AppSpec = {
      appId: `starting-${String(i).padStart(4, "0")}`,
      namespace: NS,
      driverCpu: "4",
      driverMem: "6Gi",
      executorCpu: "4",
      executorMem: "8Gi",
      executors: opts.startingAppExecutors,
      createdAtMs: NOW_MS - 60_000 + i,
    };
    const d = { cpu: parseCpu(app.driverCpu)!, mem: parseMemory(app.driverMem)! };
    const e = { cpu: parseCpu(app.executorCpu)!, mem: parseMemory(app.executorMem)! };
    const placed = placer.place(d, e, app.executors);
    if (!placed) continue;
    bind(driverObject(app, placed.driverNode));
    const slots = new Map<string, Slot>([[DRIVER_SLOT, { node: placed.driverNode, resources: { cpu: d.cpu, memory: d.mem, gpu: 0 } }]]);
    placed.executorNodes.forEach((node, k) => slots.set(executorSlotName(k + 1), { node, resources: { cpu: e.cpu, memory: e.mem, gpu: 0 } }));
    state.putReservation(reservationOf(app, slots, new Map([[DRIVER_SLOT, `${app.appId}-driver`]])));
    const executors = placed.executorNodes.map((_, k) => podFromObject(executorObject(app, k + 1)));
    startingApps.push({ app, slotNodes: placed.executorNodes, executors });
  }

  let cpuAlloc = 0;
  let memAlloc = 0;
  let cpuFree = 0;
  let memFree = 0;
  for (const n of nodes) {
    cpuAlloc += n.allocatable.cpu;
    memAlloc += n.allocatable.memory;
    cpuFree += free.get(n.name)!.cpu;
    memFree += free.get(n.name)!.mem;
  }
  state.overhead(); // warm the cache, as a long-running service would have it
  return {
    engine,
    options: opts,
    nodeOrder: rng.shuffle(nodes.map((n) => n.name)),
    startingApps,
    runningApps,
    softExtras,
    pods,
    buildMs: performance.now() - t0,
    cpuUtilisation: 1 - cpuFree / cpuAlloc,
    memUtilisation: 1 - memFree / memAlloc,
  };
}

function reservationOf(app: AppSpec, slots: Map<string, Slot>, pods: Map<string, string>): Reservation {
  return {
    namespace: app.namespace,
    appId: app.appId,
    driverPod: `${app.appId}-driver`,
    driverUid: `${app.appId}-driver-uid`,
    slots,
    pods,
    createdAtMs: app.createdAtMs,
    resourceVersion: "1",
  };
}

export function describeCluster(c: BenchCluster): string {
  const o = c.options;
  return (
    `${o.nodes.toLocaleString("en-US")} nodes (${o.nodeCpu} cpu/${o.nodeMemory}, ${o.zones} zones` +
    `${o.gpuNodeEvery ? `, every ${o.gpuNodeEvery}th with 8 GPUs` : ""}), ` +
    `${c.runningApps} running apps (${c.softExtras} soft extras), ${c.engine.state.pods.size.toLocaleString("en-US")} pods, ` +
    `cpu ${(c.cpuUtilisation * 100).toFixed(0)}% / mem ${(c.memUtilisation * 100).toFixed(0)}% used; built in ${c.buildMs.toFixed(0)} ms`
  );
}
