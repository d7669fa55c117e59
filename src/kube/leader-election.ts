// Lease-based leader election (coordination.k8s.io/v1) of the extender's own (leader-election mode
// `own-lease`), written out because client-node has no helper. The default mode follows kube-scheduler's lease
// instead (lease-follower.ts): with the usual deployment — kube-scheduler and the extender side by side in every
// replica pod — two independent elections could put the two leaders in different pods and keep them there.
// Use `own-lease` only when the extender replicas are not paired with kube-schedulers, e.g. one kube-scheduler
// whose extender URL reaches every extender replica through a Service: then only the lease holder admits pods
// and the others answer failure-not-ready, so no capacity is promised twice.
//
// Algorithm (as client-go's leaderelection): every retryPeriod, read the lease. Acquire it when it has no holder,
// or when its record has not changed for leaseDuration as observed by this process (local clock only, so clock
// skew between replicas does not matter), or renew it when it is ours. Writes carry the resourceVersion read,
// so a 409 means another replica won the race. A leader that has not renewed successfully for renewDeadline
// steps down, before any other replica can consider the lease expired (renewDeadline < leaseDuration). A
// graceful stop releases the lease (clears the holder) so a successor takes over at once.

import type * as k8s from "@kubernetes/client-node";
import { KubeApi, V1MicroTime, objectPath } from "./client.js";
import type { Logger } from "pino";
import { apiErrorCode, apiErrorMessage } from "./reservation-writer.js";

export interface LeaderElectionOptions {
  namespace: string;
  leaseName: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Wall clock (ms) for the lease's acquireTime and renewTime; default Date.now. */
  clock?: () => number;
  /** Monotonic clock (ms) for judging expiry; default performance.now (a wall-clock step must not expire a lease). */
  monotonic?: () => number;
}

type Listener = () => void;

/** What KubeCluster needs from a leadership source (own election or following kube-scheduler). */
export interface Leadership {
  start(): void;
  stop(): Promise<void>;
  isLeader(): boolean;
  /** The current leader's identity, when known. */
  leader(): string | undefined;
  onStartedLeading(listener: Listener): void;
  onStoppedLeading(listener: Listener): void;
}

/** The listener plumbing every leadership source shares. */
export abstract class LeadershipListeners {
  private readonly started: Listener[] = [];
  private readonly stoppedListeners: Listener[] = [];

  onStartedLeading(listener: Listener): void {
    this.started.push(listener);
  }

  onStoppedLeading(listener: Listener): void {
    this.stoppedListeners.push(listener);
  }

  /** Tells the listeners that leadership was gained (true) or lost (false). */
  protected notifyLeading(leading: boolean): void {
    for (const listener of leading ? this.started : this.stoppedListeners) listener();
  }
}

export class LeaderElector extends LeadershipListeners implements Leadership {
  private readonly api: KubeApi;
  private readonly clock: () => number;
  private readonly monotonic: () => number;
  private leading = false;
  private stopped = true;
  private holder: string | undefined;
  /** resourceVersion of the lease as last seen, and when (monotonic clock) it last changed. */
  private observed: { resourceVersion: string; atMs: number } | undefined;
  /** The lease as we last wrote it (to release it). */
  private ours: k8s.V1Lease | undefined;
  private lastRenewMs = 0;
  private loopTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    kc: k8s.KubeConfig,
    private readonly options: LeaderElectionOptions,
    private readonly log: Logger,
  ) {
    super();
    if (!(options.leaseDurationMs > options.renewDeadlineMs)) {
      throw new Error(
        `leader election: lease-duration (${options.leaseDurationMs} ms) must be greater than renew-deadline (${options.renewDeadlineMs} ms)`,
      );
    }
    if (!(options.renewDeadlineMs > options.retryPeriodMs)) {
      throw new Error(
        `leader election: renew-deadline (${options.renewDeadlineMs} ms) must be greater than retry-period (${options.retryPeriodMs} ms)`,
      );
    }
    this.api = new KubeApi(kc);
    this.clock = options.clock ?? Date.now;
    this.monotonic = options.monotonic ?? (() => performance.now());
  }

  get identity(): string {
    return this.options.identity;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder of the lease as last observed (this replica when leading); undefined before the first read. */
  leader(): string | undefined {
    return this.leading ? this.options.identity : this.holder || undefined;
  }

  /** Starts campaigning (returns at once). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.tick();
  }

  /** Stops campaigning; a leader steps down and releases the lease. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.loopTimer);
    await this.inFlight;
    if (this.leading) {
      this.stepDown("stopping");
      await this.release();
    }
  }

  private tick(): void {
    if (this.stopped) return;
    this.inFlight = this.tryAcquireOrRenew().finally(() => {
      if (!this.stopped) this.loopTimer = setTimeout(() => this.tick(), this.options.retryPeriodMs).unref();
    });
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const { namespace, leaseName: name, identity } = this.options;
    const ctx = { namespace, name, identity };
    try {
      const now = this.clock();
      const mono = this.monotonic();
      const current = await this.read();
      if (this.stopped) return;
      if (!current) {
        this.ours = await this.api.create<k8s.V1Lease>(objectPath("coordination.k8s.io/v1", "leases", namespace), this.lease(undefined, now));
        this.renewed(now, mono);
        return;
      }
      const spec = current.spec ?? {};
      const rv = current.metadata?.resourceVersion ?? "";
      // A record not seen before counts as renewed now (as client-go): a candidate waits a full lease duration.
      if (this.observed?.resourceVersion !== rv) this.observed = { resourceVersion: rv, atMs: mono };
      this.holder = spec.holderIdentity ?? "";
      const mine = this.holder === identity;
      const expired = !this.holder || mono - this.observed.atMs >= this.options.leaseDurationMs;
      if (!mine && !expired) {
        if (this.leading) this.stepDown(`lease is held by ${this.holder}`);
        return;
      }
      this.ours = await this.api.replace<k8s.V1Lease>(objectPath("coordination.k8s.io/v1", "leases", namespace, name), this.lease(current, now));
      this.renewed(now, mono);
    } catch (e) {
      if (apiErrorCode(e) === 409) {
        this.log.debug(ctx, "lost the race for the lease");
        if (this.leading) this.stepDown("another replica wrote the lease");
        return;
      }
      this.log.warn({ ...ctx, leading: this.leading, err: apiErrorMessage(e) }, "leader election: lease request failed");
    }
  }

  private async read(): Promise<k8s.V1Lease | undefined> {
    try {
      return await this.api.get<k8s.V1Lease>(objectPath("coordination.k8s.io/v1", "leases", this.options.namespace, this.options.leaseName));
    } catch (e) {
      if (apiErrorCode(e) === 404) return undefined;
      throw e;
    }
  }

  /** The lease with us as holder: renewed when ours already, else taken over (a transition). */
  private lease(current: k8s.V1Lease | undefined, now: number): k8s.V1Lease {
    const spec = current?.spec ?? {};
    const mine = spec.holderIdentity === this.options.identity;
    return {
      metadata: {
        name: this.options.leaseName,
        namespace: this.options.namespace,
        resourceVersion: current?.metadata?.resourceVersion,
      },
      spec: {
        holderIdentity: this.options.identity,
        leaseDurationSeconds: Math.max(1, Math.ceil(this.options.leaseDurationMs / 1000)),
        acquireTime: mine && spec.acquireTime ? spec.acquireTime : new V1MicroTime(now),
        renewTime: new V1MicroTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (current && !mine ? 1 : 0),
      },
    };
  }

  private renewed(now: number, mono: number): void {
    this.lastRenewMs = now;
    this.holder = this.options.identity;
    this.observed = { resourceVersion: this.ours?.metadata?.resourceVersion ?? "", atMs: mono };
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => {
      if (this.leading) this.stepDown(`could not renew the lease for ${this.options.renewDeadlineMs} ms`);
    }, this.options.renewDeadlineMs).unref();
    if (this.leading) return;
    this.leading = true;
    const { namespace, leaseName: name, identity } = this.options;
    this.log.info({ namespace, name, identity }, "became leader");
    this.notifyLeading(true);
  }

  private stepDown(reason: string): void {
    clearTimeout(this.deadlineTimer);
    if (!this.leading) return;
    this.leading = false;
    const { namespace, leaseName: name, identity } = this.options;
    this.log.warn({ namespace, name, identity, reason, lastRenewMs: this.lastRenewMs }, "stopped leading");
    this.notifyLeading(false);
  }

  /** Clears the holder so that another replica can acquire the lease without waiting for it to expire. */
  private async release(): Promise<void> {
    const { namespace, leaseName: name, identity } = this.options;
    if (!this.ours) return;
    const body: k8s.V1Lease = {
      metadata: { name, namespace, resourceVersion: this.ours.metadata?.resourceVersion },
      spec: { ...this.ours.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: new V1MicroTime(this.clock()) },
    };
    try {
      await this.api.replace(objectPath("coordination.k8s.io/v1", "leases", namespace, name), body);
      this.holder = "";
      this.log.info({ namespace, name, identity }, "released the lease");
    } catch (e) {
      // A conflict means another replica already took the lease over; anything else: it expires on its own.
      this.log.warn({ namespace, name, identity, err: apiErrorMessage(e) }, "could not release the lease");
    }
    this.ours = undefined;
  }
}
