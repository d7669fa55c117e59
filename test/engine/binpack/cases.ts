// Shared table-driven case runner for the packer tests (driver order = executor order = node list order).

import { expect, it } from "vitest";
import type { Resources } from "../../../src/engine/resources.js";
import { packEfficiencies } from "../../../src/engine/binpack/efficiency.js";
import type { Packer } from "../../../src/engine/binpack/types.js";
import { type NodeSpec, availableSnapshot, metadataOf, summary } from "./fixtures.js";

export interface PackCase {
  name: string;
  driver: Resources;
  executor: Resources;
  count: number;
  nodes: NodeSpec[];
  expected: { hasCapacity: boolean; driver: string; executors: Record<string, number> };
  /** Exact executor placement order, when asserted. */
  sequence?: string[];
}

export function runPackCases(packer: Packer, cases: readonly PackCase[]): void {
  for (const c of cases) {
    it(c.name, () => {
      const metadata = metadataOf(c.nodes);
      const before = availableSnapshot(metadata);
      const order = c.nodes.map((n) => n.name);
      const result = packer(c.driver, c.executor, c.count, order, order, metadata);
      expect(summary(result)).toEqual(c.expected);
      expect(result.executorNodes).toHaveLength(c.expected.hasCapacity ? c.count : 0);
      if (c.sequence) expect(result.executorNodes).toEqual(c.sequence);
      if (result.hasCapacity) expect([...packEfficiencies(result, metadata).keys()].sort()).toEqual([...order].sort());
      expect(availableSnapshot(metadata)).toEqual(before); // input metadata is never mutated
    });
  }
}
