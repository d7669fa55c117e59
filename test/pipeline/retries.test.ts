// Which refused pods get a retry nudge: a pure function of the engine state, the refusals and the time.

import { describe, expect, it } from "vitest";
import { failure } from "../../src/engine/decision.js";
import type { PodInfo } from "../../src/engine/model.js";
import { RetryTracker, selectRetries } from "../../src/pipeline/retries.js";
import { Harness, IG_LABEL, driverPod, executorPod, node } from "../engine/harness.js";

const refuse = (t: RetryTracker, pod: PodInfo) => t.record(pod, failure("failure-fit", "no room"));
const names = (h: Harness, t: RetryTracker, nowMs = h.now) => selectRetries(h.engine.ctx, t, nowMs, 100).targets.map((x) => x.name);

function groups(): Harness {
  return new Harness([
    node("a-1", { labels: { [IG_LABEL]: "a" } }),
    node("a-2", { labels: { [IG_LABEL]: "a" } }),
    node("b-1", { labels: { [IG_LABEL]: "b" } }),
    node("b-2", { labels: { [IG_LABEL]: "b" } }),
  ]);
}

describe("selectRetries", () => {
  it("takes the head of every instance group's queue first, then the next ones", () => {
    const h = groups();
    const t = new RetryTracker();
    const pods = [
      driverPod("a1", { instanceGroup: "a", createdAtMs: 1000 }),
      driverPod("a2", { instanceGroup: "a", createdAtMs: 2000 }),
      driverPod("b1", { instanceGroup: "b", createdAtMs: 3000 }),
      driverPod("b2", { instanceGroup: "b", createdAtMs: 4000 }),
    ];
    for (const p of pods) {
      h.state.upsertPod(p);
      refuse(t, p);
    }
    expect(names(h, t)).toEqual(["a1-spark-driver", "b1-spark-driver", "a2-spark-driver", "b2-spark-driver"]);
    expect(selectRetries(h.engine.ctx, t, h.now, 3).targets).toHaveLength(3);
  });

  it("skips drivers behind a blocking one (FIFO) and drivers that do not fit", () => {
    const h = groups();
    const t = new RetryTracker();
    const big = driverPod("big", { instanceGroup: "a", createdAtMs: 500, count: 100 });
    const small = driverPod("small", { instanceGroup: "a", createdAtMs: 1000 });
    const b = driverPod("b", { instanceGroup: "b", createdAtMs: 1000, count: 100 });
    for (const p of [big, small, b]) {
      h.state.upsertPod(p);
      refuse(t, p);
    }
    expect(names(h, t)).toEqual([]);
    h.state.removePod(big.namespace, big.name);
    expect(names(h, t)).toEqual(["small-spark-driver"]);
    expect(t.size).toBe(2); // the deleted one is forgotten
  });

  it("nudges a pod once per refusal, and again only after a backoff", () => {
    const h = groups();
    const t = new RetryTracker();
    const d = driverPod("a1", { instanceGroup: "a" });
    h.state.upsertPod(d);
    refuse(t, d);
    const [target] = selectRetries(h.engine.ctx, t, h.now, 10).targets;
    t.nudged(target, h.now);
    expect(names(h, t)).toEqual([]); // not refused again yet
    refuse(t, d);
    const held = selectRetries(h.engine.ctx, t, h.now, 10);
    expect(held.targets).toEqual([]);
    expect(held.nextAtMs).toBeGreaterThanOrEqual(h.now + 500);
    expect(held.nextAtMs).toBeLessThanOrEqual(h.now + 1000);
    expect(names(h, t, held.nextAtMs)).toEqual(["a1-spark-driver"]);
    // A success forgets it.
    t.record(d, { outcome: "success", node: "a-1", writes: [] });
    expect(t.size).toBe(0);
  });

  it("nudges an admitted application's refused executors, at most one per free slot", () => {
    const h = groups();
    const t = new RetryTracker();
    const d = driverPod("app", { instanceGroup: "a", count: 2 });
    h.state.upsertPod(d);
    expect(h.schedule(d, ["a-1", "a-2"]).outcome).toBe("success");
    const execs = [1, 2, 3].map((i) => executorPod("app", i));
    for (const e of execs) {
      h.state.upsertPod(e);
      refuse(t, e);
    }
    expect(names(h, t)).toEqual(["app-spark-exec-1", "app-spark-exec-2"]);
    // No reservation: nothing to nudge for executors.
    const orphan = executorPod("nobody", 1);
    h.state.upsertPod(orphan);
    refuse(t, orphan);
    expect(names(h, t)).not.toContain("nobody-spark-exec-1");
  });

  it("after a takeover presumes every pending pod refused, unless it knows better", () => {
    const h = groups();
    const t = new RetryTracker();
    const d = driverPod("a1", { instanceGroup: "a" });
    h.state.upsertPod(d);
    t.presume([d]);
    const [target] = selectRetries(h.engine.ctx, t, h.now, 10).targets;
    t.nudged(target, h.now);
    t.presume([d]);
    expect(names(h, t)).toEqual([]);
  });
});
