// UnschedulableMarker against the fake API server (reference §9, §13.12 item 9, §14.2 item 10).

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { pino } from "pino";
import { getBinpacker } from "../../src/engine/binpack/index.js";
import { Engine } from "../../src/engine/engine.js";
import { type NodeInfo, podFromObject } from "../../src/engine/model.js";
import { res } from "../../src/engine/resources.js";
import { EXCEEDS_CAPACITY_CONDITION, UnschedulableMarker } from "../../src/kube/unschedulable-marker.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";

const GiB = 2 ** 30;
const MINUTE = 60_000;
const TIMEOUT = 10 * MINUTE;

let server: FakeApiServer;
let engine: Engine;
let now: number;
let lines: { msg: string; [k: string]: unknown }[];
const markers: UnschedulableMarker[] = [];

beforeEach(async () => {
  server = await FakeApiServer.start();
  engine = new Engine({
    schedulerName: "spark-scheduler",
    binpack: getBinpacker("single-az-tightly-pack"),
    fifo: true,
    fifoDefaultEnforceAfterMs: 0,
    fifoEnforceAfterByInstanceGroup: {},
    instanceGroupLabel: "resource_channel",
    dynamicAllocationSameAz: true,
  });
  engine.state.upsertNode(node("node1"));
  engine.state.upsertNode(node("node2"));
  now = Date.parse("2030-01-01T12:00:00Z");
  lines = [];
});

afterEach(async () => {
  for (const m of markers.splice(0)) m.stop();
  await server.stop();
});

function node(name: string): NodeInfo {
  return {
    name,
    labels: { resource_channel: "batch" },
    allocatable: res(8000, 8 * GiB, 1),
    unschedulable: false,
    ready: true,
    taints: [],
    createdAtMs: 0,
  };
}

function marker(over: Partial<ConstructorParameters<typeof UnschedulableMarker>[0]> = {}): UnschedulableMarker {
  const log = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const m = new UnschedulableMarker({
    kc: makeKubeConfig(server.url),
    engine,
    log,
    timeoutMs: TIMEOUT,
    clock: () => now,
    ...over,
  });
  markers.push(m);
  return m;
}

interface DriverSpec {
  executors?: number | string;
  ageMs?: number;
  schedulerName?: string;
  nodeName?: string;
  conditions?: object[];
}

/** A driver in the API server and in the engine state, as the pod informer would feed it. */
function driver(name: string, spec: DriverSpec = {}) {
  const stored = server.put("pods", {
    metadata: {
      name,
      namespace: "spark",
      labels: { "spark-role": "driver", "spark-app-id": name },
      annotations: {
        "spark-driver-cpu": "1",
        "spark-driver-mem": "1Gi",
        "spark-executor-cpu": "1",
        "spark-executor-mem": "1Gi",
        "spark-executor-count": String(spec.executors ?? 2),
      },
    },
    spec: {
      schedulerName: spec.schedulerName ?? "spark-scheduler",
      nodeSelector: { resource_channel: "batch" },
      containers: [{ name: "driver" }],
      ...(spec.nodeName ? { nodeName: spec.nodeName } : {}),
    },
    status: { phase: "Pending", conditions: spec.conditions ?? [] },
  });
  engine.state.upsertPod({ ...podFromObject(stored), createdAtMs: now - (spec.ageMs ?? 2 * TIMEOUT) });
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

function conditions(name: string): Condition[] {
  const pod = server.get("pods", name, "spark")!;
  return ((pod.status as { conditions?: Condition[] }).conditions ?? []);
}

const capacityCondition = (name: string) => conditions(name).find((c) => c.type === EXCEEDS_CAPACITY_CONDITION);
const statusWrites = () => server.requests.filter((r) => r.method === "PUT" && r.path.endsWith("/status"));

describe("UnschedulableMarker", () => {
  it("marks an oversize driver older than the timeout, and flips it to False when a node is added", async () => {
    driver("huge", { executors: 20 });
    const m = marker();
    await m.runOnce();
    const marked = capacityCondition("huge")!;
    expect(marked).toMatchObject({ status: "True", reason: "ExceedsClusterCapacity" });
    expect(marked.message).toContain("20 executor(s)");
    expect(Date.parse(marked.lastTransitionTime!)).toBe(Date.parse("2030-01-01T12:00:00Z"));

    // Unchanged: no write, the transition time stays.
    now += MINUTE;
    await m.runOnce();
    expect(statusWrites()).toHaveLength(1);

    engine.state.upsertNode(node("node3"));
    now += MINUTE;
    await m.runOnce();
    const flipped = capacityCondition("huge")!;
    expect(flipped).toMatchObject({ status: "False", reason: "FitsClusterCapacity" });
    expect(Date.parse(flipped.lastTransitionTime!)).toBe(Date.parse("2030-01-01T12:02:00Z"));
    expect(statusWrites()).toHaveLength(2);
  });

  it("marks a fitting old driver False and keeps the pod's other conditions", async () => {
    const scheduled = { type: "PodScheduled", status: "False", reason: "Unschedulable" };
    driver("small", { conditions: [scheduled] });
    await marker().runOnce();
    expect(conditions("small")).toMatchObject([scheduled, { type: EXCEEDS_CAPACITY_CONDITION, status: "False" }]);
  });

  it("leaves young, bound and other schedulers' drivers alone", async () => {
    driver("young", { executors: 100, ageMs: TIMEOUT - 1 });
    driver("other-scheduler", { executors: 100, schedulerName: "default-scheduler" });
    driver("bound", { executors: 100, nodeName: "node1" });
    await marker().runOnce();
    expect(statusWrites()).toHaveLength(0);
    for (const name of ["young", "other-scheduler", "bound"]) expect(capacityCondition(name)).toBeUndefined();
  });

  it("continues past a driver with bad annotations", async () => {
    driver("a-bad", { executors: "lots", ageMs: 3 * TIMEOUT });
    driver("b-huge", { executors: 100 });
    await marker().runOnce();
    expect(capacityCondition("a-bad")).toBeUndefined();
    expect(capacityCondition("b-huge")?.status).toBe("True");
    expect(lines.find((l) => l.msg === "cannot size pending driver; continuing with the next pod")).toMatchObject({
      podName: "a-bad",
      reason: expect.stringContaining("spark-executor-count"),
    });
  });

  it("continues past a pod whose API call fails", async () => {
    driver("a-first", { executors: 100, ageMs: 3 * TIMEOUT });
    driver("b-second", { executors: 100 });
    server.injectFault({ method: "GET", pathIncludes: "/pods/a-first", status: 500 });
    await marker().runOnce();
    expect(capacityCondition("a-first")).toBeUndefined();
    expect(capacityCondition("b-second")?.status).toBe("True");
    expect(lines.find((l) => l.msg === "cannot set pod condition; continuing with the next pod")).toMatchObject({
      podName: "a-first",
    });
  });

  it("re-reads the pod once on a write conflict", async () => {
    driver("huge", { executors: 100 });
    server.injectFault({ method: "PUT", pathIncludes: "/pods/huge/status", status: 409 });
    await marker().runOnce();
    expect(capacityCondition("huge")?.status).toBe("True");
    expect(statusWrites()).toHaveLength(2);
  });

  it("does nothing when not the leader, and reads the engine under runExclusive", async () => {
    driver("huge", { executors: 100 });
    let leader = false;
    let exclusiveReads = 0;
    const runExclusive = async <T>(fn: () => T): Promise<T> => {
      exclusiveReads++;
      return fn();
    };
    const m = marker({ isLeader: () => leader, runExclusive });
    await m.runOnce();
    expect(server.requests).toHaveLength(0);
    expect(exclusiveReads).toBe(0);

    leader = true;
    await m.runOnce();
    expect(exclusiveReads).toBe(1);
    expect(capacityCondition("huge")?.status).toBe("True");
  });

  it("scans every interval once started, until stopped", async () => {
    driver("huge", { executors: 100 });
    const m = marker({ intervalMs: 10 });
    m.start();
    await vi.waitFor(() => expect(capacityCondition("huge")?.status).toBe("True"), { timeout: 3000, interval: 10 });
    m.stop();
  });

  it("says what a driver that fits an empty cluster waits for, and keeps the message current", async () => {
    driver("small");
    const m = marker();
    await m.runOnce();
    const first = capacityCondition("small")!;
    expect(first).toMatchObject({ status: "False", reason: "FitsClusterCapacity" });
    expect(first.message).toMatch(/it fits the free capacity now and waits for kube-scheduler to retry the driver$/);
    expect(first.message).not.toContain("held by other work");

    // Spark pods outside any reservation fill both nodes: free capacity is gone, an empty cluster still fits it.
    for (const n of ["node1", "node2"]) {
      engine.state.upsertPod(
        podFromObject({
          metadata: { name: `hog-${n}`, namespace: "other", uid: `hog-${n}` },
          spec: { schedulerName: "spark-scheduler", nodeName: n, containers: [{ name: "c", resources: { requests: { cpu: "8", memory: "8Gi" } } }] },
          status: { phase: "Running" },
        }),
      );
    }
    now += MINUTE;
    await m.runOnce();
    const second = capacityCondition("small")!;
    expect(second).toMatchObject({ status: "False", reason: "FitsClusterCapacity" });
    expect(second.message).toMatch(/it is waiting for capacity held by other work$/);
    expect(second.lastTransitionTime).toBe(first.lastTransitionTime); // the status did not change
    expect(statusWrites()).toHaveLength(2);
  });

  it("names the earlier driver that blocks a driver that fits", async () => {
    driver("huge", { executors: 20, ageMs: 3 * TIMEOUT });
    driver("small");
    await marker().runOnce();
    expect(capacityCondition("huge")?.status).toBe("True");
    expect(capacityCondition("small")!.message).toMatch(/it waits behind the earlier driver spark\/huge, which does not fit$/);
  });
});
