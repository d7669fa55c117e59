// Which refused pods kube-scheduler should retry now (README "Prompt retries after a refusal").
//
// kube-scheduler keeps a pod its extender refused in its unschedulable pool until a cluster event it
// associates with the refusal, or the periodic flush (5 minutes); an update of the pod object itself moves it
// back to its active or backoff queue. The extender knows better when a refused pod may now fit, so the
// kube layer (src/kube/retry-nudger.ts) touches such pods with an annotation. This module decides which:
//
// - `RetryTracker` remembers refused pods (from decisions, and — after taking over — every pending Spark pod,
//   since refusals by an earlier process or while this one was not ready are unknown). A pod becomes a
//   candidate again only after a new refusal since its last nudge, and repeated nudges of the same pod back
//   off (the existing backoff helper), so a pod that our view says fits but whose decision keeps refusing it
//   cannot turn into a stream of writes.
// - `selectRetries` is a pure function of the engine state, the tracker and the time: drivers that fit now in
//   their queue's FIFO walk (not behind a blocking driver), executors of admitted applications whose
//   reservation has a free slot (at most one per free slot); heads first: the first candidate of every
//   instance group, then the second of every group, and so on.

import { backoffMs } from "../kube/reservation-writer.js";
import type { EngineContext } from "../engine/context.js";
import { type Decision, isSuccess } from "../engine/decision.js";
import { unboundSlotsByNode } from "../engine/executor.js";
import { allQueues, walkQueue } from "../engine/explain.js";
import { queueOrder } from "../engine/fifo.js";
import { type PodInfo, podKey } from "../engine/model.js";
import { classifyPod } from "../engine/spark-pods.js";

/** Backoff between nudges of the same pod that were not followed by its admission. */
export const NUDGE_BACKOFF = { initialBackoffMs: 1_000, maxBackoffMs: 60_000 };

export interface RetryTarget {
  namespace: string;
  name: string;
  uid: string;
  role: "driver" | "executor";
  instanceGroup: string;
}

interface Refused {
  namespace: string;
  name: string;
  uid: string;
  /** Refused (or presumed refused) since its last nudge. */
  waiting: boolean;
  /** Nudges since its last success; drives the backoff. */
  nudges: number;
  nudgedAtMs: number;
  /** Random factor of the current backoff (drawn once per nudge, so selection stays deterministic). */
  backoffMs: number;
}

export class RetryTracker {
  private readonly pods = new Map<string, Refused>();

  /** Takes a decision kube-scheduler got: a refusal makes the pod a candidate, a success forgets it. */
  record(pod: PodInfo, decision: Decision): void {
    const key = podKey(pod.namespace, pod.name);
    if (isSuccess(decision.outcome) || decision.outcome === "failure-non-spark-pod") {
      this.pods.delete(key);
      return;
    }
    const known = this.pods.get(key);
    if (known && (known.uid === pod.uid || !known.uid || !pod.uid)) {
      known.waiting = true;
      known.uid ||= pod.uid;
      return;
    }
    this.pods.set(key, { namespace: pod.namespace, name: pod.name, uid: pod.uid, waiting: true, nudges: 0, nudgedAtMs: 0, backoffMs: 0 });
  }

  /** Pods that may have been refused without this process knowing (before it led): candidates unless known. */
  presume(pods: Iterable<PodInfo>): void {
    for (const pod of pods) {
      const key = podKey(pod.namespace, pod.name);
      if (!this.pods.has(key)) {
        this.pods.set(key, { namespace: pod.namespace, name: pod.name, uid: pod.uid, waiting: true, nudges: 0, nudgedAtMs: 0, backoffMs: 0 });
      }
    }
  }

  /** The pod was nudged at `nowMs`: not a candidate until refused again, and then only after a backoff. */
  nudged(target: RetryTarget, nowMs: number): void {
    const r = this.pods.get(podKey(target.namespace, target.name));
    if (!r) return;
    r.waiting = false;
    r.nudges++;
    r.nudgedAtMs = nowMs;
    r.backoffMs = backoffMs(NUDGE_BACKOFF, r.nudges);
  }

  /** The nudge did not reach the API server: a candidate again once its backoff has passed. */
  failed(target: RetryTarget): void {
    const r = this.pods.get(podKey(target.namespace, target.name));
    if (r) r.waiting = true;
  }

  forget(target: Pick<RetryTarget, "namespace" | "name">): void {
    this.pods.delete(podKey(target.namespace, target.name));
  }

  /** How many pods wait for a nudge (refused since their last one). */
  get waiting(): number {
    let n = 0;
    for (const r of this.pods.values()) if (r.waiting) n++;
    return n;
  }

  get size(): number {
    return this.pods.size;
  }

  /** @internal selectRetries' view. */
  entries(): IterableIterator<Refused> {
    return this.pods.values();
  }

  /** @internal */
  delete(key: string): void {
    this.pods.delete(key);
  }
}

export interface RetrySelection {
  /** Pods to nudge, heads of the queues first. */
  targets: RetryTarget[];
  /** When a candidate held back by its nudge backoff becomes eligible (to evaluate again then). */
  nextAtMs?: number;
}

/**
 * The refused pods worth a retry now, at most `limit`. Forgets tracked pods that are gone, bound, being
 * deleted or replaced (another uid). Pure apart from that pruning of the tracker: reads the state only.
 */
export function selectRetries(ctx: EngineContext, tracker: RetryTracker, nowMs: number, limit: number): RetrySelection {
  const { state, config } = ctx;
  let nextAtMs: number | undefined;
  const eligible = new Map<string, PodInfo>();
  for (const r of [...tracker.entries()]) {
    const key = podKey(r.namespace, r.name);
    const pod = state.getPod(r.namespace, r.name);
    if (!pod || pod.nodeName || pod.deleting || pod.terminated || (r.uid && pod.uid && r.uid !== pod.uid)) {
      tracker.delete(key);
      continue;
    }
    if (!r.waiting) continue;
    const at = r.nudges > 0 ? r.nudgedAtMs + r.backoffMs : nowMs;
    if (at > nowMs) {
      nextAtMs = nextAtMs === undefined ? at : Math.min(nextAtMs, at);
      continue;
    }
    eligible.set(key, pod);
  }
  if (eligible.size === 0) return { targets: [], nextAtMs };

  const byGroup = new Map<string, RetryTarget[]>();
  const push = (group: string, pod: PodInfo, role: RetryTarget["role"]) => {
    let list = byGroup.get(group);
    if (!list) byGroup.set(group, (list = []));
    list.push({ namespace: pod.namespace, name: pod.name, uid: pod.uid, role, instanceGroup: group });
  };

  // Executors of admitted applications first: their application is ahead of every queued driver.
  const executorsByApp = new Map<string, PodInfo[]>();
  const driverGroups = new Set<string>();
  for (const pod of eligible.values()) {
    const id = classifyPod(pod);
    if (!id.ok) continue;
    if (id.value.role === "driver") {
      driverGroups.add(ctx.instanceGroup(pod));
      continue;
    }
    const appKey = podKey(pod.namespace, id.value.appId);
    const list = executorsByApp.get(appKey);
    if (list) list.push(pod);
    else executorsByApp.set(appKey, [pod]);
  }
  for (const [appKey, pods] of [...executorsByApp].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const { namespace } = pods[0];
    const appId = appKey.slice(namespace.length + 1);
    const r = state.getReservation(namespace, appId);
    if (!r) continue;
    let free = 0;
    for (const slots of unboundSlotsByNode(ctx, r).values()) free += slots.length;
    if (free === 0) continue;
    const driver = state.findDriver(namespace, appId);
    pods.sort(queueOrder);
    for (const pod of pods.slice(0, free)) push(ctx.instanceGroup(driver ?? pod), pod, "executor");
  }

  // Drivers: the FIFO walk of each queue that holds one, as a decision would see it now.
  if (driverGroups.size > 0) {
    const queues = allQueues(ctx);
    for (const group of [...driverGroups].sort()) {
      const queue = queues.get(group);
      if (!queue) continue;
      const verdicts = walkQueue(ctx, group, queue, nowMs, undefined, () => false);
      for (const v of verdicts) {
        // With FIFO on, the drivers behind a blocking one are refused whatever the walk says of them.
        if (config.fifo && v.blocking) break;
        if (!v.entry.fits) continue;
        const pod = eligible.get(podKey(v.driver.pod.namespace, v.driver.pod.name));
        if (pod) push(group, pod, "driver");
      }
    }
  }

  const lists = [...byGroup.keys()].sort().map((g) => byGroup.get(g)!);
  const targets: RetryTarget[] = [];
  for (let i = 0; targets.length < limit; i++) {
    let any = false;
    for (const list of lists) {
      if (i >= list.length) continue;
      any = true;
      targets.push(list[i]);
      if (targets.length >= limit) break;
    }
    if (!any) break;
  }
  return { targets, nextAtMs };
}
