// `distribute-evenly` (reference §7.3): round-robin passes over the executor candidates, one executor per node
// per pass; a node leaves the rotation the first time the next executor does not fit on it.
//
// Each node's capacity (§7.6) is computed once and the passes are simulated over a shrinking list of open nodes,
// so the cost is O(nodes + executors), not O(passes × nodes); an app placed within the first pass reads only the
// nodes up to the one that takes its last executor. Placement order equals the reference's.

import type { Resources } from "../resources.js";
import { nodeCapacity } from "./capacity.js";
import { forEachCandidate } from "./capacity-index.js";
import { type ExecutorStrategy, type ReservedMap, reserve, sparkBinPack } from "./spark-binpack.js";
import type { NodeMetadata, Packer } from "./types.js";

interface Slot {
  name: string;
  capacity: number;
  placed: number;
  open: boolean;
}

export const distributeEvenlyExecutors: ExecutorStrategy = (
  executor: Resources,
  count: number,
  executorOrder: readonly string[],
  metadata: NodeMetadata,
  reserved: ReservedMap,
) => {
  const out: string[] = [];
  if (count === 0) return out;
  // One shared slot per node name, so a name listed twice is visited twice per pass, as in the reference.
  const slots = new Map<string, Slot>();
  const finish = () => {
    for (const s of slots.values()) if (s.placed > 0) reserve(reserved, s.name, executor, s.placed);
    return out;
  };
  // The first pass creates the slots as it goes: an app with fewer executors than open nodes is placed before the
  // end of the order, and the nodes behind are never read.
  // Nodes without room for one executor are never open, so the capacity index may skip them.
  let open: Slot[] = [];
  forEachCandidate(executorOrder, metadata, executor, (name) => {
    let slot = slots.get(name);
    if (!slot) {
      const node = metadata.get(name);
      const capacity = node ? nodeCapacity(node.available, reserved.get(name), executor) : 0;
      slot = { name, capacity, placed: 0, open: capacity > 0 };
      slots.set(name, slot);
    }
    if (!slot.open) return false;
    if (slot.placed >= slot.capacity) {
      slot.open = false;
      return false;
    }
    slot.placed += 1;
    out.push(name);
    if (out.length === count) return true;
    open.push(slot);
    return false;
  });
  if (out.length === count) return finish();
  while (open.length > 0) {
    const next: Slot[] = [];
    for (const slot of open) {
      if (!slot.open) continue;
      if (slot.placed >= slot.capacity) {
        slot.open = false;
        continue;
      }
      slot.placed += 1;
      out.push(slot.name);
      if (out.length === count) return finish();
      next.push(slot);
    }
    open = next;
  }
  return undefined;
};

export const distributeEvenly: Packer = (driver, executor, count, driverOrder, executorOrder, metadata) =>
  sparkBinPack(driver, executor, count, driverOrder, executorOrder, metadata, distributeEvenlyExecutors);
