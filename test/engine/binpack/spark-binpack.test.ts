// Driver-first placement (§7.2). The implementation skips hopeless driver candidates using summed capacities and
// simulates distribute-evenly's passes; here both are checked against literal, unoptimised models of §7.2–§7.4
// on random clusters.

import { describe, expect, it } from "vitest";
import { type Resources, fits } from "../../../src/engine/resources.js";
import { distributeEvenlyExecutors } from "../../../src/engine/binpack/distribute-evenly.js";
import { packEfficiencies } from "../../../src/engine/binpack/efficiency.js";
import { minimalFragmentationExecutors } from "../../../src/engine/binpack/minimal-fragmentation.js";
import { type ExecutorStrategy, type ReservedMap, sparkBinPack } from "../../../src/engine/binpack/spark-binpack.js";
import { tightlyPackExecutors } from "../../../src/engine/binpack/tightly-pack.js";
import type { NodeMetadata } from "../../../src/engine/binpack/types.js";
import { ObservedMetadata, recordReads } from "../../../src/engine/binpack/capacity-index.js";
import { R, metadataOf, node, summary } from "./fixtures.js";

function addOne(reserved: ReservedMap, name: string, r: Resources): Resources {
  const cur = reserved.get(name) ?? R(0, 0, 0);
  const next = R(cur.cpu + r.cpu, cur.memory + r.memory, cur.gpu + r.gpu);
  reserved.set(name, next);
  return next;
}

/** §7.3 literally: round-robin passes with tentative add / undo. */
const literalDistributeEvenly: ExecutorStrategy = (executor, count, order, metadata, reserved) => {
  if (count === 0) return [];
  const open = new Set(order);
  const out: string[] = [];
  while (open.size > 0) {
    for (const name of order) {
      if (!open.has(name)) continue;
      const before = reserved.get(name);
      const after = addOne(reserved, name, executor);
      const node = metadata.get(name);
      if (!node || !fits(after, node.available)) {
        if (before) reserved.set(name, before);
        else reserved.delete(name);
        open.delete(name);
        continue;
      }
      out.push(name);
      if (out.length === count) return out;
    }
  }
  return undefined;
};

/** §7.4 literally: keep adding while it fits. */
const literalTightlyPack: ExecutorStrategy = (executor, count, order, metadata, reserved) => {
  const out: string[] = [];
  if (count === 0) return out;
  for (const name of order) {
    const node = metadata.get(name);
    if (!node) continue;
    for (;;) {
      const cur = reserved.get(name) ?? R(0, 0, 0);
      if (!fits(R(cur.cpu + executor.cpu, cur.memory + executor.memory, cur.gpu + executor.gpu), node.available)) break;
      addOne(reserved, name, executor);
      out.push(name);
      if (out.length === count) return out;
    }
  }
  return undefined;
};

/** §7.2 literally: every driver candidate that fits gets a full strategy run. */
function literalSparkBinPack(
  driver: Resources,
  executor: Resources,
  count: number,
  driverOrder: readonly string[],
  executorOrder: readonly string[],
  metadata: NodeMetadata,
  strategy: ExecutorStrategy,
) {
  for (const d of driverOrder) {
    const node = metadata.get(d);
    if (!node || !fits(driver, node.available)) continue;
    const reserved: ReservedMap = new Map([[d, { ...driver }]]);
    const nodes = strategy(executor, count, executorOrder, metadata, reserved);
    if (nodes) return { driverNode: d, executorNodes: nodes };
  }
  return { driverNode: "", executorNodes: [] as string[] };
}

function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

describe("driver-first placement matches literal models (§7.2–§7.4)", () => {
  const strategies: [string, ExecutorStrategy, ExecutorStrategy][] = [
    ["distribute-evenly", distributeEvenlyExecutors, literalDistributeEvenly],
    ["tightly-pack", tightlyPackExecutors, literalTightlyPack],
    // No literal model for minimal-fragmentation; it is compared with itself without the driver-loop pruning.
    ["minimal-fragmentation", minimalFragmentationExecutors, minimalFragmentationExecutors],
  ];
  for (const [name, strategy, literal] of strategies) {
    it(`${name}: 500 random clusters`, () => {
      const rand = rng(name.length * 7919);
      let fitted = 0;
      for (let t = 0; t < 500; t++) {
        const specs = Array.from({ length: 1 + rand(7) }, (_, i) =>
          node(`n${i}`, R(rand(12), rand(12), rand(3)), `z${rand(2)}`),
        );
        const m = metadataOf(specs);
        const names = specs.map((s) => s.name);
        const driverOrder = [...names.filter(() => rand(4) > 0), "ghost"];
        const executorOrder = [...names.filter(() => rand(5) > 0), "ghost"].reverse();
        const driver = R(rand(5), rand(5), rand(2));
        const executor = R(rand(4), rand(4), rand(2));
        const count = rand(10);
        const got = sparkBinPack(driver, executor, count, driverOrder, executorOrder, m, strategy);
        const want = literalSparkBinPack(driver, executor, count, driverOrder, executorOrder, m, literal);
        expect({ driverNode: got.driverNode, executorNodes: got.executorNodes }).toEqual(want);
        if (got.hasCapacity) fitted++;
      }
      expect(fitted).toBeGreaterThan(50); // the sample exercises both outcomes
      expect(fitted).toBeLessThan(450);
    });
  }

  it("reports efficiencies for every node of the metadata, including executors and driver", () => {
    const m = metadataOf([
      { name: "a", available: R(4, 4), schedulable: R(8, 8), zone: "z" },
      { name: "b", available: R(4, 4), schedulable: R(4, 4), zone: "z" },
      { name: "c", available: R(4, 4), schedulable: R(4, 4), zone: "z" },
    ]);
    const r = sparkBinPack(R(2, 1), R(2, 2), 2, ["a"], ["a", "b"], m, tightlyPackExecutors);
    expect(summary(r)).toEqual({ hasCapacity: true, driver: "a", executors: { a: 1, b: 1 } });
    const efficiencies = packEfficiencies(r, m);
    expect(efficiencies.get("a")).toEqual({ cpu: 1, memory: 7 / 8, gpu: 0, max: 1 });
    expect(efficiencies.get("b")).toEqual({ cpu: 0.5, memory: 0.5, gpu: 0, max: 0.5 });
    expect(efficiencies.get("c")).toEqual({ cpu: 0, memory: 0, gpu: 0, max: 0 });
  });
});

describe("a driver scan that cannot work stops", () => {
  it("stops at the first driver candidate once the executors' capacities without any driver fall short", () => {
    const metadata = new ObservedMetadata();
    const order: string[] = [];
    for (let i = 0; i < 50; i++) {
      const name = `n${String(i).padStart(2, "0")}`;
      order.push(name);
      metadata.set(name, metadataOf([node(name, R(4000, 4 * 2 ** 30, 0))]).get(name)!);
    }
    // 50 nodes with room for the driver and 3 executors each: 1,000 executors cannot fit whatever node the driver takes.
    const { result, reads } = recordReads(() => sparkBinPack(R(1000, 2 ** 30), R(1000, 2 ** 30), 1000, order, order, metadata, distributeEvenlyExecutors));
    expect(result.hasCapacity).toBe(false);
    // The driver scan stops where the sums show it (before: it went on through all 50 candidates, each rejected).
    expect(reads.scans[0].order).toBe(order);
    expect(reads.scans[0].stoppedAt).toBe("n00");
    // The proof it cannot fit: 4 executors per node without a driver, 200 in all (a kept walk re-checks it).
    expect(result.shortfall?.total).toBe(200);
    expect(result.shortfall?.count).toBe(1000);
    expect([...result.shortfall!.capacities.values()]).toEqual(Array(50).fill(4));
  });
});
