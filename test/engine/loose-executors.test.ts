// A running executor that no reservation names (its bind was answered before a write that was then lost, or the
// process restarted before reconciliation) already uses one slot's capacity on its node: no other executor of
// its application may be bound into that slot, or the node holds one executor more than was reserved.

import { describe, expect, it } from "vitest";
import { Harness, driverPod, executorPod, node } from "./harness.js";

describe("executors that no reservation names", () => {
  const setup = () => {
    const h = new Harness([node("n1", { cpu: "2" }), node("n2", { cpu: "2" })]);
    const driver = driverPod("app", { count: 3 });
    expect(h.schedule(driver, ["n1", "n2"]).outcome).toBe("success");
    const r = h.state.getReservation(driver.namespace, "app")!;
    const slotsOn = (n: string) => [...r.slots].filter(([s, v]) => s !== "driver" && v.node === n).map(([s]) => s);
    const full = ["n1", "n2"].find((n) => slotsOn(n).length === 2) ?? "n1";
    return { h, driver, slotsOn, full };
  };

  it("hold an unbound slot on their node: a new executor is not bound into it", () => {
    const { h, slotsOn, full } = setup();
    expect(slotsOn(full)).toHaveLength(2);
    // exec-1 runs on `full` (kube-scheduler bound it after an early answer) but its write was lost.
    h.add({ ...executorPod("app", 1), nodeName: full, phase: "Running" });
    expect(h.schedule(executorPod("app", 2), [full]).outcome).toBe("success");
    // One unbound slot is left on `full` and exec-1 holds it: exec-3 offered only that node must not get it.
    const third = h.schedule(executorPod("app", 3), [full]);
    expect(third.outcome).not.toMatch(/^success/);
    const r = h.state.getReservation("namespace", "app")!;
    const onFull = [...r.pods].filter(([s]) => s !== "driver" && r.slots.get(s)!.node === full).map(([, p]) => p);
    expect(onFull).toEqual([executorPod("app", 2).name]);
  });

  it("free the slot again once they are gone or Terminating", () => {
    const { h, full } = setup();
    const loose = { ...executorPod("app", 1), nodeName: full, phase: "Running" };
    h.add(loose);
    expect(h.schedule(executorPod("app", 2), [full]).outcome).toBe("success");
    h.add({ ...loose, deleting: true });
    expect(h.schedule(executorPod("app", 3), [full]).outcome).toBe("success");
  });
});
