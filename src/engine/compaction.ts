// Compaction (reference §4.4, which never worked there because of swapped arguments): when a reserved
// executor's pod is deleted, a running extra executor of the same application moves from its soft
// reservation into the freed hard slot, so the application keeps its guaranteed minimum and the soft
// headroom is free again. A terminated executor that still exists keeps its slot for its replacement
// (Spark creates one), as in the reference.

import type { EngineContext } from "./context.js";
import type { ReservationWrite } from "./decision.js";

type SoftRef = { namespace: string; appId: string; pod: string };
import { unboundSlotsByNode } from "./executor.js";
import { cloneReservation } from "./reservation.js";

/**
 * Moves soft-reserved executors into unbound hard slots; returns the reservation writes (assumed) and the soft
 * reservations they replace (ended by Engine.settle once stored).
 */
export function compactSoftReservations(ctx: EngineContext): { writes: ReservationWrite[]; softRemoved: SoftRef[] } {
  const { state } = ctx;
  const writes: ReservationWrite[] = [];
  const softRemoved: SoftRef[] = [];
  // Only applications that lost a reserved pod (or whose reservation changed) can have work to do.
  const candidates = [...state.compactionCandidates];
  state.compactionCandidates.clear();
  for (const key of candidates) {
    const soft = state.soft.get(key);
    if (!soft || soft.executors.size === 0) continue;
    const r = state.reservations.get(key);
    if (!r) continue;
    const unbound = new Map<string, string[]>();
    for (const [node, slots] of unboundSlotsByNode(ctx, r)) {
      const freed = slots.filter((slot) => {
        const pod = r.pods.get(slot);
        return pod !== undefined && !state.getPod(r.namespace, pod);
      });
      if (freed.length > 0) unbound.set(node, freed);
    }
    if (unbound.size === 0) continue;
    const next = cloneReservation(r);
    const inSlots = new Set(r.pods.values());
    let moved = false;
    for (const [podName, softSlot] of [...soft.executors]) {
      // Already moved by an earlier compaction whose write is in flight (its soft slot ends once stored).
      if (inSlots.has(podName)) continue;
      if (!state.isActive(soft.namespace, podName)) continue;
      // Prefer a free slot on the executor's own node; else take any and move it there.
      let list = unbound.get(softSlot.node);
      if (!list || list.length === 0) list = [...unbound.values()].find((l) => l.length > 0);
      if (!list || list.length === 0) break;
      const slot = list.shift()!;
      next.pods.set(slot, podName);
      next.slots.get(slot)!.node = softSlot.node;
      softRemoved.push({ namespace: soft.namespace, appId: soft.appId, pod: podName });
      moved = true;
    }
    if (moved) {
      state.assumeReservation(next);
      writes.push({ op: "update", reservation: next, previous: r });
    }
  }
  return { writes, softRemoved };
}
