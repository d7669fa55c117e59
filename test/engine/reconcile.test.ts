import { describe, expect, it } from "vitest";
import { configFromObject } from "../../src/config.js";
import { Engine } from "../../src/engine/engine.js";
import { type PodInfo, nodeFromObject, podFromObject } from "../../src/engine/model.js";
import { reconcile } from "../../src/engine/reconcile.js";
import { DRIVER_SLOT, type Reservation } from "../../src/engine/reservation.js";
import { res } from "../../src/engine/resources.js";

const GiB = 2 ** 30;
const NOW = 1_700_000_000_000;

function engine(raw: Record<string, unknown> = {}): Engine {
  return new Engine(configFromObject(raw).engine);
}

function addNode(e: Engine, name: string, opts: { cpu?: string; memory?: string; zone?: string } = {}): void {
  e.state.upsertNode(
    nodeFromObject({
      metadata: { name, labels: { "topology.kubernetes.io/zone": opts.zone ?? "z1" }, creationTimestamp: "2024-01-01T00:00:00Z" },
      status: {
        allocatable: { cpu: opts.cpu ?? "8", memory: opts.memory ?? "8Gi" },
        conditions: [{ type: "Ready", status: "True" }],
      },
    }),
  );
}

interface PodOpts {
  namespace?: string;
  node?: string;
  phase?: string;
  createdAt?: string;
  schedulerName?: string;
  annotations?: Record<string, string>;
  deleting?: boolean;
}

function pod(name: string, role: "driver" | "executor", appId: string, opts: PodOpts = {}): PodInfo {
  const cpu = role === "driver" ? "1" : "2";
  return podFromObject({
    metadata: {
      name,
      namespace: opts.namespace ?? "ns",
      uid: `uid-${opts.namespace ?? "ns"}-${name}`,
      labels: { "spark-role": role, "spark-app-id": appId },
      annotations: opts.annotations ?? {},
      creationTimestamp: opts.createdAt ?? "2024-01-01T00:00:00Z",
      deletionTimestamp: opts.deleting ? "2024-01-01T01:00:00Z" : undefined,
    },
    spec: {
      schedulerName: opts.schedulerName ?? "spark-scheduler",
      nodeName: opts.node ?? "",
      containers: [{ name: "c", resources: { requests: { cpu, memory: "1Gi" } } }],
    },
    status: { phase: opts.phase ?? (opts.node ? "Running" : "Pending") },
  });
}

function staticApp(count: number): Record<string, string> {
  return {
    "spark-driver-cpu": "1",
    "spark-driver-mem": "1Gi",
    "spark-executor-cpu": "2",
    "spark-executor-mem": "1Gi",
    "spark-executor-count": String(count),
  };
}

function dynamicApp(min: number, max: number): Record<string, string> {
  return {
    "spark-driver-cpu": "1",
    "spark-driver-mem": "1Gi",
    "spark-executor-cpu": "2",
    "spark-executor-mem": "1Gi",
    "spark-dynamic-allocation-enabled": "true",
    "spark-dynamic-allocation-min-executor-count": String(min),
    "spark-dynamic-allocation-max-executor-count": String(max),
  };
}

function reservation(namespace: string, appId: string, driver: string, slots: [string, string, string?][]): Reservation {
  const r: Reservation = {
    namespace,
    appId,
    driverPod: driver,
    driverUid: `uid-${namespace}-${driver}`,
    slots: new Map(),
    pods: new Map(),
    createdAtMs: NOW,
    resourceVersion: "7",
  };
  for (const [slot, node, podName] of slots) {
    r.slots.set(slot, { node, resources: slot === DRIVER_SLOT ? res(1000, GiB) : res(2000, GiB) });
    if (podName) r.pods.set(slot, podName);
  }
  return r;
}

const bindings = (r: Reservation | undefined) => Object.fromEntries(r?.pods ?? []);
const nodesOf = (r: Reservation | undefined) => Object.fromEntries([...(r?.slots ?? [])].map(([k, s]) => [k, s.node]));

describe("reconcile (a): executors missing from their reservation", () => {
  it("binds a running executor to an unbound slot on its own node, never the driver slot", () => {
    const e = engine();
    addNode(e, "n1");
    addNode(e, "n2");
    e.state.upsertPod(pod("drv", "driver", "app", { node: "n1", phase: "Succeeded", annotations: staticApp(2) }));
    e.state.upsertPod(pod("ex-1", "executor", "app", { node: "n2" }));
    e.state.putReservation(
      reservation("ns", "app", "drv", [
        [DRIVER_SLOT, "n1", "drv"],
        ["executor-1", "n1"],
        ["executor-2", "n2"],
      ]),
    );
    const report = reconcile(e.ctx, NOW);
    expect(report.writes).toHaveLength(1);
    expect(report.writes[0].op).toBe("update");
    const r = e.state.getReservation("ns", "app");
    expect(bindings(r)).toEqual({ driver: "drv", "executor-2": "ex-1" });
    expect(report.writes[0].reservation).toBe(r);
    expect(report.writes[0].op === "update" && bindings(report.writes[0].previous)).toEqual({ driver: "drv" });
  });

  it("moves another unbound slot to the executor's node when its own node has none", () => {
    const e = engine();
    addNode(e, "n1");
    addNode(e, "n2");
    addNode(e, "n3");
    e.state.upsertPod(pod("drv", "driver", "app", { node: "n1", annotations: staticApp(2) }));
    e.state.upsertPod(pod("ex-a", "executor", "app", { node: "n2" }));
    e.state.upsertPod(pod("ex-b", "executor", "app", { node: "n3" }));
    e.state.putReservation(
      reservation("ns", "app", "drv", [
        [DRIVER_SLOT, "n1", "drv"],
        ["executor-1", "n2", "ex-a"],
        ["executor-2", "n2"],
      ]),
    );
    reconcile(e.ctx, NOW);
    const r = e.state.getReservation("ns", "app");
    expect(bindings(r)).toEqual({ driver: "drv", "executor-1": "ex-a", "executor-2": "ex-b" });
    expect(nodesOf(r)).toEqual({ driver: "n1", "executor-1": "n2", "executor-2": "n3" });
    expect(e.state.reservedOn("n3")).toEqual(res(2000, GiB));
    expect(e.state.reservedOn("n2")).toEqual(res(2000, GiB));
  });

  it("keys pods by namespace: a same-named executor in another namespace does not count as reserved", () => {
    const e = engine();
    addNode(e, "n1");
    e.state.upsertPod(pod("drv", "driver", "app", { node: "n1", annotations: staticApp(1) }));
    e.state.upsertPod(pod("ex-1", "executor", "app", { node: "n1" }));
    e.state.upsertPod(pod("drv", "driver", "app", { namespace: "other", node: "n1", annotations: staticApp(1) }));
    e.state.upsertPod(pod("ex-1", "executor", "app", { namespace: "other", node: "n1" }));
    e.state.putReservation(
      reservation("ns", "app", "drv", [
        [DRIVER_SLOT, "n1", "drv"],
        ["executor-1", "n1", "ex-1"],
      ]),
    );
    e.state.putReservation(
      reservation("other", "app", "drv", [
        [DRIVER_SLOT, "n1", "drv"],
        ["executor-1", "n1"],
      ]),
    );
    const report = reconcile(e.ctx, NOW);
    expect(report.writes.map((w) => `${w.reservation.namespace}/${w.reservation.appId}`)).toEqual(["other/app"]);
    expect(bindings(e.state.getReservation("other", "app"))).toEqual({ driver: "drv", "executor-1": "ex-1" });
  });

  it("ignores pods of other schedulers, pending, terminated and terminating pods", () => {
    const e = engine();
    addNode(e, "n1");
    e.state.upsertPod(pod("drv", "driver", "app", { node: "n1", annotations: staticApp(4) }));
    e.state.upsertPod(pod("ex-other", "executor", "app", { node: "n1", schedulerName: "default-scheduler" }));
    e.state.upsertPod(pod("ex-pending", "executor", "app"));
    e.state.upsertPod(pod("ex-done", "executor", "app", { node: "n1", phase: "Failed" }));
    e.state.upsertPod(pod("ex-leaving", "executor", "app", { node: "n1", deleting: true }));
    e.state.putReservation(reservation("ns", "app", "drv", [[DRIVER_SLOT, "n1", "drv"], ["executor-1", "n1"]]));
    expect(reconcile(e.ctx, NOW)).toEqual({ writes: [], softAdded: [], problems: [] });
  });
});

describe("reconcile (b): a running driver without a reservation", () => {
  it("rebuilds the reservation: running executors bound on their nodes, the rest placed with free capacity", () => {
    const e = engine();
    addNode(e, "n1", { cpu: "4" });
    addNode(e, "n2", { cpu: "4" });
    addNode(e, "n3", { cpu: "8" });
    e.state.upsertPod(pod("drv", "driver", "app", { node: "n1", annotations: staticApp(4) }));
    e.state.upsertPod(pod("ex-1", "executor", "app", { node: "n1", createdAt: "2024-01-01T00:00:01Z" }));
    e.state.upsertPod(pod("ex-2", "executor", "app", { node: "n2", createdAt: "2024-01-01T00:00:02Z" }));
    const report = reconcile(e.ctx, NOW);
    expect(report.problems).toEqual([]);
    expect(report.writes).toHaveLength(1);
    expect(report.writes[0].op).toBe("create");
    const r = e.state.getReservation("ns", "app")!;
    expect(report.writes[0].reservation).toBe(r);
    expect(r.driverPod).toBe("drv");
    expect(r.driverUid).toBe("uid-ns-drv");
    expect(bindings(r)).toEqual({ driver: "drv", "executor-1": "ex-1", "executor-2": "ex-2" });
    // n1 is full (driver 1 + executor 2 of 4 cpu leaves 1), n2 has room for one more, n3 for the other.
    const nodes = nodesOf(r);
    expect(nodes).toMatchObject({ driver: "n1", "executor-1": "n1", "executor-2": "n2" });
    expect([nodes["executor-3"], nodes["executor-4"]].sort()).toEqual(["n2", "n3"]);
    expect(e.state.overheadOn("n1")).toEqual(res(0, 0));
  });

  it("places several rebuilt applications against each other's capacity (no phantom subtraction)", () => {
    const e = engine();
    addNode(e, "n1", { cpu: "4" });
    addNode(e, "n2", { cpu: "4" });
    e.state.upsertPod(pod("drv-a", "driver", "a", { node: "n1", annotations: staticApp(1) }));
    e.state.upsertPod(pod("drv-b", "driver", "b", { node: "n1", annotations: staticApp(1) }));
    // n1: 4 − 2 drivers = 2 cpu; n2: 4 cpu. Two executors of 2 cpu fit exactly: one on each node.
    const report = reconcile(e.ctx, NOW);
    expect(report.problems).toEqual([]);
    const placed = ["a", "b"].map((app) => nodesOf(e.state.getReservation("ns", app))["executor-1"]).sort();
    expect(placed).toEqual(["n1", "n2"]);
  });

  it("reports an application whose remaining executors do not fit, and keeps the slots it could place", () => {
    const e = engine();
    addNode(e, "n1", { cpu: "3" });
    e.state.upsertPod(pod("drv", "driver", "app", { node: "n1", annotations: staticApp(3) }));
    const report = reconcile(e.ctx, NOW);
    expect(nodesOf(e.state.getReservation("ns", "app"))).toEqual({ driver: "n1", "executor-1": "n1" });
    expect(report.problems).toEqual([
      { namespace: "ns", appId: "app", message: expect.stringContaining("only 1 of 3 unstarted executor slot(s) fit") },
    ]);
  });

  it("reports a driver whose shape cannot be read, and executors without a running driver", () => {
    const e = engine();
    addNode(e, "n1");
    e.state.upsertPod(pod("drv", "driver", "bad", { node: "n1" }));
    e.state.upsertPod(pod("ex-1", "executor", "orphan", { node: "n1" }));
    const report = reconcile(e.ctx, NOW);
    expect(report.writes).toEqual([]);
    expect(report.problems.map((p) => `${p.appId}: ${p.message}`)).toEqual([
      expect.stringMatching(/^bad: cannot rebuild the reservation of running driver drv: driver has no spark-scheduler annotations/),
      "orphan: 1 executor(s) run, but the application has no reservation and no running driver",
    ]);
  });
});

describe("reconcile (c): dynamic allocation", () => {
  it("gives extra executors soft reservations up to max − min; the rest are reported", () => {
    const e = engine();
    addNode(e, "n1", { cpu: "32" });
    e.state.upsertPod(pod("drv", "driver", "app", { node: "n1", annotations: dynamicApp(1, 3) }));
    for (let i = 1; i <= 4; i++) {
      e.state.upsertPod(pod(`ex-${i}`, "executor", "app", { node: "n1", createdAt: `2024-01-01T00:00:0${i}Z` }));
    }
    const report = reconcile(e.ctx, NOW);
    expect(bindings(e.state.getReservation("ns", "app"))).toEqual({ driver: "drv", "executor-1": "ex-1" });
    expect(report.softAdded.map((s) => s.pod)).toEqual(["ex-2", "ex-3"]);
    const soft = e.state.getSoft("ns", "app")!;
    expect(soft.maxExtra).toBe(2);
    expect([...soft.executors.keys()]).toEqual(["ex-2", "ex-3"]);
    expect(report.problems).toEqual([
      { namespace: "ns", appId: "app", message: expect.stringContaining("executor ex-4 runs beyond the reservation (all 2 soft") },
    ]);
    // Reserved: driver 1 + executor 2 + two soft executors 2 each; ex-4 counts as overhead.
    expect(e.state.reservedOn("n1").cpu).toBe(7000);
    expect(e.state.overheadOn("n1").cpu).toBe(2000);
  });

  it("creates an empty soft-reservation entry for every admitted running dynamic-allocation driver", () => {
    const e = engine();
    addNode(e, "n1");
    e.state.upsertPod(pod("drv", "driver", "app", { node: "n1", annotations: dynamicApp(0, 2) }));
    e.state.putReservation(reservation("ns", "app", "drv", [[DRIVER_SLOT, "n1", "drv"]]));
    reconcile(e.ctx, NOW);
    expect(e.state.getSoft("ns", "app")).toMatchObject({ maxExtra: 2, executors: new Map() });
  });

  it("is idempotent: a second run finds nothing to do", () => {
    const e = engine();
    addNode(e, "n1", { cpu: "32" });
    e.state.upsertPod(pod("drv", "driver", "app", { node: "n1", annotations: dynamicApp(1, 2) }));
    e.state.upsertPod(pod("ex-1", "executor", "app", { node: "n1" }));
    e.state.upsertPod(pod("ex-2", "executor", "app", { node: "n1" }));
    expect(reconcile(e.ctx, NOW).writes).toHaveLength(1);
    expect(reconcile(e.ctx, NOW)).toEqual({ writes: [], softAdded: [], problems: [] });
  });
});
