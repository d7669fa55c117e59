// FIFO ordering of drivers per instance group (spec §3.2 step 6, §13.9 TestIsEarliest, §13.12 cases 1–2),
// including the fix of the reference's under-counting bug (§14.2 item 1).

import { describe, expect, it } from "vitest";
import type { AppShape } from "../../src/engine/app-shape.js";
import { driverQueue, fitEarlierDrivers, queueOrder } from "../../src/engine/fifo.js";
import { explainPod, queueVerdicts } from "../../src/engine/explain.js";
import { Engine } from "../../src/engine/engine.js";
import { Harness, IG, NS, driverPod, harnessConfig, node } from "./harness.js";

const MIN = 60_000;

describe("FIFO queue order", () => {
  it("orders by creation time and breaks equal timestamps by namespace/name", () => {
    const a = driverPod("b-app", { createdAtMs: 100 });
    const b = driverPod("a-app", { createdAtMs: 100 });
    const c = driverPod("c-app", { createdAtMs: 99 });
    expect([a, b, c].sort(queueOrder).map((p) => p.name)).toEqual([
      "c-app-spark-driver",
      "a-app-spark-driver",
      "b-app-spark-driver",
    ]);
  });

  it("queues only pending, unadmitted drivers of the same instance group (TestIsEarliest)", () => {
    const h = new Harness([node("n1")]);
    const current = driverPod("current", { createdAtMs: 100_000 });
    const later = driverPod("later", { createdAtMs: 101_000 });
    const earlier = driverPod("earlier", { createdAtMs: 99_000 });
    const otherGroup = driverPod("other", { createdAtMs: 50_000, instanceGroup: "another" });
    const bound = { ...driverPod("bound", { createdAtMs: 10_000 }), nodeName: "n1" };
    const deleting = { ...driverPod("deleting", { createdAtMs: 10_000 }), deleting: true };
    for (const p of [current, later, earlier, otherGroup, bound, deleting]) h.add(p);
    const queue = driverQueue(h.state, h.engine.config, current, (p) => h.engine.ctx.instanceGroup(p));
    expect(queue.map((q) => q.appId)).toEqual(["earlier", "current", "later"]);
  });
});

describe("FIFO admission", () => {
  // One node: 8 cpu, 1 GPU. Big apps need 10 cpu and never fit; small ones fit.
  const big = (created: number, extra: object = {}) =>
    driverPod("big", { createdAtMs: created, driverGpu: "0", count: 9, ...extra });
  const small = (created: number, extra: object = {}) =>
    driverPod("small", { createdAtMs: created, driverGpu: "0", count: 1, ...extra });

  it("case 1: an older driver that does not fit blocks a younger one that would", () => {
    const h = new Harness([node("n1")]);
    h.add(big(0));
    h.now = 10 * MIN;
    const d = h.schedule(small(MIN), ["n1"]);
    expect(d.outcome).toBe("failure-earlier-driver");
    expect(d.blockedBy).toBe("namespace/big-spark-driver");
    expect(d.reason).toMatch(/big-spark-driver.*does not fit/);
    // It fits itself: held only by FIFO, it needs no nodes, so it asks the autoscaler for none.
    expect(d.demand).toMatchObject({ op: "delete", podName: "small-spark-driver" });
    expect(h.state.reservations.size).toBe(0);
  });

  it("a FIFO-blocked driver that does not fit itself either still gets a Demand", () => {
    const h = new Harness([node("n1")]);
    h.add(big(0));
    h.now = 10 * MIN;
    const d = h.schedule(driverPod("big2", { createdAtMs: MIN, driverGpu: "0", count: 9 }), ["n1"]);
    expect(d.outcome).toBe("failure-earlier-driver");
    expect(d.demand).toMatchObject({ op: "create", podName: "big2-spark-driver" });
  });

  it("case 1b: with enforce-after-pod-age above the blocker's age, the younger driver schedules", () => {
    const h = new Harness([node("n1")], { "fifo-config": { "default-enforce-after-pod-age": "30m" } });
    h.add(big(0));
    h.now = 10 * MIN;
    expect(h.schedule(small(MIN), ["n1"]).outcome).toBe("success");
  });

  it("per-instance-group enforce age overrides the default", () => {
    const h = new Harness([node("n1")], {
      "fifo-config": {
        "default-enforce-after-pod-age": "30m",
        "enforce-after-pod-age-by-instance-group": { "batch-medium-priority": "5m" },
      },
    });
    h.add(big(0));
    h.now = 10 * MIN;
    expect(h.schedule(small(MIN), ["n1"]).outcome).toBe("failure-earlier-driver");
  });

  it("case 2: a blocker in another instance group, or with none, does not block", () => {
    for (const instanceGroup of ["another", null]) {
      const h = new Harness([node("n1")]);
      h.add(big(0, { instanceGroup }));
      h.now = 10 * MIN;
      expect(h.schedule(small(MIN), ["n1"]).outcome).toBe("success");
    }
  });

  it("FIFO off: nothing blocks", () => {
    const h = new Harness([node("n1")], { fifo: false });
    h.add(big(0));
    expect(h.schedule(small(MIN), ["n1"]).outcome).toBe("success");
  });

  it("an earlier driver with invalid annotations does not block", () => {
    const h = new Harness([node("n1")]);
    h.add(driverPod("broken", { createdAtMs: 0, driverCpu: "lots" }));
    h.now = 10 * MIN;
    expect(h.schedule(small(MIN), ["n1"]).outcome).toBe("success");
  });

  it("fix: a fitting earlier driver consumes all its executors, not one (reference under-counted)", () => {
    // n1 has 8 cpu. The earlier app needs 1 + 4×1 = 5 cpu and fits; the current one needs 1 + 3×1 = 4.
    // Together they need 9 > 8, so the younger one must not be admitted ahead of the older one.
    // The reference's per-node assignment subtracted 1 cpu instead of 5 and let it through.
    const h = new Harness([node("n1", { gpu: "0" })]);
    h.add(driverPod("older", { createdAtMs: 0, driverGpu: "0", count: 4 }));
    h.now = 10 * MIN;
    const d = h.schedule(driverPod("younger", { createdAtMs: MIN, driverGpu: "0", count: 3 }), ["n1"]);
    expect(d.outcome).toBe("failure-fit");
    // and the older one is admitted when it asks
    expect(h.schedule(h.state.getPod("namespace", "older-spark-driver")!, ["n1"]).outcome).toBe("success");
  });

  it("an admitted (reserved) earlier driver no longer queues, its reservation already counts", () => {
    const h = new Harness([node("n1"), node("n2")]);
    const older = driverPod("older", { createdAtMs: 0, count: 2 });
    expect(h.engine.filter(older, ["n1", "n2"], h.now).outcome).toBe("success"); // admitted, not yet bound
    const d = h.schedule(driverPod("younger", { createdAtMs: MIN, count: 2 }), ["n1", "n2"]);
    expect(d.outcome).toBe("success");
    expect(d.node).toBe("n2"); // n1's GPU is reserved for the older driver
  });
});

describe("FIFO walk cost", () => {
  it("does not re-pack queued apps that dominate one that already failed, and still finds the blocker", () => {
    const shape = (cpu: number, count: number): AppShape => ({
      driver: { cpu: 1000, memory: 1, gpu: 0 },
      executor: { cpu, memory: 1, gpu: 0 },
      minExecutors: count,
      maxExecutors: count,
      dynamicAllocation: false,
      source: "annotations",
    });
    const queue = [
      { big: true, cpu: 1000, count: 100 },
      { big: true, cpu: 2000, count: 100 }, // dominates the first: skipped
      { big: true, cpu: 1000, count: 150 }, // dominates: skipped
      { big: false, cpu: 500, count: 200 }, // not dominated: packed
    ].map((e, i) => ({ pod: { ...driverPod(`q${i}`, { createdAtMs: i }) }, appId: `q${i}`, e }));
    const shapeOf = (p: { name: string }) => {
      const e = queue.find((q) => q.pod.name === p.name)!.e;
      return shape(e.cpu, e.count);
    };
    const packed: string[] = [];
    const neverFits = (s: AppShape) => {
      packed.push(`${s.executor.cpu}x${s.minExecutors}`);
      return { driverNode: "", executorNodes: [], reserved: new Map(), hasCapacity: false };
    };
    const verdict = fitEarlierDrivers(queue, shapeOf, neverFits, new Map(), 0, 1_000_000);
    expect(packed).toEqual(["1000x100"]); // the first blocks at once (enforce age 0)
    expect(verdict.blockedBy?.appId).toBe("q0");

    packed.length = 0;
    const young = fitEarlierDrivers(queue, shapeOf, neverFits, new Map(), Infinity, 0);
    expect(young.blockedBy).toBeUndefined();
    expect(packed).toEqual(["1000x100", "500x200"]);
  });
});

describe("one FIFO walk", () => {
  it("behind a blocker nothing is admitted, so nothing consumes: filter, GetQueuePosition, explain and ListQueues agree", () => {
    // n1: 8 cpu. big (10 cpu) never fits and blocks; mid (6 cpu) fits but waits behind big; mine (6 cpu) fits
    // the free capacity, since mid is not admitted either. Before, the reports packed mid into the capacity and
    // said mine does not fit, while the filter (rightly) withdrew mine's Demand as a driver that fits itself.
    const h = new Harness([node("n1")]);
    h.add(driverPod("big", { createdAtMs: 0, driverGpu: "0", count: 9 }));
    h.add(driverPod("mid", { createdAtMs: MIN, driverGpu: "0", count: 5 }));
    const mine = driverPod("mine", { createdAtMs: 2 * MIN, driverGpu: "0", count: 5 });
    h.add(mine);
    h.now = 10 * MIN;

    const d = h.engine.filter(mine, ["n1"], h.now);
    expect(d.outcome).toBe("failure-earlier-driver");
    expect(d.demand).toMatchObject({ op: "delete" }); // fits itself: held only by the queue

    const q = h.engine.queuePosition(NS, mine.name, h.now);
    if (!q.ok) throw new Error(q.error);
    expect(q.value.fitsNow).toBe(true);
    expect(q.value.ahead.map((e) => [e.podName, e.fits])).toEqual([
      ["big-spark-driver", false],
      ["mid-spark-driver", true],
    ]);

    const x = explainPod(h.engine.ctx, NS, mine.name, h.now);
    if (!x.ok) throw new Error(x.error);
    expect(x.value.outcome).toBe("failure-earlier-driver");
    expect(x.value.shortfall!.fits).toBe(true);

    const listed = queueVerdicts(h.engine.ctx, h.now).get(IG)!;
    expect(listed.map((v) => [v.entry.podName, v.entry.fits, v.blocking])).toEqual([
      ["big-spark-driver", false, true],
      ["mid-spark-driver", true, false],
      ["mine-spark-driver", true, false],
    ]);
  });

  it("compares shapes for dominance only among drivers packed onto the same nodes", () => {
    // Same instance group, different node pools: a larger app on the larger pool fits although a smaller one
    // failed on the smaller pool. Before, the queue listing took it as dominated and said it does not fit.
    const h = new Harness([node("a1", { labels: { pool: "a" } }), node("b1", { cpu: "16", labels: { pool: "b" } })]);
    const inPool = (app: string, pool: string, created: number, count: number) => ({
      ...driverPod(app, { createdAtMs: created, driverGpu: "0", count }),
      nodeSelector: { pool },
    });
    h.add(inPool("small-a", "a", 0, 9)); // 10 cpu on an 8-cpu pool
    h.add(inPool("large-b", "b", MIN, 10)); // 11 cpu on a 16-cpu pool
    h.now = 10 * MIN;
    const listed = queueVerdicts(h.engine.ctx, h.now).get(IG)!;
    expect(listed.map((v) => [v.entry.podName, v.entry.fits])).toEqual([
      ["small-a-spark-driver", false],
      ["large-b-spark-driver", true],
    ]);
  });
});

describe("one walk per state version", () => {
  // 30 queued drivers that never fit n1 (8 cpu), of shapes none of which dominates another (more cpu per
  // executor, fewer executors), younger than the 1h enforce-after age so none blocks: every call walks the queue.
  function setup() {
    let packs = 0;
    const config = harnessConfig({ "fifo-config": { "default-enforce-after-pod-age": "1h" } });
    const inner = config.binpack;
    const engine = new Engine({ ...config, binpack: { ...inner, pack: (...a: Parameters<typeof inner.pack>) => (packs++, inner.pack(...a)) } });
    engine.state.upsertNode(node("n1", { gpu: "0" }));
    const queue = Array.from({ length: 30 }, (_, i) =>
      driverPod(`q${String(i).padStart(2, "0")}`, { createdAtMs: i * 1000, driverGpu: "0", executorCpu: String(i + 1), count: 30 - i }),
    );
    for (const p of queue) engine.state.upsertPod(p);
    return { engine, queue, packs: () => packs };
  }

  it("kube-scheduler retrying the queue in order at one state version packs each driver about once, not once per driver behind it", () => {
    const { engine, queue, packs } = setup();
    const now = 60_000;
    for (const p of queue) expect(engine.filter(p, ["n1"], now).outcome).toBe("failure-fit");
    // Re-walking the queue for every call packs 1 + 2 + … + 30 = 465 times; one continued walk about 2 per driver.
    expect(packs()).toBeLessThanOrEqual(2 * queue.length);
    // GetQueuePosition at the same version reuses the walk too.
    const before = packs();
    const q = engine.queuePosition(NS, queue[29].name, now);
    expect(q.ok && q.value.ahead.length).toBe(29);
    expect(packs() - before).toBeLessThanOrEqual(2); // its own pack, and the no-fit reason's
  });

  it("is not reused once a driver ahead becomes old enough to block, nor after the state changes", () => {
    const { engine, queue } = setup();
    expect(engine.filter(queue[29], ["n1"], 60_000).outcome).toBe("failure-fit");
    // Same state version, two hours later: q00 is past the enforce-after age and blocks.
    const later = engine.filter(queue[29], ["n1"], 2 * 3_600_000);
    expect(later.outcome).toBe("failure-earlier-driver");
    expect(later.blockedBy).toBe(`${NS}/q00-spark-driver`);
    // A bigger node: the walk is redone, q00 fits and is admitted.
    engine.state.upsertNode(node("n2", { cpu: "64", gpu: "0" }));
    expect(engine.filter(queue[0], ["n1", "n2"], 2 * 3_600_000).outcome).toBe("success");
  });
});
