// The embedded simulated cluster's file format and its backend behaviour.

import { readFileSync } from "node:fs";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { configFromObject } from "../../src/config.js";
import { Engine } from "../../src/engine/engine.js";
import { podFromObject } from "../../src/engine/model.js";
import { Scheduler } from "../../src/pipeline/scheduler.js";
import { EmbeddedCluster, parseClusterSpec } from "../../src/kube/embedded-cluster.js";

describe("embedded cluster file", () => {
  it("loads examples/cluster.yaml: nodes with zones and labels, and a running pod as overhead", () => {
    const spec = parseClusterSpec(readFileSync("examples/cluster.yaml", "utf8"));
    expect(spec.nodes.map((n) => n.name)).toEqual(["node-a1", "node-a2", "node-b1", "node-b2"]);
    expect(spec.nodes[0]).toMatchObject({
      allocatable: { cpu: 16_000, memory: 64 * 2 ** 30, gpu: 0 },
      labels: { resource_channel: "batch", "topology.kubernetes.io/zone": "zone-a", "kubernetes.io/hostname": "node-a1" },
      ready: true,
      unschedulable: false,
    });
    expect(spec.pods.map((p) => [p.name, p.nodeName, p.requests.cpu])).toEqual([["system-agent", "node-b2", 2000]]);
  });

  it("accepts full Node objects, taints, configMaps and sparkApplications", () => {
    const spec = parseClusterSpec(`
nodes:
  - metadata: { name: full }
    status: { allocatable: { cpu: "4", memory: 8Gi }, conditions: [{ type: Ready, status: "True" }] }
  - { name: tainted, cpu: 2, memory: 4Gi, gpu: 1, taints: [{ key: gpu, effect: NoSchedule }], unschedulable: true }
configMaps:
  - metadata: { name: spark-drv-1-conf-map, namespace: spark }
    data: { spark.properties: "spark.executor.instances=2" }
sparkApplications:
  - metadata: { name: pi, namespace: spark }
    spec: { driver: { cores: 1 } }
`);
    expect(spec.nodes[0]).toMatchObject({ name: "full", allocatable: { cpu: 4000 }, ready: true });
    expect(spec.nodes[1]).toMatchObject({ taints: [{ key: "gpu", effect: "NoSchedule" }], unschedulable: true, allocatable: { gpu: 1 } });
    expect(spec.configMaps.get("spark/spark-drv-1-conf-map")).toEqual({ "spark.properties": "spark.executor.instances=2" });
    expect(spec.sparkApplications.has("spark/pi")).toBe(true);
  });

  it.each([
    ["", /expected a map with a "nodes" list/],
    ["nodes: []", /"nodes" must be a non-empty list/],
    ["nodes:\n  - { cpu: 1, memory: 1Gi }", /node needs a name/],
    ["nodes:\n  - { name: a, memory: 1Gi }", /nodes\[0\] \(a\): "cpu" is missing or not a quantity/],
    ["nodes:\n  - { name: a, cpu: lots, memory: 1Gi }", /"cpu" is missing or not a quantity: "lots"/],
    ["nodes:\n  - { name: a, cpu: 1, memory: 1Gi }\n  - { name: a, cpu: 1, memory: 1Gi }", /duplicate node name a/],
    ["nodes:\n  - { name: a, cpu: 1, memory: 1Gi }\nconfigMaps:\n  - { data: {} }", /configMaps: every object needs metadata.name/],
  ])("rejects %j with a clear error", (text, message) => {
    expect(() => parseClusterSpec(text, "cluster.yaml")).toThrow(message);
  });

  it("stores reservations as ResourceReservation objects and binds scheduled pods", async () => {
    const engine = new Engine(configFromObject({}).engine);
    const log = pino({ level: "silent" });
    const cluster = new EmbeddedCluster(engine, parseClusterSpec("nodes:\n  - { name: n1, cpu: 8, memory: 32Gi }"), log);
    await cluster.start();
    expect(cluster.readiness()).toEqual({ ready: true });
    expect(cluster.synced()).toBe(true);
    const driver = podFromObject({
      metadata: { name: "d", namespace: "ns", uid: "u1", labels: { "spark-role": "driver", "spark-app-id": "app" }, annotations: {
        "spark-driver-cpu": "1", "spark-driver-mem": "1Gi", "spark-executor-cpu": "1", "spark-executor-mem": "1Gi", "spark-executor-count": "1" } },
    });
    const d = await new Scheduler(engine, cluster, log).filter(driver, ["n1"]);
    expect(d.node).toBe("n1");
    expect(cluster.objects.get("ns/app")).toMatchObject({
      kind: "ResourceReservation",
      metadata: { name: "app", namespace: "ns", resourceVersion: "1", ownerReferences: [{ name: "d", uid: "u1" }] },
      spec: { reservations: { driver: { node: "n1" }, "executor-1": { node: "n1" } } },
    });
    expect(engine.state.getReservation("ns", "app")!.resourceVersion).toBe("1");
    expect(engine.state.getPod("ns", "d")).toMatchObject({ nodeName: "n1", phase: "Running" });
  });
});
