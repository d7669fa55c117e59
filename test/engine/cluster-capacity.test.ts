// exceedsClusterCapacity (reference §9, §13.8 TestUnschedulablePodMarker): the harness cluster of two
// 8 cpu / 8 GiB / 1 GPU nodes under single-az-tightly-pack.

import { describe, expect, it } from "vitest";
import type { AppShape } from "../../src/engine/app-shape.js";
import { getBinpacker } from "../../src/engine/binpack/index.js";
import { exceedsClusterCapacity } from "../../src/engine/cluster-capacity.js";
import type { EngineConfig } from "../../src/engine/config.js";
import { Engine } from "../../src/engine/engine.js";
import type { NodeInfo, PodInfo } from "../../src/engine/model.js";
import { DRIVER_SLOT, executorSlotName } from "../../src/engine/reservation.js";
import { res } from "../../src/engine/resources.js";

const GiB = 2 ** 30;
const IG = "batch-medium-priority";

const config: EngineConfig = {
  schedulerName: "spark-scheduler",
  binpack: getBinpacker("single-az-tightly-pack"),
  fifo: true,
  fifoDefaultEnforceAfterMs: 0,
  fifoEnforceAfterByInstanceGroup: {},
  instanceGroupLabel: "resource_channel",
  dynamicAllocationSameAz: true,
};

function harnessNode(name: string, over: Partial<NodeInfo> = {}): NodeInfo {
  return {
    name,
    labels: {
      resource_channel: IG,
      "com.palantir.rubix/instance-group": IG,
      test: "something",
      "topology.kubernetes.io/zone": "zone1",
    },
    allocatable: res(8000, 8 * GiB, 1),
    unschedulable: false,
    ready: true,
    taints: [],
    createdAtMs: 0,
    ...over,
  };
}

function pod(name: string, over: Partial<PodInfo> = {}): PodInfo {
  return {
    uid: `uid-${name}`,
    name,
    namespace: "namespace",
    labels: {},
    annotations: {},
    createdAtMs: 0,
    deleting: false,
    nodeName: "",
    schedulerName: "",
    phase: "Pending",
    terminated: false,
    requests: res(0, 0),
    nodeSelector: {},
    requiredNodeTerms: [],
    tolerations: [],
    ...over,
  };
}

/** The harness driver: affinity on both instance-group labels, schedulerName unset (as in the reference tests). */
function harnessDriver(app: string): PodInfo {
  return pod(`${app}-spark-driver`, {
    labels: { "spark-role": "driver", "spark-app-id": app },
    requiredNodeTerms: [
      {
        matchExpressions: [
          { key: "resource_channel", operator: "In", values: [IG] },
          { key: "com.palantir.rubix/instance-group", operator: "In", values: [IG] },
        ],
      },
    ],
  });
}

/** Static allocation: driver cpu 1, mem 1 byte, 1 GPU; executors cpu 1, mem 1 byte. */
function staticShape(executors: number, executor = res(1000, 1)): AppShape {
  return {
    driver: res(1000, 1, 1),
    executor,
    minExecutors: executors,
    maxExecutors: executors,
    dynamicAllocation: false,
    source: "annotations",
  };
}

function harness(): Engine {
  const engine = new Engine(config);
  engine.state.upsertNode(harnessNode("node1"));
  engine.state.upsertNode(harnessNode("node2"));
  return engine;
}

describe("exceedsClusterCapacity", () => {
  it("TestUnschedulablePodMarker: 2 executors fit the empty cluster, 100 do not", () => {
    const engine = harness();
    const driver = harnessDriver("app");
    expect(exceedsClusterCapacity(engine.ctx, driver, staticShape(2))).toBe(false);
    expect(exceedsClusterCapacity(engine.ctx, driver, staticShape(100))).toBe(true);
  });

  it("ignores reservations: a cluster full of reserved Spark work still 'fits'", () => {
    const engine = harness();
    for (const node of ["node1", "node2"]) {
      engine.state.putReservation({
        namespace: "namespace",
        appId: `hog-${node}`,
        driverPod: `hog-${node}-driver`,
        driverUid: "",
        slots: new Map([
          [DRIVER_SLOT, { node, resources: res(1000, 1, 1) }],
          [executorSlotName(1), { node, resources: res(7000, 8 * GiB - 1) }],
        ]),
        pods: new Map([[DRIVER_SLOT, `hog-${node}-driver`]]),
        createdAtMs: 0,
      });
    }
    expect(exceedsClusterCapacity(engine.ctx, harnessDriver("app"), staticShape(2))).toBe(false);
  });

  it("counts non-spark-scheduler pods as overhead", () => {
    const engine = harness();
    // 6 cpu used on each node by pods of another scheduler: 2 × (8 − 6) = 4 cpu left; the app needs 1 + 4.
    for (const node of ["node1", "node2"]) {
      engine.state.upsertPod(pod(`daemon-${node}`, { nodeName: node, schedulerName: "default-scheduler", requests: res(6000, GiB) }));
    }
    expect(exceedsClusterCapacity(engine.ctx, harnessDriver("app"), staticShape(3))).toBe(false);
    expect(exceedsClusterCapacity(engine.ctx, harnessDriver("app"), staticShape(4))).toBe(true);
  });

  it("does not count spark-scheduler pods, pending pods or completed pods as overhead", () => {
    const engine = harness();
    for (const node of ["node1", "node2"]) {
      engine.state.upsertPod(pod(`spark-${node}`, { nodeName: node, schedulerName: "spark-scheduler", requests: res(8000, 8 * GiB) }));
      engine.state.upsertPod(pod(`done-${node}`, { nodeName: node, terminated: true, phase: "Succeeded", requests: res(8000, 8 * GiB) }));
    }
    engine.state.upsertPod(pod("pending", { requests: res(8000, 8 * GiB) }));
    expect(exceedsClusterCapacity(engine.ctx, harnessDriver("app"), staticShape(15))).toBe(false);
    expect(exceedsClusterCapacity(engine.ctx, harnessDriver("app"), staticShape(16))).toBe(true);
  });

  it("does not count a pod holding a reservation as overhead, whatever its scheduler", () => {
    const engine = harness();
    engine.state.upsertPod(pod("held", { nodeName: "node1", requests: res(8000, 8 * GiB) }));
    expect(exceedsClusterCapacity(engine.ctx, harnessDriver("app"), staticShape(8))).toBe(true);
    engine.state.putReservation({
      namespace: "namespace",
      appId: "held-app",
      driverPod: "held",
      driverUid: "",
      slots: new Map([[DRIVER_SLOT, { node: "node1", resources: res(8000, 8 * GiB) }]]),
      pods: new Map([[DRIVER_SLOT, "held"]]),
      createdAtMs: 0,
    });
    expect(exceedsClusterCapacity(engine.ctx, harnessDriver("app"), staticShape(8))).toBe(false);
  });

  it("considers only nodes matching the driver's selectors, but ignores readiness and cordons", () => {
    const engine = harness();
    engine.state.upsertNode(harnessNode("other", { labels: { resource_channel: "other" } }));
    expect(exceedsClusterCapacity(engine.ctx, harnessDriver("app"), staticShape(15))).toBe(false);
    expect(exceedsClusterCapacity(engine.ctx, harnessDriver("app"), staticShape(16))).toBe(true);

    engine.state.upsertNode(harnessNode("node1", { ready: false, unschedulable: true }));
    expect(exceedsClusterCapacity(engine.ctx, harnessDriver("app"), staticShape(15))).toBe(false);
  });

  it("flips to fitting when a node is added", () => {
    const engine = harness();
    const driver = harnessDriver("app");
    expect(exceedsClusterCapacity(engine.ctx, driver, staticShape(20))).toBe(true);
    engine.state.upsertNode(harnessNode("node3"));
    expect(exceedsClusterCapacity(engine.ctx, driver, staticShape(20))).toBe(false);
  });
});

describe("the empty-cluster view kept across state changes", () => {
  for (const binpack of ["single-az-tightly-pack", "tightly-pack", "distribute-evenly"]) it(`equals the view derived from every pod after each random change; verdicts equal fresh packs (${binpack})`, async () => {
    const { emptyClusterView } = await import("../../src/engine/cluster-capacity.js");
    const { driverPod, node, otherPod } = await import("./harness.js");
    const { podFromObject } = await import("../../src/engine/model.js");
    let s = 12345;
    const r = (n: number) => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return (s >>> 8) % n;
    };
    const engine = new Engine({ ...config, binpack: getBinpacker(binpack) });
    const { state } = engine;
    const names = Array.from({ length: 12 }, (_, i) => `n${i}`);
    // Near the cluster's size (12 nodes of 16 cpu), so that changes flip verdicts.
    const shapes: AppShape[] = Array.from({ length: 10 }, (_, i) => ({
      driver: res(1000, GiB, 0),
      executor: res(4000, 4 * GiB, 0),
      minExecutors: 20 + 3 * i,
      maxExecutors: 20 + 3 * i,
      dynamicAllocation: false,
      source: "annotations",
    }));
    let reused = 0;
    let flips = 0;
    const last = new Map<number, boolean>();
    for (const n of names) state.upsertNode(node(n, { cpu: "16", memory: "32Gi" }));
    const driver = driverPod("probe");
    const ours = (name: string, nodeName: string) =>
      podFromObject({
        metadata: { name, namespace: "spark", uid: name, labels: { "spark-role": "executor", "spark-app-id": "x" } },
        spec: { nodeName, schedulerName: "spark-scheduler", containers: [{ name: "c", resources: { requests: { cpu: "1", memory: "1Gi" } } }] },
        status: { phase: "Running" },
      });
    const pods: PodInfo[] = [];
    const expected = () => {
      const reserved = new Set<string>();
      for (const res of state.reservations.values()) for (const p of res.pods.values()) reserved.add(`${res.namespace}/${p}`);
      const out = new Map<string, { cpu: number; memory: number; gpu: number }>();
      for (const n of state.nodes.values()) out.set(n.name, { ...n.allocatable });
      for (const [key, p] of state.pods) {
        if (!p.nodeName || p.terminated || p.schedulerName === config.schedulerName || reserved.has(key)) continue;
        const a = out.get(p.nodeName);
        if (!a) continue;
        a.cpu -= p.requests.cpu;
        a.memory -= p.requests.memory;
        a.gpu -= p.requests.gpu;
      }
      return out;
    };
    emptyClusterView(engine.ctx, driver);
    for (let step = 0; step < 300; step++) {
      const k = r(5);
      const at = names[r(names.length)];
      if (k === 0 || pods.length === 0) {
        const p = r(2) === 0 ? otherPod(`o${step}`, at, `${1 + r(12)}`, `${1 + r(12)}Gi`) : ours(`e${step}`, at);
        state.upsertPod(p);
        pods.push(p);
      } else if (k === 1) {
        const [p] = pods.splice(r(pods.length), 1);
        state.removePod(p.namespace, p.name);
      } else if (k === 2) {
        // A reservation naming one of the pods takes it out of the overhead, and gives it back when it goes.
        const p = pods[r(pods.length)];
        const appId = `app${step}`;
        state.putReservation({
          namespace: p.namespace,
          appId,
          driverPod: "d",
          driverUid: "",
          slots: new Map([[DRIVER_SLOT, { node: at, resources: res(1000, GiB, 0) }], [executorSlotName(1), { node: at, resources: res(1000, GiB, 0) }]]),
          pods: new Map([[executorSlotName(1), p.name]]),
          createdAtMs: 0,
        });
        if (r(2) === 0) state.removeReservation(p.namespace, appId);
      } else if (k === 3) {
        const n = state.nodes.get(at)!;
        state.upsertNode({ ...n, allocatable: { ...n.allocatable, cpu: n.allocatable.cpu + 1000 } });
      } else {
        // A heartbeat: the same node again changes nothing.
        state.upsertNode({ ...state.nodes.get(at)! });
      }
      const view = emptyClusterView(engine.ctx, driver);
      const want = expected();
      for (const [name, entry] of view.metadata) expect(entry.available, `step ${step}, node ${name}`).toEqual(want.get(name));
      const fresh = new Map([...view.metadata].map(([name, e]) => [name, { ...e, available: { ...want.get(name)! }, schedulable: { ...want.get(name)! } }]));
      const order = [...view.names];
      for (const shape of shapes) {
        const cached = view.verdicts.size;
        const got = exceedsClusterCapacity(engine.ctx, driver, shape);
        if (view.verdicts.size === cached) reused++;
        const want = !engine.config.binpack.pack(shape.driver, shape.executor, shape.minExecutors, order, order, fresh).hasCapacity;
        expect(got, `step ${step}`).toBe(want);
        if (last.has(shape.minExecutors) && last.get(shape.minExecutors) !== want) flips++;
        last.set(shape.minExecutors, want);
      }
    }
    if (binpack !== "single-az-tightly-pack") expect(reused).toBeGreaterThan(100);
    expect(flips).toBeGreaterThan(10);
  });
});
