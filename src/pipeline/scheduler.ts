// The scheduler: serialises extender decisions, persists their reservation writes before answering, rolls a
// decision back when its write fails, and hands demands to the backend. Transports (the JSON extender
// route and the Connect service) call `filter`; nothing else mutates reservations on the hot path.

import type { Logger } from "pino";
import { type Decision, failure, isSuccess } from "../engine/decision.js";
import type { Engine } from "../engine/engine.js";
import type { PodInfo } from "../engine/model.js";
import type { ClusterBackend } from "../kube/backend.js";
import type { Metrics } from "../server/metrics.js";
import { Mutex } from "./mutex.js";

export type Clock = () => number;

export interface SchedulerOptions {
  clock?: Clock;
  metrics?: Metrics;
  /** Shared with the backend so that reconciliation and decisions never interleave. */
  mutex?: Mutex;
  /** Called after every decision (Kubernetes events, tests). */
  onDecision?: (pod: PodInfo, decision: Decision) => void;
}

export class Scheduler {
  readonly mutex: Mutex;
  private readonly clock: Clock;
  private readonly metrics?: Metrics;
  private readonly onDecision?: (pod: PodInfo, decision: Decision) => void;

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
  }

  now(): number {
    return this.clock();
  }

  /** Runs a read against the engine state between decisions (so it never sees a half-made decision). */
  read<T>(fn: () => T): Promise<T> {
    return this.mutex.run(async () => fn());
  }

  filter(pod: PodInfo, nodeNames: readonly string[]): Promise<Decision> {
    return this.mutex.run(() => this.decide(pod, nodeNames));
  }

  private async decide(pod: PodInfo, nodeNames: readonly string[]): Promise<Decision> {
    const started = performance.now();
    const readiness = this.backend.readiness();
    let decision: Decision;
    if (!readiness.ready) {
      decision = failure("failure-not-ready", `spark-scheduler is not ready: ${readiness.reason ?? "starting"}`);
    } else {
      decision = this.engine.filter(pod, nodeNames, this.clock());
      decision = await this.persist(pod, decision);
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
    return decision;
  }

  private async persist(pod: PodInfo, decision: Decision): Promise<Decision> {
    for (const write of decision.writes) {
      try {
        const rv = await this.backend.writeReservation(write);
        if (rv) write.reservation.resourceVersion = rv;
      } catch (e) {
        this.engine.rollback(decision);
        const key = `${write.reservation.namespace}/${write.reservation.appId}`;
        this.log.error({ err: e, reservation: key, op: write.op, podName: pod.name, podNamespace: pod.namespace }, "reservation write failed; decision rolled back");
        return failure("failure-internal", `could not persist reservation ${key}: ${(e as Error).message}`, {
          role: decision.role,
          appId: decision.appId,
          instanceGroup: decision.instanceGroup,
        });
      }
    }
    return decision;
  }
}
