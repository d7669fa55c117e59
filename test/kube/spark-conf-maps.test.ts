// Spark conf ConfigMaps are fetched one by one for the drivers that name them (never listed or watched), kept
// as their spark.properties value only, retried while missing, and dropped with their driver.

import { afterEach, describe, expect, it } from "vitest";
import { ClusterState } from "../../src/engine/state.js";
import { type ClusterInformers, clusterInformers } from "../../src/kube/informers.js";
import { SparkConfMaps } from "../../src/kube/spark-conf-maps.js";
import { Mutex } from "../../src/pipeline/mutex.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";
import { CONFIGMAPS, NS, PODS, driverObject, eventually, silentLog } from "./fixtures.js";

let server: FakeApiServer | undefined;
let informers: ClusterInformers | undefined;
let confMaps: SparkConfMaps | undefined;

afterEach(async () => {
  confMaps?.stop();
  if (informers) await Promise.all(Object.values(informers).map((i) => i.stop()));
  await server?.stop();
  server = informers = confMaps = undefined;
});

async function setUp(): Promise<{ fake: FakeApiServer; state: ClusterState; maps: SparkConfMaps }> {
  const fake = (server = await FakeApiServer.start());
  const state = new ClusterState();
  const mutex = new Mutex();
  const serialize = <T>(fn: () => Promise<T>) => mutex.run(fn);
  const kc = makeKubeConfig(fake.url);
  const maps = (confMaps = new SparkConfMaps({ kc, state, serialize, log: silentLog, schedulerName: "spark-scheduler" }));
  informers = clusterInformers({
    kc,
    state,
    serialize,
    log: silentLog,
    schedulerName: "spark-scheduler",
    hooks: { podSeen: (p) => maps.podSeen(p), driverEnded: (p) => maps.driverGone(p) },
  });
  await Promise.all(Object.values(informers).map((i) => i.start()));
  return { fake, state, maps };
}

function zeroConfDriver(name: string, confMap: string, schedulerName = "spark-scheduler"): object {
  return {
    metadata: { name, namespace: NS, labels: { "spark-role": "driver", "spark-app-selector": `spark-${name}` } },
    spec: {
      schedulerName,
      containers: [{ name: "spark", resources: { requests: { cpu: "1", memory: "1Gi" } } }],
      volumes: [{ name: "spark-conf-volume-driver", configMap: { name: confMap } }],
    },
    status: { phase: "Pending" },
  };
}

const confGets = (fake: FakeApiServer) => fake.requests.filter((r) => r.path.includes("/configmaps"));

describe("Spark conf ConfigMaps", () => {
  it("are fetched for a zero-configuration driver, retried until Spark creates them, and keep only spark.properties", async () => {
    const { fake, state } = await setUp();
    fake.put(PODS, zeroConfDriver("etl", "etl-conf-map"));
    await eventually(() => expect(confGets(fake).length).toBeGreaterThanOrEqual(2)); // 404s while missing
    expect(state.configMaps.size).toBe(0);
    const versionBefore = state.version;
    fake.put(CONFIGMAPS, {
      metadata: { name: "etl-conf-map", namespace: NS },
      immutable: true,
      data: { "spark.properties": "spark.executor.instances=2", "log4j2.properties": "x".repeat(50_000) },
    });
    await eventually(() => expect(state.configMaps.get(`${NS}/etl-conf-map`)).toEqual({ "spark.properties": "spark.executor.instances=2" }), 3000);
    expect(state.version).toBeGreaterThan(versionBefore);
    expect(confGets(fake).every((r) => r.method === "GET" && !r.watch && r.path === `/api/v1/namespaces/${NS}/configmaps/etl-conf-map`)).toBe(true);
    const gets = confGets(fake).length;
    // Fetched once: later pod updates do not fetch again.
    fake.put(PODS, { ...zeroConfDriver("etl", "etl-conf-map"), metadata: { name: "etl", namespace: NS, labels: { "spark-role": "driver", x: "y" } } });
    await new Promise((r) => setTimeout(r, 200));
    expect(confGets(fake)).toHaveLength(gets);
  });

  it("are dropped when their driver is deleted", async () => {
    const { fake, state } = await setUp();
    fake.put(CONFIGMAPS, { metadata: { name: "c1", namespace: NS }, data: { "spark.properties": "a=b" } });
    fake.put(PODS, zeroConfDriver("d1", "c1"));
    await eventually(() => expect(state.configMaps.size).toBe(1));
    fake.remove(PODS, "d1", NS);
    await eventually(() => expect(state.configMaps.size).toBe(0));
  });

  it("are not fetched for drivers sized by annotations, nor for other schedulers' pods", async () => {
    const { fake, state } = await setUp();
    const annotated = driverObject("sized", "app") as { spec: Record<string, unknown> };
    annotated.spec.volumes = [{ name: "spark-conf-volume-driver", configMap: { name: "sized-conf" } }];
    fake.put(PODS, annotated);
    fake.put(PODS, zeroConfDriver("other", "other-conf", "default-scheduler"));
    await eventually(() => expect(state.pods.size).toBe(2));
    await new Promise((r) => setTimeout(r, 200));
    expect(confGets(fake)).toEqual([]);
  });
});
