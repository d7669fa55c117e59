// Engine behaviour beyond the reference's own tests: the suggested extra cases (spec §13.12), rollback,
// compaction, overhead, node eligibility, queue position and simulation.

import { describe, expect, it } from "vitest";
import { OBSERVED_POD_TTL_MS } from "../../src/engine/engine.js";
import { reservationFromObject, reservationToObject } from "../../src/engine/reservation.js";
import { GiB, Harness, driverPod, executorPod, node, otherPod } from "./harness.js";

const both = ["node1", "node2"];

describe("driver", () => {
  it("case 3: a driver asked again gets its reserved node", () => {
    const h = new Harness([node("node1"), node("node2")]);
    const driver = driverPod("app");
    const first = h.engine.filter(driver, both, h.now);
    expect(first.node).toBe("node1");
    const again = h.engine.filter(driver, ["node2", "node1"], h.now);
    expect(again).toMatchObject({ outcome: "success", node: "node1", writes: [] });
  });

  it("a driver whose reserved node is not offered fails with a reason instead of naming an unoffered node", () => {
    const h = new Harness([node("node1"), node("node2")]);
    const driver = driverPod("app");
    h.engine.filter(driver, both, h.now);
    const d = h.engine.filter(driver, ["node2"], h.now);
    expect(d.outcome).toBe("failure-fit");
    expect(d.reason).toMatch(/reserved on node node1/);
  });

  it("a second driver reusing a running application's id is refused", () => {
    const h = new Harness([node("node1"), node("node2")]);
    h.schedule(driverPod("app"), both);
    const twin = { ...driverPod("app"), name: "other-driver", uid: "other-uid" };
    const d = h.schedule(twin, both);
    expect(d.outcome).toBe("failure-invalid");
    expect(d.reason).toBe("application id app is already used by running driver namespace/app-spark-driver; give each application its own spark-app-id");
    expect(h.state.getReservation("namespace", "app")!.driverPod).toBe("app-spark-driver");
  });

  it("a replacement driver with the same app id takes over the reservation", () => {
    const h = new Harness([node("node1"), node("node2")]);
    const first = driverPod("app");
    h.schedule(first, both);
    h.terminate(first);
    const replacement = { ...driverPod("app"), name: "app-spark-driver-2", uid: "new-uid" };
    const d = h.schedule(replacement, both);
    expect(d).toMatchObject({ outcome: "success", node: "node1" });
    expect(d.writes[0].op).toBe("update");
    const r = h.state.getReservation("namespace", "app")!;
    expect(r.driverPod).toBe("app-spark-driver-2");
    expect(r.driverUid).toBe("new-uid");
  });

  it("a driver re-created under the same name (new uid) takes over its reservation's ownership", () => {
    const h = new Harness([node("node1"), node("node2")]);
    const first = driverPod("app");
    h.schedule(first, both);
    h.delete(first);
    const recreated = { ...first, uid: "recreated-uid", nodeName: "" };
    const d = h.schedule(recreated, both);
    expect(d).toMatchObject({ outcome: "success", node: "node1" });
    expect(d.writes.map((w) => w.op)).toEqual(["update"]);
    expect(h.state.getReservation("namespace", "app")!.driverUid).toBe("recreated-uid");
  });

  it("a stale copy of a known pod in the extender call does not overwrite the engine's picture", () => {
    const h = new Harness([node("node1"), node("node2")]);
    const driver = driverPod("app");
    h.schedule(driver, both); // bound to node1 in the state
    h.engine.filter(driver, both, h.now); // kube-scheduler's copy still has no nodeName
    expect(h.state.getPod("namespace", driver.name)!.nodeName).toBe("node1");
    // The informer is the only writer of pods: a new incarnation becomes the engine's once the informer shows it.
    const recreated = { ...driver, uid: "new-incarnation" };
    h.engine.filter(recreated, both, h.now);
    expect(h.state.getPod("namespace", driver.name)!.uid).toBe(driver.uid);
  });

  it("a pod seen only in an extender call is observed, confirmed by the informer or expired", () => {
    const h = new Harness([node("node1"), node("node2")]);
    h.schedule(driverPod("app", { count: 1 }), both);
    const e0 = executorPod("app", 0);
    // kube-scheduler shows the executor first: it holds its slot while only observed.
    expect(h.engine.filter(e0, both, h.now).outcome).toBe("success");
    expect(h.state.pods.has("namespace/" + e0.name)).toBe(false);
    expect(h.state.getPod("namespace", e0.name)?.uid).toBe(e0.uid);
    const e1 = executorPod("app", 1);
    expect(h.engine.filter(e1, both, h.now).outcome).toBe("failure-unbound");
    // The watch never shows it (created and deleted while it was down): after the overlay expires the slot is free.
    h.now += OBSERVED_POD_TTL_MS + 1;
    expect(h.engine.filter(e1, both, h.now).outcome).toBe("success");
    expect(h.state.getPod("namespace", e0.name)).toBeUndefined();
    // The informer's copy replaces an observed pod.
    expect(h.state.observedCount).toBe(1);
    h.add({ ...e1, nodeName: "node1" });
    expect(h.state.observedCount).toBe(0);
    expect(h.state.getPod("namespace", e1.name)?.nodeName).toBe("node1");
  });

  it("a driver seen by filter but never by the informer is no phantom pending driver after expiry", () => {
    const h = new Harness([node("node1")]);
    h.add(otherPod("hog", "node1", "8"));
    const ghost = driverPod("ghost", { createdAtMs: 0 });
    expect(h.engine.filter(ghost, ["node1"], h.now).outcome).toBe("failure-fit");
    h.state.removePod("other", "hog"); // capacity is back; a relist would not mention the ghost at all
    const later = driverPod("later", { createdAtMs: 5 });
    h.add(later);
    // The ghost is not queued ahead of the later driver, before or after its overlay expires.
    const q = h.engine.queuePosition("namespace", later.name, h.now);
    expect(q.ok && q.value.position).toBe(1);
    h.now += OBSERVED_POD_TTL_MS + 1;
    expect(h.schedule(later, ["node1"]).outcome).toBe("success");
    expect(h.state.getPod("namespace", ghost.name)).toBeUndefined();
    expect(h.engine.queuePosition("namespace", ghost.name, h.now).ok).toBe(false);
  });

  it("invalid annotations fail with a reason naming the annotation, and reserve nothing", () => {
    const h = new Harness([node("node1")]);
    const d = h.schedule(driverPod("app", { executorMem: "lots" }), ["node1"]);
    expect(d.outcome).toBe("failure-invalid");
    expect(d.reason).toBe('annotation spark-executor-mem does not have a parseable value "lots"');
    expect(h.state.reservations.size).toBe(0);
  });

  it("non-Spark pods are refused", () => {
    const h = new Harness([node("node1")]);
    const d = h.schedule(otherPod("web", "", "1"), ["node1"]);
    expect(d.outcome).toBe("failure-non-spark-pod");
    expect(d.reason).toMatch(/spark-role/);
  });

  it("reserves a driver slot and one slot per executor with the annotated resources", () => {
    const h = new Harness([node("node1", { cpu: "4" }), node("node2", { cpu: "4" })], { binpack: "distribute-evenly" });
    h.schedule(driverPod("app", { count: 4, executorCpu: "1500m", executorMem: "2g" }), both);
    const r = h.state.getReservation("namespace", "app")!;
    expect([...r.slots.keys()]).toEqual(["driver", "executor-1", "executor-2", "executor-3", "executor-4"]);
    expect(r.slots.get("executor-3")!.resources).toEqual({ cpu: 1500, memory: 2 * GiB, gpu: 0 });
    expect([...r.slots.values()].map((s) => s.node)).toEqual(["node1", "node1", "node2", "node1", "node2"]);
    expect(r.pods.get("driver")).toBe("app-spark-driver");
  });

  it("does not place executor slots on nodes the driver's pod spec excludes (taints, cordons, not ready)", () => {
    const h = new Harness([
      node("node1"),
      node("tainted", { taints: [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }] }),
      node("cordoned", { unschedulable: true }),
      node("notready", { ready: false }),
    ], { binpack: "distribute-evenly" });
    h.schedule(driverPod("app", { count: 3, executorCpu: "2" }), ["node1"]);
    const nodes = new Set([...h.state.getReservation("namespace", "app")!.slots.values()].map((s) => s.node));
    expect([...nodes]).toEqual(["node1"]);
  });

  it("case 8: overhead of non-Spark pods is subtracted; completed pods do not count", () => {
    const h = new Harness([node("node1"), node("node2")], { binpack: "tightly-pack" });
    h.add(otherPod("busy", "node1", "6"));
    // driver 1 + 2 executors of 4 cpu: node1 has 2 cpu left, so the executors go to node2.
    h.schedule(driverPod("app", { count: 2, executorCpu: "4", driverGpu: "0" }), both);
    const r = h.state.getReservation("namespace", "app")!;
    expect(r.slots.get("executor-1")!.node).toBe("node2");
    expect(h.state.overheadOn("node1").cpu).toBe(6000);
    h.terminate(h.state.getPod("other", "busy")!);
    expect(h.state.overheadOn("node1").cpu).toBe(0);
  });

  it("pods holding a reservation are not counted twice as overhead", () => {
    const h = new Harness([node("node1"), node("node2")]);
    h.schedule(driverPod("app", { count: 1 }), both);
    h.schedule(executorPod("app", 0), both);
    expect(h.state.overheadOn("node1").cpu).toBe(0);
    expect(h.state.reservedOn("node1").cpu).toBe(2000);
  });
});

describe("executor", () => {
  it("case 4: the same executor asked twice gets the same node and consumes no second slot", () => {
    const h = new Harness([node("node1"), node("node2")]);
    h.schedule(driverPod("app", { count: 2 }), both);
    const e0 = executorPod("app", 0);
    expect(h.schedule(e0, both).outcome).toBe("success");
    const again = h.schedule(e0, both);
    expect(again).toMatchObject({ outcome: "success-already-bound", node: "node1", writes: [] });
    const r = h.state.getReservation("namespace", "app")!;
    expect([...r.pods.values()].filter((p) => p === e0.name)).toHaveLength(1);
  });

  it("case 5: an executor offered only other nodes moves an unbound slot there", () => {
    const h = new Harness([node("node1"), node("node2")]);
    h.schedule(driverPod("app", { count: 1 }), both);
    const d = h.schedule(executorPod("app", 0), ["node2"]);
    expect(d).toMatchObject({ outcome: "success-rescheduled", node: "node2" });
    expect(h.state.getReservation("namespace", "app")!.slots.get("executor-1")!.node).toBe("node2");
    expect(h.state.reservedOn("node1").cpu).toBe(1000);
    expect(h.state.reservedOn("node2").cpu).toBe(1000);
  });

  it("case 5b: no room on the offered nodes fails with an executor demand", () => {
    const h = new Harness([node("node1"), node("node2", { cpu: "1" })]);
    h.add(otherPod("hog", "node2", "1"));
    h.schedule(driverPod("app", { count: 1 }), ["node1"]);
    const d = h.schedule(executorPod("app", 0), ["node2"]);
    expect(d.outcome).toBe("failure-fit");
    expect(d.reason).toMatch(/not enough capacity to reschedule the executor/);
    expect(d.demand).toMatchObject({ op: "create", podName: "app-spark-exec-0", units: [{ count: 1 }] });
  });

  it("an executor of an application that was never admitted gets a clear reason", () => {
    const h = new Harness([node("node1")]);
    const d = h.schedule(executorPod("ghost", 0), ["node1"]);
    expect(d.outcome).toBe("failure-no-reservation");
    expect(d.reason).toBe("application namespace/ghost has no reservation: its driver has not been admitted by spark-scheduler yet");
  });

  it("executors are recognised by Spark's own spark-app-selector label", () => {
    const h = new Harness([node("node1"), node("node2")]);
    h.schedule(driverPod("app", { count: 1 }), both);
    const e = executorPod("app", 0);
    const selectorOnly = { ...e, labels: { "spark-role": "executor", "spark-app-selector": "app" } };
    expect(h.schedule(selectorOnly, both).outcome).toBe("success");
  });

  it("compaction: when a reserved executor is deleted, a soft-reserved one moves into its slot", () => {
    const h = new Harness([node("node1"), node("node2")]);
    h.schedule(driverPod("app", { dynamic: { min: 1, max: 2 } }), both);
    const e0 = executorPod("app", 0);
    h.schedule(e0, both);
    h.schedule(executorPod("app", 1), both);
    expect(h.soft()).toEqual({ "app-spark-exec-1": "node1" });
    h.delete(e0);
    // Compaction is its own step, with its own write; the soft reservation ends once that write is stored.
    const c = h.engine.compact(h.now);
    expect(c.writes.map((w) => [w.op, w.reservation.appId])).toEqual([["update", "app"]]);
    expect(h.soft()).toEqual({ "app-spark-exec-1": "node1" }); // not yet: the write is not stored
    h.engine.settle(c);
    expect(h.soft()).toEqual({});
    const d = h.schedule(executorPod("app", 2), both);
    expect(h.reservedExecutors()).toEqual(["app-spark-exec-1"]);
    expect(d.outcome).toBe("success-scheduled-extra-executor");
    expect(h.soft()).toEqual({ "app-spark-exec-2": "node1" });
    expect(d.writes).toEqual([]);
  });
});

describe("rollback", () => {
  it("undoes a driver admission and an executor binding exactly", () => {
    const h = new Harness([node("node1"), node("node2")]);
    const admit = h.engine.filter(driverPod("app", { count: 1 }), both, h.now);
    h.engine.rollback(admit);
    expect(h.state.reservations.size).toBe(0);
    expect(h.state.reservedOn("node1")).toEqual({ cpu: 0, memory: 0, gpu: 0 });

    h.schedule(driverPod("app", { count: 1 }), both);
    const bind = h.engine.filter(executorPod("app", 0), both, h.now);
    h.engine.rollback(bind);
    expect(h.state.getReservation("namespace", "app")!.pods.has("executor-1")).toBe(false);
  });

  it("undoes a soft reservation", () => {
    const h = new Harness([node("node1"), node("node2")]);
    h.schedule(driverPod("app", { dynamic: { min: 0, max: 1 } }), both);
    const d = h.engine.filter(executorPod("app", 0), both, h.now);
    expect(d.outcome).toBe("success-scheduled-extra-executor");
    h.engine.rollback(d);
    expect(h.soft()).toEqual({});
    expect(h.engine.filter(executorPod("app", 0), both, h.now).outcome).toBe("success-scheduled-extra-executor");
  });
});

describe("queue position", () => {
  it("reports position, what is ahead, and why the driver waits", () => {
    const h = new Harness([node("n1")]);
    h.add(driverPod("big", { createdAtMs: 0, driverGpu: "0", count: 9 }));
    h.add(driverPod("mid", { createdAtMs: 1000, driverGpu: "0", count: 1 }));
    const mine = driverPod("mine", { createdAtMs: 2000, driverGpu: "0", count: 1 });
    h.add(mine);
    h.now = 3_600_000;
    const q = h.engine.queuePosition("namespace", mine.name, h.now);
    expect(q.ok).toBe(true);
    if (!q.ok) return;
    expect(q.value).toMatchObject({ state: "waiting", position: 3, queueLength: 3, instanceGroup: "batch-medium-priority" });
    expect(q.value.ahead.map((e) => [e.podName, e.fits])).toEqual([
      ["big-spark-driver", false],
      ["mid-spark-driver", true],
    ]);
    expect(q.value.reason).toMatch(/waiting behind namespace\/big-spark-driver/);
    expect(q.value.aheadDemand.cpu).toBe(10_000 + 2_000);
    expect(q.value.fitsNow).toBe(true);
  });

  it("does not claim an offer it never saw: the filter counts the offered nodes, the report the eligible ones", () => {
    const h = new Harness(["n1", "n2", "n3", "n4", "n5", "n6"].map((n) => node(n)));
    const d = driverPod("wide", { createdAtMs: 0, count: 60 }); // 61 cpu on 48
    h.add(d);
    const refused = h.engine.filter(d, ["n1", "n2", "n3", "n4", "n5"], h.now); // kube-scheduler dropped n6
    expect(refused.outcome).toBe("failure-fit");
    expect(refused.reason).toMatch(/6 eligible nodes have .* free in total \(5 offered for the driver\)$/);
    const q = h.engine.queuePosition("namespace", d.name, h.now);
    if (!q.ok) throw new Error(q.error);
    expect(q.value.reason).toMatch(/6 eligible nodes have .* free in total$/);
    expect(q.value.reason).not.toContain("offered");
  });

  it("says admitted / scheduled, and refuses unknown pods and executors", () => {
    const h = new Harness([node("n1")]);
    const d = driverPod("app", { count: 1 });
    h.engine.filter(d, ["n1"], h.now);
    const admitted = h.engine.queuePosition("namespace", d.name, h.now);
    expect(admitted.ok && admitted.value.state).toBe("admitted");
    h.schedule(d, ["n1"]);
    const scheduled = h.engine.queuePosition("namespace", d.name, h.now);
    expect(scheduled.ok && scheduled.value.state).toBe("scheduled");
    const unknown = h.engine.queuePosition("namespace", "nope", h.now);
    expect(unknown.ok).toBe(false);
    h.add(executorPod("app", 0));
    expect(h.engine.queuePosition("namespace", "app-spark-exec-0", h.now).ok).toBe(false);
  });
});

describe("simulate", () => {
  it("places a hypothetical application without reserving anything", () => {
    const h = new Harness([node("node1"), node("node2")], { binpack: "tightly-pack" });
    const shape = { driver: { cpu: 1000, memory: GiB, gpu: 0 }, executor: { cpu: 2000, memory: GiB, gpu: 0 }, minExecutors: 5, maxExecutors: 5, dynamicAllocation: false, source: "annotations" as const };
    const r = h.engine.simulate(driverPod("what-if"), shape, undefined, h.now);
    expect(r).toMatchObject({ fits: true, driverNode: "node1", binpack: "tightly-pack" });
    expect(r.executorNodes).toEqual(["node1", "node1", "node1", "node2", "node2"]);
    expect(r.packingEfficiency).toBeGreaterThan(0);
    expect(h.state.reservations.size).toBe(0);
    const tooBig = h.engine.simulate(driverPod("what-if"), { ...shape, minExecutors: 20 }, undefined, h.now);
    expect(tooBig.fits).toBe(false);
    expect(tooBig.reason).toMatch(/does not fit/);
  });
});

describe("ResourceReservation wire format", () => {
  it("round-trips through the v1beta2 object with an owner reference to the driver", () => {
    const h = new Harness([node("node1"), node("node2")]);
    h.schedule(driverPod("app", { count: 2 }), both);
    h.schedule(executorPod("app", 0), both);
    const r = h.state.getReservation("namespace", "app")!;
    const obj = reservationToObject(r) as Record<string, any>;
    expect(obj.apiVersion).toBe("sparkscheduler.palantir.com/v1beta2");
    expect(obj.metadata.ownerReferences[0]).toMatchObject({ kind: "Pod", name: "app-spark-driver", uid: r.driverUid, controller: true });
    expect(obj.spec.reservations["executor-1"]).toEqual({ node: "node1", resources: { cpu: "1", memory: "1", "nvidia.com/gpu": "0" } });
    expect(obj.status.pods).toEqual({ driver: "app-spark-driver", "executor-1": "app-spark-exec-0" });
    const back = reservationFromObject(obj);
    expect(typeof back).toBe("object");
    if (typeof back === "string") return;
    expect(back.slots).toEqual(r.slots);
    expect(back.pods).toEqual(r.pods);
    expect(reservationFromObject({ metadata: {} })).toMatch(/without metadata.name/);
  });
});

describe("reservation creation time", () => {
  it("has the API server's whole-second precision when made, as it does when read back after a restart", () => {
    const h = new Harness([node("node1"), node("node2")]);
    h.now = 1_700_000_123_456;
    h.schedule(driverPod("app"), both);
    const made = h.state.getReservation("namespace", "app")!;
    expect(made.createdAtMs).toBe(1_700_000_123_000);
    const obj = reservationToObject(made) as { metadata: Record<string, unknown> };
    obj.metadata.creationTimestamp = new Date(1_700_000_123_456).toISOString().replace(/\.\d+Z$/, "Z");
    const readBack = reservationFromObject(obj);
    expect(typeof readBack === "string" ? readBack : readBack.createdAtMs).toBe(made.createdAtMs);
  });
});
