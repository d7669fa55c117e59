// The scheduler: coordinates decisions and their persistence. Transports (the JSON extender route and the
// Connect service) call `filter`; reads call `read`.
//
// A decision is made synchronously against the engine state, inside the mutex that informer events and the
// kube layer's maintenance also take (so it never sees half of another change), and its reservation content
// is assumed there. The mutex is released before the writes go out: they are persisted by the reservation
// pipeline (one ordered, coalescing channel per reservation), and the answer waits only for the write that
// carries its own content — a driver's admission is durable before its node is returned; an executor bound
// into a slot already stored on its node is answered at once (`earlyExecutorBinds`, see the pipeline). A failed write
// forgets exactly what was not stored. Compaction of soft reservations is its own step, started after any
// change that makes it due, with its own writes. Reads run at once on the current state (always consistent
// between synchronous steps) and never wait for a write.

import type { Logger } from "pino";
import { type Decision, failure, isSuccess } from "../engine/decision.js";
import type { Engine } from "../engine/engine.js";
import type { PodInfo } from "../engine/model.js";
import type { ClusterBackend } from "../kube/backend.js";
import type { Metrics } from "../server/metrics.js";
import { Mutex } from "./mutex.js";
import { type LateFailureFn, ReservationPipeline, ReservationWriteFailed } from "./reservation-pipeline.js";

export type Clock = () => number;

export interface SchedulerOptions {
  clock?: Clock;
  metrics?: Metrics;
  /** Shared with the backend so that informer events, reconciliation and decisions never interleave. */
  mutex?: Mutex;
  /** Called after every decision (Kubernetes events, tests). */
  onDecision?: (pod: PodInfo, decision: Decision) => void;
  /**
   * Answer an executor bound into a slot that is already stored on its node before the write that records its
   * pod name (config `executor-bind-answer: before-write`); false: after it, as every other decision.
   */
  earlyExecutorBinds?: boolean;
  /** Called when the write of executor binds answered before it failed (after the log line; tests). */
  onLateFailure?: LateFailureFn;
}

export class Scheduler {
  readonly mutex: Mutex;
  readonly pipeline: ReservationPipeline;
  private readonly clock: Clock;
  private readonly metrics?: Metrics;
  private readonly onDecision?: (pod: PodInfo, decision: Decision) => void;
  private readonly earlyExecutorBinds: boolean;
  private compactionQueued = false;
  private readonly listeners = new Set<(pod: PodInfo, decision: Decision) => void>();

  constructor(
    readonly engine: Engine,
    readonly backend: ClusterBackend,
    private readonly log: Logger,
    options: SchedulerOptions = {},
  ) {
    this.mutex = options.mutex ?? new Mutex();
    this.clock = options.clock ?? Date.now;
    this.metrics = options.metrics;
    this.onDecision = options.onDecision;
    this.earlyExecutorBinds = options.earlyExecutorBinds ?? false;
    this.pipeline = new ReservationPipeline(engine, (w) => backend.writeReservation(w), log, (binds, e) => {
      this.log.error(
        { err: e, podNamespace: binds[0]?.namespace, pods: binds.map((b) => b.pod), sparkAppID: binds[0]?.decision.appId },
        "executor binds answered before their write were not persisted; the executors count as node overhead until reconciliation re-attaches them",
      );
      options.onLateFailure?.(binds, e);
    });
    this.mutex.afterEach(() => this.scheduleCompaction());
  }

  /** Adds an observer of every decision (read-only views such as queue counters); returns its removal. */
  addDecisionListener(fn: (pod: PodInfo, decision: Decision) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  now(): number {
    return this.clock();
  }

  /** Runs a read against the current engine state at once: it never waits for a decision's write. */
  read<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve) => resolve(fn()));
  }

  async filter(pod: PodInfo, nodeNames: readonly string[]): Promise<Decision> {
    const started = performance.now();
    const readiness = this.backend.readiness();
    let decision: Decision;
    if (!readiness.ready) {
      decision = failure("failure-not-ready", `spark-scheduler is not ready: ${readiness.reason ?? "starting"}`);
    } else {
      const entered = this.metrics?.pipelineEntered();
      const made = await this.mutex.run(async () => {
        entered?.();
        this.backend.podSeen?.(pod);
        const d = this.engine.filter(pod, nodeNames, this.clock());
        const early = this.earlyExecutorBinds ? { pod: pod.name } : undefined;
        return { d, stored: this.pipeline.submit(d, pod.namespace, early) };
      });
      decision = await made.stored.then(
        () => made.d,
        (e: unknown) => this.failedWrite(pod, made.d, e),
      );
    }
    const fields = {
      podName: pod.name,
      podNamespace: pod.namespace,
      podSparkRole: decision.role ?? pod.labels["spark-role"] ?? "",
      sparkAppID: decision.appId ?? "",
      instanceGroup: decision.instanceGroup ?? "",
      outcome: decision.outcome,
    };
    if (isSuccess(decision.outcome)) {
      this.log.info({ ...fields, node: decision.node }, "scheduling pod to node");
      this.backend.onScheduled(pod, decision.node!);
    } else {
      this.log.info({ ...fields, reason: decision.reason, blockedBy: decision.blockedBy }, "failed to schedule pod");
    }
    if (decision.demand) {
      const demand = decision.demand;
      this.backend.applyDemand(demand).catch((e: unknown) => {
        this.log.warn({ ...fields, err: e, demand: `${demand.namespace}/demand-${demand.podName}` }, "demand write failed");
      });
    }
    this.metrics?.observeDecision(decision, (performance.now() - started) / 1000, this.clock() - pod.createdAtMs);
    this.onDecision?.(pod, decision);
    this.backend.onDecision?.(pod, decision);
    for (const fn of this.listeners) fn(pod, decision);
    return decision;
  }

  /** Runs compaction now if it is due (its own step; tests and the scheduled trigger). */
  compact(): Promise<void> {
    return this.mutex.run(async () => this.compactNow());
  }

  private failedWrite(pod: PodInfo, decision: Decision, e: unknown): Decision {
    const reason = e instanceof ReservationWriteFailed ? e.message : `could not persist reservation: ${(e as Error).message}`;
    this.log.error({ err: e, podName: pod.name, podNamespace: pod.namespace }, "decision not persisted; forgotten");
    return failure("failure-internal", reason, {
      role: decision.role,
      appId: decision.appId,
      instanceGroup: decision.instanceGroup,
    });
  }

  private scheduleCompaction(): void {
    if (this.compactionQueued || !this.engine.compactionPending()) return;
    this.compactionQueued = true;
    setImmediate(() => {
      this.compactionQueued = false;
      void this.compact();
    });
  }

  private compactNow(): Promise<void> {
    if (!this.engine.compactionPending() || !this.backend.readiness().ready) return Promise.resolve();
    const d = this.engine.compact(this.clock());
    if (d.writes.length === 0) return Promise.resolve();
    const stored = this.pipeline.submit(d);
    stored.catch((e: unknown) => this.log.warn({ err: e }, "compaction write failed; the soft reservations stay"));
    return Promise.resolve();
  }
}
