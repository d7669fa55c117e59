// The Kubernetes backend: the engine's state comes from informers on the API server, reservations are
// persisted as ResourceReservation objects before a decision is answered, and with leader election only the
// leader — after reconciling its state — makes decisions.
//
// start(): ensure the CRD, start the informers and wait for their initial sync, then campaign for the lease
// (or, with leader election disabled, take over at once). Taking over = garbage-collect reservations of
// finished or vanished drivers, reconcile (src/engine/reconcile.ts) and persist its writes; only then is the
// replica ready. Followers keep their informers running, so read RPCs answer from a current state, but report
// not ready ("not the leader (leader: <identity>)"), which makes every filter call fail with failure-not-ready.
// Losing the lease makes the replica not ready at once and drops its soft reservations (they live only in the
// leader's memory; the next take-over rebuilds them from the running pods).

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { ServiceConfig } from "../config.js";
import type { Decision, DemandIntent, ReservationWrite } from "../engine/decision.js";
import type { Engine } from "../engine/engine.js";
import type { PodInfo } from "../engine/model.js";
import { classifyPod } from "../engine/spark-pods.js";
import { reconcile } from "../engine/reconcile.js";
import type { ClusterBackend, Readiness } from "./backend.js";
import { type EnsureCrdOptions, ensureCrd } from "./crd.js";
import { GarbageCollector } from "./gc.js";
import { type ClusterInformers, type Serializer, type WatchTiming, clusterInformers } from "./informers.js";
import { type Leadership, LeaderElector } from "./leader-election.js";
import { LeaseFollower } from "./lease-follower.js";
import type { Mutex } from "../pipeline/mutex.js";
import { RetryTracker, selectRetries } from "../pipeline/retries.js";
import { ReservationEchoes } from "./reservation-echoes.js";
import { ReservationWriter, backoffMs } from "./reservation-writer.js";
import { RetryNudger, type RetryNudgerOptions } from "./retry-nudger.js";
import { SparkConfMaps } from "./spark-conf-maps.js";

export interface KubeClusterOptions {
  kc: k8s.KubeConfig;
  engine: Engine;
  /** The scheduler's mutex: informer events, reconciliation and decisions never interleave. */
  mutex: Mutex;
  config: ServiceConfig;
  log: Logger;
  clock?: () => number;
  /** Monotonic clock (ms) for durations (lease liveness); default performance.now. */
  monotonic?: () => number;
  /** Autoscaler demands (the DemandWriter); without it applyDemand does nothing. */
  demands?: { apply(intent: DemandIntent): Promise<void> };
  /** Leader-election identity (own-lease mode); default: host name plus a random suffix. */
  identity?: string;
  /** follow-kube-scheduler mode: holder prefix of our pod's kube-scheduler; default `<hostname>_`. */
  kubeSchedulerIdentityPrefix?: string;
  /** Interval of the leader's maintenance (garbage-collection sweep and reconciliation); default 60 s. */
  gcIntervalMs?: number;
  /** CRD check timing; defaults in crd.ts. */
  crd?: EnsureCrdOptions;
  /** Informer restart backoff; default 500 ms doubling to 30 s. */
  informerBackoff?: { initialMs: number; maxMs: number };
  /** Watch timeouts, idle detection and list page size (informers.ts DEFAULT_WATCH_TIMING). */
  watchTiming?: Partial<WatchTiming>;
  /** Retry nudges: overrides of the nudger's timing and an observer (tests). */
  nudger?: Pick<RetryNudgerOptions, "clock" | "minIntervalMs" | "onPatch">;
}

/** A watch that keeps failing this long means the state may be stale: stop deciding until it recovers. */
export const STALE_INFORMER_MS = 30_000;

/** How often a take-over waiting for live watches looks again. */
const WATCH_POLL_MS = 50;

/** Backoff between failed take-over attempts (garbage collection + reconciliation). */
const TAKEOVER_RETRY = { initialBackoffMs: 500, maxBackoffMs: 30_000 };

export class KubeCluster implements ClusterBackend {
  readonly kind = "kubernetes" as const;
  readonly identity: string;
  private readonly writer: ReservationWriter;
  private readonly engine: Engine;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly serialize: Serializer;
  private readonly informers: ClusterInformers;
  private readonly confMaps: SparkConfMaps;
  private readonly monotonic: () => number;
  private readonly gc: GarbageCollector;
  private readonly elector: Leadership | undefined;
  private crdReady = false;
  /** Bumped on every leadership change; a take-over only counts for the term it started in. */
  private term = 0;
  private reconciled = false;
  private takeOverError: string | undefined;
  private takeOverFailures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private gcTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Reconciliation problems already warned about (namespace/appId + message). */
  private reportedProblems = new Set<string>();
  /** Refused pods, and the nudger that makes kube-scheduler retry them once they may fit. */
  private readonly refused = new RetryTracker();
  private readonly nudger: RetryNudger;
  /** The state the last retry selection saw (stateMark): a poke is due only after a change. */
  private selectedMark = "";

  constructor(private readonly options: KubeClusterOptions) {
    const { kc, engine, mutex, config } = options;
    this.engine = engine;
    this.log = options.log.child({ component: "kube" });
    this.clock = options.clock ?? Date.now;
    this.identity = options.identity ?? `${hostname()}-${randomBytes(3).toString("hex")}`;
    this.serialize = (fn) => mutex.run(fn);
    // Sub-components are children of the root logger with their own `component` (a child of this.log would
    // carry the key twice); the informers add an `informer` key to ours.
    // The writer tells the reservation feed what it stored, so that the feed orders copies without reading
    // order into (opaque) resourceVersions.
    const echoes = new ReservationEchoes();
    this.writer = new ReservationWriter(kc, config.writeRetries, options.log.child({ component: "reservation-writer" }), echoes);
    this.gc = new GarbageCollector({ state: engine.state, writer: this.writer, serialize: this.serialize, log: options.log });
    this.monotonic = options.monotonic ?? (() => performance.now());
    this.confMaps = new SparkConfMaps({
      kc,
      state: engine.state,
      serialize: this.serialize,
      log: options.log,
      schedulerName: engine.config.schedulerName,
    });
    this.informers = clusterInformers({
      kc,
      state: engine.state,
      serialize: this.serialize,
      log: this.log,
      schedulerName: engine.config.schedulerName,
      backoff: options.informerBackoff,
      timing: options.watchTiming,
      monotonic: this.monotonic,
      echoes,
      hooks: {
        driverEnded: (pod) => {
          this.confMaps.driverGone(pod);
          if (this.leading()) this.gc.driverEnded(pod);
        },
        podSeen: (pod) => this.confMaps.podSeen(pod),
      },
    });
    this.nudger = new RetryNudger({
      kc,
      log: options.log.child({ component: "retry-nudger" }),
      rate: config.retryNudges.rate,
      burst: config.retryNudges.burst,
      isLeader: () => this.readiness().ready,
      select: (nowMs) =>
        this.serialize(async () => {
          this.selectedMark = this.stateMark();
          return selectRetries(engine.ctx, this.refused, nowMs, RetryNudger.BATCH);
        }),
      nudged: (t, nowMs) => this.refused.nudged(t, nowMs),
      failed: (t) => this.refused.failed(t),
      gone: (t) => this.refused.forget(t),
      wallClock: this.clock,
      ...options.nudger,
    });
    // Anything that changes the state may make room for a refused pod (a reservation released, a blocker
    // gone, a ConfigMap or a node seen, an admission ahead in the queue): the selection decides.
    mutex.afterEach(() => this.maybeNudge());
    const le = config.leaderElection;
    if (le.enabled) {
      const log = options.log.child({ component: "leader-election" });
      const timing = { leaseDurationMs: le.leaseDurationMs, renewDeadlineMs: le.renewDeadlineMs, retryPeriodMs: le.retryPeriodMs, clock: this.clock };
      this.elector =
        le.mode === "own-lease"
          ? new LeaderElector(kc, { namespace: le.namespace, leaseName: le.leaseName, identity: this.identity, ...timing, monotonic: options.monotonic }, log)
          : new LeaseFollower(
              kc,
              {
                namespace: le.namespace,
                leaseName: le.leaseName,
                identityPrefix: options.kubeSchedulerIdentityPrefix ?? `${hostname()}_`,
                ...timing,
                clock: options.monotonic ?? (() => performance.now()),
                wallClock: this.clock,
              },
              log,
            );
      this.elector.onStartedLeading(() => this.startedLeading());
      this.elector.onStoppedLeading(() => this.stoppedLeading());
    }
  }

  async start(): Promise<void> {
    await ensureCrd(this.options.kc, this.log, this.options.crd);
    this.crdReady = true;
    await Promise.all(Object.values(this.informers).map((i) => i.start()));
    if (this.stopped) return;
    this.log.info({ identity: this.identity, leaderElection: this.elector !== undefined }, "informers synced");
    if (this.elector) this.elector.start();
    else await this.takeOver(this.term);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.nudger.stop();
    await this.elector?.stop();
    this.term++;
    this.reconciled = false;
    clearTimeout(this.retryTimer);
    clearInterval(this.gcTimer);
    this.confMaps.stop();
    await Promise.all(Object.values(this.informers).map((i) => i.stop()));
    await this.serialize(async () => undefined);
  }

  readiness(): Readiness {
    if (this.stopped) return { ready: false, reason: "stopped" };
    if (!this.crdReady) return { ready: false, reason: "waiting for the ResourceReservation CRD" };
    const unsynced = Object.values(this.informers).filter((i) => !i.synced);
    if (unsynced.length > 0) {
      const names = unsynced.map((i) => (i.lastError ? `${i.name} (last error: ${i.lastError})` : i.name));
      return { ready: false, reason: `waiting for informers to sync: ${names.join(", ")}` };
    }
    const stale = Object.values(this.informers).filter(
      (i) => (i.failingForMs() ?? 0) > STALE_INFORMER_MS,
    );
    if (stale.length > 0) {
      const names = stale.map((i) => `${i.name} (${i.lastError})`);
      return { ready: false, reason: `watches failing for more than ${STALE_INFORMER_MS / 1000} s: ${names.join(", ")}` };
    }
    if (this.elector && !this.elector.isLeader()) {
      return { ready: false, reason: `not the leader (leader: ${this.elector.leader() ?? "unknown"})` };
    }
    if (!this.reconciled && !this.watchesAreLive()) {
      const failing = Object.values(this.informers).filter((i) => i.failingSinceMs !== undefined).map((i) => i.name);
      return { ready: false, reason: `waiting for the watches to be live before taking over: ${failing.join(", ")}` };
    }
    if (!this.reconciled) {
      return {
        ready: false,
        reason: this.takeOverError
          ? `reconciliation failed, retrying: ${this.takeOverError}`
          : "reconciling reservations after gaining leadership",
      };
    }
    return { ready: true };
  }

  synced(): boolean {
    return !this.stopped && this.crdReady && Object.values(this.informers).every((i) => i.synced);
  }

  writeReservation(write: ReservationWrite): Promise<string> {
    return this.writer.write(write);
  }

  async applyDemand(demand: DemandIntent): Promise<void> {
    await this.options.demands?.apply(demand);
  }

  /** kube-scheduler binds the pod itself. */
  onScheduled(): void {}

  /** Remembers refusals, so the pods are nudged for a retry once they may fit. */
  onDecision(pod: PodInfo, decision: Decision): void {
    this.refused.record(pod, decision);
    this.maybeNudge();
  }

  private maybeNudge(): void {
    if (this.refused.size > 0 && this.stateMark() !== this.selectedMark) this.nudger.poke();
  }

  /** Changes when the state may have changed (a driver's conf ConfigMap or SparkApplication arriving included). */
  private stateMark(): string {
    return String(this.engine.state.version);
  }

  private leading(): boolean {
    return !this.stopped && (this.elector ? this.elector.isLeader() : true);
  }

  private startedLeading(): void {
    if (this.stopped) return;
    this.term++;
    this.reconciled = false;
    void this.takeOver(this.term);
  }

  private stoppedLeading(): void {
    this.term++;
    this.reconciled = false;
    this.takeOverError = undefined;
    clearTimeout(this.retryTimer);
    clearInterval(this.gcTimer);
    const state = this.engine.state;
    void this.serialize(async () => {
      for (const s of [...state.soft.values()]) state.dropSoftApp(s.namespace, s.appId);
    });
  }

  /** Garbage collection, reconciliation and persisting its writes; retried with backoff until it succeeds. */
  private async takeOver(term: number): Promise<void> {
    const started = this.clock();
    try {
      // Garbage collection and reconciliation judge from the caches: only once every watch is live again
      // (after an API-server outage the lease can be back before the watches are).
      if (!(await this.watchesLive(term))) return;
      const collected = await this.gc.sweep();
      if (term !== this.term) return;
      const writes = await this.serialize(() => this.reconcile(term));
      if (term !== this.term) return;
      this.reconciled = true;
      this.takeOverError = undefined;
      this.takeOverFailures = 0;
      this.log.info({ term, collected, writes, durationMs: this.clock() - started }, "state reconciled; ready to schedule");
      // Pods refused while this replica did not lead (or before it ran) are unknown: each pending one that
      // fits now gets a retry.
      this.refused.presume(this.pendingSparkPods());
      this.selectedMark = "";
      this.nudger.poke();
      const every = this.options.gcIntervalMs ?? 60_000;
      this.gcTimer = setInterval(() => void this.maintain(term), every).unref();
    } catch (e) {
      if (term !== this.term) return;
      this.takeOverError = (e as Error).message;
      const delayMs = backoffMs(TAKEOVER_RETRY, ++this.takeOverFailures);
      this.log.error({ term, err: this.takeOverError, attempt: this.takeOverFailures, delayMs }, "reconciliation failed; retrying");
      this.retryTimer = setTimeout(() => {
        if (term === this.term) void this.takeOver(term);
      }, delayMs).unref();
    }
  }

  private pendingSparkPods(): PodInfo[] {
    const name = this.engine.config.schedulerName;
    const out: PodInfo[] = [];
    for (const p of this.engine.state.pods.values()) {
      if (p.nodeName || p.deleting || p.terminated || p.schedulerName !== name) continue;
      if (classifyPod(p).ok) out.push(p);
    }
    return out;
  }

  /** Every informer synced and none failing. */
  private watchesAreLive(): boolean {
    return Object.values(this.informers).every((i) => i.synced && i.failingSinceMs === undefined);
  }

  /** Waits until the watches are live; false when the term ended (or the cluster stopped) first. */
  private async watchesLive(term: number): Promise<boolean> {
    if (!this.watchesAreLive()) this.log.info({ term }, "leading; waiting for the watches to be live before taking over");
    while (!this.watchesAreLive()) {
      await new Promise((resolve) => setTimeout(resolve, WATCH_POLL_MS));
      if (term !== this.term || this.stopped) return false;
    }
    return term === this.term && !this.stopped;
  }

  /**
   * While leading, periodically: collect finished drivers' reservations and reconcile again, so drift (running
   * pods no reservation accounts for) is repaired without waiting for the next leader change.
   */
  private async maintain(term: number): Promise<void> {
    try {
      await this.gc.sweep();
      if (term !== this.term) return;
      const writes = await this.serialize(() => this.reconcile(term));
      if (writes > 0) this.log.info({ term, writes }, "periodic reconciliation repaired reservations");
    } catch (e) {
      this.log.warn({ term, err: (e as Error).message }, "periodic maintenance failed; retrying at the next interval");
    }
  }

  /** Runs inside the mutex: reconciles, then persists the writes in order; rolls back what was not persisted. */
  private async reconcile(term: number): Promise<number> {
    const report = reconcile(this.engine.ctx, this.clock());
    // A problem that persists (executors a finished driver left running, say) is warned about once, not at
    // every periodic pass; it is warned about again if it goes away and comes back.
    const seen = new Set<string>();
    for (const p of report.problems) {
      const key = `${p.namespace}/${p.appId}\n${p.message}`;
      seen.add(key);
      const fields = { namespace: p.namespace, appId: p.appId, problem: p.message };
      if (this.reportedProblems.has(key)) this.log.debug(fields, "reconciliation: running pods not accounted for (still)");
      else this.log.warn(fields, "reconciliation: running pods not accounted for");
    }
    this.reportedProblems = seen;
    for (const s of report.softAdded) {
      this.log.info({ namespace: s.namespace, appId: s.appId, pod: s.pod }, "reconciliation: soft reservation for extra executor");
    }
    const { writes } = report;
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i];
      const ctx = { namespace: w.reservation.namespace, appId: w.reservation.appId, op: w.op };
      try {
        if (term !== this.term) throw new Error("leadership changed during reconciliation");
        w.reservation.resourceVersion = await this.writer.write(w);
        this.log.info(ctx, "reconciliation: reservation persisted");
      } catch (e) {
        this.engine.rollback({ outcome: "failure-internal", writes: writes.slice(i) });
        throw new Error(`reconciliation write ${w.op} ${ctx.namespace}/${ctx.appId}: ${(e as Error).message}`, { cause: e });
      }
    }
    return writes.length;
  }
}
