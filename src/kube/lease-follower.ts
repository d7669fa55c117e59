// Leadership that follows the co-located kube-scheduler (leader-election mode `follow-kube-scheduler`, the
// default).
//
// Every replica pod runs a kube-scheduler and this extender side by side; only the kube-scheduler that holds
// its Lease schedules, and it calls the extender in its own pod. So the extender must lead exactly when its
// pod's kube-scheduler does — two independent elections would put the two leaders in different pods about
// half the time, and keep them there, with every filter call answered "not the leader".
//
// kube-scheduler writes `holderIdentity = <hostname>_<uuid>`; in a pod the hostname is the pod name, which the
// extender shares. The follower reads the Lease every retryPeriod (it never writes it) and leads while:
// - the holder's prefix is this pod's hostname, and
// - the lease is live: its record (holder, renewTime, leaseDurationSeconds, acquireTime, transitions — not the
//   resourceVersion, which any edit bumps) changed within leaseDurationSeconds, measured on this process's
//   monotonic clock from when we saw the change, as client-go does (clock skew between nodes does not matter);
// - a record seen for the first time (at start, or changed while we could not read for longer than the lease
//   duration, e.g. an API-server outage) says nothing about when it changed: then its age is judged from
//   renewTime against our wall clock, so a lease last renewed 22 s ago by a dead kube-scheduler is not live
//   (without renewTime it is not live until it changes); and
// - the last successful read is younger than renewDeadline (a follower cut off from the API server steps down).

import type * as k8s from "@kubernetes/client-node";
import { KubeApi, objectPath } from "./client.js";
import type { Logger } from "pino";
import { type Leadership, LeadershipListeners } from "./leader-election.js";
import { apiErrorCode, apiErrorMessage } from "./reservation-writer.js";

export interface LeaseFollowerOptions {
  namespace: string;
  /** kube-scheduler's lease (its leaderElection.resourceName). */
  leaseName: string;
  /** Prefix of the holder identity that means "our pod": `<hostname>_`. */
  identityPrefix: string;
  /** Used when the lease does not say (leaseDurationSeconds unset). */
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Monotonic clock (ms) for every duration; default performance.now. */
  clock?: () => number;
  /** Wall clock (ms), only to age a record seen for the first time against its renewTime; default Date.now. */
  wallClock?: () => number;
}

export class LeaseFollower extends LeadershipListeners implements Leadership {
  private readonly api: KubeApi;
  private readonly clock: () => number;
  private readonly wallClock: () => number;
  private leading = false;
  private holder: string | undefined;
  /** The lease record as last read, and when (monotonic) it changed. */
  private observed: { record: string; changedAtMs: number } | undefined;
  private lastReadMs: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    kc: k8s.KubeConfig,
    private readonly options: LeaseFollowerOptions,
    private readonly log: Logger,
  ) {
    super();
    this.api = new KubeApi(kc);
    this.clock = options.clock ?? (() => performance.now());
    this.wallClock = options.wallClock ?? Date.now;
  }

  isLeader(): boolean {
    return this.leading;
  }

  leader(): string | undefined {
    return this.holder;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
    this.set(false, "stopped");
  }

  private tick(): void {
    if (this.stopped) return;
    this.inFlight = this.observe().finally(() => {
      if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.options.retryPeriodMs).unref();
    });
  }

  private async observe(): Promise<void> {
    const { namespace, leaseName, identityPrefix } = this.options;
    const now = this.clock();
    let lease: k8s.V1Lease | undefined;
    try {
      lease = await this.api.get<k8s.V1Lease>(objectPath("coordination.k8s.io/v1", "leases", namespace, leaseName));
    } catch (e) {
      if (apiErrorCode(e) !== 404) {
        this.log.warn({ err: apiErrorMessage(e), lease: `${namespace}/${leaseName}` }, "cannot read kube-scheduler's lease");
        if (this.lastReadMs === undefined || now - this.lastReadMs > this.options.renewDeadlineMs) {
          this.set(false, "cannot read kube-scheduler's lease");
        }
        return;
      }
    }
    const previousReadMs = this.lastReadMs;
    this.lastReadMs = now;
    if (this.stopped) return;
    const spec = lease?.spec;
    const holder = spec?.holderIdentity || undefined;
    const durationMs = spec?.leaseDurationSeconds ? spec.leaseDurationSeconds * 1000 : this.options.leaseDurationMs;
    const record = JSON.stringify([holder, micro(spec?.renewTime), spec?.leaseDurationSeconds, micro(spec?.acquireTime), spec?.leaseTransitions]);
    if (this.observed?.record !== record) {
      // Seen changing between two reads close enough together: it changed now. Otherwise we cannot tell
      // when it changed, and its renewTime says how old it is.
      const watched = this.observed !== undefined && previousReadMs !== undefined && now - previousReadMs < durationMs;
      let changedAtMs = now;
      if (!watched) {
        const renewed = spec?.renewTime ? new Date(spec.renewTime as unknown as string | Date).getTime() : Number.NaN;
        changedAtMs = Number.isFinite(renewed) ? now - Math.max(0, this.wallClock() - renewed) : -Infinity;
      }
      this.observed = { record, changedAtMs };
    }
    const live = holder !== undefined && now - this.observed.changedAtMs < durationMs;
    this.holder = live ? holder : undefined;
    const ours = live && holder!.startsWith(identityPrefix);
    this.set(ours, ours ? "our kube-scheduler holds the lease" : `kube-scheduler lease held by ${this.holder ?? "nobody"}`);
  }

  private set(leading: boolean, why: string): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.log.info({ leading, why, lease: `${this.options.namespace}/${this.options.leaseName}` }, leading ? "leading (following kube-scheduler)" : "not leading");
    this.notifyLeading(leading);
  }
}

/** A MicroTime as read (a string in JSON; a Date from a typed client), for comparing records. */
function micro(t: unknown): string | undefined {
  if (t === undefined || t === null) return undefined;
  return t instanceof Date ? t.toISOString() : String(t);
}
