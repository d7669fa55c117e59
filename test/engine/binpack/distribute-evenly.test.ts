// Spec §13.1: lib distribute_evenly_test.go, plus placement order.

import { describe } from "vitest";
import { distributeEvenly } from "../../../src/engine/binpack/distribute-evenly.js";
import { NO_FIT, R, node } from "./fixtures.js";
import { type PackCase, runPackCases } from "./cases.js";

const perfectlyFitNodes = [node("n1", R(13, 14, 13)), node("n2", R(12, 12, 12)), node("n3", R(16, 16, 16))];

export const DISTRIBUTE_EVENLY_CASES: PackCase[] = [
  {
    name: "13.1#1 application fits",
    driver: R(1, 3, 1),
    executor: R(2, 5, 1),
    count: 2,
    nodes: [node("n1", R(5, 10, 3)), node("n2", R(4, 5, 3))],
    expected: { hasCapacity: true, driver: "n1", executors: { n1: 1, n2: 1 } },
    sequence: ["n1", "n2"],
  },
  {
    name: "13.1#2 driver memory does not fit",
    driver: R(2, 4, 1),
    executor: R(1, 1, 1),
    count: 1,
    nodes: [node("n1", R(2, 3, 2))],
    expected: NO_FIT,
  },
  {
    name: "13.1#3 application perfectly fits",
    driver: R(1, 2, 1),
    executor: R(1, 1, 1),
    count: 40,
    nodes: perfectlyFitNodes,
    expected: { hasCapacity: true, driver: "n1", executors: { n1: 12, n2: 12, n3: 16 } },
  },
  {
    name: "13.1#4 executor cpu do not fit (7 max after the driver)",
    driver: R(1, 1, 0),
    executor: R(1, 2, 1),
    count: 8,
    nodes: [{ name: "n1", available: R(8, 20, 8) }],
    expected: NO_FIT,
  },
  {
    name: "13.1#5 more nodes than executors",
    driver: R(1, 2, 1),
    executor: R(2, 3, 1),
    count: 2,
    nodes: [node("n1", R(8, 20, 8)), node("n2", R(8, 20, 8)), node("n3", R(8, 20, 8))],
    expected: { hasCapacity: true, driver: "n1", executors: { n1: 1, n2: 1 } },
    sequence: ["n1", "n2"],
  },
  {
    name: "13.1#6 executor gpu does not fit",
    driver: R(1, 1, 1),
    executor: R(1, 1, 1),
    count: 4,
    nodes: [node("n1_z1", R(4, 4, 4), "z1"), node("n1_z2", R(128, 128, 0), "z2")],
    expected: NO_FIT,
  },
  {
    name: "round-robin order: full nodes leave the rotation",
    driver: R(1, 1, 0),
    executor: R(1, 1, 0),
    count: 6,
    nodes: [node("n1", R(2, 2, 0)), node("n2", R(2, 2, 0)), node("n3", R(4, 4, 0))],
    expected: { hasCapacity: true, driver: "n1", executors: { n1: 1, n2: 2, n3: 3 } },
    sequence: ["n1", "n2", "n3", "n2", "n3", "n3"],
  },
  {
    name: "zero executors succeed on the first driver node that fits",
    driver: R(3, 3, 0),
    executor: R(1, 1, 0),
    count: 0,
    nodes: [node("n1", R(2, 2, 0)), node("n2", R(3, 3, 0))],
    expected: { hasCapacity: true, driver: "n2", executors: {} },
  },
  {
    name: "moves to the next driver node when executors do not fit beside the driver",
    driver: R(1, 1, 0),
    executor: R(2, 2, 0),
    count: 2,
    nodes: [node("n1", R(2, 2, 0)), node("n2", R(3, 3, 0))],
    expected: { hasCapacity: true, driver: "n2", executors: { n1: 1, n2: 1 } },
    sequence: ["n1", "n2"],
  },
];

describe("distribute-evenly (§7.3, §13.1)", () => {
  runPackCases(distributeEvenly, DISTRIBUTE_EVENLY_CASES);
});
