// The kube-scheduler extender route over real HTTP, with kube-scheduler-shaped ExtenderArgs bodies.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NODE_REASON_MAX } from "../../src/engine/decision.js";
import { filterResult } from "../../src/server/extender-route.js";
import { Harness, driverPod, node } from "../engine/harness.js";
import { type TestApp, example, postJson, startTestApp } from "./app-harness.js";

let t: TestApp;
beforeEach(async () => {
  t = await startTestApp();
});
afterEach(async () => {
  await t.close();
});

const NODES = ["node-a1", "node-a2", "node-b1", "node-b2"];

describe("POST /predicates (nodeCacheCapable: true)", () => {
  it("admits a driver on one node, steers its executors to reserved nodes, refuses an app that does not fit", async () => {
    const driver = await postJson(`${t.url}/predicates`, example("driver-etl"));
    expect(driver.status).toBe(200);
    expect(driver.json.NodeNames).toHaveLength(1);
    expect(driver.json).toMatchObject({ Nodes: null, FailedNodes: {}, FailedAndUnresolvableNodes: {}, Error: "" });

    const r = t.engine.state.getReservation("spark", "etl")!;
    expect(r.slots.get("driver")!.node).toBe(driver.json.NodeNames[0]);
    const reservedNodes = new Set([...r.slots.values()].map((s) => s.node));
    for (const i of [1, 2]) {
      const e = await postJson(`${t.url}/predicates`, example(`executor-etl-${i}`));
      expect(reservedNodes.has(e.json.NodeNames[0])).toBe(true);
    }
    expect([...t.engine.state.getReservation("spark", "etl")!.pods.values()]).toContain("etl-exec-2");

    const big = await postJson(`${t.url}/predicates`, example("driver-too-big"));
    expect(big.status).toBe(200);
    expect(big.json.NodeNames).toEqual([]);
    expect(Object.keys(big.json.FailedNodes).sort()).toEqual(NODES);
    // A short reason per node; the full one ("the driver and 40 executors need cpu=164…") is reported once.
    for (const reason of Object.values(big.json.FailedNodes)) {
      expect(reason).toBe("Spark application does not fit (details in the pod's events)");
    }
    expect(t.cluster.demands.at(-1)).toMatchObject({ op: "create", podName: "too-big-driver" });
  });

  it("is also served under the context path, and reads field names case-insensitively", async () => {
    const body = example("driver-etl");
    const lower = { pod: body.Pod, nodenames: body.NodeNames };
    const res = await postJson(`${t.url}/spark-scheduler/predicates`, lower);
    expect(res.status).toBe(200);
    expect(res.json.NodeNames).toHaveLength(1);
  });

  it("gives every node the reason for bad annotations and non-Spark pods (unresolvable)", async () => {
    const bad = await postJson(`${t.url}/predicates`, example("driver-bad-annotation"));
    expect(bad.json.FailedAndUnresolvableNodes["node-a1"]).toBe("annotation spark-driver-cpu is missing from driver");
    const web = await postJson(`${t.url}/predicates`, example("non-spark-pod"));
    expect(Object.values(web.json.FailedAndUnresolvableNodes)).toEqual(Array(4).fill("can not schedule non spark pod: label spark-role is missing"));
  });
});

describe("POST /predicates (nodeCacheCapable: false)", () => {
  it("answers full Nodes with the chosen node object", async () => {
    const body = example("driver-etl");
    const nodes = NODES.map((name) => ({ apiVersion: "v1", kind: "Node", metadata: { name, labels: { x: name } } }));
    const res = await postJson(`${t.url}/predicates`, { Pod: body.Pod, Nodes: { items: nodes }, NodeNames: null });
    expect(res.status).toBe(200);
    expect(res.json.NodeNames).toBeNull();
    expect(res.json.Nodes.items).toHaveLength(1);
    const chosen = res.json.Nodes.items[0].metadata.name;
    expect(res.json.Nodes.items[0].metadata.labels).toEqual({ x: chosen });
    expect(t.engine.state.getReservation("spark", "etl")!.slots.get("driver")!.node).toBe(chosen);
  });
});

describe("bad input", () => {
  it.each([
    ["malformed JSON", '{"Pod":', /malformed JSON/],
    ["a JSON array", "[]", /must be a JSON object/],
    ["no Pod", { NodeNames: ["node-a1"] }, /Pod must be a Pod object/],
    ["a Pod without a name", { Pod: { metadata: {} }, NodeNames: ["node-a1"] }, /metadata.name is required/],
    ["NodeNames of the wrong type", { Pod: { metadata: { name: "p" } }, NodeNames: "node-a1" }, /NodeNames must be a list/],
    ["neither NodeNames nor Nodes", { Pod: { metadata: { name: "p" } } }, /needs NodeNames/],
    ["Nodes without items", { Pod: { metadata: { name: "p" } }, Nodes: {} }, /NodeList with items/],
  ])("%s gets HTTP 400 with a message", async (_name, body, message) => {
    const res = await postJson(`${t.url}/predicates`, body);
    expect(res.status).toBe(400);
    expect(res.json.error).toMatch(message);
  });

  it("an oversized body gets HTTP 400, and no state is lost", async () => {
    await postJson(`${t.url}/predicates`, example("driver-etl"));
    const huge = { ...example("driver-etl"), padding: "x".repeat(100_000) };
    const res = await postJson(`${t.url}/predicates`, huge);
    expect(res.status).toBe(400);
    expect(res.json.error).toMatch(/exceeds the limit of 65536 bytes/);
    expect(t.engine.state.getReservation("spark", "etl")).toBeDefined();
    const again = await postJson(`${t.url}/predicates`, example("executor-etl-1"));
    expect(again.json.NodeNames).toHaveLength(1);
  });

  it("GET on the filter route gets 405, unknown paths 404", async () => {
    expect((await fetch(`${t.url}/predicates`)).status).toBe(405);
    expect((await fetch(`${t.url}/nope`)).status).toBe(404);
  });
});

describe("durability of decisions", () => {
  it("a failed reservation write answers failure and reserves nothing; the retry succeeds", async () => {
    t.cluster.failWrites = true;
    const failed = await postJson(`${t.url}/predicates`, example("driver-etl"));
    expect(failed.json.NodeNames).toEqual([]);
    expect(failed.json.FailedNodes["node-a1"]).toMatch(/could not persist reservation spark\/etl: API server unavailable/);
    expect(t.engine.state.reservations.size).toBe(0);
    expect(t.engine.state.reservedOn("node-b2")).toEqual({ cpu: 0, memory: 0, gpu: 0 });

    t.cluster.failWrites = false;
    const ok = await postJson(`${t.url}/predicates`, example("driver-etl"));
    expect(ok.json.NodeNames).toHaveLength(1);
    expect(t.cluster.objects.get("spark/etl")).toMatchObject({ kind: "ResourceReservation", metadata: { name: "etl" } });
  });

  it("a replica that is not ready refuses with the reason", async () => {
    t.cluster.ready = false;
    const res = await postJson(`${t.url}/predicates`, example("driver-etl"));
    expect(res.json.FailedNodes["node-a1"]).toBe("spark-scheduler is not ready: state not yet rebuilt (injected)");
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(503);
  });

  it("serialises concurrent calls: two drivers racing for the last room never both win", async () => {
    const yaml = "nodes:\n  - { name: only, cpu: '8', memory: 32Gi, labels: { resource_channel: batch } }\n";
    const small = await startTestApp({ clusterYaml: yaml });
    try {
      const mk = (app: string) => {
        const b = example("driver-etl");
        b.Pod.metadata = { ...b.Pod.metadata, name: `${app}-driver`, uid: app, labels: { "spark-role": "driver", "spark-app-id": app } };
        b.Pod.metadata.annotations = { ...b.Pod.metadata.annotations, "spark-executor-count": "0" };
        b.NodeNames = ["only"];
        return b;
      };
      const results = await Promise.all(["a", "b", "c"].map((a) => postJson(`${small.url}/predicates`, mk(a))));
      const winners = results.filter((r) => r.json.NodeNames.length === 1);
      expect(winners).toHaveLength(2); // 2 × 4 cpu fit on 8 cpu; the third must lose
      expect(small.engine.state.reservations.size).toBe(2);
    } finally {
      await small.close();
    }
  });
});

describe("operational endpoints", () => {
  it("exposes Prometheus metrics with decision counters", async () => {
    await postJson(`${t.url}/predicates`, example("driver-etl"));
    await postJson(`${t.url}/predicates`, example("driver-too-big"));
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/spark_scheduler_requests_total\{role="driver",outcome="success",instance_group="batch"\} 1/);
    expect(text).toMatch(/spark_scheduler_requests_total\{role="driver",outcome="failure-fit",instance_group="batch"\} 1/);
    expect(text).toMatch(/spark_scheduler_reservations 1/);
    expect(text).toMatch(/spark_scheduler_pending_drivers\{instance_group="batch"\} 1/); // too-big waits
    expect(text).toMatch(/spark_scheduler_reserved\{resource="cpu"\} 36/); // etl: driver 4 + 8 × 4 cores
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
  });
});

describe("FailedNodes at cluster scale", () => {
  it("a driver refused on 5,000 nodes gets a short reason per node, the full one stays in the decision", () => {
    const names = Array.from({ length: 5000 }, (_, i) => `node-${String(i).padStart(4, "0")}`);
    const h = new Harness(names.map((n) => node(n)));
    // 6,000 executors of 8 cpu on 5,000 nodes of 8 cpu: it does not fit.
    const d = h.engine.filter(driverPod("huge", { executorCpu: "8", count: 6000 }), names, h.now);
    expect(d.outcome).toBe("failure-fit");
    expect(d.reason!.length).toBeGreaterThan(NODE_REASON_MAX); // the full explanation, for the event and RPCs
    expect(d.reason).toMatch(/the driver and 6000 executors need/);

    const result = filterResult({ pod: {}, nodeNames: names }, d);
    const failed = result.FailedNodes as Record<string, string>;
    expect(Object.keys(failed)).toHaveLength(5000);
    expect(new Set(Object.values(failed))).toEqual(new Set(["Spark application does not fit (details in the pod's events)"]));
    // Each entry is "name":"reason", — bounded by the name and NODE_REASON_MAX, whatever the full reason's length.
    const bytes = Buffer.byteLength(JSON.stringify(result));
    expect(bytes).toBeLessThan(5000 * (names[0].length + NODE_REASON_MAX + 6) + 1000);
    expect(bytes).toBeLessThan(600_000);
  });
});
