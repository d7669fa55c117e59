// DemandWriter against the fake API server with the real client-node (reference §6, §13.9 demand_test,
// §13.12 item 7).

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { pino } from "pino";
import { getBinpacker } from "../../src/engine/binpack/index.js";
import type { DemandIntent } from "../../src/engine/decision.js";
import { Engine } from "../../src/engine/engine.js";
import { type NodeInfo, podFromObject } from "../../src/engine/model.js";
import { res } from "../../src/engine/resources.js";
import { DEMAND_CRD_NAME, DemandWriter } from "../../src/kube/demands.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";

const DEMANDS = "demands.scaler.palantir.com";
const CRDS = "customresourcedefinitions.apiextensions.k8s.io";
const GiB = 2 ** 30;

let server: FakeApiServer;
const writers: DemandWriter[] = [];

beforeEach(async () => {
  server = await FakeApiServer.start();
});

afterEach(async () => {
  for (const w of writers.splice(0)) w.stop();
  await server.stop();
});

function captureLog() {
  const lines: { msg: string; [k: string]: unknown }[] = [];
  const log = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

async function startWriter(opts: { crdPollMs?: number } = {}) {
  const { log, lines } = captureLog();
  const writer = new DemandWriter({ kc: makeKubeConfig(server.url), log, crdPollMs: opts.crdPollMs ?? 60_000 });
  writers.push(writer);
  await writer.start();
  return { writer, lines };
}

function installCrd(established = true) {
  server.put(CRDS, {
    metadata: { name: DEMAND_CRD_NAME },
    spec: {
      group: "scaler.palantir.com",
      names: { plural: "demands", kind: "Demand" },
      scope: "Namespaced",
      versions: [{ name: "v1alpha2", served: true, storage: true }],
    },
    status: { conditions: [{ type: "Established", status: established ? "True" : "False" }] },
  });
}

const eventually = <T>(check: () => T) => vi.waitFor(check, { timeout: 3000, interval: 10 });

const demandRequests = (method: string) =>
  server.requests.filter((r) => r.method === method && r.path.includes("/scaler.palantir.com/"));

function createIntent(over: Partial<Extract<DemandIntent, { op: "create" }>> = {}): DemandIntent {
  return {
    op: "create",
    namespace: "test-namespace",
    podName: "test-name",
    podUid: "uid-1",
    appId: "app-1",
    instanceGroup: "batch",
    units: [{ resources: res(1000, 2432 * 2 ** 20, 1), count: 1, podNamesByNamespace: { "test-namespace": ["test-name"] } }],
    enforceSingleZone: false,
    ...over,
  };
}

const deleteIntent: DemandIntent = { op: "delete", namespace: "test-namespace", podName: "test-name" };

// ---- an engine whose decisions carry the intents, as in production --------------------------

function node(name: string, gpu: number): NodeInfo {
  return {
    name,
    labels: { resource_channel: "batch" },
    allocatable: res(8000, 8 * GiB, gpu),
    unschedulable: false,
    ready: true,
    taints: [],
    createdAtMs: 0,
  };
}

function engineWithDriver() {
  const engine = new Engine({
    schedulerName: "spark-scheduler",
    binpack: getBinpacker("single-az-tightly-pack"),
    fifo: false,
    fifoDefaultEnforceAfterMs: 0,
    fifoEnforceAfterByInstanceGroup: {},
    instanceGroupLabel: "resource_channel",
    dynamicAllocationSameAz: false,
  });
  engine.state.upsertNode(node("cpu-only", 0));
  const driver = podFromObject(
    server.put("pods", {
      metadata: {
        name: "test-name",
        namespace: "test-namespace",
        labels: { "spark-role": "driver", "spark-app-id": "app-1" },
        annotations: {
          "spark-driver-cpu": "1",
          "spark-driver-mem": "2432Mi",
          "spark-driver-nvidia.com/gpu": "1",
          "spark-executor-cpu": "2",
          "spark-executor-mem": "6758Mi",
          "spark-executor-count": "0",
        },
      },
      spec: { schedulerName: "spark-scheduler", nodeSelector: { resource_channel: "batch" }, containers: [{ name: "driver" }] },
    }),
  );
  return { engine, driver };
}

describe("DemandWriter", () => {
  it("writes nothing while the CRD is absent, and starts once it is Established", async () => {
    const { writer, lines } = await startWriter({ crdPollMs: 20 });
    expect(writer.available).toBe(false);
    await writer.apply(createIntent());
    expect(demandRequests("POST")).toHaveLength(0);
    expect(server.list(DEMANDS)).toHaveLength(0);
    expect(lines.some((l) => l.msg === "demand CRD not available; demands skipped")).toBe(true);

    installCrd(false);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(writer.available).toBe(false);

    installCrd(true);
    await eventually(() => expect(writer.available).toBe(true));
    await writer.apply(createIntent());
    expect(server.get(DEMANDS, "demand-test-name", "test-namespace")).toBeDefined();
  });

  it("writes the application demand of a driver that does not fit (demand_test), and deletes it once scheduled", async () => {
    installCrd();
    const { writer } = await startWriter();
    expect(writer.available).toBe(true);
    const { engine, driver } = engineWithDriver();

    const waiting = engine.filter(driver, ["cpu-only"], Date.now());
    expect(waiting.outcome).toBe("failure-fit");
    await writer.apply(waiting.demand!);

    const demand = server.get(DEMANDS, "demand-test-name", "test-namespace")!;
    expect(demand.metadata.labels).toEqual({ "spark-app-id": "app-1" });
    expect(demand.metadata.ownerReferences).toEqual([
      { apiVersion: "v1", kind: "Pod", name: "test-name", uid: driver.uid, controller: true },
    ]);
    expect(demand.spec).toEqual({
      units: [
        {
          resources: { cpu: "1", memory: "2432Mi", "nvidia.com/gpu": "1" },
          count: 1,
          "pod-names-by-namespace": { "test-namespace": ["test-name"] },
        },
      ],
      "instance-group": "batch",
      "is-long-lived": false,
      "enforce-single-zone-scheduling": true,
    });

    engine.state.upsertNode(node("gpu", 1));
    const admitted = engine.filter(driver, ["cpu-only", "gpu"], Date.now());
    expect(admitted.outcome).toBe("success");
    await writer.apply(admitted.demand!);
    expect(server.get(DEMANDS, "demand-test-name", "test-namespace")).toBeUndefined();
  });

  it("writes executor units, counts and the zone when set", async () => {
    installCrd();
    const { writer } = await startWriter();
    await writer.apply(
      createIntent({
        units: [
          { resources: res(1500, 512 * 2 ** 20, 0), count: 1 },
          { resources: res(2000, 6758 * 2 ** 20, 0), count: 3 },
        ],
        enforceSingleZone: true,
        zone: "zone-a",
      }),
    );
    const spec = server.get(DEMANDS, "demand-test-name", "test-namespace")!.spec as Record<string, unknown>;
    expect(spec.units).toEqual([
      { resources: { cpu: "1500m", memory: "512Mi", "nvidia.com/gpu": "0" }, count: 1 },
      { resources: { cpu: "2", memory: "6758Mi", "nvidia.com/gpu": "0" }, count: 3 },
    ]);
    expect(spec.zone).toBe("zone-a");
  });

  it("creates no demand for a pod without an instance group, and logs it", async () => {
    installCrd();
    const { writer, lines } = await startWriter();
    await writer.apply(createIntent({ instanceGroup: "" }));
    expect(demandRequests("POST")).toHaveLength(0);
    expect(lines.find((l) => l.msg === "pod has no instance group; no demand created")).toMatchObject({
      demand: "test-namespace/demand-test-name",
    });
  });

  it("treats AlreadyExists on create and NotFound on delete as success", async () => {
    installCrd();
    const { writer } = await startWriter();
    await writer.apply(createIntent());
    await writer.apply(createIntent());
    expect(demandRequests("POST")).toHaveLength(2);
    expect(server.list(DEMANDS)).toHaveLength(1);

    server.remove(DEMANDS, "demand-test-name", "test-namespace");
    await expect(writer.apply(deleteIntent)).resolves.toBeUndefined();
    expect(demandRequests("DELETE")).toHaveLength(1);
  });

  it("makes no API call to delete a demand it never created", async () => {
    installCrd();
    const { writer } = await startWriter();
    server.requests.length = 0;
    await writer.apply(deleteIntent);
    expect(server.requests).toHaveLength(0);
  });

  it("deletes a demand created before a restart (the known set is seeded by a list)", async () => {
    installCrd();
    const first = await startWriter();
    await first.writer.apply(createIntent());
    first.writer.stop();

    const second = await startWriter();
    await second.writer.apply(deleteIntent);
    expect(server.get(DEMANDS, "demand-test-name", "test-namespace")).toBeUndefined();
  });

  it("calls the API for every delete when the seed list failed", async () => {
    installCrd();
    server.injectFault({ method: "GET", pathIncludes: "/scaler.palantir.com/v1alpha2/demands", status: 403 });
    const { writer } = await startWriter();
    expect(writer.available).toBe(true);
    server.put(DEMANDS, { metadata: { name: "demand-test-name", namespace: "test-namespace", labels: { "spark-app-id": "a" } } });
    await writer.apply(deleteIntent);
    expect(server.get(DEMANDS, "demand-test-name", "test-namespace")).toBeUndefined();
  });

  it("retries 5xx with backoff and gives up with context on other errors", async () => {
    installCrd();
    const { writer } = await startWriter();
    server.injectFault({ method: "POST", pathIncludes: "/demands", status: 503, times: 2 });
    await writer.apply(createIntent());
    expect(demandRequests("POST")).toHaveLength(3);
    expect(server.list(DEMANDS)).toHaveLength(1);

    server.injectFault({ method: "POST", pathIncludes: "/demands", status: 403 });
    await expect(writer.apply(createIntent({ podName: "other" }))).rejects.toThrow(
      /^create demand test-namespace\/demand-other: /,
    );
    expect(demandRequests("POST")).toHaveLength(4);
  });

  it("applies a create and a delete of the same demand in call order", async () => {
    installCrd();
    const { writer } = await startWriter();
    server.setLatency(20);
    await Promise.all([writer.apply(createIntent()), writer.apply(deleteIntent)]);
    expect(server.list(DEMANDS)).toHaveLength(0);
    expect(demandRequests("DELETE")).toHaveLength(1);
  });
});

describe("DemandWriter.resync", () => {
  it("learns demands another replica created, so their delete is not skipped", async () => {
    installCrd();
    const { writer } = await startWriter();
    // another replica creates a demand after this one seeded its known set
    server.put(DEMANDS, { metadata: { name: "demand-late-driver", namespace: "ns", labels: { "spark-app-id": "late" } }, spec: {} });
    await writer.apply({ op: "delete", namespace: "ns", podName: "late-driver" });
    expect(server.get(DEMANDS, "demand-late-driver", "ns")).toBeDefined(); // skipped: not known
    await writer.resync();
    await writer.apply({ op: "delete", namespace: "ns", podName: "late-driver" });
    expect(server.get(DEMANDS, "demand-late-driver", "ns")).toBeUndefined();
  });
});
