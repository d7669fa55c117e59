import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { HealthService, ServingStatus, registerHealth } from "../../src/server/health.js";
import { startServer, type RunningServer } from "../../src/server/listen.js";

async function waitFor(cond: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("HealthService", () => {
  it("starts with the overall status SERVING and nothing else", () => {
    const h = new HealthService();
    expect(h.getStatus("")).toBe(ServingStatus.SERVING);
    expect(h.getStatus("x")).toBeUndefined();
    expect([...h.list()]).toEqual([["", ServingStatus.SERVING]]);
  });

  it("applies initial statuses, notifies subscribers only on change, and forgets cleared services", () => {
    const h = new HealthService({ a: ServingStatus.NOT_SERVING });
    const seen: ServingStatus[] = [];
    const unsubscribe = h.subscribe("a", (s) => seen.push(s));
    h.setStatus("a", ServingStatus.NOT_SERVING); // no change
    h.setStatus("a", ServingStatus.SERVING);
    h.clearStatus("a");
    expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.SERVICE_UNKNOWN]);
    expect(h.getStatus("a")).toBeUndefined();
    expect(h.watcherCount()).toBe(1);
    unsubscribe();
    expect(h.watcherCount()).toBe(0);
  });

  it("shutdown() marks everything NOT_SERVING and keeps it so until resume()", () => {
    const h = new HealthService({ a: ServingStatus.SERVING });
    h.shutdown();
    expect(h.getStatus("")).toBe(ServingStatus.NOT_SERVING);
    expect(h.getStatus("a")).toBe(ServingStatus.NOT_SERVING);
    h.setStatus("a", ServingStatus.SERVING);
    expect(h.getStatus("a")).toBe(ServingStatus.NOT_SERVING);
    h.resume();
    h.setStatus("a", ServingStatus.SERVING);
    expect(h.getStatus("a")).toBe(ServingStatus.SERVING);
  });
});

describe("grpc.health.v1.Health over the sniffing server", () => {
  const health = new HealthService();
  let server: RunningServer;
  let grpc: Client<typeof Health>;
  let connectH1: Client<typeof Health>;

  beforeAll(async () => {
    server = await startServer({ host: "127.0.0.1", port: 0, routes: (r) => registerHealth(r, health) });
    grpc = createClient(Health, createGrpcTransport({ baseUrl: server.url }));
    connectH1 = createClient(Health, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
  });
  afterAll(async () => {
    await server?.close();
  });

  it("Check answers SERVING, NOT_SERVING, and NotFound for an unknown service", async () => {
    health.setStatus("sparkscheduler.v1.Demo", ServingStatus.SERVING);
    expect((await grpc.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    expect((await grpc.check({ service: "sparkscheduler.v1.Demo" })).status).toBe(ServingStatus.SERVING);

    health.setStatus("sparkscheduler.v1.Demo", ServingStatus.NOT_SERVING);
    expect((await grpc.check({ service: "sparkscheduler.v1.Demo" })).status).toBe(ServingStatus.NOT_SERVING);
    expect((await connectH1.check({ service: "sparkscheduler.v1.Demo" })).status).toBe(ServingStatus.NOT_SERVING);

    const err = await grpc.check({ service: "no.such.Service" }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.NotFound);
    const err1 = await connectH1.check({ service: "no.such.Service" }).catch((e: unknown) => ConnectError.from(e));
    expect(err1).toBeInstanceOf(ConnectError);
    expect((err1 as ConnectError).code).toBe(Code.NotFound);
  });

  it("List returns every known status", async () => {
    health.setStatus("svc.List", ServingStatus.NOT_SERVING);
    const res = await grpc.list({});
    expect(res.statuses[""]?.status).toBe(ServingStatus.SERVING);
    expect(res.statuses["svc.List"]?.status).toBe(ServingStatus.NOT_SERVING);
  });

  it("Watch sends the current status, then each change, and unsubscribes when the client cancels", async () => {
    health.setStatus("svc.Watch", ServingStatus.SERVING);
    const abort = new AbortController();
    const stream = grpc.watch({ service: "svc.Watch" }, { signal: abort.signal })[Symbol.asyncIterator]();

    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);
    await waitFor(() => health.watcherCount() === 1);

    health.setStatus("svc.Watch", ServingStatus.NOT_SERVING);
    expect((await stream.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
    health.setStatus("svc.Watch", ServingStatus.SERVING);
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);

    abort.abort();
    await expect(stream.next()).rejects.toThrow();
    await waitFor(() => health.watcherCount() === 0);
  });

  it("Watch of an unknown service sends SERVICE_UNKNOWN and keeps the call open until it becomes known", async () => {
    const abort = new AbortController();
    const stream = grpc.watch({ service: "svc.Later" }, { signal: abort.signal })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVICE_UNKNOWN);
    await waitFor(() => health.watcherCount() === 1);
    health.setStatus("svc.Later", ServingStatus.SERVING);
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);
    abort.abort();
    await waitFor(() => health.watcherCount() === 0);
  });

  it("Watch works as a Connect server stream over HTTP/1.1 too", async () => {
    health.setStatus("svc.H1", ServingStatus.NOT_SERVING);
    const abort = new AbortController();
    const stream = connectH1.watch({ service: "svc.H1" }, { signal: abort.signal })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
    await waitFor(() => health.watcherCount() === 1);
    health.setStatus("svc.H1", ServingStatus.SERVING);
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);
    abort.abort();
    await waitFor(() => health.watcherCount() === 0);
  });
});
