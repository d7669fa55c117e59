// The reference extender's scenario tests (spec §13.8), re-created on our engine.

import { describe, expect, it } from "vitest";
import { ClusterState } from "../../src/engine/state.js";
import { Harness, driverPod, executorPod, node } from "./harness.js";

const both = ["node1", "node2"];

describe("TestScheduler (single-az-tightly-pack)", () => {
  it("gang-admits a static app, refuses an executor beyond its slots, and reuses a dead executor's slot", () => {
    const h = new Harness([node("node1"), node("node2")]);
    const driver = driverPod("app", { count: 2 });
    const d = h.schedule(driver, both);
    expect(d.outcome).toBe("success");
    expect(d.node).toBe("node1");
    expect(d.writes).toHaveLength(1);
    expect(d.writes[0].op).toBe("create");

    const e0 = executorPod("app", 0);
    const e1 = executorPod("app", 1);
    expect(h.schedule(e0, both)).toMatchObject({ outcome: "success", node: "node1" });
    expect(h.schedule(e1, both)).toMatchObject({ outcome: "success", node: "node1" });

    const extra = executorPod("app", "newly-requested");
    const refused = h.schedule(extra, both);
    expect(refused.outcome).toBe("failure-unbound");
    expect(refused.reason).toMatch(/no free executor spots/);

    h.terminate(e0);
    const retried = h.schedule(extra, both);
    expect(retried).toMatchObject({ outcome: "success", node: "node1" });
    expect(h.reservedExecutors()).toEqual(["app-spark-exec-1", "app-spark-exec-newly-requested"]);
  });
});

describe("TestMinimalFragmentation", () => {
  it("attracts an extra executor to the node already hosting the app's executor", () => {
    const h = new Harness([node("node1"), node("node2")], { binpack: "single-az-minimal-fragmentation" });
    expect(h.schedule(driverPod("static", { count: 2 }), ["node1"]).node).toBe("node1");
    expect(h.schedule(executorPod("static", 0), ["node1"]).node).toBe("node1");
    expect(h.schedule(executorPod("static", 1), ["node1"]).node).toBe("node1");

    const da = driverPod("dynamic", { dynamic: { min: 1, max: 2 } });
    expect(h.schedule(da, both).node).toBe("node2"); // node1 has no GPU left
    expect(h.state.getReservation("namespace", "dynamic")!.slots.get("executor-1")!.node).toBe("node1");

    const e0 = h.schedule(executorPod("dynamic", 0), ["node2"]);
    expect(e0).toMatchObject({ outcome: "success-rescheduled", node: "node2" });
    expect(h.state.getReservation("namespace", "dynamic")!.slots.get("executor-1")!.node).toBe("node2");

    const e1 = h.schedule(executorPod("dynamic", 1), both);
    expect(e1).toMatchObject({ outcome: "success-scheduled-extra-executor", node: "node2" });
  });

  it("edge case: picks the node with the smallest capacity when no node hosts the app yet", () => {
    const h = new Harness([node("node1"), node("node2")], { binpack: "single-az-minimal-fragmentation" });
    expect(h.schedule(driverPod("static", { count: 0, driverMem: "4" }), ["node1"]).node).toBe("node1");
    const da = driverPod("dynamic", { dynamic: { min: 0, max: 1 }, driverCpu: "4", executorCpu: "3" });
    expect(h.schedule(da, ["node2"]).node).toBe("node2");
    const e = h.schedule(executorPod("dynamic", 0), both);
    expect(e).toMatchObject({ outcome: "success-scheduled-extra-executor", node: "node2" });
  });
});

describe("TestSchedulerFailsToScheduleWhenNotEnoughNvidiaGPUs", () => {
  it("refuses a driver whose gang needs more GPUs than exist, and its executors find no reservation", () => {
    const h = new Harness([node("node1"), node("node2")]);
    const d = h.schedule(driverPod("gpu", { count: 2, executorGpu: "1" }), both);
    expect(d.outcome).toBe("failure-fit");
    expect(d.demand).toMatchObject({ op: "create", podName: "gpu-spark-driver" });
    expect(h.state.reservations.size).toBe(0);
    for (const i of [0, 1]) {
      const e = h.schedule(executorPod("gpu", i), both);
      expect(e.outcome).toBe("failure-no-reservation");
      expect(e.reason).toMatch(/no reservation/);
    }
  });
});

describe("TestDynamicAllocationScheduling", () => {
  const nodes = () => [node("node1"), node("node2")];

  it("a. reserves up to the minimum", () => {
    const h = new Harness(nodes());
    h.schedule(driverPod("app", { dynamic: { min: 1, max: 3 } }), both);
    h.schedule(executorPod("app", 0), both);
    expect(h.reservedExecutors()).toEqual(["app-spark-exec-0"]);
    expect(h.soft()).toEqual({});
  });

  it("b. soft-reserves executors above the minimum", () => {
    const h = new Harness(nodes());
    h.schedule(driverPod("app", { dynamic: { min: 1, max: 3 } }), both);
    h.schedule(executorPod("app", 0), both);
    expect(h.schedule(executorPod("app", 1), both).outcome).toBe("success-scheduled-extra-executor");
    expect(h.reservedExecutors()).toEqual(["app-spark-exec-0"]);
    expect(h.soft()).toEqual({ "app-spark-exec-1": "node1" });
  });

  it("c. puts the soft reservation on the fullest node", () => {
    const h = new Harness(nodes());
    h.schedule(driverPod("app", { dynamic: { min: 1, max: 2 } }), ["node2"]);
    h.schedule(executorPod("app", 0), ["node2"]);
    h.schedule(executorPod("app", 1), both);
    expect(h.reservedExecutors()).toEqual(["app-spark-exec-0"]);
    expect(h.soft()).toEqual({ "app-spark-exec-1": "node2" });
  });

  it("d. reserves nothing above the maximum and is idempotent for repeats", () => {
    const h = new Harness(nodes());
    h.schedule(driverPod("app", { dynamic: { min: 1, max: 3 } }), both);
    for (const i of [0, 1, 2]) h.schedule(executorPod("app", i), both);
    const repeat = h.schedule(executorPod("app", 2), both);
    expect(repeat).toMatchObject({ outcome: "success-already-bound", node: "node1", writes: [] });
    expect(h.reservedExecutors()).toEqual(["app-spark-exec-0"]);
    expect(h.soft()).toEqual({ "app-spark-exec-1": "node1", "app-spark-exec-2": "node1" });
    expect(h.schedule(executorPod("app", 3), both).outcome).toBe("failure-unbound");
  });

  it("e. a dead reserved executor is replaced before a new soft reservation is made", () => {
    const h = new Harness(nodes());
    h.schedule(driverPod("app", { dynamic: { min: 1, max: 3 } }), both);
    const e0 = executorPod("app", 0);
    h.schedule(e0, both);
    h.schedule(executorPod("app", 1), both);
    h.terminate(e0);
    expect(h.schedule(executorPod("app", 2), both).outcome).toBe("success");
    expect(h.reservedExecutors()).toEqual(["app-spark-exec-2"]);
    expect(h.soft()).toEqual({ "app-spark-exec-1": "node1" });
  });

  it("f. extra executors stay in the application's zone", () => {
    const h = new Harness([node("node1", { zone: "zone1" }), node("node2", { zone: "zone2" })]);
    h.schedule(driverPod("static", { count: 1 }), ["node1"]);
    h.schedule(executorPod("static", 0), ["node1"]);
    h.schedule(driverPod("dynamic", { dynamic: { min: 0, max: 2 } }), ["node2"]);
    h.schedule(executorPod("dynamic", 0), both);
    h.schedule(executorPod("dynamic", 1), both);
    expect(h.reservedExecutors()).toEqual(["static-spark-exec-0"]);
    expect(h.soft()).toEqual({ "dynamic-spark-exec-0": "node2", "dynamic-spark-exec-1": "node2" });
  });

  it("f'. without the same-zone rule the fuller node in the other zone wins", () => {
    const h = new Harness([node("node1", { zone: "zone1" }), node("node2", { zone: "zone2" })], {
      "should-schedule-dynamically-allocated-executors-in-same-az": false,
    });
    h.schedule(driverPod("static", { count: 1 }), ["node1"]);
    h.schedule(executorPod("static", 0), ["node1"]);
    h.schedule(driverPod("dynamic", { dynamic: { min: 0, max: 2 } }), ["node2"]);
    h.schedule(executorPod("dynamic", 0), both);
    expect(h.soft()).toEqual({ "dynamic-spark-exec-0": "node1" });
  });
});

describe("soft reservation bookkeeping", () => {
  it("never gives a soft reservation to an executor that was seen dead", () => {
    const state = new ClusterState();
    state.ensureSoft("ns", "app", 2);
    state.addSoft("ns", "app", "exec-1", { node: "n1", resources: { cpu: 1000, memory: 1, gpu: 0 } });
    expect(state.reservedOn("n1").cpu).toBe(1000);
    state.removeSoft("ns", "app", "exec-1", true);
    expect(state.reservedOn("n1").cpu).toBe(0);
    state.addSoft("ns", "app", "exec-1", { node: "n1", resources: { cpu: 1000, memory: 1, gpu: 0 } });
    expect(state.getSoft("ns", "app")!.executors.size).toBe(0);
  });

  it("keys soft reservations by namespace as well as app id", () => {
    const state = new ClusterState();
    state.ensureSoft("ns-a", "app", 1);
    state.addSoft("ns-b", "app", "exec-1", { node: "n1", resources: { cpu: 1000, memory: 1, gpu: 0 } });
    expect(state.getSoft("ns-a", "app")!.executors.size).toBe(0);
    expect(state.reservedOn("n1").cpu).toBe(0);
  });
});
