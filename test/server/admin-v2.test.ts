// Admin API v2 end to end on the embedded cluster: ExplainPod, SimulateBatch, ListQueues, pagination, ListNodes
// and the WatchQueue / WatchReservations streams (initial state, changes, the stream limit).

import { Code, ConnectError } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ChangeType,
  NodeVerdict,
  Outcome,
  QueueState,
  type WatchQueueResponse,
  type WatchReservationsResponse,
} from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import { type BothClients, type TestApp, bothClients, example, startTestApp } from "./app-harness.js";

type Svc = BothClients;
let t: TestApp;
let client: Svc;
beforeAll(async () => {
  t = await startTestApp({ config: { fifo: true, "instance-group-label": "resource_channel" }, service: { watch: { pollMs: 20, maxStreams: 3 } } });
  client = bothClients(createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }));
});
afterAll(async () => {
  await t.close();
});

async function code(p: Promise<unknown>): Promise<Code | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return ConnectError.from(e).code;
  }
}

function driverBody(app: string, annotations: Record<string, string>, createdAt = "2026-11-25T00:00:00Z") {
  const body = example("driver-etl");
  body.Pod.metadata = {
    ...body.Pod.metadata,
    name: `${app}-driver`,
    uid: `${app}-uid`,
    creationTimestamp: createdAt,
    labels: { "spark-role": "driver", "spark-app-id": app },
    annotations: { ...body.Pod.metadata.annotations, ...annotations },
  };
  return body;
}

/** Reads a stream until `until` holds for the events so far (or it times out). */
async function collect<T>(stream: AsyncIterable<T>, until: (events: T[]) => boolean): Promise<T[]> {
  const events: T[] = [];
  for await (const e of stream) {
    events.push(e);
    if (until(events)) break;
  }
  return events;
}

describe("ExplainPod", () => {
  it("explains a refused driver: grouped node reasons, shortfall, decision", async () => {
    const big = example("driver-too-big");
    expect((await client.filter({ pod: big.Pod, nodeNames: big.NodeNames })).outcome).toBe(Outcome.FAILURE_FIT);
    const x = await client.explainPod({ namespace: "spark", podName: "too-big-driver" });
    expect(x.name).toBe("namespaces/spark/pods/too-big-driver");
    expect(x.role).toBe("driver");
    expect(x.outcome).toBe(Outcome.FAILURE_FIT);
    expect(x.totalNodes).toBe(4);
    expect(x.nodeGroups.reduce((n, g) => n + g.nodeCount, 0)).toBe(4);
    expect(x.nodeGroups.every((g) => g.verdict === NodeVerdict.FITS)).toBe(true);
    const s = x.shortfall!;
    expect(s.fits).toBe(false);
    expect(s.executorsRequired).toBe(40);
    expect(s.executorsPlaceable).toBeLessThan(40);
    // 4 + 40×4 = 164 cpu requested; 4×16 − 2 (the system agent) = 62 cpu in the cluster.
    expect(s.resources.find((r) => r.resource === "cpu")!.missing).toBe(164_000n - 62_000n);
    expect(s.closestZone?.zone).toMatch(/^zone-/);
    expect(s.summary).toMatch(/room for \d+ of 40 executors/);

    const q = await client.getQueuePosition({ namespace: "spark", podName: "too-big-driver" });
    expect(q.state).toBe(QueueState.WAITING);
    expect(q.reason).toMatch(/does not fit/); // the old text stays
    expect(q.shortfall?.executorsRequired).toBe(40);
  });

  it("rejects missing fields and unknown pods", async () => {
    expect(await code(client.explainPod({ namespace: "spark", podName: "" }))).toBe(Code.InvalidArgument);
    expect(await code(client.explainPod({ namespace: "spark", podName: "ghost" }))).toBe(Code.NotFound);
  });
});

describe("SimulateBatch", () => {
  it("with FIFO, an old driver that does not fit makes every batch application of its group wait", async () => {
    const res = await client.simulateBatch({
      applications: [
        { name: "small", source: { case: "shape", value: { driver: { cpuMillis: 100n }, executor: { cpuMillis: 100n }, executorCount: 1 } }, nodeSelector: { resource_channel: "batch" } },
      ],
    });
    expect(res.fifoEnforced).toBe(true);
    expect(res.results[0]).toMatchObject({ admitted: false, fitsEmptyCluster: true, instanceGroup: "batch" });
    expect(res.results[0].reason).toMatch(/waiting behind spark\/too-big-driver/);
    expect(res.results[0].queuePosition).toBeGreaterThan(1);
  });

  it("answers each application in order, from every kind of input, without reserving", async () => {
    const plain = await startTestApp({ config: { fifo: false } });
    const client = bothClients(createConnectTransport({ baseUrl: plain.url, httpVersion: "1.1" }));
    const before = plain.engine.state.reservations.size;
    const res = await client.simulateBatch({
      applications: [
        {
          name: "shape",
          source: {
            case: "shape",
            value: { driver: { cpuMillis: 1000n, memoryBytes: 2n ** 30n }, executor: { cpuMillis: 2000n, memoryBytes: 2n ** 31n }, executorCount: 2 },
          },
          nodeSelector: { resource_channel: "batch" },
        },
        { name: "pod", source: { case: "driverPod", value: driverBody("sim-pod", { "spark-executor-count": "1" }).Pod } },
        {
          name: "props",
          source: {
            case: "sparkProperties",
            value: "spark.driver.cores=1\nspark.driver.memory=1g\nspark.executor.cores=1\nspark.executor.memory=1g\nspark.executor.instances=2\n",
          },
          nodeSelector: { resource_channel: "batch" },
        },
        {
          name: "operator",
          source: {
            case: "sparkApplication",
            value: {
              apiVersion: "sparkoperator.k8s.io/v1beta2",
              kind: "SparkApplication",
              metadata: { name: "op", namespace: "spark" },
              spec: { driver: { cores: 1, memory: "1g" }, executor: { cores: 1, memory: "1g", instances: 1 }, nodeSelector: { resource_channel: "batch" } },
            },
          },
        },
        {
          name: "huge",
          source: { case: "shape", value: { driver: { cpuMillis: 1000n }, executor: { cpuMillis: 100_000n }, executorCount: 1 } },
          nodeSelector: { resource_channel: "batch" },
        },
      ],
    });
    expect(res.results.map((r) => r.name)).toEqual(["shape", "pod", "props", "operator", "huge"]);
    for (const r of res.results.slice(0, 4)) {
      expect(r.admitted, r.reason).toBe(true);
      expect(r.driverNode).not.toBe("");
      expect(r.instanceGroup).toBe("batch");
    }
    expect(res.results[0].executorNodes).toHaveLength(2);
    const huge = res.results[4];
    expect(huge.admitted).toBe(false);
    expect(huge.fitsEmptyCluster).toBe(false);
    expect(huge.queuePosition).toBeGreaterThan(0);
    expect(huge.shortfall?.resources.find((r) => r.resource === "cpu")?.nodesShort).toBe(4);
    expect(plain.engine.state.reservations.size).toBe(before);
    await plain.close();
  });

  it("names the bad application", async () => {
    const err = await client.simulateBatch({ applications: [{ name: "ok", source: { case: "sparkProperties", value: "spark.driver.cores=x" } }] }).catch((e) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toMatch(/^applications\[0\] \(ok\) /);
    expect(await code(client.simulateBatch({ applications: [] }))).toBe(Code.InvalidArgument);
    expect(await code(client.simulateBatch({ applications: [{ name: "empty" }] }))).toBe(Code.InvalidArgument);
    expect(await code(client.simulateBatch({ applications: Array.from({ length: 101 }, () => ({ source: { case: "sparkProperties" as const, value: "" } })) }))).toBe(
      Code.InvalidArgument,
    );
  });
});

describe("ListQueues, ListNodes, pagination", () => {
  it("summarises each instance group's queue with the head's shortfall and decision counts", async () => {
    const ok = driverBody("lq-ok", { "spark-executor-count": "1" });
    expect((await client.filter({ pod: ok.Pod, nodeNames: ok.NodeNames })).outcome).toBe(Outcome.SUCCESS);
    const res = await client.listQueues({});
    const batch = res.queues.find((q) => q.instanceGroup === "batch")!;
    expect(batch.name).toBe("instanceGroups/batch/queue");
    expect(batch.length).toBeGreaterThanOrEqual(1);
    expect(batch.head?.podName).toBe("too-big-driver");
    expect(batch.headReason).toMatch(/does not fit/);
    expect(batch.headShortfall?.executorsRequired).toBe(40);
    expect(batch.oldestAgeSeconds).toBeGreaterThan(0n);
    expect(batch.admittedCount).toBeGreaterThanOrEqual(1n);
    expect(batch.refusedCount).toBeGreaterThanOrEqual(1n);
  });

  it("pages through reservations with page_size / page_token and rejects foreign tokens", async () => {
    for (const app of ["pg-a", "pg-b", "pg-c"]) {
      const b = driverBody(app, { "spark-executor-count": "0", "spark-driver-cpu": "100m", "spark-driver-mem": "100Mi" });
      b.Pod.metadata.namespace = "paging";
      expect((await client.filter({ pod: b.Pod, nodeNames: b.NodeNames })).outcome).toBe(Outcome.SUCCESS);
    }
    const p1 = await client.listReservations({ namespace: "paging", pageSize: 2 });
    expect(p1.reservations.map((r) => r.appId)).toEqual(["pg-a", "pg-b"]);
    expect(p1.reservations[0].name).toBe("namespaces/paging/reservations/pg-a");
    expect(p1.nextPageToken).not.toBe("");
    const p2 = await client.listReservations({ namespace: "paging", pageSize: 2, pageToken: p1.nextPageToken });
    expect(p2.reservations.map((r) => r.appId)).toEqual(["pg-c"]);
    expect(p2.nextPageToken).toBe("");
    expect(await code(client.listReservations({ namespace: "other", pageToken: p1.nextPageToken }))).toBe(Code.InvalidArgument);
    expect(await code(client.listReservations({ pageToken: "not a token!" }))).toBe(Code.InvalidArgument);
    expect(await code(client.listReservations({ pageSize: -1 }))).toBe(Code.InvalidArgument);
  });

  it("lists nodes with reserved, overhead and free capacity, paged", async () => {
    const p1 = await client.listNodes({ pageSize: 3 });
    expect(p1.nodes.map((n) => n.nodeName)).toEqual(["node-a1", "node-a2", "node-b1"]);
    const p2 = await client.listNodes({ pageSize: 3, pageToken: p1.nextPageToken });
    expect(p2.nodes.map((n) => n.nodeName)).toEqual(["node-b2"]);
    const b2 = p2.nodes[0];
    expect(b2).toMatchObject({ name: "nodes/node-b2", zone: "zone-b", instanceGroup: "batch", schedulable: true });
    expect(b2.overhead?.cpuMillis).toBe(2000n); // the system agent
    const all = [...p1.nodes, ...p2.nodes];
    for (const n of all) {
      expect(n.free!.cpuMillis).toBe(n.allocatable!.cpuMillis - n.reserved!.cpuMillis - n.overhead!.cpuMillis);
    }
    expect(all.some((n) => n.reserved!.cpuMillis > 0n)).toBe(true);
  });
});

describe("watch streams", () => {
  it("WatchReservations sends the initial state, SYNCED, then a new reservation", async () => {
    const abort = new AbortController();
    const stream = client.watchReservations({ namespace: "watch" }, { signal: abort.signal })[Symbol.asyncIterator]();
    const first = await stream.next();
    expect((first.value as WatchReservationsResponse).type).toBe(ChangeType.SYNCED); // nothing in namespace "watch" yet
    // Older than the blocked too-big-driver, so FIFO lets it through.
    const small = { "spark-executor-count": "1", "spark-driver-cpu": "100m", "spark-driver-mem": "100Mi", "spark-executor-cpu": "100m", "spark-executor-mem": "100Mi" };
    const b = driverBody("w-app", small, "2026-11-24T00:00:00Z");
    b.Pod.metadata.namespace = "watch";
    expect((await client.filter({ pod: b.Pod, nodeNames: b.NodeNames })).outcome).toBe(Outcome.SUCCESS);
    const next = (await stream.next()).value as WatchReservationsResponse;
    expect(next.type).toBe(ChangeType.ADDED);
    expect(next.reservation?.appId).toBe("w-app");
    // The executor binds to its slot: the reservation is MODIFIED.
    const exec = example("executor-etl-1");
    exec.Pod.metadata = { ...exec.Pod.metadata, namespace: "watch", name: "w-app-exec-1", labels: { "spark-role": "executor", "spark-app-id": "w-app" } };
    exec.Pod.spec.containers[0].resources.requests = { cpu: "100m", memory: "100Mi" };
    expect((await client.filter({ pod: exec.Pod, nodeNames: exec.NodeNames })).outcome).toBe(Outcome.SUCCESS);
    const mod = (await stream.next()).value as WatchReservationsResponse;
    expect(mod.type).toBe(ChangeType.MODIFIED);
    expect(mod.reservation?.slots.find((s) => s.name === "executor-1")?.pod).toBe("w-app-exec-1");
    abort.abort();
    await stream.return?.(undefined);
  });

  it("WatchQueue streams the queue over gRPC: a refused driver appears with its reason", async () => {
    const grpc = bothClients(createGrpcTransport({ baseUrl: t.url }));
    const abort = new AbortController();
    const stream = grpc.watchQueue({ instanceGroups: ["batch"] }, { signal: abort.signal });
    const initial = await collect(stream, (ev) => ev.some((e) => e.type === ChangeType.SYNCED));
    expect(initial.at(-1)!.type).toBe(ChangeType.SYNCED);
    expect(initial.filter((e) => e.type === ChangeType.ADDED).map((e) => e.driver?.entry?.podName)).toContain("too-big-driver");
    abort.abort();

    const abort2 = new AbortController();
    const it2 = client.watchQueue({}, { signal: abort2.signal })[Symbol.asyncIterator]();
    const seen: WatchQueueResponse[] = [];
    while (!seen.some((e) => e.type === ChangeType.SYNCED)) seen.push((await it2.next()).value as WatchQueueResponse);
    const late = driverBody("wq-late", { "spark-executor-count": "30" }, "2026-11-26T00:00:00Z");
    expect((await client.filter({ pod: late.Pod, nodeNames: late.NodeNames })).outcome).toBe(Outcome.FAILURE_EARLIER_DRIVER);
    let added: WatchQueueResponse | undefined;
    while (!added) {
      const e = (await it2.next()).value as WatchQueueResponse;
      if (e.type === ChangeType.ADDED && e.driver?.entry?.podName === "wq-late-driver") added = e;
    }
    expect(added.driver!.reason).toMatch(/waiting behind spark\/too-big-driver/);
    expect(added.driver!.name).toBe("namespaces/spark/pods/wq-late-driver");
    abort2.abort();
    await it2.return?.(undefined);
  });

  it("bounds the number of open streams and frees a slot when a client goes away", async () => {
    // Streams of the tests before are released once the server sees their connections close.
    let aborts: AbortController[];
    let iters: AsyncIterator<WatchReservationsResponse>[];
    for (let attempt = 0; ; attempt++) {
      aborts = [new AbortController(), new AbortController(), new AbortController()];
      iters = aborts.map((a) => client.watchReservations({}, { signal: a.signal })[Symbol.asyncIterator]());
      const codes = await Promise.all(iters.map((i) => code(i.next())));
      if (codes.every((c) => c === undefined)) break;
      for (const a of aborts) a.abort();
      expect(attempt).toBeLessThan(100);
      await new Promise((r) => setTimeout(r, 50));
    }
    const extra = client.watchReservations({})[Symbol.asyncIterator]();
    expect(await code(extra.next())).toBe(Code.ResourceExhausted);
    aborts[0].abort();
    await iters[0].return?.(undefined);
    // The server notices the closed stream and releases its slot.
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      const again = new AbortController();
      const it = client.watchReservations({}, { signal: again.signal })[Symbol.asyncIterator]();
      ok = (await code(it.next())) === undefined;
      again.abort();
      await it.return?.(undefined).catch(() => undefined);
      if (!ok) await new Promise((r) => setTimeout(r, 50));
    }
    expect(ok).toBe(true);
    for (const a of aborts) a.abort();
  });
});
