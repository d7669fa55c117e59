// TLS serving: the same one port carries HTTPS/1.1 (kube-scheduler with enableHTTPS, the API server's
// webhook calls), Connect and gRPC over h2 negotiated by ALPN.

import { readFileSync } from "node:fs";
import * as https from "node:https";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { HealthService, registerHealth } from "../../src/server/health.js";
import { type RunningServer, startServer } from "../../src/server/listen.js";

const ca = readFileSync(new URL("../support/tls/cert.pem", import.meta.url));
const key = readFileSync(new URL("../support/tls/key.pem", import.meta.url));

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({
    host: "127.0.0.1",
    tls: { cert: ca, key },
    routes: (router) => registerHealth(router, new HealthService()),
    fallback: (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(`echo ${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`);
      });
    },
  });
});
afterAll(async () => {
  await server.close();
});

function post(path: string, body: string): Promise<{ status: number; text: string; httpVersion: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${server.url}${path}`, { method: "POST", ca, headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode!, text, httpVersion: res.httpVersion }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("TLS", () => {
  it("advertises an https URL", () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it("serves HTTP/1.1 JSON routes over HTTPS", async () => {
    const res = await post("/predicates", '{"Pod":{}}');
    expect(res).toEqual({ status: 200, text: 'echo POST /predicates {"Pod":{}}', httpVersion: "1.1" });
  });

  it("serves Connect over HTTPS/1.1 and gRPC over h2 negotiated by ALPN", async () => {
    const connect = createClient(Health, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1", nodeOptions: { ca } }));
    expect((await connect.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const grpc = createClient(Health, createGrpcTransport({ baseUrl: server.url, nodeOptions: { ca } }));
    expect((await grpc.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it("drops a cleartext client on the TLS port without harming the server", async () => {
    const plain = await fetch(server.url.replace("https:", "http:") + "/predicates", { method: "POST", body: "{}" }).then(
      () => "answered",
      () => "refused",
    );
    expect(plain).toBe("refused");
    expect((await post("/still-ok", "")).status).toBe(200);
  });
});
