// EventRecorder against the fake API server: reasons, deduplication, rate limiting and aggregation, errors.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pino } from "pino";
import type { Decision } from "../../src/engine/decision.js";
import type { PodInfo } from "../../src/engine/model.js";
import { DRIVER_SLOT, executorSlotName } from "../../src/engine/reservation.js";
import { res } from "../../src/engine/resources.js";
import { EventRecorder } from "../../src/kube/events.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";

let server: FakeApiServer;
let now: number;
let lines: { msg: string; [k: string]: unknown }[];

beforeEach(async () => {
  server = await FakeApiServer.start();
  now = Date.parse("2030-01-01T12:00:00Z");
  lines = [];
});

afterEach(async () => {
  await server.stop();
});

function recorder(): EventRecorder {
  const log = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return new EventRecorder({ kc: makeKubeConfig(server.url), log, clock: () => now });
}

function pod(name: string, role = "driver"): PodInfo {
  return {
    uid: `uid-${name}`,
    name,
    namespace: "spark",
    labels: { "spark-role": role, "spark-app-id": "app" },
    annotations: {},
    createdAtMs: now,
    deleting: false,
    nodeName: "",
    schedulerName: "spark-scheduler",
    phase: "Pending",
    terminated: false,
    requests: res(1000, 2 ** 30),
    nodeSelector: {},
    requiredNodeTerms: [],
    tolerations: [],
  };
}

function admitted(driver: PodInfo, executors: number): Decision {
  const slots = new Map([[DRIVER_SLOT, { node: "node1", resources: res(1000, 1) }]]);
  for (let i = 1; i <= executors; i++) slots.set(executorSlotName(i), { node: "node2", resources: res(1000, 1) });
  const reservation = {
    namespace: driver.namespace,
    appId: "app",
    driverPod: driver.name,
    driverUid: driver.uid,
    slots,
    pods: new Map([[DRIVER_SLOT, driver.name]]),
    createdAtMs: now,
  };
  return { outcome: "success", node: "node1", role: "driver", appId: "app", writes: [{ op: "create", reservation }] };
}

const waiting = (reason = "application does not fit to the cluster"): Decision => ({
  outcome: "failure-fit",
  reason,
  role: "driver",
  appId: "app",
  writes: [],
});

interface StoredEvent {
  apiVersion: string;
  metadata: { name: string };
  type: string;
  reason: string;
  note: string;
  action: string;
  eventTime: string;
  series?: { count: number; lastObservedTime: string };
  regarding: { kind: string; name: string; uid: string };
  reportingController: string;
  reportingInstance: string;
}

/** events.k8s.io/v1 Events (the fake validates them as the API server does: MicroTime, required fields). */
const events = () => server.list("events.events.k8s.io", "spark") as unknown as StoredEvent[];

describe("EventRecorder", () => {
  it("records ApplicationAdmitted once per driver, naming the node and the executor slots", async () => {
    const r = recorder();
    const driver = pod("driver-1");
    r.record(driver, admitted(driver, 3));
    r.record(driver, admitted(driver, 3));
    await r.flush();
    expect(events()).toHaveLength(1);
    expect(events()[0]).toMatchObject({
      apiVersion: "events.k8s.io/v1",
      type: "Normal",
      reason: "ApplicationAdmitted",
      action: "Scheduling",
      note: "Spark application app admitted: driver reserved on node node1, 3 executor slot(s) reserved",
      eventTime: "2030-01-01T12:00:00.000000Z",
      regarding: { kind: "Pod", name: "driver-1", uid: "uid-driver-1" },
      reportingController: "spark-scheduler",
      reportingInstance: expect.stringMatching(/.+/),
    });
    expect(events()[0].series).toBeUndefined();
    expect(server.list("events", "spark")).toEqual([]); // nothing through the legacy core/v1 API
  });

  it("says the reservation already exists when a retry is the first success it sees", async () => {
    const r = recorder();
    const driver = pod("driver-1");
    r.record(driver, { outcome: "success", node: "node1", role: "driver", appId: "app", writes: [] });
    await r.flush();
    expect(events()[0].note).toBe("Spark application app admitted: driver reserved on node node1");
  });

  it("rate-limits ApplicationWaiting per pod and aggregates repeats into count", async () => {
    const r = recorder();
    const driver = pod("driver-1");
    r.record(driver, waiting());
    r.record(driver, waiting());
    await r.flush();
    expect(events()).toHaveLength(1);
    expect(events()[0]).toMatchObject({ type: "Warning", reason: "ApplicationWaiting" });
    expect(events()[0].series).toBeUndefined();

    now += 61_000;
    r.record(driver, waiting());
    await r.flush();
    expect(events()).toHaveLength(1);
    // The series counts every occurrence; eventTime stays the first.
    expect(events()[0]).toMatchObject({
      eventTime: "2030-01-01T12:00:00.000000Z",
      series: { count: 3, lastObservedTime: "2030-01-01T12:01:01.000000Z" },
    });
    expect(server.requests.filter((q) => q.method === "PATCH").map((q) => q.path)).toEqual([
      `/apis/events.k8s.io/v1/namespaces/spark/events/${events()[0].metadata.name}`,
    ]);

    now += 61_000;
    r.record(driver, { ...waiting("earlier drivers do not fit to the cluster: spark/old"), outcome: "failure-earlier-driver" });
    await r.flush();
    expect(events().map((e) => e.note).sort()).toEqual([
      "application does not fit to the cluster",
      "earlier drivers do not fit to the cluster: spark/old",
    ]);
  });

  it("re-creates an aggregated event that has expired", async () => {
    const r = recorder();
    const driver = pod("driver-1");
    r.record(driver, waiting());
    await r.flush();
    server.remove("events.events.k8s.io", events()[0].metadata.name, "spark");
    now += 61_000;
    r.record(driver, waiting());
    await r.flush();
    expect(events()).toMatchObject([{ reason: "ApplicationWaiting", series: { count: 2 } }]);
  });

  it("records InvalidSparkApplication with the reason", async () => {
    const r = recorder();
    r.record(pod("driver-1"), {
      outcome: "failure-invalid",
      reason: "annotation spark-executor-count is required when dynamic allocation is disabled",
      writes: [],
    });
    await r.flush();
    expect(events()).toMatchObject([
      {
        type: "Warning",
        reason: "InvalidSparkApplication",
        note: "annotation spark-executor-count is required when dynamic allocation is disabled",
      },
    ]);
  });

  it("writes nothing for executors and for other outcomes", async () => {
    const r = recorder();
    r.record(pod("exec-1", "executor"), waiting());
    r.record(pod("driver-1"), { outcome: "failure-not-ready", reason: "starting", writes: [] });
    r.record(pod("driver-2"), { outcome: "failure-internal", reason: "boom", writes: [] });
    await r.flush();
    expect(server.requests).toHaveLength(0);
  });

  it("logs write errors and never throws, even with the API server gone", async () => {
    const r = recorder();
    server.injectFault({ method: "POST", pathIncludes: "/events", status: 500 });
    r.record(pod("driver-1"), waiting());
    await r.flush();
    expect(lines.find((l) => l.msg === "cannot write event")).toMatchObject({
      err: { message: expect.stringMatching(/^create event ApplicationWaiting for pod spark\/driver-1: /) },
    });

    await server.stop();
    expect(() => r.record(pod("driver-2"), waiting())).not.toThrow();
    await r.flush();
    expect(lines.filter((l) => l.msg === "cannot write event")).toHaveLength(2);
  });
});
