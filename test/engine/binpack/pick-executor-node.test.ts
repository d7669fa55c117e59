// Single-executor placement for rescheduled / extra dynamic-allocation executors (§4.2).

import { describe, expect, it } from "vitest";
import { pickExecutorNode } from "../../../src/engine/binpack/pick-executor-node.js";
import { R, metadataOf, node } from "./fixtures.js";

const exec = R(2, 2, 0);
// Capacities for R(2,2): a 1, b 3, c 1, d 0, e 2.
const metadata = metadataOf([
  node("a", R(2, 3)),
  node("b", R(6, 7)),
  node("c", R(3, 2)),
  node("d", R(1, 10)),
  node("e", R(4, 5)),
]);
const order = ["d", "b", "e", "a", "c"];

describe("pickExecutorNode (§4.2)", () => {
  it("first-fit: the first node in order that holds the executor", () => {
    expect(pickExecutorNode(exec, order, metadata, { minimalFragmentation: false, appNodes: new Set() })).toBe("b");
    expect(
      pickExecutorNode(exec, order, metadata, { minimalFragmentation: false, appNodes: new Set(["a"]) }),
    ).toBe("b");
  });

  it("minimal fragmentation: the smallest capacity ≥ 1, ties keep candidate order", () => {
    expect(pickExecutorNode(exec, order, metadata, { minimalFragmentation: true, appNodes: new Set() })).toBe("a");
    expect(
      pickExecutorNode(exec, ["c", "a"], metadata, { minimalFragmentation: true, appNodes: new Set() }),
    ).toBe("c");
  });

  it("minimal fragmentation: nodes hosting the app's executors win, then smallest capacity among them", () => {
    const appNodes = new Set(["b", "e", "d"]);
    expect(pickExecutorNode(exec, order, metadata, { minimalFragmentation: true, appNodes })).toBe("e");
    // An app node without room (d) is not a candidate.
    expect(
      pickExecutorNode(exec, order, metadata, { minimalFragmentation: true, appNodes: new Set(["d"]) }),
    ).toBe("a");
  });

  it("returns undefined when nothing fits; unknown candidates are skipped", () => {
    for (const minimalFragmentation of [false, true]) {
      expect(
        pickExecutorNode(R(100, 1), ["ghost", ...order], metadata, { minimalFragmentation, appNodes: new Set() }),
      ).toBeUndefined();
      expect(pickExecutorNode(exec, ["ghost", "c"], metadata, { minimalFragmentation, appNodes: new Set() })).toBe(
        "c",
      );
    }
  });

  it("does not subtract overhead twice: an exact fit on `available` is accepted (§14.2 item 3)", () => {
    // schedulable 10 (allocatable − overhead), available 2 (after usage and overhead): exactly one executor fits.
    const m = metadataOf([{ name: "n1", available: R(2, 2), schedulable: R(10, 10), zone: "z" }]);
    for (const minimalFragmentation of [false, true]) {
      expect(pickExecutorNode(exec, ["n1"], m, { minimalFragmentation, appNodes: new Set() })).toBe("n1");
    }
  });
});
