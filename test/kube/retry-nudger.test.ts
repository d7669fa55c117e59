// Prompt retries after a refusal, against the fake API server over HTTP: refused pods that may now fit are
// patched with the retry annotation (kube-scheduler requeues a pod whose object changed), leader only, within
// the token bucket's rate, once per refusal.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RETRY_ANNOTATION, TokenBucket } from "../../src/kube/retry-nudger.js";
import type { RetryTarget } from "../../src/pipeline/retries.js";
import { FakeApiServer, type RecordedRequest } from "../support/fake-apiserver.js";
import { CONFIGMAPS, NODES, NS, PODS, type Replica, driverObject, eventually, nodeObject, putEstablishedCrd, replica, testConfig } from "./fixtures.js";

let server: FakeApiServer;
const replicas: Replica[] = [];

beforeEach(async () => {
  server = await FakeApiServer.start();
  putEstablishedCrd(server);
});

afterEach(async () => {
  for (const r of replicas.splice(0)) await r.stop();
  await server.stop();
});

const podPatches = (name?: string): RecordedRequest[] =>
  server.requests.filter(
    (q) => q.method === "PATCH" && q.path.startsWith(`/api/v1/namespaces/${NS}/pods/`) && (name === undefined || q.path.endsWith(`/pods/${name}`)),
  );

describe("retry nudges", () => {
  it("patches a FIFO-blocked driver once its blocker is deleted, and never the blocker that cannot fit", async () => {
    for (const n of ["n1", "n2", "n3"]) server.put(NODES, nodeObject(n));
    server.put(PODS, driverObject("a-big", "big", { executors: 100 }));
    server.put(PODS, driverObject("b-small", "small", { executors: 2 }));
    const r = replica(server, testConfig({ fifo: true }));
    replicas.push(r);
    await r.cluster.start();
    await eventually(() => expect(r.cluster.readiness()).toEqual({ ready: true }));

    expect((await r.schedule("a-big", ["n1", "n2", "n3"])).outcome).toBe("failure-fit");
    const refused = await r.schedule("b-small", ["n1", "n2", "n3"]);
    expect(refused.outcome).toBe("failure-earlier-driver");
    // The takeover's presumption may have nudged nothing: neither fits behind the big one.
    expect(podPatches()).toEqual([]);

    const deletedAt = performance.now();
    server.remove(PODS, "a-big", NS);
    const patch = await eventually(() => {
      const found = podPatches("b-small");
      expect(found).toHaveLength(1);
      return found[0];
    });
    if (process.env.REPORT_NUDGE_LATENCY) process.stdout.write(`nudge latency ${(performance.now() - deletedAt).toFixed(1)} ms\n`);
    expect(patch.contentType).toBe("application/merge-patch+json");
    const annotations = (server.get(PODS, "b-small", NS)!.metadata.annotations ?? {}) as Record<string, string>;
    expect(Number.isNaN(Date.parse(annotations[RETRY_ANNOTATION]))).toBe(false);
    expect(podPatches("a-big")).toEqual([]);
    // kube-scheduler retries the driver: admitted now.
    expect((await r.schedule("b-small", ["n1", "n2", "n3"])).outcome).toBe("success");
  });

  it("patches a refused driver once a node is added that makes room, not for one that does not", async () => {
    server.put(NODES, nodeObject("n1", "2", "2Gi"));
    server.put(PODS, driverObject("d1", "app1", { executors: 2 }));
    const r = replica(server, testConfig());
    replicas.push(r);
    await r.cluster.start();
    await eventually(() => expect(r.cluster.readiness()).toEqual({ ready: true }));
    expect((await r.schedule("d1", ["n1"])).outcome).toBe("failure-fit");
    server.put(NODES, nodeObject("tiny", "500m", "256Mi")); // still too small: the selection nudges nothing
    await eventually(() => expect(r.engine.state.nodes.size).toBe(2));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(podPatches()).toEqual([]);
    server.put(NODES, nodeObject("n2", "8", "8Gi"));
    await eventually(() => expect(podPatches("d1")).toHaveLength(1));
  });

  it("patches a zero-configuration driver once its Spark conf ConfigMap appears", async () => {
    for (const n of ["n1", "n2"]) server.put(NODES, nodeObject(n, "16", "64Gi"));
    server.put(PODS, {
      metadata: { name: "etl-driver", namespace: NS, labels: { "spark-role": "driver", "spark-app-selector": "spark-etl" } },
      spec: {
        schedulerName: "spark-scheduler",
        containers: [{ name: "spark", resources: { requests: { cpu: "1", memory: "1Gi" } } }],
        volumes: [{ name: "spark-conf-volume-driver", configMap: { name: "etl-conf-map" } }],
      },
      status: { phase: "Pending" },
    });
    const r = replica(server, testConfig());
    replicas.push(r);
    await r.cluster.start();
    await eventually(() => expect(r.cluster.readiness()).toEqual({ ready: true }));
    expect((await r.schedule("etl-driver", ["n1", "n2"])).outcome).toBe("failure-invalid");
    expect(podPatches()).toEqual([]);
    server.put(CONFIGMAPS, {
      metadata: { name: "etl-conf-map", namespace: NS },
      data: { "spark.properties": "spark.executor.instances=2\nspark.executor.cores=1\nspark.executor.memory=1g\nspark.driver.memory=1g" },
    });
    await eventually(() => expect(podPatches("etl-driver")).toHaveLength(1));
    expect((await r.schedule("etl-driver", ["n1", "n2"])).outcome).toBe("success");
  });

  it("patches nothing while not the leader, then retries the pods it refused once it leads", async () => {
    for (const n of ["n1", "n2", "n3"]) server.put(NODES, nodeObject(n));
    server.put(PODS, driverObject("d1", "app1", { executors: 1 }));
    const leaseFault = server.injectFault({ pathIncludes: "/leases/", status: 500, times: Infinity });
    const r = replica(server, testConfig());
    replicas.push(r);
    await r.cluster.start();
    expect(r.cluster.readiness().ready).toBe(false);
    expect((await r.schedule("d1", ["n1", "n2", "n3"])).outcome).toBe("failure-not-ready");
    // State changes that would make room (nodes added) while not leading: no patch.
    for (const n of ["n4", "n5", "n6"]) server.put(NODES, nodeObject(n));
    await eventually(() => expect(r.engine.state.nodes.size).toBe(6));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(podPatches()).toEqual([]);

    leaseFault.cancel();
    await eventually(() => expect(r.cluster.readiness()).toEqual({ ready: true }));
    await eventually(() => expect(podPatches("d1")).toHaveLength(1));
  });

  it("holds the rate under a burst of 500 refused pods, heads first, each patched once", async () => {
    server.put(NODES, nodeObject("huge", "10000", "10000Gi"));
    for (let i = 0; i < 500; i++) server.put(PODS, driverObject(`d${String(i).padStart(3, "0")}`, `app${i}`, { executors: 0 }));
    const leaseFault = server.injectFault({ pathIncludes: "/leases/", status: 500, times: Infinity });
    const patches: { target: RetryTarget; atMs: number }[] = [];
    const rate = 200;
    const burst = 10;
    const r = replica(server, testConfig({ "retry-nudges": { rate, burst } }), {
      nudger: { onPatch: (target, atMs) => patches.push({ target, atMs }) },
    });
    replicas.push(r);
    await r.cluster.start();
    for (let i = 0; i < 500; i += 50) {
      expect((await r.schedule(`d${String(i).padStart(3, "0")}`, ["huge"])).outcome).toBe("failure-not-ready");
    }
    leaseFault.cancel();
    await eventually(() => expect(podPatches()).toHaveLength(500), 15_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(podPatches()).toHaveLength(500);
    expect(new Set(podPatches().map((q) => q.path)).size).toBe(500);
    // Any one-second window holds at most burst + rate patches; all of them need at least (500 − burst) / rate.
    const times = patches.map((p) => p.atMs);
    for (let i = 0; i < times.length; i++) {
      let j = i;
      while (j < times.length && times[j] < times[i] + 1000) j++;
      expect(j - i).toBeLessThanOrEqual(burst + rate);
    }
    expect(times[times.length - 1] - times[0]).toBeGreaterThanOrEqual(((500 - burst) / rate) * 1000 - 5);
    // One queue (no instance group): the oldest drivers first.
    expect(patches[0].target.name).toBe("d000");
  }, 30_000);
});

describe("TokenBucket", () => {
  it("allows a burst, then one token per 1/rate", () => {
    let now = 0;
    const bucket = new TokenBucket(10, 3, () => now);
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([0, 0, 0]);
    expect(bucket.take()).toBe(100);
    now += 50;
    expect(bucket.take()).toBe(50);
    now += 50;
    expect(bucket.take()).toBe(0);
    now += 10_000;
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([0, 0, 0, 100]);
  });
});
