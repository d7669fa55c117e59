// Hostile and malformed input on every route over real HTTP: bounded sizes, values that must fit the API's fields,
// timestamps, malformed pod fields, status codes and typed error details.

import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { ExtenderService, GetReservationRequestSchema } from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import { reservationFromObject } from "../../src/engine/reservation.js";
import { type BothClients, type TestApp, bothClients, example, postJson, startTestApp } from "./app-harness.js";

let t: TestApp;
beforeEach(async () => {
  t = await startTestApp({ config: { fifo: true } });
});
afterEach(async () => {
  await t.close();
});

type Svc = BothClients;
const clients: [string, () => Svc][] = [
  ["connect", () => bothClients(createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }))],
  ["connect binary", () => bothClients(createConnectTransport({ baseUrl: t.url, httpVersion: "1.1", useBinaryFormat: true }))],
  ["grpc", () => bothClients(createGrpcTransport({ baseUrl: t.url }))],
  ["grpc-web", () => bothClients(createGrpcWebTransport({ baseUrl: t.url, httpVersion: "1.1" }))],
];

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}

/** The driver-etl request with annotations (and pod fields) replaced. */
function driver(name: string, annotations: Record<string, unknown> = {}, patch: (pod: any) => void = () => {}) {
  const body = example("driver-etl");
  body.Pod.metadata.name = `${name}-driver`;
  body.Pod.metadata.uid = `${name}-uid`;
  body.Pod.metadata.labels = { "spark-role": "driver", "spark-app-id": name };
  body.Pod.metadata.annotations = { ...body.Pod.metadata.annotations, "spark-executor-count": "1", ...annotations };
  patch(body.Pod);
  return body;
}

const reasons = (json: any): string[] => Object.values({ ...json.FailedNodes, ...json.FailedAndUnresolvableNodes }) as string[];

/**
 * A refusal's full reason: the Filter RPC's `reason`. The extender's FailedNodes carry a short one per node when
 * the full one is long (it is reported once, in the pod's events).
 */
async function fullReason(url: string, body: any): Promise<string> {
  const client = createClient(ExtenderService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
  const res = await client.filter({ pod: body.Pod, nodeNames: body.NodeNames });
  for (const why of Object.values(res.failedNodes)) expect(why.length).toBeLessThanOrEqual(100);
  return res.reason;
}

describe("group 1: bounded sizes", () => {
  it("refuses more executors than max-executors-per-application, quickly, on /predicates and Simulate", async () => {
    for (const count of ["1e9", "100000000", "10001"]) {
      const started = Date.now();
      const body = driver(`big-${count}`, { "spark-executor-count": count });
      const res = await postJson(`${t.url}/predicates`, body);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(res.status).toBe(200);
      expect(res.json.NodeNames).toEqual([]);
      expect(reasons(res.json)[0]).toMatch(/^invalid Spark application/);
      expect(await fullReason(t.url, body)).toMatch(/exceeds the limit of 10000 executors per application/);
    }
    expect(t.engine.state.reservations.size).toBe(0);

    const client = clients[0][1]();
    const shape = { driver: { cpuMillis: 1000n, memoryBytes: 1n << 30n }, executor: { cpuMillis: 1000n, memoryBytes: 1n << 30n } };
    const e = await failure(client.simulate({ ...shape, executorCount: 100_000_000 }));
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.rawMessage).toMatch(/exceeds the limit of 10000/);
    expect(e.findDetails(ErrorInfoSchema)[0]).toMatchObject({ reason: "LIMIT_EXCEEDED", domain: "sparkscheduler.v1" });
    const ok = await client.simulate({ ...shape, executorCount: 3 });
    expect(ok.fits).toBe(true);
  });

  it("honours a configured limit", async () => {
    const small = await startTestApp({ config: { "max-executors-per-application": 5 } });
    try {
      const six = driver("six", { "spark-executor-count": "6" });
      const res = await postJson(`${small.url}/predicates`, six);
      expect(res.json.NodeNames).toEqual([]);
      expect(await fullReason(small.url, six)).toMatch(/exceeds the limit of 5 executors/);
      const five = await postJson(`${small.url}/predicates`, driver("five", { "spark-executor-count": "5" }));
      expect(five.json.NodeNames).toHaveLength(1);
    } finally {
      await small.close();
    }
  });

  it("refuses zero-sized executors", async () => {
    for (const a of [{ "spark-executor-cpu": "0" }, { "spark-executor-mem": "0" }, { "spark-executor-cpu": "0", "spark-executor-mem": "0" }]) {
      const body = driver("zero", a);
      const res = await postJson(`${t.url}/predicates`, body);
      expect(res.json.FailedAndUnresolvableNodes["node-a1"].length).toBeLessThanOrEqual(100);
      expect(await fullReason(t.url, body)).toMatch(/zero-sized executor is an error/);
    }
    const e = await failure(
      clients[0][1]().simulate({ driver: { cpuMillis: 1000n, memoryBytes: 1n }, executor: { cpuMillis: 0n, memoryBytes: 0n }, executorCount: 1000 }),
    );
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.rawMessage).toMatch(/zero-sized executor/);
  });

  it("bounds node name lists and request strings", async () => {
    const many = driver("many");
    many.NodeNames = Array.from({ length: 100_001 }, (_, i) => `n${i}`);
    const big = await startTestApp({ config: { "max-body-bytes": 4 * 1024 * 1024 } });
    try {
      const res = await postJson(`${big.url}/predicates`, many);
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ reason: "LIMIT_EXCEEDED", error: expect.stringMatching(/at most 100000/) });
    } finally {
      await big.close();
    }
    const long = driver("long");
    long.NodeNames = ["x".repeat(254)];
    expect((await postJson(`${t.url}/predicates`, long)).status).toBe(400);
    const e = await failure(clients[0][1]().getReservation({ namespace: "n".repeat(64), appId: "a" }));
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.findDetails(BadRequestSchema)[0].fieldViolations[0].field).toBe("namespace");
  });
});

describe("group 2: stored values fit the API's fields", () => {
  it("refuses a dynamic-allocation maximum beyond the limit at the edge", async () => {
    const body = driver("da", {
      "spark-dynamic-allocation-enabled": "true",
      "spark-dynamic-allocation-min-executor-count": "1",
      "spark-dynamic-allocation-max-executor-count": "1e10",
    });
    const res = await postJson(`${t.url}/predicates`, body);
    expect(res.json.NodeNames).toEqual([]);
    expect(await fullReason(t.url, body)).toMatch(/maximum executor count 10000000000 exceeds the limit/);
    expect(t.engine.state.reservations.size).toBe(0);
  });

  it("serves reads over every protocol even when a stored object holds out-of-range values", async () => {
    // A ResourceReservation written by another tool: huge sizes and a timestamp Timestamp cannot hold.
    const r = reservationFromObject({
      apiVersion: "sparkscheduler.palantir.com/v1beta2",
      kind: "ResourceReservation",
      metadata: { name: "odd", namespace: "spark", creationTimestamp: "0001-01-01T00:00:00Z" },
      spec: { reservations: { driver: { node: "node-a1", resources: { cpu: "9P", memory: "7Ei", "nvidia.com/gpu": "1" } } } },
      status: { pods: { driver: "odd-driver" } },
    });
    if (typeof r === "string") throw new Error(r);
    t.engine.state.putReservation({ ...r, createdAtMs: -1e308 });
    for (const [name, make] of clients) {
      const list = await make().listReservations({});
      expect(list.reservations.map((x) => x.appId), name).toEqual(["odd"]);
      expect(list.reservations[0].slots[0].resources!.memoryBytes).toBe(7n << 60n);
      expect(list.reservations[0].createdAt!.seconds).toBe(-62135596800n); // 0001-01-01, the Timestamp minimum
    }
  });
});

describe("group 3: timestamps", () => {
  it.each(["garbage", "-1e308", "0000-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-25", "2026-11-25T00:00:00", -1e308, 0])(
    "refuses creationTimestamp %j with a reason and queues nothing",
    async (ts) => {
      const res = await postJson(`${t.url}/predicates`, driver("ts", {}, (p) => (p.metadata.creationTimestamp = ts)));
      expect(res.status).toBe(400);
      expect(res.json.error).toMatch(/Pod.metadata.creationTimestamp must be an RFC 3339 timestamp/);
      expect(res.json.violations[0].field).toBe("Pod.metadata.creationTimestamp");
      expect(t.engine.state.getPod("spark", "ts-driver")).toBeUndefined();
    },
  );

  it("accepts RFC 3339 with fractions and offsets; a pod without a timestamp is the youngest, not the oldest", async () => {
    const frac = await postJson(`${t.url}/predicates`, driver("frac", {}, (p) => (p.metadata.creationTimestamp = "2026-11-25T01:00:00.123456789+01:00")));
    expect(frac.json.NodeNames).toHaveLength(1);
    expect(t.engine.state.getPod("spark", "frac-driver")!.createdAtMs).toBe(Date.parse("2026-11-25T00:00:00.123Z"));
    const before = Date.now();
    await postJson(`${t.url}/predicates`, driver("nots", {}, (p) => delete p.metadata.creationTimestamp));
    expect(t.engine.state.getPod("spark", "nots-driver")!.createdAtMs).toBeGreaterThanOrEqual(before);
  });
});

describe("group 4: malformed pod fields are refused, never ignored", () => {
  const cases: [string, (p: any) => void, string][] = [
    ["annotation value as a number", (p) => (p.metadata.annotations["spark-executor-count"] = 5), "Pod.metadata.annotations.spark-executor-count"],
    ["spark-app-id label 7", (p) => (p.metadata.labels["spark-app-id"] = 7), "Pod.metadata.labels.spark-app-id"],
    ["spark-app-id label false", (p) => (p.metadata.labels["spark-app-id"] = false), "Pod.metadata.labels.spark-app-id"],
    ["spec: 5", (p) => (p.spec = 5), "Pod.spec"],
    ["nodeSelector as a string", (p) => (p.spec.nodeSelector = "resource_channel=batch"), "Pod.spec.nodeSelector"],
    ["nodeAffinity: x", (p) => (p.spec.affinity = { nodeAffinity: "x" }), "Pod.spec.affinity.nodeAffinity"],
    [
      "an unknown affinity operator",
      (p) =>
        (p.spec.affinity = {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "k", operator: "Near", values: ["v"] }] }] },
          },
        }),
      "Pod.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator",
    ],
    ["tolerations: x", (p) => (p.spec.tolerations = "x"), "Pod.spec.tolerations"],
    ["a toleration effect", (p) => (p.spec.tolerations = [{ key: "k", effect: "Sometimes" }]), "Pod.spec.tolerations[0].effect"],
    ["namespace: 5", (p) => (p.metadata.namespace = 5), "Pod.metadata.namespace"],
    ["containers: {}", (p) => (p.spec.containers = {}), "Pod.spec.containers"],
    ["a request that is not a quantity", (p) => (p.spec.containers[0].resources.requests.cpu = "4 cores"), "Pod.spec.containers[0].resources.requests.cpu"],
    ["labels as a list", (p) => (p.metadata.labels = ["spark-role"]), "Pod.metadata.labels"],
  ];
  it.each(cases)("%s → HTTP 400 naming the field", async (_name, patch, field) => {
    const res = await postJson(`${t.url}/predicates`, driver("bad", {}, patch));
    expect(res.status).toBe(400);
    expect(res.json.reason).toBe("INVALID_ARGUMENT");
    expect(res.json.violations.map((v: any) => v.field)).toContain(field);
    expect(t.engine.state.reservations.size).toBe(0);
  });

  it.each(cases)("%s → Filter RPC InvalidArgument with a BadRequest violation", async (_name, patch, field) => {
    const body = driver("bad", {}, patch);
    const e = await failure(clients[0][1]().filter({ pod: body.Pod, nodeNames: body.NodeNames }));
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.findDetails(BadRequestSchema)[0].fieldViolations.map((v) => v.field)).toContain(field.replace(/^Pod/, "pod"));
  });
});

describe("group 6: status codes", () => {
  it("an undecodable binary protobuf body is 400 invalid_argument on Connect and INVALID_ARGUMENT on gRPC", async () => {
    const res = await fetch(`${t.url}/sparkscheduler.v1.SparkSchedulerService/ListReservations`, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body: new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: "invalid_argument" });
    // the same broken JSON: 400 too
    const json = await postJson(`${t.url}/sparkscheduler.v1.SparkSchedulerService/ListReservations`, "{");
    expect(json.status).toBe(400);
    // a valid binary body still works
    const good = await fetch(`${t.url}/sparkscheduler.v1.SparkSchedulerService/GetReservation`, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body: toBinary(GetReservationRequestSchema, create(GetReservationRequestSchema, { namespace: "spark", appId: "none" })),
    });
    expect(good.status).toBe(404);
  });

  it("a gRPC-Web envelope flagged compressed without an encoding, or flagged end-stream, is INVALID_ARGUMENT, not INTERNAL", async () => {
    const envelope = (flags: number, payload: Uint8Array) => {
      const out = new Uint8Array(5 + payload.length);
      out[0] = flags;
      new DataView(out.buffer).setUint32(1, payload.length);
      out.set(payload, 5);
      return out;
    };
    for (const [flags, payload] of [
      [1, new Uint8Array([0x0a, 0x01, 0x78])],
      [2, new Uint8Array([0x0f, 0xff])], // not a message: illegal wire type
    ] as const) {
      const res = await fetch(`${t.url}/sparkscheduler.v1.SparkSchedulerService/ListReservations`, {
        method: "POST",
        headers: { "content-type": "application/grpc-web+proto" },
        body: envelope(flags, payload),
      });
      const trailer = Buffer.from(await res.arrayBuffer()).toString("latin1");
      expect(trailer, `flags ${flags}`).toMatch(/grpc-status: ?3\b/);
    }
  });

  it("a body over max-body-bytes is 400 invalid_argument on Connect routes, not 429", async () => {
    const res = await fetch(`${t.url}/sparkscheduler.v1.SparkSchedulerService/ListReservations`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ namespace: "x".repeat(70_000) }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/max-body-bytes/) });
    for (const [name, make] of clients.slice(2)) {
      const e = await failure(make().listReservations({ namespace: "x".repeat(70_000) }));
      expect(e.code, name).toBe(Code.InvalidArgument);
    }
  });

  it("empty NodeNames on /predicates is answered with an Error, like the Filter RPC refuses it", async () => {
    const body = driver("empty");
    body.NodeNames = [];
    const res = await postJson(`${t.url}/predicates`, body);
    expect(res.status).toBe(200);
    expect(res.json.Error).toMatch(/at least one node/);
    expect(t.engine.state.getPod("spark", "empty-driver")).toBeUndefined();
    const e = await failure(clients[0][1]().filter({ pod: body.Pod, nodeNames: [] }));
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.findDetails(BadRequestSchema)[0].fieldViolations[0].field).toBe("node_names");
  });
});

describe("group 7: typed errors", () => {
  it.each(clients)("NotFound and InvalidArgument carry ErrorInfo over %s", async (_name, make) => {
    const client = make();
    const nf = await failure(client.getQueuePosition({ namespace: "spark", podName: "nobody" }));
    expect(nf.code).toBe(Code.NotFound);
    expect(nf.findDetails(ErrorInfoSchema)[0]).toMatchObject({ reason: "NOT_FOUND", domain: "sparkscheduler.v1" });
    const missing = await failure(client.getReservation({ namespace: "", appId: "" }));
    expect(missing.code).toBe(Code.InvalidArgument);
    expect(missing.findDetails(BadRequestSchema)[0].fieldViolations.map((v) => v.field)).toEqual(["namespace", "app_id"]);
  });

  it("a known pod that is not a driver is InvalidArgument, whatever its name says", async () => {
    const exec = example("executor-etl-1");
    exec.Pod.metadata.name = "not known";
    await postJson(`${t.url}/predicates`, exec);
    const e = await failure(clients[0][1]().getQueuePosition({ namespace: "spark", podName: "not known" }));
    expect(e.code).toBe(Code.InvalidArgument);
  });
});
