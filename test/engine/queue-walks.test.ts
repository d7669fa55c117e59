// FIFO walks kept across state changes (src/engine/queue-walks.ts): a walk repaired across random changes of the
// state must be step for step the walk a fresh one makes at the same version (placements, verdicts, blockers, the
// capacity it leaves, the node order), for every packer.

import { describe, expect, it } from "vitest";
import { BINPACK_ALGORITHMS } from "../../src/engine/binpack/index.js";
import type { Engine } from "../../src/engine/engine.js";
import { buildMetadata } from "../../src/engine/capacity-view.js";
import { nodeEligible } from "../../src/engine/eligibility.js";
import { PackCache, allQueues, walkQueue } from "../../src/engine/explain.js";
import { driverQueue, enforceAfterMs } from "../../src/engine/fifo.js";
import type { NodeInfo, PodInfo } from "../../src/engine/model.js";
import { QueueWalk } from "../../src/engine/queue-walks.js";
import type { Reservation } from "../../src/engine/reservation.js";
import { Engine as EngineClass } from "../../src/engine/engine.js";
import { GiB, driverPod, harnessConfig, node, otherPod } from "./harness.js";

const MIN = 60_000;

/** mulberry32, seeded: every run makes the same changes. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

interface World {
  engine: Engine;
  nodes: NodeInfo[];
  now: number;
  queued: PodInfo[];
  others: PodInfo[];
  reservations: Reservation[];
  probe: PodInfo;
  serial: number;
}

function randomNode(r: (n: number) => number, i: number): NodeInfo {
  return node(`n${String(i).padStart(3, "0")}`, {
    zone: `zone${r(3)}`,
    cpu: String(4 + 4 * r(4)),
    memory: `${8 + 8 * r(4)}Gi`,
    gpu: r(5) === 0 ? "2" : "0",
  });
}

function randomDriver(r: (n: number) => number, w: World, createdAtMs: number): PodInfo {
  const gpu = r(8) === 0;
  return driverPod(`app-${w.serial++}`, {
    createdAtMs,
    driverCpu: String(1 + r(2)),
    driverMem: `${1 + r(3)}Gi`,
    driverGpu: "0",
    executorCpu: String(1 + r(3)),
    executorMem: `${1 + r(6)}Gi`,
    executorGpu: gpu ? "1" : undefined,
    count: 1 + r(12),
  });
}

function world(seed: number, binpack: string): { w: World; r: (n: number) => number } {
  const r = rng(seed);
  const engine = new EngineClass(harnessConfig({ binpack, "fifo-config": { "default-enforce-after-pod-age": "10m" } }));
  const w: World = { engine, nodes: [], now: 100 * MIN, queued: [], others: [], reservations: [], probe: undefined!, serial: 0 };
  const count = 12 + r(30);
  for (let i = 0; i < count; i++) {
    const n = randomNode(r, i);
    w.nodes.push(n);
    engine.state.upsertNode(n);
  }
  for (let i = 0; i < count; i++) addOther(r, w);
  for (let i = 0; i < 3 + r(4); i++) addReservation(r, w);
  // Queued drivers: most younger than the enforce-after age (they do not block), a few older (they block).
  for (let i = 0; i < 10 + r(25); i++) {
    const old = r(12) === 0;
    const p = randomDriver(r, w, old ? w.now - 20 * MIN + i : w.now - 5 * MIN + i * 1000);
    engine.state.upsertPod(p);
    w.queued.push(p);
  }
  w.probe = randomDriver(r, w, w.now - 1000);
  engine.state.upsertPod(w.probe);
  return { w, r };
}

function addOther(r: (n: number) => number, w: World): void {
  const n = w.nodes[r(w.nodes.length)];
  const p = otherPod(`other-${w.serial++}`, n.name, `${100 * (1 + r(20))}m`, `${128 * (1 + r(16))}Mi`);
  w.engine.state.upsertPod(p);
  w.others.push(p);
}

function addReservation(r: (n: number) => number, w: World): void {
  const appId = `running-${w.serial++}`;
  const slots = new Map();
  slots.set("driver", { node: w.nodes[r(w.nodes.length)].name, resources: { cpu: 1000, memory: GiB, gpu: 0 } });
  for (let i = 1; i <= 1 + r(6); i++) {
    slots.set(`executor-${i}`, { node: w.nodes[r(w.nodes.length)].name, resources: { cpu: 1000 * (1 + r(3)), memory: (1 + r(4)) * GiB, gpu: 0 } });
  }
  const res: Reservation = { namespace: "running", appId, driverPod: `${appId}-driver`, driverUid: "", slots, pods: new Map(), createdAtMs: 0 };
  w.engine.state.putReservation(res);
  w.reservations.push(res);
}

/** One random change of the state (or of the clock). */
function change(r: (n: number) => number, w: World): void {
  const { state } = w.engine;
  switch (r(10)) {
    case 0:
      addOther(r, w);
      break;
    case 1: {
      if (w.others.length === 0) return addOther(r, w);
      const [p] = w.others.splice(r(w.others.length), 1);
      state.removePod(p.namespace, p.name);
      break;
    }
    case 2:
      addReservation(r, w);
      break;
    case 3: {
      if (w.reservations.length === 0) return addReservation(r, w);
      const [res] = w.reservations.splice(r(w.reservations.length), 1);
      state.removeReservation(res.namespace, res.appId);
      break;
    }
    case 4: {
      // A new queued driver, anywhere in the queue.
      const p = randomDriver(r, w, w.now - 6 * MIN + r(5 * MIN));
      state.upsertPod(p);
      w.queued.push(p);
      break;
    }
    case 5: {
      if (w.queued.length === 0) return;
      const [p] = w.queued.splice(r(w.queued.length), 1);
      state.removePod(p.namespace, p.name);
      break;
    }
    case 6: {
      // A node's allocatable changes (same labels: it stays eligible).
      const i = r(w.nodes.length);
      const n = w.nodes[i];
      const next = { ...n, allocatable: { ...n.allocatable, cpu: n.allocatable.cpu + (r(2) === 0 ? 500 : -500) } };
      w.nodes[i] = next;
      state.upsertNode(next);
      break;
    }
    case 7:
      // A reservation assumed and forgotten again (a decision rolled back): nothing changes in the end.
      addReservation(r, w);
      state.removeReservation("running", w.reservations.pop()!.appId);
      break;
    case 8: {
      // A node cordoned or uncordoned: the eligible nodes change.
      const i = r(w.nodes.length);
      const next = { ...w.nodes[i], unschedulable: !w.nodes[i].unschedulable };
      w.nodes[i] = next;
      state.upsertNode(next);
      break;
    }
    default:
      w.now += r(3) * 1000;
  }
}

/** What a walk says, in plain data. */
function describeWalk(walk: QueueWalk, nowMs: number) {
  const ahead = walk.ahead(walk.queue.length, nowMs);
  const key = (p: PodInfo) => `${p.namespace}/${p.name}`;
  return {
    order: { sorted: [...walk.sorted], driverNodes: [...walk.driverNodes], executorNodes: [...walk.executorNodes] },
    steps: ahead.steps.map((s) => ({
      pod: key(s.driver.pod),
      fits: s.fits,
      blocking: s.blocking,
      blockedBy: s.blockedBy ? key(s.blockedBy.driver.pod) : undefined,
      dominated: s.dominated ?? false,
      driverNode: s.placement?.driverNode,
      executorNodes: s.placement?.executorNodes,
    })),
    frontier: [...ahead.capacity.entries()].map(([n, e]) => [n, { ...e.available }]).sort((a, b) => (a[0] < b[0] ? -1 : 1)),
  };
}

/** What the walk up to position `n` says and leaves. */
function describeAhead(walk: QueueWalk, n: number, nowMs: number, untilBlocker: boolean) {
  const ahead = walk.ahead(n, nowMs, untilBlocker);
  // Stopping at the blocker, a walk gives the steps it walked: up to the blocker, or further when it had walked on.
  const steps = untilBlocker && ahead.blocker ? ahead.steps.slice(0, ahead.blocker.index + 1) : ahead.steps;
  return {
    steps: steps.map((s) => ({ pod: s.driver.pod.name, fits: s.fits, blocking: s.blocking, executorNodes: s.placement?.executorNodes })),
    blocker: ahead.blocker?.driver.pod.name,
    capacity: [...ahead.capacity.entries()].map(([name, e]) => [name, { ...e.available }]).sort((a, b) => (a[0] < b[0] ? -1 : 1)),
  };
}

function freshWalk(w: Pick<World, "engine" | "probe" | "now">): QueueWalk {
  const { engine } = w;
  const ctx = engine.ctx;
  const queue = driverQueue(engine.state, engine.config, w.probe, (p) => ctx.instanceGroup(p));
  return new QueueWalk(engine.state, engine.config, queue, ctx.eligibleNodes(w.probe), enforceAfterMs(engine.config, ctx.instanceGroup(w.probe)), (p) => ctx.shape(p), w.now);
}

function keptWalk(w: Pick<World, "engine" | "probe" | "now">): QueueWalk {
  const ctx = w.engine.ctx;
  return ctx.queueWalks.walkFor(w.probe, ctx.eligibleNodes(w.probe), w.now, (p) => ctx.instanceGroup(p), (p) => ctx.shape(p));
}

describe("FIFO walks repaired across state changes", () => {
  for (const binpack of Object.keys(BINPACK_ALGORITHMS)) {
    it(`equal a fresh walk after every random change (${binpack})`, () => {
      let repairs = 0;
      let carried = 0;
      for (let seed = 1; seed <= 12; seed++) {
        const { w, r } = world(seed * 7919 + binpack.length, binpack);
        // Walk part of the queue first sometimes: a repair must also cope with a walk that stopped early.
        const first = keptWalk(w);
        first.ahead(r(2) === 0 ? first.queue.length : r(first.queue.length + 1), w.now);
        let walk = first;
        for (let step = 0; step < 40; step++) {
          for (let c = 1 + r(2); c > 0; c--) change(r, w);
          const previous = walk;
          const before = { ...walk.counters };
          walk = keptWalk(w);
          // The eligible nodes are kept per constraint: they must be what checking every node gives.
          const direct = [...w.engine.state.nodes.values()].filter((n) => nodeEligible(w.probe, n).ok).map((n) => n.name);
          expect(w.engine.ctx.eligibleNodes(w.probe)).toEqual(direct);
          // Sometimes only part of the queue first (as a decision for a driver in the middle would): the capacity
          // that part leaves must be a fresh walk's too, also when the walk stops there after a repair.
          if (r(3) === 0) {
            const n = r(walk.queue.length + 1);
            const untilBlocker = r(2) === 0;
            expect(describeAhead(walk, n, w.now, untilBlocker), `seed ${seed}, change ${step}: ahead(${n})`).toEqual(
              describeAhead(freshWalk(w), n, w.now, untilBlocker),
            );
          }
          const got = describeWalk(walk, w.now);
          const want = describeWalk(freshWalk(w), w.now);
          expect(got, `seed ${seed}, change ${step}`).toEqual(want);
          // Queue verdicts (marker, retries, listings) from the kept walk equal those of a walk of their own.
          if (step % 4 === 0) {
            const ctx = w.engine.ctx;
            const group = ctx.instanceGroup(w.probe);
            const queue = allQueues(ctx).get(group) ?? [];
            const own = walkQueue(ctx, group, queue, w.now, new PackCache(ctx, buildMetadata(w.engine.state, w.engine.state.nodes.keys())));
            expect(walkQueue(ctx, group, queue, w.now), `seed ${seed}, change ${step}: queue verdicts`).toEqual(own);
          }
          if (walk === previous) {
            repairs += walk.counters.repairs - before.repairs;
            carried += walk.counters.carried - before.carried;
          }
        }
      }
      // The property is only worth something if repairs happened and carried steps over.
      expect(repairs).toBeGreaterThan(50);
      // Single-zone packers look up every candidate (grouping them by zone), so none of their steps carries over.
      if (!BINPACK_ALGORITHMS[binpack].singleAz && binpack !== "az-aware-tightly-pack") expect(carried).toBeGreaterThan(0);
    });
  }

  it("carries a walk over a change that touches no node its steps read, packing nothing again", () => {
    const engine = new EngineClass(harnessConfig({ binpack: "distribute-evenly", "fifo-config": { "default-enforce-after-pod-age": "10m" } }));
    for (let i = 0; i < 10; i++) engine.state.upsertNode(node(`n${i}`, { cpu: "8", memory: "8Gi", gpu: "0" }));
    const now = 100 * MIN;
    for (let i = 0; i < 5; i++) {
      engine.state.upsertPod(driverPod(`q${i}`, { createdAtMs: now - 5 * MIN + i, driverGpu: "0", count: 2, executorCpu: "3" }));
    }
    const probe = driverPod("probe", { createdAtMs: now - 1000, driverGpu: "0" });
    engine.state.upsertPod(probe);
    const walkOf = () => keptWalk({ engine, probe, now });
    const walk = walkOf();
    walk.ahead(walk.queue.length, now);
    const packed = walk.counters.packed;
    // A full node (no room for any request of the queue) gets a little fuller.
    engine.state.upsertPod(otherPod("filler", "n9", "7900m", "7Gi"));
    walkOf().ahead(walk.queue.length, now);
    engine.state.upsertPod(otherPod("more", "n9", "50m", "10Mi"));
    expect(walkOf()).toBe(walk);
    walk.ahead(walk.queue.length, now);
    expect(walk.counters.repairs).toBe(2);
    // The first change frees nothing and fills a node no step used: only the steps that read it pack again.
    expect(walk.counters.packed - packed).toBeLessThan(5);
    // The second one touches a node with no room for anything: nothing packs again.
    const after = walk.counters.packed;
    engine.state.upsertPod(otherPod("even-more", "n9", "10m", "1Mi"));
    walkOf().ahead(walk.queue.length, now);
    expect(walk.counters.packed).toBe(after);
  });

  it("replays nothing of the steps behind a changed step whose placement stays (a change on a node the first step read)", () => {
    const engine = new EngineClass(harnessConfig({ binpack: "tightly-pack", "fifo-config": { "default-enforce-after-pod-age": "10m" } }));
    for (let i = 0; i < 60; i++) engine.state.upsertNode(node(`n${String(i).padStart(2, "0")}`, { cpu: "8", memory: "16Gi", gpu: "0" }));
    const now = 100 * MIN;
    // Every queued app fills one node's cpu (driver 1 + 7 executors of 1 cpu); n00 holds a little memory of others.
    const tiny = otherPod("tiny", "n00", "0", "100Mi");
    engine.state.upsertPod(tiny);
    for (let i = 0; i < 40; i++) {
      engine.state.upsertPod(driverPod(`q${i}`, { createdAtMs: now - 5 * MIN + i, driverGpu: "0", count: 7, executorCpu: "1" }));
    }
    const probe = driverPod("probe", { createdAtMs: now - 1000, driverGpu: "0" });
    engine.state.upsertPod(probe);
    const walkOf = () => keptWalk({ engine, probe, now });
    const walk = walkOf();
    walk.ahead(walk.queue.length, now);
    expect(walk.steps[0].placement!.driverNode).toBe("n00");
    const packed = walk.counters.packed;
    // The first step read n00 (it packed there): it packs again, onto n00 as before; every later step skipped n00
    // (no cpu left) and is carried over, and since none consumes otherwise than before, the walk replays nothing:
    // the frontier keeps their consumption (the old walk rewound all 40 steps and consumed them again).
    engine.state.removePod(tiny.namespace, tiny.name);
    expect(walkOf()).toBe(walk);
    walk.ahead(walk.queue.length, now);
    expect(walk.steps[0].placement!.driverNode).toBe("n00");
    expect(walk.counters.packed - packed).toBeLessThanOrEqual(2); // the first step and the probe
    expect(walk.counters.carried).toBeGreaterThanOrEqual(39);
    expect(walk.counters.replayed).toBeLessThanOrEqual(1);
    expect(describeWalk(walk, now)).toEqual(describeWalk(freshWalk({ engine, probe, now }), now));
  });

  it("does not pack again a driver short of executor capacity while a change does not make up the difference", () => {
    const config = harnessConfig({ binpack: "distribute-evenly", "fifo-config": { "default-enforce-after-pod-age": "10m" } });
    const counts: number[] = [];
    const pack = config.binpack.pack;
    config.binpack = { ...config.binpack, pack: (d, e, count, ...rest) => (counts.push(count), pack(d, e, count, ...rest)) };
    const engine = new EngineClass(config);
    for (let i = 0; i < 10; i++) engine.state.upsertNode(node(`n${i}`, { cpu: "8", memory: "16Gi", gpu: "0" }));
    const now = 100 * MIN;
    // 100 executors of 1 cpu on 10 nodes of 8 cpu: short whatever happens below; then a small app that fits.
    engine.state.upsertPod(driverPod("huge", { createdAtMs: now - 5 * MIN, driverGpu: "0", count: 100, executorCpu: "1", executorMem: "1Gi" }));
    engine.state.upsertPod(driverPod("small", { createdAtMs: now - 5 * MIN + 1, driverGpu: "0", count: 1, executorCpu: "1", executorMem: "1Gi" }));
    const probe = driverPod("probe", { createdAtMs: now - 1000, driverGpu: "0" });
    engine.state.upsertPod(probe);
    const walkOf = () => keptWalk({ engine, probe, now });
    const walk = walkOf();
    walk.ahead(walk.queue.length, now);
    expect(walk.steps[0].fits).toBe(false);
    expect(counts.filter((c) => c === 100)).toHaveLength(1);
    // Its executor scan read every node with room, n5 among them: a change there used to pack it again. Freeing or
    // taking a little on n5 leaves the executors' capacities below 100, so it is carried over as short.
    for (const [i, change] of [otherPod("a", "n5", "1500m"), otherPod("b", "n5", "500m")].entries()) {
      engine.state.upsertPod(change);
      if (i === 1) engine.state.removePod("other", "a");
      expect(walkOf()).toBe(walk);
      walk.ahead(walk.queue.length, now);
      expect(walk.steps[0].fits).toBe(false);
      expect(counts.filter((c) => c === 100), `change ${i}`).toHaveLength(1);
      expect(describeWalk(walk, now)).toEqual(describeWalk(freshWalk({ engine, probe, now }), now));
      counts.length = 0; // the fresh walk packed it
      counts.push(100);
    }
  });

  it("packs a driver short of executor capacity again once the changes add up to its executors", () => {
    const engine = new EngineClass(harnessConfig({ binpack: "distribute-evenly", "fifo-config": { "default-enforce-after-pod-age": "10m" } }));
    for (let i = 0; i < 10; i++) engine.state.upsertNode(node(`n${i}`, { cpu: "8", memory: "16Gi", gpu: "0" }));
    const now = 100 * MIN;
    const others = [5, 6, 7].map((i) => otherPod(`o${i}`, `n${i}`, "4"));
    for (const o of others) engine.state.upsertPod(o);
    // 78 executors of 1 cpu: the nodes hold 68 now; each freed node adds 4, the third makes it fit.
    engine.state.upsertPod(driverPod("big", { createdAtMs: now - 5 * MIN, driverGpu: "0", count: 78, executorCpu: "1", executorMem: "1Gi" }));
    const probe = driverPod("probe", { createdAtMs: now - 1000, driverGpu: "0" });
    engine.state.upsertPod(probe);
    const walkOf = () => keptWalk({ engine, probe, now });
    const walk = walkOf();
    walk.ahead(walk.queue.length, now);
    const fits: boolean[] = [];
    for (const o of others) {
      engine.state.removePod(o.namespace, o.name);
      expect(walkOf()).toBe(walk);
      expect(describeWalk(walk, now)).toEqual(describeWalk(freshWalk({ engine, probe, now }), now));
      fits.push(walk.steps[0].fits);
    }
    expect(fits).toEqual([false, false, true]);
  });
});
