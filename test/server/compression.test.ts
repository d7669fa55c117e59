// Response compression: negotiated for callers elsewhere, skipped for callers on a loopback connection (see
// src/server/compression.ts).

import type { Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestApp, bothClients, postFrom, startTestApp } from "./app-harness.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ access: { rpc: "none" } });
});
afterAll(async () => {
  await t.close();
});

const LIST_NODES = "/sparkscheduler.v1.SparkSchedulerService/ListNodes";

describe("response compression", () => {
  it("a large response is gzip-compressed for a caller elsewhere, and not for a loopback caller", async () => {
    const body = JSON.stringify({ pageSize: 1000 });
    const remote = await postFrom(t, "10.0.0.5", LIST_NODES, body, undefined, { "accept-encoding": "gzip" });
    const local = await postFrom(t, "127.0.0.1", LIST_NODES, body, undefined, { "accept-encoding": "gzip" });
    expect(remote.status).toBe(200);
    expect(local.status).toBe(200);
    // Above Connect's 1 KiB threshold, so that only the caller's address decides.
    expect(JSON.stringify(local.json).length).toBeGreaterThan(1024);
    expect(remote.headers["content-encoding"]).toBe("gzip");
    expect(local.headers["content-encoding"]).toBeUndefined();
    expect(local.json).toEqual(remote.json);
  });

  it("every loopback form is served uncompressed, over Connect and with br too", async () => {
    const body = JSON.stringify({ pageSize: 1000 });
    for (const address of ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"]) {
      const r = await postFrom(t, address, LIST_NODES, body, undefined, { "accept-encoding": "br, gzip" });
      expect(r.status, address).toBe(200);
      expect(r.headers["content-encoding"], address).toBeUndefined();
    }
    const remote = await postFrom(t, "fd00::7", LIST_NODES, body, undefined, { "accept-encoding": "br" });
    expect(remote.headers["content-encoding"]).toBe("br");
  });

  it("a small response is not compressed for anyone", async () => {
    const r = await postFrom(t, "10.0.0.5", LIST_NODES, JSON.stringify({ pageSize: 1 }), undefined, { "accept-encoding": "gzip" });
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.json).length).toBeLessThan(1024);
    expect(r.headers["content-encoding"]).toBeUndefined();
  });

  it("gRPC and gRPC-Web callers on loopback get uncompressed responses too", async () => {
    const encodings: (string | null)[] = [];
    const seen: Interceptor = (next) => async (req) => {
      const res = await next(req);
      encodings.push(res.header.get("grpc-encoding"));
      return res;
    };
    // Both transports accept gzip and br by default.
    for (const transport of [
      createGrpcTransport({ baseUrl: t.url, interceptors: [seen] }),
      createGrpcWebTransport({ baseUrl: t.url, httpVersion: "1.1", interceptors: [seen] }),
    ]) {
      const res = await bothClients(transport).listNodes({ pageSize: 1000 });
      expect(res.nodes.length).toBeGreaterThan(2);
    }
    expect(encodings).toHaveLength(2);
    for (const e of encodings) expect([null, "identity"]).toContain(e);
  });
});
