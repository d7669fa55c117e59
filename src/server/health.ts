/**
 * grpc.health.v1.Health (Check, Watch, List) for Connect-ES v2.
 *
 * Semantics follow https://github.com/grpc/grpc/blob/master/doc/health-checking.md and grpc-go:
 * - "" is the overall server status and starts as SERVING;
 * - Check of an unknown service fails with NOT_FOUND;
 * - Watch sends the current status at once (SERVICE_UNKNOWN for an unknown service, without ending the
 *   call), then a message each time the status changes, until the client or the server goes away.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus,
  type HealthCheckResponse,
} from "../../gen/grpc/health/v1/health_pb.js";

export { HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";

type Status = HealthCheckResponse_ServingStatus;
type Listener = (status: Status) => void;

export class HealthService {
  private readonly statuses = new Map<string, Status>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private shuttingDown = false;

  /** `initial` is applied after "" = SERVING, so it may override the overall status. */
  constructor(initial: Record<string, Status> = {}) {
    this.statuses.set("", HealthCheckResponse_ServingStatus.SERVING);
    for (const [service, status] of Object.entries(initial)) this.statuses.set(service, status);
  }

  /**
   * Sets a service's status ("" is the whole server) and notifies watchers on change.
   * After `shutdown()` every status stays NOT_SERVING, as in grpc-go.
   */
  setStatus(service: string, status: Status): void {
    if (this.shuttingDown) status = HealthCheckResponse_ServingStatus.NOT_SERVING;
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    this.notify(service, status);
  }

  /** Forgets a service: Check answers NOT_FOUND again and watchers see SERVICE_UNKNOWN. */
  clearStatus(service: string): void {
    if (!this.statuses.delete(service)) return;
    this.notify(service, HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN);
  }

  /** Marks every service NOT_SERVING and keeps it so; call at the start of a graceful shutdown. */
  shutdown(): void {
    for (const service of [...this.statuses.keys()]) {
      this.setStatus(service, HealthCheckResponse_ServingStatus.NOT_SERVING);
    }
    this.shuttingDown = true;
  }

  /** Undoes `shutdown()` (statuses are not restored; set them again). */
  resume(): void {
    this.shuttingDown = false;
  }

  getStatus(service: string): Status | undefined {
    return this.statuses.get(service);
  }

  /** A snapshot of all known statuses. */
  list(): Map<string, Status> {
    return new Map(this.statuses);
  }

  /** Calls `listener` with each change of `service`'s status; returns the unsubscribe function. */
  subscribe(service: string, listener: Listener): () => void {
    let set = this.listeners.get(service);
    if (!set) this.listeners.set(service, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(service) === set) this.listeners.delete(service);
    };
  }

  /** Number of active subscriptions (open Watch calls), for tests and metrics. */
  watcherCount(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  private notify(service: string, status: Status): void {
    for (const l of [...(this.listeners.get(service) ?? [])]) l(status);
  }
}

const response = (status: Status): HealthCheckResponse => create(HealthCheckResponseSchema, { status });

/** The Connect implementation of grpc.health.v1.Health backed by `health`. */
export function healthServiceImpl(health: HealthService): ServiceImpl<typeof Health> {
  return {
    check(req) {
      const status = health.getStatus(req.service);
      if (status === undefined) throw new ConnectError(`unknown service ${JSON.stringify(req.service)}`, Code.NotFound);
      return response(status);
    },

    async *watch(req, ctx) {
      // Written by the subscription callback; `as` keeps TS from narrowing it to `undefined`.
      let pending = undefined as Status | undefined;
      let wake: (() => void) | undefined;
      const unsubscribe = health.subscribe(req.service, (s) => {
        pending = s; // only the latest status matters to a slow reader
        wake?.();
      });
      const onAbort = () => wake?.();
      ctx.signal.addEventListener("abort", onAbort);
      try {
        let last = health.getStatus(req.service) ?? HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN;
        yield response(last);
        while (!ctx.signal.aborted) {
          if (pending === undefined) {
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
            continue;
          }
          const next: Status = pending;
          pending = undefined;
          if (next !== last) {
            last = next;
            yield response(next);
          }
        }
      } finally {
        unsubscribe();
        ctx.signal.removeEventListener("abort", onAbort);
      }
    },

    list() {
      const statuses: Record<string, HealthCheckResponse> = {};
      for (const [service, status] of health.list()) statuses[service] = response(status);
      return { statuses };
    },
  };
}

/** Registers grpc.health.v1.Health on the router. */
export function registerHealth(router: ConnectRouter, health: HealthService): void {
  router.service(Health, healthServiceImpl(health));
}
