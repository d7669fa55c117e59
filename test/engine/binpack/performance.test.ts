// Scale check: 5,000 nodes × 1,000 executors, including the app-does-not-fit case that a naive driver loop makes
// O(nodes²). Generous bounds; they catch accidental quadratic behaviour, not micro-regressions.

import { describe, expect, it } from "vitest";
import { BINPACK_ALGORITHMS } from "../../../src/engine/binpack/index.js";
import { orderNodes } from "../../../src/engine/node-order.js";
import { R, metadataOf, withTotals } from "./fixtures.js";

const GI = 2 ** 30;
const NODES = 5000;

function cluster() {
  const specs = [];
  for (let i = 0; i < NODES; i++) {
    const usedCpu = (i * 7919) % 16000;
    const usedMem = ((i * 104729) % 64) * GI;
    specs.push(
      withTotals(`node-${i}`, R(16000 - usedCpu, 64 * GI - usedMem, 0), R(16000, 64 * GI, 0), `zone-${i % 3}`),
    );
  }
  return metadataOf(specs);
}

describe("performance at cluster scale", () => {
  const metadata = cluster();
  const { driverNodes, executorNodes } = orderNodes(metadata, metadata.keys());

  for (const algo of Object.values(BINPACK_ALGORITHMS)) {
    it(`${algo.name}: 1,000 executors fit, and a too-large app fails fast`, () => {
      const start = performance.now();
      const fit = algo.pack(R(1000, 4 * GI), R(2000, 8 * GI), 1000, driverNodes, executorNodes, metadata);
      expect(fit.hasCapacity).toBe(true);
      expect(fit.executorNodes).toHaveLength(1000);
      const noFit = algo.pack(R(1000, 4 * GI), R(2000, 8 * GI), 10_000_000, driverNodes, executorNodes, metadata);
      expect(noFit.hasCapacity).toBe(false);
      expect(performance.now() - start).toBeLessThan(2000);
    });
  }
});
