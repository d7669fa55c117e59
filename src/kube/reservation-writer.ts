// Persists reservation writes to the API server. A decision that promises capacity is answered only after its
// writes are stored (reference §10 wrote asynchronously and silently dropped writes that kept failing, leaving
// promised slots that no API object held); only an executor bind into a slot already stored on its node may be
// answered first, and its failed write is re-written or repaired by reconciliation (src/pipeline/).
//
// - create: POST the v1beta2 object, owned by the driver pod. AlreadyExists: GET it; the same driver (uid) →
//   adopt it (replace with our content); another driver → fail with a clear error.
// - update: PUT with the resourceVersion we hold. Conflict: GET, take the server's resourceVersion and re-apply
//   OUR content (the leader is the only writer, so its picture wins — bounded, unlike the reference's unbounded
//   recursion). NotFound: re-create.
// - 5xx, 429 and network errors: retry with exponential backoff and jitter.
// Every request counts as one attempt; after writeRetries.maxAttempts the write is rejected and the caller
// rolls its decision back.
//
// The API error helpers at the bottom are shared by the rest of the kube layer.
//
// Transport: src/kube/client.ts (KubeApi): plain JSON over one kept-alive connection to the API server. Every
// reservation write is on a decision's path; client-node 2's generated client builds a new undici Agent for every
// request to a TLS cluster (a connection and TLS handshake per write) and ~1 ms of CPU around it.

import type * as k8s from "@kubernetes/client-node";
import { ApiException, KubeApi, objectPath } from "./client.js";
import type { Logger } from "pino";
import type { ReservationWrite } from "../engine/decision.js";
import { kubeObserver } from "../server/metrics.js";
import {
  RR_GROUP,
  RR_PLURAL,
  RR_VERSION,
  type Reservation,
  reservationFromObject,
  reservationKey,
  reservationName,
  reservationToObject,
} from "../engine/reservation.js";
import type { ReservationEchoes } from "./reservation-echoes.js";

export interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export class ReservationWriteError extends Error {}

type Mode = "create" | "update";

export class ReservationWriter {
  private readonly api: KubeApi;

  constructor(
    kc: k8s.KubeConfig,
    private readonly retries: RetryPolicy,
    private readonly log: Logger,
    /** Told of every write and the version it was stored as, so that the feed drops older echoes. */
    private readonly echoes?: ReservationEchoes,
  ) {
    this.api = new KubeApi(kc);
  }

  /** Stores the write; resolves with the object's new resourceVersion, rejects after the retries are spent. */
  async write(write: ReservationWrite): Promise<string> {
    const key = reservationKey(write.reservation.namespace, write.reservation.appId);
    this.echoes?.begin(key);
    let stored: string | undefined;
    try {
      stored = await kubeObserver.timeWrite(RR_PLURAL, write.op, () => this.writeWithRetries(write));
      return stored;
    } finally {
      this.echoes?.end(key, stored);
    }
  }

  private async writeWithRetries(write: ReservationWrite): Promise<string> {
    const r = write.reservation;
    const ctx = { namespace: r.namespace, name: reservationName(r.appId), appId: r.appId, op: write.op };
    let mode: Mode = write.op;
    let resourceVersion = r.resourceVersion;
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) kubeObserver.retry(RR_PLURAL, write.op);
      try {
        const stored = mode === "create" ? await this.create(r) : await this.replace(r, resourceVersion);
        const rv = resourceVersionOf(stored);
        this.log.debug({ ...ctx, mode, attempt, resourceVersion: rv }, "reservation persisted");
        return rv;
      } catch (e) {
        if (e instanceof ReservationWriteError) throw e;
        const code = apiErrorCode(e);
        const fail = (what: string) =>
          new ReservationWriteError(
            `${mode} of reservation ${r.namespace}/${r.appId} failed after ${attempt} attempt(s): ${what}`,
          );
        if (attempt >= this.retries.maxAttempts) throw fail(apiErrorMessage(e));
        if (mode === "create" && code === 409) {
          const existing = await this.readForRetry(r, ctx, attempt);
          if (existing === "gone" || existing === "unknown") continue;
          const owner = reservationFromObject(existing);
          const ownerUid = typeof owner === "string" ? "" : owner.driverUid;
          if (ownerUid !== r.driverUid) {
            throw fail(
              `it already exists for another driver (uid ${ownerUid || "unknown"}, ours ${r.driverUid}); ` +
                `refusing to overwrite it`,
            );
          }
          this.log.info({ ...ctx, attempt }, "reservation already exists for the same driver; adopting it");
          mode = "update";
          resourceVersion = resourceVersionOf(existing);
        } else if (mode === "update" && code === 409) {
          const existing = await this.readForRetry(r, ctx, attempt);
          if (existing === "gone") mode = "create";
          else if (existing !== "unknown") resourceVersion = resourceVersionOf(existing);
          this.log.info({ ...ctx, attempt, resourceVersion }, "reservation update conflicted; re-applying our content");
        } else if (mode === "update" && code === 404) {
          this.log.warn({ ...ctx, attempt }, "reservation to update is gone; re-creating it");
          mode = "create";
        } else if (isTransientApiError(e)) {
          const delay = backoffMs(this.retries, attempt);
          this.log.warn({ ...ctx, mode, attempt, delayMs: delay, err: apiErrorMessage(e) }, "reservation write failed; retrying");
          await sleep(delay);
        } else {
          throw fail(apiErrorMessage(e));
        }
      }
    }
  }

  /** Deletes a reservation; NotFound counts as success. Transient errors are retried like writes. */
  deleteReservation(namespace: string, name: string, resourceVersion?: string): Promise<"deleted" | "absent" | "changed"> {
    return kubeObserver.timeWrite(RR_PLURAL, "delete", () => this.deleteWithRetries(namespace, name, resourceVersion));
  }

  private async deleteWithRetries(namespace: string, name: string, resourceVersion?: string): Promise<"deleted" | "absent" | "changed"> {
    const ctx = { namespace, name, op: "delete" };
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) kubeObserver.retry(RR_PLURAL, "delete");
      try {
        await this.api.delete(objectPath(`${RR_GROUP}/${RR_VERSION}`, RR_PLURAL, namespace, name), resourceVersion ? { preconditions: { resourceVersion } } : undefined);
        return "deleted";
      } catch (e) {
        const code = apiErrorCode(e);
        if (code === 404) return "absent";
        if (code === 409 && resourceVersion) return "changed";
        if (attempt >= this.retries.maxAttempts || !isTransientApiError(e)) {
          throw new ReservationWriteError(
            `delete of reservation ${namespace}/${name} failed after ${attempt} attempt(s): ${apiErrorMessage(e)}`,
          );
        }
        const delay = backoffMs(this.retries, attempt);
        this.log.warn({ ...ctx, attempt, delayMs: delay, err: apiErrorMessage(e) }, "reservation delete failed; retrying");
        await sleep(delay);
      }
    }
  }

  private async create(r: Reservation): Promise<unknown> {
    const body = reservationToObject({ ...r, resourceVersion: undefined });
    return this.api.create(objectPath(`${RR_GROUP}/${RR_VERSION}`, RR_PLURAL, r.namespace), body);
  }

  private async replace(r: Reservation, resourceVersion: string | undefined): Promise<unknown> {
    const body = reservationToObject({ ...r, resourceVersion });
    return this.api.replace(objectPath(`${RR_GROUP}/${RR_VERSION}`, RR_PLURAL, r.namespace, reservationName(r.appId)), body);
  }

  /**
   * The stored object after a 409: the object, "gone" when it no longer exists, or "unknown" when the read
   * failed transiently (after a backoff; the caller retries). Other read errors propagate.
   */
  private async readForRetry(r: Reservation, ctx: object, attempt: number): Promise<unknown> {
    try {
      return await this.api.get(objectPath(`${RR_GROUP}/${RR_VERSION}`, RR_PLURAL, r.namespace, reservationName(r.appId)));
    } catch (e) {
      if (apiErrorCode(e) === 404) return "gone";
      if (!isTransientApiError(e)) {
        throw new ReservationWriteError(`cannot re-read reservation ${r.namespace}/${r.appId}: ${apiErrorMessage(e)}`);
      }
      const delay = backoffMs(this.retries, attempt);
      this.log.warn({ ...ctx, attempt, delayMs: delay, err: apiErrorMessage(e) }, "re-reading reservation failed; retrying");
      await sleep(delay);
      return "unknown";
    }
  }
}

function resourceVersionOf(obj: unknown): string {
  const rv = (obj as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata?.resourceVersion;
  if (typeof rv !== "string" || !rv) throw new ReservationWriteError("API server answered without metadata.resourceVersion");
  return rv;
}

// ---- API error helpers ----------------------------------------------------------------------

/** HTTP status of a client-node ApiException (or a watch error's statusCode); undefined for network errors. */
export function apiErrorCode(e: unknown): number | undefined {
  if (e instanceof ApiException) return e.code;
  const statusCode = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof statusCode === "number" ? statusCode : undefined;
}

/** A one-line description: the Status message of an ApiException, else the error message. */
export function apiErrorMessage(e: unknown): string {
  if (e instanceof ApiException) {
    try {
      const status = JSON.parse(String(e.body)) as { message?: unknown; reason?: unknown };
      if (typeof status.message === "string") return `HTTP ${e.code} ${String(status.reason ?? "")}: ${status.message}`;
    } catch {
      // not a JSON Status: fall through
    }
    return `HTTP ${e.code}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** Worth retrying: 5xx, 429, and network-level failures (no HTTP answer at all). */
export function isTransientApiError(e: unknown): boolean {
  const code = apiErrorCode(e);
  if (code !== undefined) return code >= 500 || code === 429;
  const err = e as { name?: unknown; code?: unknown; cause?: unknown; message?: unknown } | null;
  if (err?.name === "FetchError" || err?.name === "AbortError" || typeof err?.code === "string") return true;
  // client-node 2 uses Node's fetch (undici): a connection reset or refusal surfaces as
  // `TypeError: fetch failed` (or `terminated` mid-body) with the socket error as its cause.
  if (e instanceof TypeError && (err?.message === "fetch failed" || err?.message === "terminated")) return true;
  return err?.cause !== undefined && err.cause !== e && isTransientApiError(err.cause);
}

/** Exponential backoff with jitter for the given (1-based) attempt: 50–100 % of min(max, initial·2^(n−1)). */
export function backoffMs(policy: Pick<RetryPolicy, "initialBackoffMs" | "maxBackoffMs">, attempt: number): number {
  const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** (attempt - 1));
  return Math.round(ceiling * (0.5 + Math.random() / 2));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
