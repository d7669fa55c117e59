// The algorithm registry: exact names, single-AZ flags, and the error for an unknown name (no silent fallback).

import { describe, expect, it } from "vitest";
import { BINPACK_ALGORITHMS, getBinpacker } from "../../../src/engine/binpack/index.js";
import { R, metadataOf, node, summary } from "./fixtures.js";

describe("binpack registry", () => {
  it("registers exactly the five configurable algorithms", () => {
    expect(Object.keys(BINPACK_ALGORITHMS).sort()).toEqual([
      "az-aware-tightly-pack",
      "distribute-evenly",
      "single-az-minimal-fragmentation",
      "single-az-tightly-pack",
      "tightly-pack",
    ]);
    for (const [name, algo] of Object.entries(BINPACK_ALGORITHMS)) expect(algo.name).toBe(name);
  });

  it("flags only the single-az-* packers as single-AZ", () => {
    const singleAz = Object.values(BINPACK_ALGORITHMS)
      .filter((a) => a.singleAz)
      .map((a) => a.name)
      .sort();
    expect(singleAz).toEqual(["single-az-minimal-fragmentation", "single-az-tightly-pack"]);
  });

  it("returns the registered algorithm", () => {
    expect(getBinpacker("tightly-pack")).toBe(BINPACK_ALGORITHMS["tightly-pack"]);
    const m = metadataOf([node("n1", R(10, 10)), node("n2", R(10, 10))]);
    const order = ["n1", "n2"];
    expect(summary(getBinpacker("distribute-evenly").pack(R(1, 1), R(1, 1), 2, order, order, m)).executors).toEqual({
      n1: 1,
      n2: 1,
    });
    expect(summary(getBinpacker("tightly-pack").pack(R(1, 1), R(1, 1), 2, order, order, m)).executors).toEqual({
      n1: 2,
    });
  });

  it.each(["minimal-fragmentation", "Tightly-Pack", "", "toString", "__proto__"])(
    "throws for unknown name %j, naming the valid choices",
    (name) => {
      expect(() => getBinpacker(name)).toThrow(
        /unknown binpack algorithm .*valid choices are: distribute-evenly, tightly-pack, az-aware-tightly-pack, single-az-tightly-pack, single-az-minimal-fragmentation/,
      );
    },
  );
});
