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

import type { Logger } from "pino";
import type { Decision, ReservationWrite } from "../engine/decision.js";
import type { Engine } from "../engine/engine.js";
import { type Reservation, reservationKey } from "../engine/reservation.js";

export type WriteFn = (write: ReservationWrite) => Promise<string | undefined>;

interface Waiter {
  decision: Decision;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Channel {
  namespace: string;
  appId: string;
  /** The next write's operation: create until the first one is stored. */
  op: "create" | "update";
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

  constructor(
    private readonly engine: Engine,
    private readonly write: WriteFn,
    private readonly log: Logger,
  ) {}

  /**
   * Takes a decision's writes, right after the decision (synchronously: its content is assumed). Resolves when
   * every write that carries its content is stored (and, for a success of a pod in `namespace`, the reservation
   * it relies on); rejects with ReservationWriteFailed when one is not.
   */
  submit(decision: Decision, namespace?: string): Promise<void> {
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

  private enqueue(w: ReservationWrite, decision: Decision): Promise<void> {
    const r = w.reservation;
    const key = reservationKey(r.namespace, r.appId);
    let ch = this.channels.get(key);
    if (!ch) {
      ch = {
        namespace: r.namespace,
        appId: r.appId,
        op: w.op,
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
      channel.waiting.push({ decision, resolve, reject });
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
        state.confirmReservation({ ...content, resourceVersion: ch.resourceVersion });
        ch.inFlight = [];
        for (const waiter of batch) {
          this.engine.settle(waiter.decision, only);
          waiter.resolve();
        }
      } catch (e) {
        // Forget exactly what was not stored: this write's content and what was assumed on top of it.
        const failed = [...batch, ...ch.waiting];
        ch.content = undefined;
        ch.waiting = [];
        ch.inFlight = [];
        this.finish(key, ch);
        this.log.error(
          { err: e, reservation: key, op: write.op, decisions: failed.length },
          "reservation write failed; its decisions are forgotten",
        );
        const error = new ReservationWriteFailed(key, e);
        for (const waiter of failed) waiter.reject(error);
        return;
      }
    }
    this.finish(key, ch);
  }

  private finish(key: string, ch: Channel): void {
    ch.sending = false;
    this.channels.delete(key);
    this.engine.state.release(ch.namespace, ch.appId);
    if (this.channels.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
