// ExplainPod's engine side: grouped node verdicts, the shortfall per resource and zone, the FIFO blocker chain,
// queue verdicts and batch simulation. Every call must leave the state untouched.

import { describe, expect, it } from "vitest";
import { explainPod, queueVerdicts, shortfallOf, simulateBatch } from "../../src/engine/explain.js";
import { buildMetadata } from "../../src/engine/capacity-view.js";
import { podFromObject } from "../../src/engine/model.js";
import { GiB, Harness, IG, NS, driverPod, executorPod, node } from "./harness.js";

function nodes(n: number, opts: Parameters<typeof node>[1] = {}, prefix = "n") {
  return Array.from({ length: n }, (_, i) => node(`${prefix}${String(i).padStart(4, "0")}`, opts));
}

describe("explainPod", () => {
  it("groups 5,000 nodes into a handful of reasons with counts", () => {
    const tainted = nodes(1200, { memory: "64Gi", cpu: "16", taints: [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }] }, "t");
    const small = nodes(3100, { memory: "12Gi", cpu: "16" }, "s");
    const cordoned = nodes(200, { memory: "64Gi", cpu: "16", unschedulable: true }, "c");
    const other = nodes(500, { memory: "64Gi", cpu: "16", labels: { resource_channel: "other" } }, "o");
    const h = new Harness([...tainted, ...small, ...cordoned, ...other], { fifo: false });
    const d = driverPod("big", { driverMem: "2Gi", executorMem: "16Gi", executorCpu: "2", count: 4, driverGpu: "0" });
    h.add(d);
    const version = h.state.version;

    const r = explainPod(h.engine.ctx, NS, d.name, h.now);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const x = r.value;
    expect(h.state.version).toBe(version); // nothing changed
    expect(x.role).toBe("driver");
    expect(x.outcome).toBe("failure-fit");
    expect(x.totalNodes).toBe(5000);
    const byReason = Object.fromEntries(x.nodeGroups.map((g) => [g.reason, g.nodeCount]));
    expect(byReason).toEqual({
      "insufficient memory for one executor (needs 16Gi)": 3100,
      "not eligible: node has taint dedicated=gpu:NoSchedule that the pod does not tolerate": 1200,
      "not eligible: node does not match required node affinity: resource_channel In [batch-medium-priority] (node has resource_channel=other)": 500,
      "not eligible: node is unschedulable (cordoned)": 200,
    });
    const insufficient = x.nodeGroups.find((g) => g.verdict === "insufficient")!;
    expect(insufficient.largestFree!.memory).toBe(12 * GiB);
    expect(insufficient.sampleNodes).toEqual(["s0000", "s0001", "s0002", "s0003", "s0004"]);

    const s = x.shortfall!;
    expect(s.fits).toBe(false);
    expect(s.eligibleNodes).toBe(3100);
    expect(s.executorsRequired).toBe(4);
    expect(s.executorsPlaceable).toBe(0);
    expect(s.driverFits).toBe(true);
    const mem = s.resources.find((q) => q.resource === "memory")!;
    expect(mem).toMatchObject({ missing: 0, nodesShort: 3100, largestFree: 12 * GiB, perPod: 16 * GiB });
    expect(s.summary).toMatch(/memory: 3100 nodes lack 16Gi for one executor \(largest free 12Gi\)/);
  });

  it("reports the missing amount per resource and the closest zone", () => {
    const h = new Harness(
      [node("a1", { zone: "a", cpu: "8", memory: "8Gi" }), node("a2", { zone: "a", cpu: "8", memory: "8Gi" }), node("b1", { zone: "b", cpu: "8", memory: "8Gi" })],
      { fifo: false },
    );
    // driver 1 cpu + 10 executors of 4 cpu = 41 cpu; 24 cpu in the cluster.
    const d = driverPod("wide", { executorCpu: "4", count: 10 });
    h.add(d);
    const r = explainPod(h.engine.ctx, NS, d.name, h.now);
    if (!r.ok) throw new Error(r.error);
    const s = r.value.shortfall!;
    const cpu = s.resources.find((q) => q.resource === "cpu")!;
    expect(cpu.missing).toBe(41_000 - 24_000);
    expect(s.missing.cpu).toBe(17_000);
    // The driver costs one executor spot on its node: 2 + 2 + 2 - 1.
    expect(s.executorsPlaceable).toBe(5);
    expect(s.closestZone).toMatchObject({ zone: "a", executorsPlaceable: 3, driverFits: true });
    expect(s.closestZone!.missing.cpu).toBe(41_000 - 16_000);
  });

  it("explains an application that fits with the node it would take, reserving nothing", () => {
    const h = new Harness([node("n1"), node("n2")], { fifo: false });
    const d = driverPod("ok", { count: 2 });
    h.add(d);
    const r = explainPod(h.engine.ctx, NS, d.name, h.now);
    if (!r.ok) throw new Error(r.error);
    expect(r.value.outcome).toBe("success");
    expect(["n1", "n2"]).toContain(r.value.node);
    expect(r.value.shortfall!.fits).toBe(true);
    expect(h.state.reservations.size).toBe(0);
    expect(r.value.nodeGroups).toEqual([expect.objectContaining({ verdict: "fits", nodeCount: 2 })]);
  });

  it("gives the FIFO blocker chain: who is ahead, since when, and their shortfall", () => {
    const h = new Harness([node("n1"), node("n2")], { fifo: true });
    const huge = driverPod("huge", { executorCpu: "8", count: 5, createdAtMs: 1000 });
    const small = driverPod("small", { count: 1, createdAtMs: 2000 });
    h.add(huge);
    h.add(small);
    const r = explainPod(h.engine.ctx, NS, small.name, h.now);
    if (!r.ok) throw new Error(r.error);
    const x = r.value;
    expect(x.outcome).toBe("failure-earlier-driver");
    expect(x.queuePosition).toBe(2);
    expect(x.queueLength).toBe(2);
    expect(x.blockers).toHaveLength(1);
    expect(x.blockers[0]).toMatchObject({ entry: { podName: huge.name, createdAtMs: 1000, fits: false }, blocking: true });
    expect(x.blockers[0].shortfall!.executorsPlaceable).toBeLessThan(5);
    // Its own shortfall: it would fit if it were at the head.
    expect(x.shortfall!.fits).toBe(true);
    // The same decision as the filter takes.
    expect(h.engine.filter(small, ["n1", "n2"], h.now).outcome).toBe("failure-earlier-driver");
  });

  it("explains executors: bound slot, unbound slot, no reservation", () => {
    const h = new Harness([node("n1"), node("n2")], { fifo: false });
    const d = driverPod("app", { count: 1 });
    const e1 = executorPod("app", 1);
    h.add(e1);
    let r = explainPod(h.engine.ctx, NS, e1.name, h.now);
    if (!r.ok) throw new Error(r.error);
    expect(r.value.outcome).toBe("failure-no-reservation");
    expect(h.schedule(d, ["n1", "n2"]).outcome).toBe("success");
    r = explainPod(h.engine.ctx, NS, e1.name, h.now);
    if (!r.ok) throw new Error(r.error);
    expect(r.value.outcome).toBe("success");
    expect(r.value.reason).toMatch(/unbound slot executor-1/);
    expect(h.state.getReservation(NS, "app")!.pods.get("executor-1")).toBeUndefined();
    expect(explainPod(h.engine.ctx, NS, "ghost", h.now)).toEqual({ ok: false, error: expect.stringMatching(/not known/) });
  });
});

describe("queueVerdicts", () => {
  it("gives each pending driver its position and reason; the head gets a shortfall", () => {
    const h = new Harness([node("n1"), node("n2")], { fifo: true });
    const a = driverPod("a", { count: 1, createdAtMs: 1 });
    const big = driverPod("big", { executorCpu: "8", count: 5, createdAtMs: 2 });
    const c = driverPod("c", { count: 1, createdAtMs: 3 });
    for (const p of [a, big, c]) h.add(p);
    const v = queueVerdicts(h.engine.ctx, h.now).get(IG)!;
    expect(v.map((x) => [x.entry.podName, x.position, x.entry.fits, x.blocking])).toEqual([
      [a.name, 1, true, false],
      [big.name, 2, false, true],
      [c.name, 3, true, false],
    ]);
    expect(v[0].reason).toMatch(/fits/);
    expect(v[1].reason).toMatch(/^does not fit: /);
    expect(v[1].shortfall).toBeDefined();
    expect(v[2].reason).toBe(`waiting behind ${NS}/${big.name}, an earlier driver that does not fit`);
  });
});

describe("simulateBatch", () => {
  const shape = (cpu: number, count: number) => ({
    driver: { cpu: 1000, memory: 1, gpu: 1 },
    executor: { cpu: cpu * 1000, memory: 1, gpu: 0 },
    minExecutors: count,
    maxExecutors: count,
    dynamicAllocation: false,
    source: "annotations" as const,
  });
  const driver = (name: string) =>
    podFromObject({
      metadata: { name, namespace: NS, labels: { "spark-role": "driver", "spark-app-id": name } },
      spec: { schedulerName: "spark-scheduler", nodeSelector: { resource_channel: IG } },
    });

  it("admits in order, consuming capacity; a non-fitting one queues and (FIFO, enforce-after 0) blocks later ones", () => {
    const h = new Harness([node("n1"), node("n2")], { fifo: true });
    const version = h.state.version;
    const out = simulateBatch(
      h.engine.ctx,
      [
        { name: "first", driver: driver("first"), shape: shape(6, 1) },
        { name: "toobig", driver: driver("toobig"), shape: shape(8, 4) },
        { name: "after", driver: driver("after"), shape: shape(1, 1) },
      ],
      h.now,
    );
    expect(h.state.version).toBe(version);
    expect(out.map((o) => [o.name, o.admitted, o.queuePosition])).toEqual([
      ["first", true, 0],
      ["toobig", false, 1],
      ["after", false, 2],
    ]);
    expect(out[0].driverNode).not.toBe("");
    expect(out[0].executorNodes).toHaveLength(1);
    expect(out[1].fitsEmptyCluster).toBe(false);
    expect(out[1].reason).toMatch(/would not fit even an empty cluster/);
    expect(out[1].blocks).toEqual(["after"]);
    expect(out[2].reason).toMatch(/waiting behind toobig/);
    expect(out[2].fitsEmptyCluster).toBe(true);
  });

  it("without FIFO later applications still go ahead; the second sees the first's capacity used", () => {
    const h = new Harness([node("n1")], { fifo: false });
    const out = simulateBatch(
      h.engine.ctx,
      [
        { name: "x", driver: driver("x"), shape: shape(3, 2) },
        { name: "y", driver: driver("y"), shape: shape(3, 2) },
        { name: "z", driver: driver("z"), shape: { ...shape(0, 0), driver: { cpu: 1000, memory: 1, gpu: 0 } } },
      ],
      h.now,
    );
    expect(out.map((o) => o.admitted)).toEqual([true, false, true]);
    expect(out[1].shortfall!.resources.find((r) => r.resource === "cpu")!.missing).toBe(7000 - 1000);
  });
});

describe("shortfallOf", () => {
  it("counts negative free capacity as zero", () => {
    const h = new Harness([node("n1", { cpu: "2" })], { fifo: false });
    const md = buildMetadata(h.state, ["n1"]);
    md.get("n1")!.available.cpu = -500;
    const s = shortfallOf({ driver: { cpu: 1000, memory: 0, gpu: 0 }, executor: { cpu: 1000, memory: 0, gpu: 0 }, minExecutors: 1, maxExecutors: 1, dynamicAllocation: false, source: "annotations" }, ["n1"], md, false);
    expect(s.free.cpu).toBe(0);
    expect(s.missing.cpu).toBe(2000);
    expect(s.driverFits).toBe(false);
  });
});
