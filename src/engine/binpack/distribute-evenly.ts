// `distribute-evenly` (reference §7.3): round-robin passes over the executor candidates, one executor per node
// per pass; a node leaves the rotation the first time the next executor does not fit on it.
//
// Each node's capacity (§7.6) is computed once and the passes are simulated over a shrinking list of open nodes,
// so the cost is O(nodes + executors), not O(passes × nodes). Placement order equals the reference's.

import type { Resources } from "../resources.js";
import { nodeCapacity } from "./capacity.js";
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
  let open: Slot[] = [];
  for (const name of executorOrder) {
    let slot = slots.get(name);
    if (!slot) {
      const node = metadata.get(name);
      const capacity = node ? nodeCapacity(node.available, reserved.get(name), executor) : 0;
      slot = { name, capacity, placed: 0, open: capacity > 0 };
      slots.set(name, slot);
    }
    if (slot.open) open.push(slot);
  }
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
      if (out.length === count) {
        for (const s of slots.values()) if (s.placed > 0) reserve(reserved, s.name, executor, s.placed);
        return out;
      }
      next.push(slot);
    }
    open = next;
  }
  return undefined;
};

export const distributeEvenly: Packer = (driver, executor, count, driverOrder, executorOrder, metadata) =>
  sparkBinPack(driver, executor, count, driverOrder, executorOrder, metadata, distributeEvenlyExecutors);
