// Registry of the configurable bin-packing algorithms (reference §7) and re-exports of the placement layer.
//
// Deviation: the reference silently fell back to distribute-evenly for an unknown name; getBinpacker throws.

import { azAwareTightlyPack } from "./az-aware.js";
import { distributeEvenly } from "./distribute-evenly.js";
import { singleAzMinimalFragmentation, singleAzTightlyPack } from "./single-az.js";
import { tightlyPack } from "./tightly-pack.js";
import type { BinpackAlgorithm } from "./types.js";

export const DEFAULT_BINPACK_ALGORITHM = "distribute-evenly";

export const BINPACK_ALGORITHMS: Readonly<Record<string, BinpackAlgorithm>> = Object.freeze({
  "distribute-evenly": { name: "distribute-evenly", pack: distributeEvenly, singleAz: false },
  "tightly-pack": { name: "tightly-pack", pack: tightlyPack, singleAz: false },
  "az-aware-tightly-pack": { name: "az-aware-tightly-pack", pack: azAwareTightlyPack, singleAz: false },
  "single-az-tightly-pack": { name: "single-az-tightly-pack", pack: singleAzTightlyPack, singleAz: true },
  "single-az-minimal-fragmentation": {
    name: "single-az-minimal-fragmentation",
    pack: singleAzMinimalFragmentation,
    singleAz: true,
  },
});

/** The algorithm registered under `name`; throws an Error listing the valid names when there is none. */
export function getBinpacker(name: string): BinpackAlgorithm {
  if (Object.hasOwn(BINPACK_ALGORITHMS, name)) return BINPACK_ALGORITHMS[name];
  const valid = Object.keys(BINPACK_ALGORITHMS).join(", ");
  throw new Error(`unknown binpack algorithm ${JSON.stringify(name)}; valid choices are: ${valid}`);
}

export type * from "./types.js";
export { dimensionCapacity, nodeCapacity } from "./capacity.js";
export { averageEfficiency, computeEfficiencies, efficienciesFor, nodeEfficiency, packEfficiencies } from "./efficiency.js";
export { distributeEvenly, distributeEvenlyExecutors } from "./distribute-evenly.js";
export { tightlyPack, tightlyPackExecutors } from "./tightly-pack.js";
export {
  minimalFragmentation,
  minimalFragmentationExecutors,
  planMinimalFragmentation,
  type CapacityCandidate,
} from "./minimal-fragmentation.js";
export { singleAzMinimalFragmentation, singleAzPack, singleAzTightlyPack } from "./single-az.js";
export { azAwareTightlyPack } from "./az-aware.js";
export { pickExecutorNode, type PickExecutorOptions } from "./pick-executor-node.js";
export {
  type ExecutorStrategy,
  type Placement,
  type ReservedMap,
  noCapacity,
  placeDriverFirst,
  sparkBinPack,
} from "./spark-binpack.js";
