// Garbage collection of ResourceReservations, run by the leader.
//
// Deviation (reference §5.4, §14.2 item 5): the reference never deleted a reservation and relied on Kubernetes
// garbage collection through the driver owner reference, so a driver that finished but was not deleted kept its
// whole reservation — driver and executor slots — reserved. Here a reservation is deleted as soon as its driver
// pod is deleted or has finished (phase Succeeded or Failed), and a sweep on gaining leadership (and
// periodically) deletes reservations whose driver no longer exists, was replaced by another pod of the same
// name, or has finished. The application's soft reservations go with it.
//
// A deletion carries the resourceVersion that was judged as a precondition: if the reservation changed in the
// meantime (a replacement driver took it over), the API server refuses and the next sweep judges again.
// The engine drops the reservation once the API server has deleted it.

import type { Logger } from "pino";
import type { PodInfo } from "../engine/model.js";
import { type Reservation, reservationName } from "../engine/reservation.js";
import type { ClusterState } from "../engine/state.js";
import type { Serializer } from "./informers.js";
import type { ReservationWriter } from "./reservation-writer.js";

/** Why a reservation should be collected, or undefined while its driver is alive. */
export function collectReason(state: ClusterState, r: Reservation): string | undefined {
  if (!r.driverPod) return undefined; // ownerless: nothing to judge it by
  const driver = state.getPod(r.namespace, r.driverPod);
  if (!driver) return `driver pod ${r.driverPod} no longer exists`;
  if (r.driverUid && driver.uid && driver.uid !== r.driverUid) {
    return `driver pod ${r.driverPod} was replaced by another pod of the same name`;
  }
  if (finished(driver)) return `driver pod ${r.driverPod} has finished (${driver.phase})`;
  return undefined;
}

function finished(pod: PodInfo): boolean {
  return pod.phase === "Succeeded" || pod.phase === "Failed";
}

export interface GarbageCollectorOptions {
  state: ClusterState;
  writer: Pick<ReservationWriter, "deleteReservation">;
  serialize: Serializer;
  log: Logger;
}

export class GarbageCollector {
  private readonly state: ClusterState;
  private readonly log: Logger;
  /** Keys being collected, so repeated triggers do not send duplicate deletes. */
  private readonly inFlight = new Set<string>();

  constructor(private readonly options: GarbageCollectorOptions) {
    this.state = options.state;
    this.log = options.log.child({ component: "gc" });
  }

  /**
   * Called (inside the serialiser) when a driver pod was deleted or finished: collects its application's
   * reservation when that reservation belongs to this driver. Does not wait for the API call.
   */
  driverEnded(pod: PodInfo): void {
    for (const r of this.state.reservations.values()) {
      if (r.namespace !== pod.namespace || r.driverPod !== pod.name) continue;
      const reason = collectReason(this.state, r);
      if (reason) void this.collect(r, reason);
    }
  }

  /** Judges every reservation and collects those whose driver is gone or finished; resolves when done. */
  async sweep(): Promise<number> {
    const due = await this.options.serialize(async () =>
      [...this.state.reservations.values()].flatMap((r) => {
        const reason = collectReason(this.state, r);
        return reason ? [{ r, reason }] : [];
      }),
    );
    const results = await Promise.all(due.map(({ r, reason }) => this.collect(r, reason)));
    return results.filter(Boolean).length;
  }

  /** Deletes one reservation through the API, then drops it from the engine; resolves true when deleted. */
  private async collect(r: Reservation, reason: string): Promise<boolean> {
    const key = `${r.namespace}/${r.appId}`;
    if (this.inFlight.has(key)) return false;
    this.inFlight.add(key);
    const ctx = { namespace: r.namespace, name: reservationName(r.appId), appId: r.appId, driver: r.driverPod, op: "delete", reason };
    try {
      const outcome = await this.options.writer.deleteReservation(r.namespace, reservationName(r.appId), r.resourceVersion);
      if (outcome === "changed") {
        this.log.info(ctx, "reservation changed since it was judged; left for the next sweep");
        return false;
      }
      await this.options.serialize(async () => {
        const held = this.state.getReservation(r.namespace, r.appId);
        if (held && held.resourceVersion !== r.resourceVersion) return; // a newer incarnation: keep it
        this.state.removeReservation(r.namespace, r.appId);
        this.state.dropSoftApp(r.namespace, r.appId);
      });
      this.log.info({ ...ctx, outcome }, "garbage-collected reservation");
      return true;
    } catch (e) {
      this.log.error({ ...ctx, err: (e as Error).message }, "garbage collection of reservation failed; next sweep retries");
      return false;
    } finally {
      this.inFlight.delete(key);
    }
  }
}
