// Spec §13.4 (lib minimal_fragmentation_test.go) and §13.11 (the source comment's worked examples).

import { describe, expect, it } from "vitest";
import {
  minimalFragmentation,
  minimalFragmentationExecutors,
  planMinimalFragmentation,
} from "../../../src/engine/binpack/minimal-fragmentation.js";
import { NO_FIT, R, counts, metadataOf, node } from "./fixtures.js";
import { type PackCase, runPackCases } from "./cases.js";

const n = (name: string, c: number, m: number, g: number) => node(name, R(c, m, g), "zone1");

const CASES: PackCase[] = [
  {
    name: "13.4#1 application fits",
    driver: R(1, 3, 1),
    executor: R(2, 5, 1),
    count: 2,
    nodes: [n("n1", 5, 10, 2), n("n2", 4, 5, 1)],
    expected: { hasCapacity: true, driver: "n1", executors: { n1: 1, n2: 1 } },
  },
  {
    name: "13.4#2 not fitting one node: biggest nodes first",
    driver: R(1, 3, 0),
    executor: R(2, 5, 0),
    count: 5,
    nodes: [n("n1", 5, 25, 6), n("n2", 9, 24, 6)],
    expected: { hasCapacity: true, driver: "n1", executors: { n1: 1, n2: 4 } },
    sequence: ["n2", "n2", "n2", "n2", "n1"],
  },
  {
    name: "13.4#3 executor-less application",
    driver: R(1, 3, 0),
    executor: R(2, 5, 0),
    count: 0,
    nodes: [n("n1", 5, 25, 6), n("n2", 5, 25, 6)],
    expected: { hasCapacity: true, driver: "n1", executors: {} },
  },
  {
    name: "13.4#4 one executor, accounts for the driver",
    driver: R(1, 3, 0),
    executor: R(2, 5, 0),
    count: 1,
    nodes: [n("n1", 5, 25, 6), n("n2", 5, 25, 6)],
    expected: { hasCapacity: true, driver: "n1", executors: { n1: 1 } },
  },
  {
    name: "13.4#5 fits perfectly on a single node",
    driver: R(1, 3, 0),
    executor: R(2, 5, 0),
    count: 5,
    nodes: [n("n1", 10, 25, 6), n("n2", 5, 25, 6), n("n3", 20, 25, 6)],
    expected: { hasCapacity: true, driver: "n1", executors: { n3: 5 } },
  },
  {
    name: "13.4#6 a single node would fit but is too empty",
    driver: R(1, 3, 0),
    executor: R(2, 5, 0),
    count: 5,
    nodes: [n("n1", 10, 25, 6), n("n2", 5, 25, 6), n("n3", 100, 100, 6)],
    expected: { hasCapacity: true, driver: "n1", executors: { n1: 4, n2: 1 } },
  },
  {
    name: "13.4#7 smallest node that holds all executors",
    driver: R(1, 3, 0),
    executor: R(2, 5, 0),
    count: 5,
    nodes: [n("n1", 200, 500, 6), n("n2", 100, 250, 6)],
    expected: { hasCapacity: true, driver: "n1", executors: { n2: 5 } },
  },
  {
    name: "13.4#8 uses empty nodes when needed",
    driver: R(1, 3, 0),
    executor: R(2, 5, 0),
    count: 5,
    nodes: [n("n1", 1, 3, 6), n("n2", 8, 10, 6), n("n3", 20, 25, 6), n("n4", 20, 25, 6), n("n5", 20, 25, 6)],
    expected: { hasCapacity: true, driver: "n1", executors: { n3: 5 } },
  },
  {
    name: "13.4#9 equal capacity: priority order decides",
    driver: R(1, 3, 0),
    executor: R(2, 5, 0),
    count: 5,
    nodes: [n("n1", 1, 3, 6), n("n2", 8, 10, 6), n("n3", 20, 25, 6), n("n4", 20, 25, 6), n("n5", 20, 25, 6)],
    expected: { hasCapacity: true, driver: "n1", executors: { n3: 5 } },
  },
  {
    name: "13.4#10 smallest node for the remainder",
    driver: R(1, 3, 0),
    executor: R(2, 5, 0),
    count: 5,
    nodes: [n("n1", 6, 30, 6), n("n2", 3, 30, 6), n("n3", 8, 30, 6)],
    expected: { hasCapacity: true, driver: "n1", executors: { n2: 1, n3: 4 } },
  },
  {
    name: "13.4#11 driver fits, executors do not",
    driver: R(2, 3, 1),
    executor: R(1, 1, 0),
    count: 1,
    nodes: [n("n1", 2, 3, 1)],
    expected: NO_FIT,
  },
  {
    name: "13.4#12 driver memory does not fit",
    driver: R(2, 4, 1),
    executor: R(1, 1, 0),
    count: 1,
    nodes: [n("n1", 2, 3, 1)],
    expected: NO_FIT,
  },
  {
    name: "13.4#13 application perfectly fits (40 executors)",
    driver: R(1, 2, 1),
    executor: R(1, 1, 1),
    count: 40,
    nodes: [n("n1", 13, 14, 13), n("n2", 12, 12, 12), n("n3", 16, 16, 16)],
    expected: { hasCapacity: true, driver: "n1", executors: { n1: 12, n2: 12, n3: 16 } },
  },
  {
    name: "13.4#14 executor cpu do not fit",
    driver: R(1, 1, 0),
    executor: R(1, 2, 1),
    count: 8,
    nodes: [n("n1", 8, 20, 8)],
    expected: NO_FIT,
  },
  {
    name: "13.4#15 more nodes than executors",
    driver: R(1, 2, 1),
    executor: R(2, 3, 2),
    count: 2,
    nodes: [n("n1", 8, 20, 8), n("n2", 8, 20, 8), n("n3", 8, 20, 8)],
    expected: { hasCapacity: true, driver: "n1", executors: { n1: 2 } },
  },
  {
    name: "13.4#16 executor gpu does not fit",
    driver: R(1, 1, 1),
    executor: R(1, 1, 1),
    count: 4,
    nodes: [node("n1_z1", R(4, 4, 4), "z1"), node("n1_z2", R(128, 128, 0), "z2")],
    expected: NO_FIT,
  },
];

describe("minimal-fragmentation packer (§7.6, §13.4)", () => {
  runPackCases(minimalFragmentation, CASES);
});

describe("minimal-fragmentation worked examples (§13.11)", () => {
  // Priority order a..f with capacities 1, 1, 3, 5, 5, 17.
  const candidates = [
    { name: "a", capacity: 1 },
    { name: "b", capacity: 1 },
    { name: "c", capacity: 3 },
    { name: "d", capacity: 5 },
    { name: "e", capacity: 5 },
    { name: "f", capacity: 17 },
  ];
  const table: [count: number, expected: string[]][] = [
    [11, ["d", "d", "d", "d", "d", "e", "e", "e", "e", "e", "a"]],
    [6, ["d", "d", "d", "d", "d", "a"]],
    [15, ["d", "d", "d", "d", "d", "e", "e", "e", "e", "e", "c", "c", "c", "a", "b"]],
    [17, Array<string>(17).fill("f")],
    // The source comment says f×17, a, b; the code (and we) give f×17, c, c: c is the smallest node holding 2.
    [19, [...Array<string>(17).fill("f"), "c", "c"]],
  ];
  for (const [count, expected] of table) {
    it(`count ${count} → ${JSON.stringify(counts(expected))}`, () => {
      expect(planMinimalFragmentation(candidates, count)).toEqual(expected);
    });
  }

  it("fails when the capacities sum to less than the count", () => {
    expect(planMinimalFragmentation(candidates, 33)).toBeUndefined();
    expect(planMinimalFragmentation(candidates, 32)).toHaveLength(32);
  });

  it("keeps priority order among equal capacities and ignores zero-capacity nodes", () => {
    const eq = [
      { name: "z", capacity: 0 },
      { name: "p", capacity: 2 },
      { name: "q", capacity: 2 },
    ];
    expect(planMinimalFragmentation(eq, 2)).toEqual(["p", "p"]);
    expect(planMinimalFragmentation(eq, 3)).toEqual(["p", "p", "q"]);
    expect(planMinimalFragmentation([{ name: "z", capacity: 0 }], 1)).toBeUndefined();
    expect(planMinimalFragmentation([], 0)).toEqual([]);
  });

  it("handles infinite capacities (zero-size executors)", () => {
    const inf = [
      { name: "big", capacity: Infinity },
      { name: "small", capacity: 3 },
    ];
    expect(planMinimalFragmentation(inf, 2)).toEqual(["small", "small"]);
    expect(planMinimalFragmentation(inf, 5)).toEqual(Array<string>(5).fill("big"));
  });

  it("records the placed executors in the reserved map (fix for §14.2 item 6b)", () => {
    const metadata = metadataOf([node("n1", R(10, 10, 0)), node("n2", R(10, 10, 0))]);
    const reserved = new Map([["n1", R(1, 1, 0)]]);
    const placed = minimalFragmentationExecutors(R(3, 3, 0), 4, ["n1", "n2"], metadata, reserved);
    expect(placed).toEqual(["n1", "n1", "n1", "n2"]);
    expect(reserved.get("n1")).toEqual(R(10, 10, 0));
    expect(reserved.get("n2")).toEqual(R(3, 3, 0));
  });
});
