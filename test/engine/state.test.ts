// ClusterState keeps reserved usage and overhead incrementally; these must always equal a from-scratch
// computation, whatever the order of pod, reservation and soft-reservation changes.

import { describe, expect, it } from "vitest";
import { type PodInfo, podKey } from "../../src/engine/model.js";
import type { Reservation } from "../../src/engine/reservation.js";
import { type Resources, addInto, zero } from "../../src/engine/resources.js";
import { ClusterState } from "../../src/engine/state.js";
import { node, otherPod } from "./harness.js";

/** Overhead computed the slow way: every bound, live pod named by no reservation or soft reservation. */
function bruteOverhead(state: ClusterState): Map<string, Resources> {
  const reserved = new Set<string>();
  for (const r of state.reservations.values()) for (const p of r.pods.values()) reserved.add(podKey(r.namespace, p));
  for (const s of state.soft.values()) for (const p of s.executors.keys()) reserved.add(podKey(s.namespace, p));
  const out = new Map<string, Resources>();
  for (const [key, p] of state.pods) {
    if (!p.nodeName || p.terminated || reserved.has(key)) continue;
    if (!out.has(p.nodeName)) out.set(p.nodeName, zero());
    addInto(out.get(p.nodeName)!, p.requests);
  }
  return out;
}

function nonZero(m: ReadonlyMap<string, Resources>): Record<string, Resources> {
  const out: Record<string, Resources> = {};
  for (const [k, v] of m) if (v.cpu || v.memory || v.gpu) out[k] = { ...v };
  return out;
}

/** Deterministic PRNG (mulberry32). */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("ClusterState incremental overhead", () => {
  it("matches a from-scratch computation over 5,000 random changes", () => {
    const rand = rng(42);
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
    const state = new ClusterState();
    const nodes = ["n1", "n2", "n3"];
    const podNames = Array.from({ length: 12 }, (_, i) => `p${i}`);
    const apps = ["a", "b"];
    state.ensureSoft("other", "a", 3);
    for (let step = 0; step < 5000; step++) {
      const op = rand();
      const name = pick(podNames);
      if (op < 0.35) {
        const base = otherPod(name, rand() < 0.2 ? "" : pick(nodes), String(1 + Math.floor(rand() * 4)));
        const pod: PodInfo = { ...base, terminated: rand() < 0.15 };
        state.upsertPod(pod);
      } else if (op < 0.5) {
        state.removePod("other", name);
      } else if (op < 0.75) {
        const app = pick(apps);
        const pods = new Map<string, string>();
        for (let i = 1; i <= 3; i++) if (rand() < 0.6) pods.set(`executor-${i}`, pick(podNames));
        const r: Reservation = {
          namespace: "other",
          appId: app,
          driverPod: "d",
          driverUid: "u",
          slots: new Map([1, 2, 3].map((i) => [`executor-${i}`, { node: pick(nodes), resources: { cpu: 1000, memory: 1, gpu: 0 } }])),
          pods,
          createdAtMs: 0,
        };
        state.putReservation(r);
      } else if (op < 0.82) {
        state.removeReservation("other", pick(apps));
      } else if (op < 0.92) {
        state.addSoft("other", "a", name, { node: pick(nodes), resources: { cpu: 500, memory: 1, gpu: 0 } });
      } else if (op < 0.98) {
        state.removeSoft("other", "a", name, false);
      } else {
        state.dropSoftApp("other", "a");
        state.ensureSoft("other", "a", 3);
      }
      expect(nonZero(state.overhead()), `step ${step}`).toEqual(nonZero(bruteOverhead(state)));
    }
  });

  it("marks an application for compaction when a pod holding its slot is deleted", () => {
    const state = new ClusterState();
    const exec: PodInfo = { ...otherPod("exec-1", "n1", "1"), namespace: "ns", labels: { "spark-role": "executor", "spark-app-id": "app" } };
    state.upsertPod(exec);
    state.putReservation({
      namespace: "ns",
      appId: "app",
      driverPod: "d",
      driverUid: "u",
      slots: new Map([["executor-1", { node: "n1", resources: { cpu: 1000, memory: 1, gpu: 0 } }]]),
      pods: new Map([["executor-1", "exec-1"]]),
      createdAtMs: 0,
    });
    state.compactionCandidates.clear();
    state.removePod("other", "unrelated");
    expect(state.compactionCandidates.size).toBe(0);
    state.removePod("ns", "exec-1");
    expect([...state.compactionCandidates]).toEqual(["ns/app"]);
  });
});

describe("state version", () => {
  // Views cached per version (queue snapshots of WatchQueue / ListQueues, capacity) must not outlive a change of
  // what sizes an application: its Spark conf ConfigMap or its SparkApplication.
  it("moves when a Spark conf ConfigMap or a SparkApplication changes, and only then", () => {
    const state = new ClusterState();
    let v = state.version;
    const moved = () => {
      const m = state.version !== v;
      v = state.version;
      return m;
    };
    state.putConfigMap("spark", "conf", { "spark.properties": "spark.executor.instances=2" });
    expect(moved()).toBe(true);
    expect(state.configMaps.get("spark/conf")).toEqual({ "spark.properties": "spark.executor.instances=2" });
    state.putConfigMap("spark", "conf", { "spark.properties": "spark.executor.instances=2" }); // a resync
    expect(moved()).toBe(false);
    state.putConfigMap("spark", "conf", { "spark.properties": "spark.executor.instances=3" });
    expect(moved()).toBe(true);
    state.putConfigMap("spark", "conf", { "spark.properties": "spark.executor.instances=3", other: "x" });
    expect(moved()).toBe(true);
    state.removeConfigMap("spark", "conf");
    expect(moved()).toBe(true);
    expect(state.configMaps.size).toBe(0);
    state.removeConfigMap("spark", "conf"); // not there: nothing changes
    expect(moved()).toBe(false);

    state.putSparkApplication("spark", "pi", { spec: {} });
    expect(moved()).toBe(true);
    expect(state.sparkApplications.has("spark/pi")).toBe(true);
    state.removeSparkApplication("spark", "pi");
    expect(moved()).toBe(true);
    state.removeSparkApplication("spark", "pi");
    expect(moved()).toBe(false);
  });
});

describe("held reservations with opaque resourceVersions", () => {
  const copy = (rv: string, node: string): Reservation => ({
    namespace: "ns",
    appId: "app",
    driverPod: "d",
    driverUid: "u",
    slots: new Map([["driver", { node, resources: { cpu: 1000, memory: 1, gpu: 0 } }]]),
    pods: new Map([["driver", "d"]]),
    createdAtMs: 0,
    resourceVersion: rv,
  });

  it("takes our stored write as the base unless the feed already delivered it (order by delivery, not by reading versions)", () => {
    const state = new ClusterState();
    // A copy committed before our write (say another writer's, which made ours conflict and re-apply) arrives
    // while the write is in flight; the write then stores "qzk" (opaque: nothing to compare numerically).
    state.putReservation(copy("mfa", "n1"));
    state.hold("ns", "app", copy("mfa", "n1"));
    state.assumeReservation(copy("mfa", "n2"));
    state.putReservation(copy("bxw", "n3"));
    state.confirmReservation(copy("qzk", "n2"));
    state.release("ns", "app");
    expect(state.getReservation("ns", "app")).toMatchObject({ resourceVersion: "qzk", slots: new Map([["driver", expect.objectContaining({ node: "n2" })]]) });

    // The feed delivers our write's echo and then a later copy before the write's answer: the later copy stays.
    state.hold("ns", "app", state.getReservation("ns", "app"));
    state.assumeReservation(copy("qzk", "n4"));
    state.putReservation(copy("ttt", "n4"));
    state.putReservation(copy("aaa", "n5"));
    state.confirmReservation(copy("ttt", "n4"));
    state.release("ns", "app");
    expect(state.getReservation("ns", "app")?.resourceVersion).toBe("aaa");
  });
});

describe("node heartbeats", () => {
  it("an update that changes nothing the engine reads moves no version; a real change does", () => {
    const s = new ClusterState();
    s.upsertNode(node("n1"));
    const v = s.version;
    s.upsertNode(node("n1"));
    expect(s.version).toBe(v);
    expect(s.nodesVersion).toBe(1);
    s.upsertNode(node("n1", { cpu: "7" }));
    expect(s.version).toBeGreaterThan(v);
    expect(s.touchedSince(0)).toEqual(["n1", "n1"]);
  });
});
