import { describe, expect, it } from "vitest";
import { CapacityIndex, attachCapacityIndex, capacityIndexOf } from "../../../src/engine/binpack/capacity-index.js";
import { BINPACK_ALGORITHMS } from "../../../src/engine/binpack/index.js";
import type { NodeMetadata } from "../../../src/engine/binpack/types.js";
import { type Resources, fits } from "../../../src/engine/resources.js";
import { R, metadataOf } from "./fixtures.js";

/** Small deterministic PRNG (mulberry32). */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** A busy cluster: many full or nearly full nodes (some overcommitted), a few with room, some with GPUs. */
function randomCluster(rand: (n: number) => number, n: number): { names: string[]; specs: Parameters<typeof metadataOf>[0] } {
  const specs = [];
  for (let i = 0; i < n; i++) {
    const full = rand(3) > 0;
    const cpu = full ? rand(3) - 1 : rand(17);
    const memory = full ? rand(3) - 1 : rand(65);
    const gpu = rand(6) === 0 ? rand(3) : rand(8) === 0 ? -1 : 0;
    specs.push({ name: `n${i}`, available: R(cpu, memory, gpu), zone: `z${rand(3)}`, schedulable: R(16, 64, 2) });
  }
  const names = specs.map((s) => s.name);
  // A shuffled order with a few names listed twice (the packers visit a repeated name twice per pass).
  for (let i = names.length - 1; i > 0; i--) {
    const j = rand(i + 1);
    [names[i], names[j]] = [names[j], names[i]];
  }
  for (let k = 0; k < 3; k++) names.splice(rand(names.length), 0, names[rand(names.length)]);
  return { names, specs };
}

function randomRequest(rand: (n: number) => number): Resources {
  return R(rand(5), rand(17), rand(5) === 0 ? 1 : 0);
}

describe("capacity index", () => {
  it("next() finds exactly the positions whose node holds the request, in order", () => {
    const rand = rng(7);
    for (let round = 0; round < 200; round++) {
      const { names, specs } = randomCluster(rand, 1 + rand(40));
      const metadata = metadataOf(specs);
      const index = new CapacityIndex(names, metadata);
      const request = randomRequest(rand);
      const want = names.map((n, i) => (fits(request, metadata.get(n)!.available) ? i : -1)).filter((i) => i >= 0);
      const got: number[] = [];
      for (let i = index.next(0, request); i >= 0; i = index.next(i + 1, request)) got.push(i);
      expect(got).toEqual(want);
    }
  });

  it("update() re-reads a node whose available changed", () => {
    const metadata = metadataOf([
      { name: "a", available: R(0, 0) },
      { name: "b", available: R(0, 0) },
      { name: "c", available: R(4, 4) },
    ]);
    const index = new CapacityIndex(["a", "b", "c"], metadata);
    expect(index.next(0, R(2, 2))).toBe(2);
    metadata.get("c")!.available = R(1, 1);
    index.update("c");
    expect(index.next(0, R(2, 2))).toBe(-1);
    metadata.get("b")!.available = R(8, 8);
    index.update("b");
    expect(index.next(0, R(2, 2))).toBe(1);
  });

  it("is handed to the packers only for the order and the view it was built over", () => {
    const m1 = metadataOf([{ name: "a", available: R(1, 1) }]);
    const m2 = metadataOf([{ name: "a", available: R(1, 1) }]);
    const order = ["a"];
    const index = attachCapacityIndex(order, m1);
    expect(capacityIndexOf(order, m1)).toBe(index);
    expect(capacityIndexOf(order, m2)).toBeUndefined();
    expect(capacityIndexOf(["a"], m1)).toBeUndefined();
  });

  // The contract the packers rely on: with an index attached (fresh, or stale after the view only shrank) every
  // packer places exactly as it does reading every node.
  for (const algorithm of Object.values(BINPACK_ALGORITHMS)) {
    it(`${algorithm.name}: packs the same with and without the index, also after the view shrank`, () => {
      const rand = rng(algorithm.name.length * 977);
      let fitted = 0;
      for (let round = 0; round < 150; round++) {
        const { names, specs } = randomCluster(rand, 5 + rand(60));
        const plain = metadataOf(specs);
        const indexed: NodeMetadata = metadataOf(specs);
        const driverOrder = [...names];
        const executorOrder = names.filter(() => rand(5) > 0);
        const driverIndex = attachCapacityIndex(driverOrder, indexed);
        const executorIndex = attachCapacityIndex(executorOrder, indexed);
        for (let step = 0; step < 4; step++) {
          const driver = randomRequest(rand);
          const executor = randomRequest(rand);
          const count = rand(30);
          const a = algorithm.pack(driver, executor, count, [...driverOrder], [...executorOrder], plain);
          const b = algorithm.pack(driver, executor, count, driverOrder, executorOrder, indexed);
          expect(b).toEqual(a);
          if (a.hasCapacity) fitted++;
          // Shrink some nodes in both views; update the index for only some of them (a stale index must stay right).
          for (let k = 0; k < 6; k++) {
            const name = names[rand(names.length)];
            const cut = R(rand(6), rand(20), rand(2));
            for (const m of [plain, indexed]) {
              const av = m.get(name)!.available;
              m.get(name)!.available = R(av.cpu - cut.cpu, av.memory - cut.memory, av.gpu - cut.gpu);
            }
            if (rand(2) === 0) {
              driverIndex.update(name);
              executorIndex.update(name);
            }
          }
        }
      }
      expect(fitted).toBeGreaterThan(50); // the comparison covers placements, not only refusals
    });
  }
});
