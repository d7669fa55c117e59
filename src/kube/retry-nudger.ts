// Prompt retries after a refusal: touches refused pods so that kube-scheduler retries them now rather than at
// its unschedulable-pool flush (5 minutes).
//
// Why an annotation: every kube-scheduler version we support moves a pod out of its unschedulable pool when
// the pod object itself is updated. Without queueing hints (and on 1.26–1.31 by default) any change outside
// status, resourceVersion, generation, managedFields and finalizers counts; with queueing hints (1.32+) the
// pod update is an event, and since the fix that records extender rejections (kubernetes#122022, backported
// to 1.26–1.29) a pod an extender refused is requeued by any event. The pod then waits out the rest of its
// backoff (podInitialBackoffSeconds, 1 s, doubling per attempt up to podMaxBackoffSeconds, 10 s) and is
// retried. A status write (the PodExceedsClusterCapacity condition) does not count.
//
// Which pods: src/pipeline/retries.ts. When: `poke()` after anything that may make room (the backend pokes on
// state changes while refused pods wait, and after taking over); an evaluation runs at most every
// `minIntervalMs`. How fast: a token bucket (`rate` patches per second, `burst` at once), one patch at a time,
// heads of the queues first — a poke during a drain re-evaluates, so a new head overtakes older candidates.
// Only while `isLeader()`; a pod is patched once per refusal (dedupe in the tracker). A failed patch is
// retried after the nudge backoff; a pod that is gone is forgotten.

import type * as k8s from "@kubernetes/client-node";
import { KubeApi, objectPath } from "./client.js";
import type { Logger } from "pino";
import type { RetrySelection, RetryTarget } from "../pipeline/retries.js";
import { apiErrorCode, apiErrorMessage } from "./reservation-writer.js";

/** The annotation whose change makes kube-scheduler retry a pod; its value is the time of the nudge. */
export const RETRY_ANNOTATION = "spark-scheduler.palantir.github.com/retry";

export interface RetryNudgerOptions {
  kc: k8s.KubeConfig;
  log: Logger;
  /** Patches per second (sustained); 0 disables nudging. */
  rate: number;
  /** Patches allowed at once after a quiet period. */
  burst: number;
  /** Chooses the targets (runs against the engine state, under the scheduler's mutex). */
  select: (nowMs: number) => Promise<RetrySelection>;
  /** Called as each patch is sent, and with its outcome. */
  nudged: (target: RetryTarget, nowMs: number) => void;
  failed: (target: RetryTarget) => void;
  gone: (target: RetryTarget) => void;
  isLeader: () => boolean;
  /** Monotonic clock (ms) for the rate and the evaluation interval. */
  clock?: () => number;
  /** Wall clock (ms) for the annotation's value. */
  wallClock?: () => number;
  /** Shortest time between two evaluations; default 200 ms. */
  minIntervalMs?: number;
  /** Observes every patch sent (metrics, tests). */
  onPatch?: (target: RetryTarget, atMs: number) => void;
}

/** A token bucket on an injected clock. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly clock: () => number,
  ) {
    this.tokens = burst;
    this.last = clock();
  }

  /** Takes a token if one is available; else returns how long (ms) until one is. */
  take(): number {
    const now = this.clock();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) * 1000) / this.rate);
  }
}

/** How many targets one evaluation hands over (more wait for the next evaluation). */
const BATCH = 100;
/** A drain is interrupted for a fresh selection at most this often. */
const PREEMPT_MS = 1000;

export class RetryNudger {
  static readonly BATCH = BATCH;
  private readonly api: KubeApi;
  private readonly clock: () => number;
  private readonly wallClock: () => number;
  private readonly minIntervalMs: number;
  private readonly bucket: TokenBucket | undefined;
  private dirty = false;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private laterTimer: NodeJS.Timeout | undefined;
  private lastEvaluationMs = -Infinity;
  private stopped = false;
  private forbiddenLogged = false;

  constructor(private readonly options: RetryNudgerOptions) {
    this.api = new KubeApi(options.kc);
    this.clock = options.clock ?? (() => performance.now());
    this.wallClock = options.wallClock ?? Date.now;
    this.minIntervalMs = options.minIntervalMs ?? 200;
    const burst = Math.max(1, options.burst);
    this.bucket = options.rate > 0 ? new TokenBucket(options.rate, burst, this.clock) : undefined;
  }

  /** Something may have made room: evaluate (soon, at most every minIntervalMs). */
  poke(): void {
    if (this.stopped || !this.bucket) return;
    this.dirty = true;
    this.schedule();
  }

  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.laterTimer);
    return this.running ?? Promise.resolve();
  }

  private schedule(): void {
    if (this.running || this.timer || this.stopped) return;
    const delay = Math.max(0, this.lastEvaluationMs + this.minIntervalMs - this.clock());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.run()
        .catch((e: unknown) => this.options.log.warn({ err: apiErrorMessage(e) }, "retry nudges failed"))
        .finally(() => {
          this.running = undefined;
          if (this.dirty) this.schedule();
        });
    }, delay);
    this.timer.unref?.();
  }

  private async run(): Promise<void> {
    this.dirty = false;
    if (!this.options.isLeader()) return;
    this.lastEvaluationMs = this.clock();
    const { targets, nextAtMs } = await this.options.select(this.wallClock());
    clearTimeout(this.laterTimer);
    if (nextAtMs !== undefined) {
      const wait = Math.max(0, nextAtMs - this.wallClock());
      this.laterTimer = setTimeout(() => this.poke(), wait);
      this.laterTimer.unref?.();
    }
    let failures = 0;
    for (const target of targets.slice(0, BATCH)) {
      // A poke meanwhile (room made, an admission) re-evaluates, so the queues' new heads go first — at most
      // every PREEMPT_MS: our own patches change the state too, and must not stall the drain.
      if (this.stopped || !this.options.isLeader()) return;
      if (this.dirty && this.clock() - this.lastEvaluationMs >= PREEMPT_MS) return;
      for (let wait = this.bucket!.take(); wait > 0; wait = this.bucket!.take()) {
        await new Promise((resolve) => setTimeout(resolve, wait));
        if (this.stopped || !this.options.isLeader()) return;
      }
      if (!(await this.patch(target))) failures++;
    }
    if (targets.length > BATCH) this.dirty = true;
    // Failed patches are candidates again after their backoff: evaluate then.
    if (failures > 0 && nextAtMs === undefined) {
      this.laterTimer = setTimeout(() => this.poke(), 1000);
      this.laterTimer.unref?.();
    }
  }

  /** Sends one nudge; false when it failed (the pod stays a candidate). */
  private async patch(target: RetryTarget): Promise<boolean> {
    const { namespace, name } = target;
    const at = this.wallClock();
    this.options.nudged(target, at);
    this.options.onPatch?.(target, this.clock());
    try {
      await this.api.mergePatch(objectPath("v1", "pods", namespace, name), {
        metadata: { annotations: { [RETRY_ANNOTATION]: new Date(at).toISOString() } },
      });
      this.options.log.debug({ podNamespace: namespace, podName: name, role: target.role, instanceGroup: target.instanceGroup }, "nudged refused pod for a retry");
      return true;
    } catch (e) {
      const code = apiErrorCode(e);
      if (code === 404) {
        this.options.gone(target);
        return true;
      }
      this.options.failed(target);
      if (code === 403 && !this.forbiddenLogged) {
        this.forbiddenLogged = true;
        this.options.log.error({ err: apiErrorMessage(e) }, "cannot patch pods to retry refused ones: grant the ClusterRole `patch` on `pods`");
      } else {
        this.options.log.warn({ podNamespace: namespace, podName: name, err: apiErrorMessage(e) }, "retry nudge failed; retrying after a backoff");
      }
      return false;
    }
  }
}
