// Executor capacity of a node (reference §7.6 "Capacity", lib pkg/capacity).
// How many more executors of a given size fit into a node's `available`, on top of what `reserved` already holds
// there. Integer arithmetic in our units; a zero request in a dimension gives Infinity in that dimension.

import type { Resources } from "../resources.js";

/**
 * Capacity in one dimension:
 * - `reserved > available` → 0;
 * - `request == 0` → Infinity;
 * - else floor((available − reserved) / request), exact for safe integers.
 */
export function dimensionCapacity(available: number, reserved: number, request: number): number {
  if (reserved > available) return 0;
  if (request <= 0) return Infinity;
  const free = available - reserved;
  let k = Math.floor(free / request);
  // Guard against floating-point rounding of the quotient for very large operands.
  if (k * request > free) k -= 1;
  else if ((k + 1) * request <= free) k += 1;
  return k;
}

/** Node capacity: the minimum of the cpu, memory and gpu capacities. `reserved` undefined means nothing reserved. */
export function nodeCapacity(available: Resources, reserved: Resources | undefined, request: Resources): number {
  const rc = reserved ? reserved.cpu : 0;
  const rm = reserved ? reserved.memory : 0;
  const rg = reserved ? reserved.gpu : 0;
  const cpu = dimensionCapacity(available.cpu, rc, request.cpu);
  if (cpu === 0) return 0;
  const memory = dimensionCapacity(available.memory, rm, request.memory);
  if (memory === 0) return 0;
  const gpu = dimensionCapacity(available.gpu, rg, request.gpu);
  return Math.min(cpu, memory, gpu);
}
