// Spec §13.5: lib efficiency_test.go and pkg/capacity/capacity_test.go.

import { describe, expect, it } from "vitest";
import { dimensionCapacity, nodeCapacity } from "../../../src/engine/binpack/capacity.js";
import {
  averageEfficiency,
  computeEfficiencies,
  efficienciesFor,
  nodeEfficiency,
} from "../../../src/engine/binpack/efficiency.js";
import { R, metadataOf, withTotals } from "./fixtures.js";

describe("packing efficiency (§7.7, §13.5)", () => {
  it("single node: cpu 0.5, mem 0.3, gpu 1.0, max 1.0", () => {
    const m = metadataOf([withTotals("n1", R(6, 8, 1), R(10, 10, 1))]);
    const e = nodeEfficiency(m.get("n1")!, R(1, 1, 1));
    expect(e.cpu).toBeCloseTo(0.5, 12);
    expect(e.memory).toBeCloseTo(0.3, 12);
    expect(e.gpu).toBe(1);
    expect(e.max).toBe(1);
  });

  const threeNodes = (gpus: [number, number, number]) =>
    metadataOf([
      withTotals("n1", R(10, 10, gpus[0]), R(10, 10, gpus[0])),
      withTotals("n2", R(10, 10, gpus[1]), R(10, 10, gpus[1])),
      withTotals("n3", R(10, 10, gpus[2]), R(10, 10, gpus[2])),
    ]);
  const reserved = (gpu: boolean) =>
    new Map([
      ["n1", R(5, 5, gpu ? 2 : 0)],
      ["n2", R(2, 7, 0)],
      ["n3", R(9, 2, gpu ? 1 : 0)],
    ]);

  it("three nodes: gpu averaged only over nodes with GPUs", () => {
    const m = threeNodes([2, 0, 2]);
    const effs = computeEfficiencies(m, reserved(true));
    const avg = averageEfficiency(["n1", "n2", "n3"], effs, m);
    expect(avg.cpu).toBeCloseTo(0.533, 3);
    expect(avg.memory).toBeCloseTo(0.467, 3);
    expect(avg.gpu).toBeCloseTo(0.75, 12);
    expect(avg.max).toBeCloseTo(0.867, 3);
    expect(effs.get("n2")!.gpu).toBe(0); // no GPUs on n2
  });

  it("three nodes without GPUs: gpu 1.0, max 0.7", () => {
    const m = threeNodes([0, 0, 0]);
    const effs = computeEfficiencies(m, reserved(false));
    const avg = averageEfficiency(["n1", "n2", "n3"], effs, m);
    expect(avg.gpu).toBe(1);
    expect(avg.max).toBeCloseTo(0.7, 12);
  });

  it("repeated names weight a node; unknown names are ignored; empty list averages to 0", () => {
    const m = threeNodes([0, 0, 0]);
    const effs = efficienciesFor(["n1", "n2", "n1"], m, reserved(false));
    expect([...effs.keys()]).toEqual(["n1", "n2"]);
    // n1 max 0.5, n2 max 0.7 → (0.5 + 0.5 + 0.7) / 3
    expect(averageEfficiency(["n1", "n1", "n2", "ghost"], effs, m).max).toBeCloseTo(1.7 / 3, 12);
    expect(averageEfficiency([], effs, m)).toEqual({ cpu: 0, memory: 0, gpu: 1, max: 0 });
  });

  it("uses exact ratios of our units (500m of 2 cores is 0.25) and treats a zero denominator as 1", () => {
    const m = metadataOf([withTotals("n1", R(2000, 0, 0), R(2000, 0, 0))]);
    const e = nodeEfficiency(m.get("n1")!, R(500, 0, 0));
    expect(e).toEqual({ cpu: 0.25, memory: 0, gpu: 0, max: 0.25 });
  });
});

describe("executor capacity (§7.6, §13.5)", () => {
  it.each([
    [2, 1, 0, Infinity],
    [2, 0, 1, 2],
    [3, 1, 2, 1],
    [2, 3, 1, 0],
  ])("single dimension: available %i, reserved %i, request %i → %d", (available, reserved, request, expected) => {
    expect(dimensionCapacity(available, reserved, request)).toBe(expected);
  });

  it("reserved above available gives 0 even for a zero request", () => {
    expect(dimensionCapacity(1, 2, 0)).toBe(0);
    expect(dimensionCapacity(-1, 0, 1)).toBe(0);
  });

  it("is exact for large operands", () => {
    const big = Number.MAX_SAFE_INTEGER;
    expect(dimensionCapacity(big, 0, 1)).toBe(big);
    expect(dimensionCapacity(big, 0, 3)).toBe((big - 1) / 3);
    expect(dimensionCapacity(2 ** 50, 0, 2 ** 30 + 1)).toBe(Math.floor(2 ** 50 / (2 ** 30 + 1)));
  });

  const exec = R(1, 1, 1);
  it.each([
    ["empty available", R(0, 0, 0), undefined, 0],
    ["available = request", R(1, 1, 1), undefined, 1],
    ["cpu smallest", R(3, 4, 4), undefined, 3],
    ["memory smallest", R(4, 3, 4), undefined, 3],
    ["gpu smallest", R(4, 4, 3), undefined, 3],
    ["reserved cpu fills the node", R(1, 1, 1), R(1, 0, 0), 0],
  ] as const)("node capacity for R(1,1,1): %s", (_name, available, reserved, expected) => {
    expect(nodeCapacity(available, reserved, exec)).toBe(expected);
  });

  it("node capacity is the minimum over dimensions; zero-request dimensions do not limit", () => {
    expect(nodeCapacity(R(10, 10, 0), undefined, R(2, 5, 0))).toBe(2);
    expect(nodeCapacity(R(10, 10, 0), undefined, R(0, 0, 0))).toBe(Infinity);
  });
});
