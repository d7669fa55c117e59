// `tightly-pack` (reference §7.4): fill each executor candidate, in priority order, with as many executors as fit
// before moving to the next one.

import type { Resources } from "../resources.js";
import { nodeCapacity } from "./capacity.js";
import { forEachCandidate } from "./capacity-index.js";
import { type ExecutorStrategy, type ReservedMap, pushTimes, reserve, sparkBinPack } from "./spark-binpack.js";
import type { NodeMetadata, Packer } from "./types.js";

export const tightlyPackExecutors: ExecutorStrategy = (
  executor: Resources,
  count: number,
  executorOrder: readonly string[],
  metadata: NodeMetadata,
  reserved: ReservedMap,
) => {
  const out: string[] = [];
  let remaining = count;
  if (remaining === 0) return out;
  forEachCandidate(executorOrder, metadata, executor, (name) => {
    const node = metadata.get(name);
    if (!node) return false;
    const k = Math.min(remaining, nodeCapacity(node.available, reserved.get(name), executor));
    if (k <= 0) return false;
    reserve(reserved, name, executor, k);
    pushTimes(out, name, k);
    remaining -= k;
    return remaining === 0;
  });
  return remaining === 0 ? out : undefined;
};

export const tightlyPack: Packer = (driver, executor, count, driverOrder, executorOrder, metadata) =>
  sparkBinPack(driver, executor, count, driverOrder, executorOrder, metadata, tightlyPackExecutors);
