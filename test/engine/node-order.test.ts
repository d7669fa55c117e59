// Spec §7.1 / §13.9 (internal/sort/nodesorting_test.go) and the zone label lookup.

import { describe, expect, it } from "vitest";
import {
  LEGACY_ZONE_LABEL,
  ZONE_LABEL,
  compareAvailable,
  compareNodeKeys,
  orderNodes,
  prioritizeByLabel,
  sortNodes,
  zoneOf,
  zonePriorities,
} from "../../src/engine/node-order.js";
import { R, metadataOf } from "./binpack/fixtures.js";
import type { NodeSpec } from "./binpack/fixtures.js";

/** A node with available (cpu, mem). */
const n = (name: string, cpu: number, mem: number, zone = "default", extra: Partial<NodeSpec> = {}): NodeSpec => ({
  name,
  available: R(cpu, mem),
  zone,
  ...extra,
});

describe("nodesorting_test (§13.9)", () => {
  it("resourcesLessThan: less memory first, then less cpu", () => {
    expect(compareAvailable(R(1, 1), R(1, 2))).toBeLessThan(0);
    expect(compareAvailable(R(1, 2), R(1, 1))).toBeGreaterThan(0);
    expect(compareAvailable(R(1, 1), R(2, 1))).toBeLessThan(0);
    expect(compareAvailable(R(2, 1), R(1, 1))).toBeGreaterThan(0);
    expect(compareAvailable(R(9, 1), R(1, 2))).toBeLessThan(0); // memory dominates cpu
    expect(compareAvailable(R(1, 1), R(1, 1))).toBe(0);
  });

  it("scheduleContextLessThan: AZ priority, then resources, then name", () => {
    const key = (name: string, zonePriority: number, cpu: number, mem: number) => ({
      name,
      zonePriority,
      available: R(cpu, mem),
    });
    expect(compareNodeKeys(key("z", 0, 9, 9), key("a", 1, 1, 1))).toBeLessThan(0);
    expect(compareNodeKeys(key("a", 1, 1, 1), key("z", 0, 9, 9))).toBeGreaterThan(0);
    expect(compareNodeKeys(key("z", 0, 1, 1), key("a", 0, 2, 2))).toBeLessThan(0);
    expect(compareNodeKeys(key("a", 0, 2, 2), key("z", 0, 1, 1))).toBeGreaterThan(0);
    expect(compareNodeKeys(key("base1", 0, 1, 1), key("base2", 0, 1, 1))).toBeLessThan(0);
    expect(compareNodeKeys(key("base2", 0, 1, 1), key("base1", 0, 1, 1))).toBeGreaterThan(0);
  });

  it("AZ-aware order: least-free zone first, then fullest node first", () => {
    const m = metadataOf([
      n("zone1Node1", 1, 1, "zone1"),
      n("zone1Node2", 1, 2, "zone1"),
      n("zone1Node3", 2, 1, "zone1"),
      n("zone2Node1", 1, 1, "zone2"),
    ]);
    expect(sortNodes(m)).toEqual(["zone2Node1", "zone1Node1", "zone1Node3", "zone1Node2"]);
    expect(orderNodes(m, m.keys()).executorNodes).toEqual(["zone2Node1", "zone1Node1", "zone1Node3", "zone1Node2"]);
  });

  it("missing zone labels: one default zone", () => {
    const m = metadataOf([n("node1", 2, 1), n("node2", 2, 2), n("node3", 1, 1)]);
    expect(orderNodes(m, ["node1", "node2", "node3"]).driverNodes).toEqual(["node3", "node1", "node2"]);
  });

  const labelled = (values: Record<string, string | undefined>) =>
    metadataOf(
      Object.entries(values).map(
        ([name, v]): NodeSpec => ({
          name,
          available: R(1, 1),
          labels: v === undefined ? {} : { "test-label": v },
        }),
      ),
    );

  it("label priority 1: unlisted value goes last", () => {
    const m = labelled({ node1: "worst", node2: "good", node3: "best" });
    const p = { labelName: "test-label", labelValuesDescendingPriority: ["best", "good"] };
    expect(prioritizeByLabel(["node1", "node3", "node2"], m, p)).toEqual(["node3", "node2", "node1"]);
  });

  it("label priority 2: node without the label goes last", () => {
    const m = labelled({ node1: undefined, node2: "good", node3: "best" });
    const p = { labelName: "test-label", labelValuesDescendingPriority: ["best", "good"] };
    expect(prioritizeByLabel(["node2", "node3", "node1"], m, p)).toEqual(["node3", "node2", "node1"]);
  });

  it("label priority 3: three ranked values", () => {
    const m = labelled({ node1: "better", node2: "good", node3: "best" });
    const p = { labelName: "test-label", labelValuesDescendingPriority: ["best", "better", "good"] };
    expect(prioritizeByLabel(["node1", "node2", "node3"], m, p)).toEqual(["node3", "node1", "node2"]);
  });
});

describe("orderNodes (§7.1)", () => {
  it("driverNodes = sorted ∩ offered; executorNodes = sorted, schedulable and Ready (not limited to offered)", () => {
    const m = metadataOf([
      n("a", 4, 4),
      n("b", 1, 1),
      n("c", 2, 2, "default", { unschedulable: true }),
      n("d", 3, 3, "default", { ready: false }),
      n("e", 5, 5),
    ]);
    const order = orderNodes(m, ["e", "c", "a", "ghost"]);
    expect(order.driverNodes).toEqual(["c", "a", "e"]);
    expect(order.executorNodes).toEqual(["b", "a", "e"]);
  });

  it("zone priority sums available per zone, memory first then cpu", () => {
    const m = metadataOf([
      n("x1", 100, 1, "zx"),
      n("x2", 100, 1, "zx"), // zx: cpu 200, mem 2
      n("y1", 1, 3, "zy"), // zy: cpu 1, mem 3
      n("w1", 50, 2, "zw"),
      n("w2", 0, 0, "zw"), // zw: cpu 50, mem 2 (less cpu than zx)
    ]);
    expect([...zonePriorities(m)]).toEqual([
      ["zw", 0],
      ["zx", 1],
      ["zy", 2],
    ]);
    expect(sortNodes(m)).toEqual(["w2", "w1", "x1", "x2", "y1"]);
  });

  it("is deterministic for GPU-only differences: gpu ascending, then name (deviation from the reference)", () => {
    const m = metadataOf([
      { name: "g2", available: R(1, 1, 2) },
      { name: "g0b", available: R(1, 1, 0) },
      { name: "g1", available: R(1, 1, 1) },
      { name: "g0a", available: R(1, 1, 0) },
    ]);
    expect(sortNodes(m)).toEqual(["g0a", "g0b", "g1", "g2"]);
    // Zones tying on memory and cpu: gpu, then zone name.
    const z = metadataOf([
      { name: "b", available: R(1, 1, 0), zone: "zb" },
      { name: "a", available: R(1, 1, 1), zone: "za" },
      { name: "c", available: R(1, 1, 0), zone: "zc" },
    ]);
    expect(sortNodes(z)).toEqual(["b", "c", "a"]);
  });

  it("applies driver and executor label priorities separately (stable, unranked last)", () => {
    const m = metadataOf([
      { name: "n1", available: R(1, 1), labels: { pool: "spot", tier: "a" } },
      { name: "n2", available: R(2, 2), labels: { pool: "ondemand", tier: "b" } },
      { name: "n3", available: R(3, 3), labels: { tier: "a" } },
      { name: "n4", available: R(4, 4), labels: { pool: "ondemand", tier: "c" } },
    ]);
    const order = orderNodes(m, ["n1", "n2", "n3", "n4"], {
      driverPriority: { labelName: "pool", labelValuesDescendingPriority: ["ondemand", "spot"] },
      executorPriority: { labelName: "tier", labelValuesDescendingPriority: ["b", "a"] },
    });
    expect(order.driverNodes).toEqual(["n2", "n4", "n1", "n3"]);
    expect(order.executorNodes).toEqual(["n2", "n1", "n3", "n4"]);
  });

  it("does not mutate the metadata and handles an empty cluster", () => {
    const m = metadataOf([n("b", 2, 2), n("a", 1, 1)]);
    const before = JSON.stringify([...m]);
    expect(orderNodes(m, ["a", "b"]).driverNodes).toEqual(["a", "b"]);
    expect(JSON.stringify([...m])).toBe(before);
    expect(orderNodes(new Map(), [])).toEqual({ driverNodes: [], executorNodes: [] });
  });
});

describe("zoneOf", () => {
  it("reads topology.kubernetes.io/zone first", () => {
    expect(zoneOf({ [ZONE_LABEL]: "us-east-1a", [LEGACY_ZONE_LABEL]: "old" })).toBe("us-east-1a");
  });
  it("falls back to the deprecated failure-domain.beta.kubernetes.io/zone label", () => {
    expect(zoneOf({ [LEGACY_ZONE_LABEL]: "us-east-1b" })).toBe("us-east-1b");
    expect(zoneOf({ [ZONE_LABEL]: "", [LEGACY_ZONE_LABEL]: "us-east-1b" })).toBe("us-east-1b");
  });
  it('is "default" without either label', () => {
    expect(zoneOf({})).toBe("default");
    expect(zoneOf(undefined)).toBe("default");
    expect(zoneOf({ other: "x" })).toBe("default");
  });
});
