// Shared machinery of the watch streams and queue summaries: decision counters per instance group, one
// cached snapshot per state version (so N streams cost one computation, not N), change notification by
// polling the state's version, and a bound on concurrently open streams.
//
// Back-pressure: a stream holds only the last state it sent. It computes the next diff only after the
// previous events were consumed, against the newest snapshot; a slow reader therefore skips intermediate
// states instead of building a backlog, and memory per stream is one snapshot.

import { Code, ConnectError } from "@connectrpc/connect";
import type { Decision } from "../engine/decision.js";
import type { PodInfo } from "../engine/model.js";
import type { Scheduler } from "../pipeline/scheduler.js";

export interface WatchHubOptions {
  /** How often the state version is checked for changes while streams are open (ms). Default 250. */
  pollMs?: number;
  /**
   * Queue verdicts depend on time (enforce-after ages): snapshots are recomputed at least this often even
   * when the state is unchanged (ms). Default 5000.
   */
  timeBucketMs?: number;
  /** Most watch streams open at once; more fail with RESOURCE_EXHAUSTED. Default 64. */
  maxStreams?: number;
}

export class DecisionCounts {
  readonly admitted = new Map<string, number>();
  readonly refused = new Map<string, number>();

  observe(_pod: PodInfo, d: Decision): void {
    if (d.role !== "driver") return;
    const group = d.instanceGroup ?? "";
    if (d.outcome === "success" && d.writes.some((w) => w.op === "create")) {
      this.admitted.set(group, (this.admitted.get(group) ?? 0) + 1);
    } else if (d.outcome === "failure-fit" || d.outcome === "failure-earlier-driver" || d.outcome === "failure-invalid") {
      this.refused.set(group, (this.refused.get(group) ?? 0) + 1);
    }
  }

  groups(): string[] {
    return [...new Set([...this.admitted.keys(), ...this.refused.keys()])];
  }
}

export class WatchHub {
  readonly counts = new DecisionCounts();
  private readonly pollMs: number;
  private readonly timeBucketMs: number;
  readonly maxStreams: number;
  private open = 0;
  private readonly waiters = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private readonly memo = new Map<string, { token: string; value: Promise<unknown> }>();

  constructor(
    private readonly scheduler: Scheduler,
    options: WatchHubOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 250;
    this.timeBucketMs = options.timeBucketMs ?? 5000;
    this.maxStreams = options.maxStreams ?? 64;
    scheduler.addDecisionListener((pod, d) => this.counts.observe(pod, d));
  }

  get openStreams(): number {
    return this.open;
  }

  /** Claims a stream slot; the returned function releases it (call it exactly once). */
  acquire(): () => void {
    if (this.open >= this.maxStreams) {
      throw new ConnectError(`too many watch streams open (limit ${this.maxStreams}); try again later`, Code.ResourceExhausted);
    }
    this.open++;
    let released = false;
    return () => {
      if (!released) {
        released = true;
        this.open--;
      }
    };
  }

  /** Identifies the state a snapshot is computed from: the state version, plus a time bucket when asked. */
  token(timed: boolean): string {
    const v = String(this.scheduler.engine.state.version);
    return timed ? `${v}@${Math.floor(this.scheduler.now() / this.timeBucketMs)}` : v;
  }

  /**
   * `compute` run between decisions, memoised by `kind` and the state token: every stream and list call
   * asking for the same state shares one computation.
   */
  snapshot<T>(kind: string, timed: boolean, compute: () => T): Promise<{ token: string; value: T }> {
    const token = this.token(timed);
    const cached = this.memo.get(kind);
    if (cached && cached.token === token) return cached.value.then((value) => ({ token, value: value as T }));
    const value = this.scheduler.read(compute);
    this.memo.set(kind, { token, value });
    value.catch(() => this.memo.delete(kind));
    return value.then((v) => ({ token, value: v }));
  }

  /** Resolves once the state token differs from `token`, or when `signal` aborts. */
  waitForChange(token: string, timed: boolean, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal.aborted || this.token(timed) !== token) return resolve();
      const done = () => {
        this.waiters.delete(check);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const check = () => {
        if (this.token(timed) !== token) done();
      };
      this.waiters.add(check);
      signal.addEventListener("abort", done, { once: true });
      this.ensureTimer();
    });
  }

  private ensureTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      for (const w of [...this.waiters]) w();
      if (this.waiters.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    }, this.pollMs);
    this.timer.unref();
  }
}
