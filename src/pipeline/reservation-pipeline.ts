// Persistence of decisions: assume, persist, confirm or forget (kube-scheduler's assume cache and Kueue's
// admission are the models).
//
// A decision is made synchronously and its reservation content is already assumed in the engine state when it
// is submitted here. The pipeline holds each written reservation (ClusterState.hold) until its writes end, and
// keeps one channel per reservation: writes to one reservation go out one at a time, in decision order, and
// content assumed while a write is in flight is coalesced into the next write (ten executor binds of one
// application during one round trip become one PUT). Each submitter waits for the write that carries its
// content only. When a write is stored, its content becomes the held base and the soft reservations it
// replaces end; when the channel is idle the base becomes visible again. When a write fails (after the
// writer's retries), the reservation goes back to the last stored content and exactly the decisions whose
// content was not stored fail; other reservations of the same decision that were stored stay stored.
//
// An executor bind into a slot that the reservation's stored content already places on the chosen node (the
// slot's node is durable; only the pod name is not) may be answered before its write (`early`): the node's
// capacity is reserved durably either way, so the write only records which pod holds the slot. Its write still
// goes through the channel (ordered, coalesced with the other binds of the application). If it fails, the
// reservation goes back to its stored content as for any failed write, and — kube-scheduler binds the executor
// whatever we store — the bind is written again once, into the same slot on top of the stored content, in the
// same synchronous step (so no other decision can hand that slot to another pod meanwhile). If that fails too, or
// the slot is gone, the executor counts as overhead on its node, and holds an unbound slot of its application
// there (src/engine/executor.ts unboundSlotsByNode), until reconciliation re-attaches it
// (src/engine/reconcile.ts: on takeover and at every periodic pass; also after a restart before the write
// landed). A driver's admission and a slot that moves always wait for their writes.

import type { Logger } from "pino";
import type { Decision, ReservationWrite } from "../engine/decision.js";
import type { Engine } from "../engine/engine.js";
import { isUnbound } from "../engine/executor.js";
import { DRIVER_SLOT, type Reservation, cloneReservation, reservationKey } from "../engine/reservation.js";

export type WriteFn = (write: ReservationWrite) => Promise<string | undefined>;

/** An executor bind answered before its write (`submit`'s `early`). */
export interface EarlyBind {
  namespace: string;
  pod: string;
  decision: Decision;
  /** Already written again once after a failed write (`reattach`). */
  retried?: boolean;
}

/** Told when the write of binds that were answered before it failed (their content is forgotten). */
export type LateFailureFn = (binds: readonly EarlyBind[], error: Error) => void;

interface Waiter {
  decision: Decision;
  /** Answered before its write: a failure is reported to `onLateFailure`, not to a caller. */
  early?: EarlyBind;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Channel {
  namespace: string;
  appId: string;
  /** The next write's operation: create until the first one is stored. */
  op: "create" | "update";
  /** The content last known stored (undefined before the first create is stored). */
  durable: Reservation | undefined;
  /** The resourceVersion the next update is made against. */
  resourceVersion: string | undefined;
  /** Assumed content not sent yet (the latest wins). */
  content: Reservation | undefined;
  /** Decisions whose content is in `content`. */
  waiting: Waiter[];
  /** Decisions whose content is in the write in flight. */
  inFlight: Waiter[];
  sending: boolean;
}

export class ReservationWriteFailed extends Error {
  constructor(
    readonly key: string,
    cause: unknown,
  ) {
    super(`could not persist reservation ${key}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

export class ReservationPipeline {
  private readonly channels = new Map<string, Channel>();
  private readonly idleWaiters: (() => void)[] = [];
  /** Writes sent to the API server so far (a coalesced write counts once). */
  writesSent = 0;
  /** Early-answered binds written again after their write failed (`reattach`). */
  reattached = 0;

  constructor(
    private readonly engine: Engine,
    private readonly write: WriteFn,
    private readonly log: Logger,
    private readonly onLateFailure?: LateFailureFn,
  ) {}

  /**
   * Takes a decision's writes, right after the decision (synchronously: its content is assumed). Resolves when
   * every write that carries its content is stored (and, for a success of a pod in `namespace`, the reservation
   * it relies on); rejects with ReservationWriteFailed when one is not. With `early` and a decision that
   * `answersEarly` allows, it resolves at once and its writes go on in the background.
   */
  submit(decision: Decision, namespace?: string, early?: { pod: string }): Promise<void> {
    if (early && namespace !== undefined && this.answersEarly(decision, namespace, early.pod)) {
      const bind = { namespace, pod: early.pod, decision };
      for (const w of decision.writes) void this.enqueue(w, decision, bind);
      return Promise.resolve();
    }
    const all = decision.writes.map((w) => this.enqueue(w, decision));
    const own = new Set(decision.writes.map((w) => reservationKey(w.reservation.namespace, w.reservation.appId)));
    // A success that relies on its application's reservation (`namespace` is the pod's) waits until it is stored.
    if (namespace !== undefined && decision.appId && decision.node && !own.has(reservationKey(namespace, decision.appId))) {
      all.push(this.stored(namespace, decision.appId, decision));
    }
    if (all.length === 0) return Promise.resolve();
    return Promise.all(all).then(() => undefined);
  }

  /**
   * Whether an executor's success may be answered before its write: the pod holds a slot in its application's
   * assumed reservation, on the decision's node, and the content last stored places that slot on the same node
   * (so only the pod's name in it is not durable yet). An admission (create) in flight, a slot that moves, a soft
   * reservation and any decision writing another reservation wait for their writes.
   */
  answersEarly(decision: Decision, namespace: string, pod: string): boolean {
    if (decision.role !== "executor" || !decision.appId || !decision.node) return false;
    if (decision.outcome !== "success" && decision.outcome !== "success-already-bound") return false;
    const key = reservationKey(namespace, decision.appId);
    if (decision.writes.some((w) => reservationKey(w.reservation.namespace, w.reservation.appId) !== key)) return false;
    const visible = this.engine.state.getReservation(namespace, decision.appId);
    if (!visible) return false;
    let slot: string | undefined;
    for (const [s, p] of visible.pods) if (p === pod && s !== DRIVER_SLOT) slot = s;
    if (slot === undefined || visible.slots.get(slot)?.node !== decision.node) return false;
    const ch = this.channels.get(key);
    // No channel: nothing in flight, the visible copy is the stored one — unless this decision's own write
    // opens the channel, whose base is the content the decision started from.
    const w = decision.writes[0];
    const durable = ch ? ch.durable : w ? (w.op === "update" ? w.previous : undefined) : visible;
    return durable?.slots.get(slot)?.node === decision.node;
  }

  /**
   * Resolves once what is assumed now for the reservation is stored (at once when nothing is in flight); rejects
   * when that write fails. A decision that relies on a reservation without writing it (a driver asked again, an
   * executor already bound) waits on this, so its answer is durable too.
   */
  stored(namespace: string, appId: string, decision: Decision): Promise<void> {
    const ch = this.channels.get(reservationKey(namespace, appId));
    if (!ch) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      (ch.content ? ch.waiting : ch.inFlight).push({ decision, resolve, reject });
    });
  }

  /** Reservations with writes in flight or queued. */
  get busy(): number {
    return this.channels.size;
  }

  /** Resolves once no write is in flight or queued. */
  idle(): Promise<void> {
    if (this.channels.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private enqueue(w: ReservationWrite, decision: Decision, early?: EarlyBind): Promise<void> {
    const r = w.reservation;
    const key = reservationKey(r.namespace, r.appId);
    let ch = this.channels.get(key);
    if (!ch) {
      ch = {
        namespace: r.namespace,
        appId: r.appId,
        op: w.op,
        durable: w.op === "update" ? w.previous : undefined,
        resourceVersion: w.op === "update" ? w.previous.resourceVersion : undefined,
        content: undefined,
        waiting: [],
        inFlight: [],
        sending: false,
      };
      this.channels.set(key, ch);
      this.engine.state.hold(r.namespace, r.appId, w.op === "update" ? w.previous : undefined);
    }
    ch.content = r;
    const channel = ch;
    return new Promise<void>((resolve, reject) => {
      channel.waiting.push({ decision, early, resolve, reject });
      if (!channel.sending) void this.pump(key, channel);
    });
  }

  private async pump(key: string, ch: Channel): Promise<void> {
    ch.sending = true;
    const { state } = this.engine;
    const only = new Set([key]);
    while (ch.content) {
      const content = ch.content;
      const batch = ch.waiting;
      ch.inFlight = batch;
      ch.content = undefined;
      ch.waiting = [];
      const reservation = { ...content, resourceVersion: ch.resourceVersion };
      const write: ReservationWrite =
        ch.op === "create" ? { op: "create", reservation } : { op: "update", reservation, previous: content };
      try {
        this.writesSent++;
        const rv = await this.write(write);
        ch.op = "update";
        if (rv) ch.resourceVersion = rv;
        ch.durable = content;
        state.confirmReservation({ ...content, resourceVersion: ch.resourceVersion });
        ch.inFlight = [];
        for (const waiter of batch) {
          this.engine.settle(waiter.decision, only);
          waiter.resolve();
        }
      } catch (e) {
        // Forget exactly what was not stored: this write's content and what was assumed on top of it.
        const failed = [...batch, ...ch.waiting];
        const latest = ch.content ?? content;
        ch.content = undefined;
        ch.waiting = [];
        ch.inFlight = [];
        this.finish(key, ch, false);
        this.log.error(
          { err: e, reservation: key, op: write.op, decisions: failed.length },
          "reservation write failed; its decisions are forgotten",
        );
        const error = new ReservationWriteFailed(key, e);
        for (const waiter of failed) if (!waiter.early) waiter.reject(error);
        const early = failed.flatMap((w) => (w.early ? [w.early] : []));
        const lost = early.length > 0 ? this.reattach(ch, early, latest) : [];
        if (lost.length > 0) this.onLateFailure?.(lost, error);
        this.notifyIdle();
        return;
      }
    }
    this.finish(key, ch);
  }

  /**
   * After a failed write carrying binds that were answered already: kube-scheduler binds those executors
   * whatever we store, so each is bound again, once, into the slot it held, on top of the stored content — if
   * that slot is still unbound there and on the same node (synchronously: no decision can take the slot in
   * between). Returns the binds that are lost: re-tried once already, or whose slot is gone or taken.
   */
  private reattach(ch: Channel, binds: EarlyBind[], latest: Reservation): EarlyBind[] {
    const { state } = this.engine;
    const base = state.getReservation(ch.namespace, ch.appId);
    if (!base || state.isHeld(ch.namespace, ch.appId)) return binds;
    const next = cloneReservation(base);
    const again: EarlyBind[] = [];
    const lost: EarlyBind[] = [];
    for (const b of binds) {
      let slot: string | undefined;
      for (const [s, p] of latest.pods) if (p === b.pod && s !== DRIVER_SLOT) slot = s;
      const ok =
        !b.retried &&
        slot !== undefined &&
        next.slots.get(slot)?.node === b.decision.node &&
        ![...next.pods.values()].includes(b.pod) &&
        isUnbound(this.engine.ctx, next, slot, b.pod);
      if (!ok) {
        lost.push(b);
        continue;
      }
      next.pods.set(slot!, b.pod);
      again.push({ ...b, retried: true });
    }
    if (again.length > 0) {
      this.reattached += again.length;
      this.log.warn({ reservation: reservationKey(ch.namespace, ch.appId), pods: again.map((b) => b.pod) }, "re-writing executor binds answered before their failed write");
      state.assumeReservation(next);
      const write: ReservationWrite = { op: "update", reservation: next, previous: base };
      for (const b of again) void this.enqueue(write, b.decision, b);
    }
    return lost;
  }

  private finish(key: string, ch: Channel, notify = true): void {
    ch.sending = false;
    this.channels.delete(key);
    this.engine.state.release(ch.namespace, ch.appId);
    if (notify) this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.channels.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
