// SparkApplications are watched only when the Spark Operator CRD exists, and feed zero-configuration sizing.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ClusterState } from "../../src/engine/state.js";
import { Mutex } from "../../src/pipeline/mutex.js";
import { SPARK_APP_CRD, SparkApplicationWatcher } from "../../src/kube/spark-applications.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";
import { CRDS, eventually, silentLog } from "./fixtures.js";

const SPARK_APPS = "sparkapplications.sparkoperator.k8s.io";

let server: FakeApiServer;
let watcher: SparkApplicationWatcher | undefined;
beforeEach(async () => {
  server = await FakeApiServer.start();
  server.registerResource({ group: "sparkoperator.k8s.io", version: "v1beta2", plural: "sparkapplications", kind: "SparkApplication", namespaced: true });
});
afterEach(async () => {
  await watcher?.stop();
  await server.stop();
});

function crd() {
  return { metadata: { name: SPARK_APP_CRD }, spec: { group: "sparkoperator.k8s.io", versions: [{ name: "v1beta2", served: true, storage: true }] } };
}

describe("SparkApplicationWatcher", () => {
  it("does nothing without the CRD, and starts watching once it appears", async () => {
    const state = new ClusterState();
    const mutex = new Mutex();
    watcher = new SparkApplicationWatcher({ kc: makeKubeConfig(server.url), state, serialize: (fn) => mutex.run(fn), log: silentLog, crdPollMs: 20 });
    server.put(SPARK_APPS, { metadata: { name: "pi", namespace: "spark" }, spec: { driver: { cores: 1 } } });
    await watcher.start();
    expect(watcher.watching).toBe(false);
    expect(state.sparkApplications.size).toBe(0);
    expect(server.requests.some((r) => r.path.startsWith("/apis/sparkoperator.k8s.io/"))).toBe(false);

    server.put(CRDS, crd());
    await eventually(() => state.sparkApplications.has("spark/pi"));
    server.put(SPARK_APPS, { metadata: { name: "etl", namespace: "spark" }, spec: {} });
    await eventually(() => state.sparkApplications.has("spark/etl"));
    server.remove(SPARK_APPS, "pi", "spark");
    await eventually(() => !state.sparkApplications.has("spark/pi"));
  });
});
