// `az-aware-tightly-pack` (reference §7.8): single-az-tightly-pack; if no single zone fits, plain tightly-pack
// across all zones. Not flagged single-AZ (no zone-enforced demands, no dynamic-allocation same-AZ rule).

import { singleAzTightlyPack } from "./single-az.js";
import { tightlyPack } from "./tightly-pack.js";
import type { Packer } from "./types.js";

export const azAwareTightlyPack: Packer = (driver, executor, count, driverOrder, executorOrder, metadata) => {
  const inOneZone = singleAzTightlyPack(driver, executor, count, driverOrder, executorOrder, metadata);
  if (inOneZone.hasCapacity) return inOneZone;
  return tightlyPack(driver, executor, count, driverOrder, executorOrder, metadata);
};
