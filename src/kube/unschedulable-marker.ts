// Unschedulable-pod marking (reference §9): every interval, each pending spark-scheduler driver older than the
// timeout gets the pod condition PodExceedsClusterCapacity, True when its application could not fit even on an
// empty cluster, False otherwise; with False the message says what it waits for (capacity held by other work, an
// earlier driver that blocks it, or only kube-scheduler's retry). The condition is written through the pods/status
// subresource, only when its status or message changes (lastTransitionTime moves only with the status).
//
// Deviations from the reference: an error on one pod (bad annotations, an API error) is logged and the scan goes
// on with the next pod (the reference aborted the scan, §14.2 item 10); the condition carries a reason and a
// message; with `isLeader` only the leader writes.

import type * as k8s from "@kubernetes/client-node";
import { ApiException, KubeApi, objectPath } from "./client.js";
import type { Logger } from "pino";
import type { AppShape } from "../engine/app-shape.js";
import { exceedsClusterCapacity } from "../engine/cluster-capacity.js";
import type { Engine } from "../engine/engine.js";
import type { PodInfo } from "../engine/model.js";
import { add, formatResources, scale } from "../engine/resources.js";
import { allQueues, walkQueue } from "../engine/explain.js";
import { podKey } from "../engine/model.js";
import { ROLE_LABEL, classifyPod } from "../engine/spark-pods.js";

export const EXCEEDS_CAPACITY_CONDITION = "PodExceedsClusterCapacity";

export interface UnschedulableMarkerOptions {
  kc: k8s.KubeConfig;
  engine: Engine;
  log: Logger;
  /** Drivers pending for longer than this are checked (ms). */
  timeoutMs: number;
  /** Scan period (ms); the first scan runs one period after start. Default 60 s. */
  intervalMs?: number;
  clock?: () => number;
  /** When given, scans run only while it returns true. */
  isLeader?: () => boolean;
  /** Runs a read of the engine state between scheduling decisions (Scheduler.read). */
  runExclusive?: <T>(fn: () => T) => Promise<T>;
}

/** The verdict for one pending driver. */
interface Verdict {
  pod: PodInfo;
  exceeds: boolean;
  message: string;
}

export class UnschedulableMarker {
  private readonly api: KubeApi;
  private readonly engine: Engine;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly intervalMs: number;
  private readonly clock: () => number;
  private readonly isLeader: () => boolean;
  private readonly runExclusive: <T>(fn: () => T) => Promise<T>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(opts: UnschedulableMarkerOptions) {
    this.api = new KubeApi(opts.kc);
    this.engine = opts.engine;
    this.log = opts.log.child({ component: "unschedulable-marker" });
    this.timeoutMs = opts.timeoutMs;
    this.intervalMs = opts.intervalMs ?? 60_000;
    this.clock = opts.clock ?? Date.now;
    this.isLeader = opts.isLeader ?? (() => true);
    this.runExclusive = opts.runExclusive ?? (async (fn) => fn());
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      // A scan that outlives the interval is not overlapped by the next one.
      if (this.running) return;
      this.running = this.runOnce()
        .catch((e: unknown) => this.log.error({ err: e }, "unschedulable pod scan failed"))
        .finally(() => (this.running = undefined));
    }, this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One scan: decide every candidate driver under the engine lock, then write the conditions that changed. */
  async runOnce(): Promise<void> {
    if (!this.isLeader()) return;
    const verdicts = await this.runExclusive(() => this.judge(this.clock()));
    for (const v of verdicts) {
      try {
        await this.mark(v);
      } catch (e) {
        this.log.warn({ err: e, podNamespace: v.pod.namespace, podName: v.pod.name }, "cannot set pod condition; continuing with the next pod");
      }
    }
  }

  private judge(nowMs: number): Verdict[] {
    const { state, ctx, config } = this.engine;
    const candidates: PodInfo[] = [];
    for (const key of state.drivers) {
      const pod = state.pods.get(key);
      if (
        pod &&
        pod.labels[ROLE_LABEL] === "driver" &&
        pod.schedulerName === config.schedulerName &&
        !pod.nodeName &&
        !pod.deleting &&
        pod.createdAtMs + this.timeoutMs < nowMs
      ) {
        candidates.push(pod);
      }
    }
    candidates.sort((a, b) => a.createdAtMs - b.createdAtMs || (a.name < b.name ? -1 : 1));
    let waits = new Map<string, string>();
    try {
      waits = this.waits(candidates, nowMs);
    } catch (e) {
      this.log.error({ err: e }, "queue walk for the condition messages failed; continuing with the default message");
    }
    const verdicts: Verdict[] = [];
    for (const pod of candidates) {
      const fields = { podNamespace: pod.namespace, podName: pod.name };
      try {
        const shape = ctx.shape(pod);
        if (!shape.ok) {
          this.log.warn({ ...fields, reason: shape.error }, "cannot size pending driver; continuing with the next pod");
          continue;
        }
        const exceeds = exceedsClusterCapacity(ctx, pod, shape.value);
        verdicts.push({ pod, exceeds, message: describe(shape.value, exceeds, waits.get(podKey(pod.namespace, pod.name))) });
      } catch (e) {
        this.log.error({ ...fields, err: e }, "cluster capacity check failed; continuing with the next pod");
      }
    }
    return verdicts;
  }

  /**
   * What each candidate driver waits for now, by namespace/name: one FIFO walk per instance group (as a decision
   * would see the queue), not one per driver.
   */
  private waits(candidates: readonly PodInfo[], nowMs: number): Map<string, string> {
    const { state, ctx } = this.engine;
    const out = new Map<string, string>();
    const groups = new Set<string>();
    for (const pod of candidates) {
      const id = classifyPod(pod);
      if (id.ok && state.getReservation(pod.namespace, id.value.appId)) {
        out.set(podKey(pod.namespace, pod.name), "it is admitted and waits for kube-scheduler to bind the driver");
      } else groups.add(ctx.instanceGroup(pod));
    }
    if (groups.size === 0) return out;
    const queues = allQueues(ctx);
    for (const group of [...groups].sort()) {
      const queue = queues.get(group);
      if (!queue) continue;
      for (const v of walkQueue(ctx, group, queue, nowMs, undefined, () => false)) {
        const key = podKey(v.driver.pod.namespace, v.driver.pod.name);
        const b = v.blockedBy?.pod;
        if (b) out.set(key, `it waits behind the earlier driver ${b.namespace}/${b.name}, which does not fit`);
        else if (v.entry.fits) out.set(key, "it fits the free capacity now and waits for kube-scheduler to retry the driver");
        else out.set(key, "it is waiting for capacity held by other work");
      }
    }
    return out;
  }

  /** Sets the condition on the live pod when its status or message differs; a pod that is gone or bound is left alone. */
  private async mark(v: Verdict): Promise<void> {
    const { namespace, name } = v.pod;
    const status = v.exceeds ? "True" : "False";
    for (let attempt = 1; ; attempt++) {
      let live: k8s.V1Pod;
      try {
        live = await this.api.get<k8s.V1Pod>(objectPath("v1", "pods", namespace, name, "status"));
      } catch (e) {
        if (e instanceof ApiException && e.code === 404) return;
        throw new Error(`read pod ${namespace}/${name}: ${(e as Error).message}`, { cause: e });
      }
      const replaced = v.pod.uid !== "" && live.metadata?.uid !== v.pod.uid;
      if (live.spec?.nodeName || live.metadata?.deletionTimestamp || replaced) return;
      const conditions = live.status?.conditions ?? [];
      const current = conditions.find((c) => c.type === EXCEEDS_CAPACITY_CONDITION);
      // The message says what the driver waits for, which changes while the status stays: it is kept current,
      // and lastTransitionTime moves only with the status.
      if (current?.status === status && current.message === v.message) return;
      const condition: k8s.V1PodCondition = {
        type: EXCEEDS_CAPACITY_CONDITION,
        status,
        reason: v.exceeds ? "ExceedsClusterCapacity" : "FitsClusterCapacity",
        message: v.message,
        lastTransitionTime: current?.status === status && current.lastTransitionTime ? current.lastTransitionTime : new Date(this.clock()),
      };
      live.status = { ...live.status, conditions: [...conditions.filter((c) => c !== current), condition] };
      try {
        await this.api.replace(objectPath("v1", "pods", namespace, name, "status"), live);
        this.log.info({ podNamespace: namespace, podName: name, condition: EXCEEDS_CAPACITY_CONDITION, status }, "pod condition set");
        return;
      } catch (e) {
        // Another writer (kubelet, kube-scheduler) changed the pod meanwhile: read it again, once.
        if (e instanceof ApiException && e.code === 409 && attempt < 2) continue;
        throw new Error(`update status of pod ${namespace}/${name}: ${(e as Error).message}`, { cause: e });
      }
    }
  }
}

/** `wait`: what a driver that fits an empty cluster waits for now (default: capacity held by other work). */
function describe(shape: AppShape, exceeds: boolean, wait = "it is waiting for capacity held by other work"): string {
  const total = add(shape.driver, scale(shape.executor, shape.minExecutors));
  const app = `the driver and ${shape.minExecutors} executor(s) (${formatResources(total)} in all)`;
  return exceeds
    ? `${app} do not fit on the nodes this driver may use even with no Spark application running; ` +
        "the application cannot be scheduled unless the cluster grows"
    : `${app} fit on the nodes this driver may use when no Spark application is running; ${wait}`;
}
