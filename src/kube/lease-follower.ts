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
// - the lease is live: its record changed within leaseDurationSeconds as observed by this process (local clock
//   only, as client-go does, so clock skew between nodes does not matter), and
// - the last successful read is younger than renewDeadline (a follower cut off from the API server steps down).

import * as k8s from "@kubernetes/client-node";
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
  clock?: () => number;
}

export class LeaseFollower extends LeadershipListeners implements Leadership {
  private readonly api: k8s.CoordinationV1Api;
  private readonly clock: () => number;
  private leading = false;
  private holder: string | undefined;
  private observed: { resourceVersion: string; atMs: number } | undefined;
  private lastReadMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    kc: k8s.KubeConfig,
    private readonly options: LeaseFollowerOptions,
    private readonly log: Logger,
  ) {
    super();
    this.api = kc.makeApiClient(k8s.CoordinationV1Api);
    this.clock = options.clock ?? Date.now;
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
      lease = await this.api.readNamespacedLease({ name: leaseName, namespace });
    } catch (e) {
      if (apiErrorCode(e) !== 404) {
        this.log.warn({ err: apiErrorMessage(e), lease: `${namespace}/${leaseName}` }, "cannot read kube-scheduler's lease");
        if (now - this.lastReadMs > this.options.renewDeadlineMs) this.set(false, "cannot read kube-scheduler's lease");
        return;
      }
    }
    this.lastReadMs = now;
    if (this.stopped) return;
    const holder = lease?.spec?.holderIdentity || undefined;
    const rv = lease?.metadata?.resourceVersion ?? "";
    if (!this.observed || this.observed.resourceVersion !== rv) this.observed = { resourceVersion: rv, atMs: now };
    const durationMs = lease?.spec?.leaseDurationSeconds ? lease.spec.leaseDurationSeconds * 1000 : this.options.leaseDurationMs;
    const live = holder !== undefined && now - this.observed.atMs < durationMs;
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
