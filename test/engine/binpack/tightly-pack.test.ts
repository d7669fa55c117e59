// Spec §13.2: lib pack_tightly_test.go.

import { describe } from "vitest";
import { tightlyPack } from "../../../src/engine/binpack/tightly-pack.js";
import { NO_FIT, R, node } from "./fixtures.js";
import { type PackCase, runPackCases } from "./cases.js";

const CASES: PackCase[] = [
  {
    name: "13.2#1 application fits (n1 runs out of GPU)",
    driver: R(1, 3, 1),
    executor: R(2, 5, 1),
    count: 2,
    nodes: [node("n1", R(5, 10, 2)), node("n2", R(4, 5, 1))],
    expected: { hasCapacity: true, driver: "n1", executors: { n1: 1, n2: 1 } },
    sequence: ["n1", "n2"],
  },
  {
    name: "13.2#2 tightly packs",
    driver: R(1, 3, 1),
    executor: R(2, 5, 1),
    count: 5,
    nodes: [node("n1", R(11, 28, 6)), node("n2", R(10, 20, 6))],
    expected: { hasCapacity: true, driver: "n1", executors: { n1: 5 } },
  },
  {
    name: "13.2#3 driver memory does not fit",
    driver: R(2, 4, 1),
    executor: R(1, 1, 0),
    count: 1,
    nodes: [node("n1", R(2, 3, 1))],
    expected: NO_FIT,
  },
  {
    name: "13.2#4 application perfectly fits",
    driver: R(1, 2, 1),
    executor: R(1, 1, 1),
    count: 40,
    nodes: [node("n1", R(13, 14, 13)), node("n2", R(12, 12, 12)), node("n3", R(16, 16, 16))],
    expected: { hasCapacity: true, driver: "n1", executors: { n1: 12, n2: 12, n3: 16 } },
  },
  {
    name: "13.2#5 executor cpu do not fit",
    driver: R(1, 1, 0),
    executor: R(1, 2, 1),
    count: 8,
    nodes: [node("n1", R(8, 20, 8))],
    expected: NO_FIT,
  },
  {
    name: "13.2#6 more nodes than executors",
    driver: R(1, 2, 1),
    executor: R(2, 3, 2),
    count: 2,
    nodes: [node("n1", R(8, 20, 8)), node("n2", R(8, 20, 8)), node("n3", R(8, 20, 8))],
    expected: { hasCapacity: true, driver: "n1", executors: { n1: 2 } },
  },
  {
    name: "13.2#7 executor gpu does not fit",
    driver: R(1, 1, 1),
    executor: R(1, 1, 1),
    count: 4,
    nodes: [node("n1_z1", R(4, 4, 4), "z1"), node("n1_z2", R(128, 128, 0), "z2")],
    expected: NO_FIT,
  },
  {
    name: "zero-size executors all go to the first node",
    driver: R(1, 1, 0),
    executor: R(0, 0, 0),
    count: 3,
    nodes: [node("n1", R(1, 1, 0)), node("n2", R(8, 8, 0))],
    expected: { hasCapacity: true, driver: "n1", executors: { n1: 3 } },
  },
];

describe("tightly-pack (§7.4, §13.2)", () => {
  runPackCases(tightlyPack, CASES);
});
