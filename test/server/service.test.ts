// sparkscheduler.v1.SparkSchedulerService through the generated client, over Connect, gRPC and gRPC-Web.

import { Code, ConnectError } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Outcome, QueueState } from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import { type BothClients, type TestApp, bothClients, example, startTestApp } from "./app-harness.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ config: { fifo: true, "instance-group-label": "resource_channel" } });
});
afterAll(async () => {
  await t.close();
});

type Svc = BothClients;
const transports: [string, () => Svc][] = [
  ["connect (HTTP/1.1)", () => bothClients(createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }))],
  ["gRPC (h2c)", () => bothClients(createGrpcTransport({ baseUrl: t.url }))],
  ["gRPC-Web (HTTP/1.1)", () => bothClients(createGrpcWebTransport({ baseUrl: t.url, httpVersion: "1.1" }))],
];

async function code(p: Promise<unknown>): Promise<Code | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return ConnectError.from(e).code;
  }
}

describe.each(transports)("over %s", (_name, makeClient) => {
  it("Filter admits, GetReservation and ListReservations show it", async () => {
    const client = makeClient();
    const app = `app-${_name.replace(/\W+/g, "-").toLowerCase()}`;
    const body = example("driver-etl");
    body.Pod.metadata = { ...body.Pod.metadata, name: `${app}-driver`, labels: { "spark-role": "driver", "spark-app-id": app } };
    body.Pod.metadata.annotations["spark-executor-count"] = "1";
    const res = await client.filter({ pod: body.Pod, nodeNames: body.NodeNames });
    expect(res.outcome).toBe(Outcome.SUCCESS);
    expect(body.NodeNames).toContain(res.nodeName);
    expect(res.failedNodes).toEqual({});

    const got = await client.getReservation({ namespace: "spark", appId: app });
    const r = got.reservation!;
    expect(r.driverPod).toBe(`${app}-driver`);
    expect(r.slots.map((s) => s.name)).toEqual(["driver", "executor-1"]);
    expect(r.slots[0]).toMatchObject({ node: res.nodeName, pod: `${app}-driver`, active: true });
    expect(r.slots[1].resources).toMatchObject({ cpuMillis: 4000n, memoryBytes: 16n * 2n ** 30n, gpus: 0n });
    expect(r.createdAt).toBeDefined();

    const list = await client.listReservations({ namespace: "spark" });
    expect(list.reservations.map((x) => x.appId)).toContain(app);
    expect((await client.listReservations({ namespace: "elsewhere" })).reservations).toEqual([]);
  });

  it("Filter reports failures with a reason per node", async () => {
    const client = makeClient();
    const body = example("driver-too-big");
    const res = await client.filter({ pod: body.Pod, nodeNames: body.NodeNames });
    expect(res.outcome).toBe(Outcome.FAILURE_FIT);
    expect(res.nodeName).toBe("");
    expect(Object.keys(res.failedNodes)).toHaveLength(4);
    expect(res.reason).toMatch(/does not fit/);
  });

  it("bad arguments are InvalidArgument, missing things NotFound", async () => {
    const client = makeClient();
    expect(await code(client.getReservation({ namespace: "", appId: "x" }))).toBe(Code.InvalidArgument);
    expect(await code(client.getReservation({ namespace: "spark", appId: "nope" }))).toBe(Code.NotFound);
    expect(await code(client.filter({ nodeNames: ["node-a1"] }))).toBe(Code.InvalidArgument);
    expect(await code(client.filter({ pod: { metadata: {} }, nodeNames: ["node-a1"] }))).toBe(Code.InvalidArgument);
    expect(await code(client.filter({ pod: example("driver-etl").Pod, nodeNames: [] }))).toBe(Code.InvalidArgument);
    expect(await code(client.getQueuePosition({ namespace: "spark", podName: "ghost" }))).toBe(Code.NotFound);
    expect(await code(client.simulate({ executorCount: 1 }))).toBe(Code.InvalidArgument);
    expect(await code(client.simulate({ driver: { cpuMillis: -1n }, executor: {}, executorCount: 1 }))).toBe(Code.InvalidArgument);
  });
});

describe("services", () => {
  it("Filter is served by ExtenderService only; SparkSchedulerService changes no state", async () => {
    const body = example("driver-etl");
    body.Pod.metadata = { ...body.Pod.metadata, name: "svc-driver", labels: { "spark-role": "driver", "spark-app-id": "svc" } };
    body.Pod.metadata.annotations["spark-executor-count"] = "1";
    const args = { pod: body.Pod, nodeNames: body.NodeNames };
    const old = await fetch(`${t.url}/sparkscheduler.v1.SparkSchedulerService/Filter`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(args),
    });
    expect(old.status).toBe(404);
    expect(t.engine.state.getPod("spark", body.Pod.metadata.name)).toBeUndefined();
    const res = await fetch(`${t.url}/sparkscheduler.v1.ExtenderService/Filter`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(args),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ outcome: "OUTCOME_SUCCESS" });
  });
});

describe("queue and what-if RPCs", () => {
  it("GetQueuePosition explains a waiting driver", async () => {
    const client = transports[0][1]();
    const big = example("driver-too-big");
    await client.filter({ pod: big.Pod, nodeNames: big.NodeNames }); // registers the pending driver
    const q = await client.getQueuePosition({ namespace: "spark", podName: "too-big-driver" });
    expect(q.state).toBe(QueueState.WAITING);
    expect(q.position).toBe(1);
    expect(q.instanceGroup).toBe("batch");
    expect(q.fitsNow).toBe(false);
    expect(q.reason).toMatch(/does not fit/);
    expect(q.fifoEnforced).toBe(true);
  });

  it("Simulate places a shape or a driver pod without reserving", async () => {
    const client = transports[1][1]();
    const before = t.engine.state.reservations.size;
    const shape = await client.simulate({
      driver: { cpuMillis: 1000n, memoryBytes: 2n ** 30n },
      executor: { cpuMillis: 2000n, memoryBytes: 2n ** 31n },
      executorCount: 3,
      nodeSelector: { resource_channel: "batch" },
    });
    expect(shape.fits).toBe(true);
    expect(shape.executorNodes).toHaveLength(3);
    expect(shape.binpack).toBe("distribute-evenly");
    const pod = await client.simulate({ pod: example("driver-too-big").Pod });
    expect(pod.fits).toBe(false);
    expect(pod.reason).toMatch(/40 executors/);
    const nowhere = await client.simulate({
      driver: { cpuMillis: 1000n, memoryBytes: 1n },
      executor: { cpuMillis: 1000n, memoryBytes: 1n },
      executorCount: 1,
      nodeSelector: { resource_channel: "gpu" },
    });
    expect(nowhere.fits).toBe(false);
    expect(t.engine.state.reservations.size).toBe(before);
  });
});
