import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { HealthService, ServingStatus, registerHealth } from "../../src/server/health.js";
import { registerReflection } from "../../src/server/reflection.js";
import { startServer, type FallbackHandler, type RunningServer, type StartServerOptions } from "../../src/server/listen.js";

/** Echoes what it saw as JSON; `/slow` answers after 300 ms. */
const fallback: FallbackHandler = (req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const answer = () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          route: "fallback",
          method: req.method,
          url: req.url,
          httpVersion: req.httpVersion,
          bytes: body.length,
          remotePort: req.socket.remotePort,
          body: body.length <= 1024 ? body.toString() : undefined,
        }),
      );
    };
    if (req.url === "/slow") setTimeout(answer, 300);
    else answer();
  });
};

const health = new HealthService();
const routes: StartServerOptions["routes"] = (router) => {
  registerHealth(router, health);
  registerReflection(router, [Health]);
};

/** Servers started by a single test; closed after it. */
const extra: RunningServer[] = [];
async function start(opts: Partial<StartServerOptions> = {}): Promise<RunningServer> {
  const s = await startServer({ host: "127.0.0.1", port: 0, routes, fallback, ...opts });
  extra.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(extra.splice(0).map((s) => s.close()));
});

/** Plain http.request, returning status, headers and body. */
function h1Request(
  url: string,
  init: { method?: string; body?: string | Buffer; agent?: http.Agent; headers?: http.OutgoingHttpHeaders } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? "GET", agent: init.agent, headers: init.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

/** One h2c request on a session; returns the body. */
function h2Request(session: http2.ClientHttp2Session, path: string, body?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": body ? "POST" : "GET", ":path": path });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve({ status, body: Buffer.concat(chunks).toString() }));
    stream.on("error", reject);
    stream.end(body);
  });
}

/** Raw TCP: write the chunks (with a pause between), collect everything until the server closes. */
function rawExchange(port: number, chunks: string[], pauseMs = 50): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    let out = "";
    sock.on("data", (d) => (out += d.toString()));
    sock.on("close", () => resolve(out));
    sock.on("error", reject);
    sock.once("connect", () => {
      (async () => {
        for (const c of chunks) {
          sock.write(c);
          await new Promise((r) => setTimeout(r, pauseMs));
        }
      })().catch(reject);
    });
  });
}

describe("one port: HTTP/1.1 fallback, Connect h1/h2, gRPC h2c, gRPC-Web", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ host: "127.0.0.1", port: 0, routes, fallback });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("an HTTP/1.1 POST to a fallback path gets the fallback's answer (fetch)", async () => {
    const res = await fetch(`${server.url}/filter`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ Pod: { metadata: { name: "p" } }, NodeNames: ["a"] }),
    });
    expect(res.status).toBe(200);
    const json = (await res.json()) as Record<string, unknown>;
    expect(json).toMatchObject({ route: "fallback", method: "POST", url: "/filter", httpVersion: "1.1" });
    expect(JSON.parse(json.body as string)).toEqual({ Pod: { metadata: { name: "p" } }, NodeNames: ["a"] });
  });

  it("HTTP/1.1 keep-alive serves 3 requests on one connection and advertises a 95 s keep-alive", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const ports = new Set<number>();
      for (let i = 0; i < 3; i++) {
        const res = await h1Request(`${server.url}/prioritize`, { method: "POST", body: "{}", agent });
        expect(res.status).toBe(200);
        expect(res.headers["keep-alive"]).toBe("timeout=95");
        ports.add(JSON.parse(res.body).remotePort);
      }
      expect(ports.size).toBe(1);
      expect(server.http1Server.keepAliveTimeout).toBe(95_000);
    } finally {
      agent.destroy();
    }
  });

  it("a 900 kB body arrives whole over HTTP/1.1 and over h2c", async () => {
    const big = Buffer.alloc(900_000, "x");
    const h1 = await h1Request(`${server.url}/big`, { method: "POST", body: big });
    expect(JSON.parse(h1.body)).toMatchObject({ bytes: 900_000, httpVersion: "1.1" });

    const session = http2.connect(server.url);
    try {
      const h2 = await h2Request(session, "/big", big);
      expect(h2.status).toBe(200);
      expect(JSON.parse(h2.body)).toMatchObject({ route: "fallback", bytes: 900_000, httpVersion: "2.0" });
    } finally {
      session.close();
    }
  });

  const transports: [string, () => Transport][] = [
    ["Connect over HTTP/1.1", () => createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" })],
    ["Connect over h2c", () => createConnectTransport({ baseUrl: server.url, httpVersion: "2" })],
    ["gRPC over h2c", () => createGrpcTransport({ baseUrl: server.url })],
    ["gRPC-Web over HTTP/1.1", () => createGrpcWebTransport({ baseUrl: server.url, httpVersion: "1.1" })],
  ];
  for (const [name, transport] of transports) {
    it(`${name} reaches grpc.health.v1.Health`, async () => {
      const client = createClient(Health, transport());
      expect((await client.check({ service: "" })).status).toBe(ServingStatus.SERVING);
      expect((await client.list({})).statuses[""]?.status).toBe(ServingStatus.SERVING);
    });
  }

  it("a Connect JSON POST with curl-style headers works over HTTP/1.1", async () => {
    const res = await h1Request(`${server.url}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"service":""}',
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: "SERVING" });
  });

  it("a request whose first byte matches the h2 preface ('P') but then diverges goes to HTTP/1.1", async () => {
    const out = await rawExchange(server.port, [
      "P",
      "OST /split HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
      "{}",
    ]);
    expect(out).toMatch(/^HTTP\/1\.1 200/);
    expect(out).toContain('"url":"/split"');
  });

  it("an h2 preface split across TCP segments still reaches http2 (gRPC through a splitting proxy)", async () => {
    // The proxy forwards the client's first chunk as two writes 30 ms apart, then pipes.
    const proxy = net.createServer((client) => {
      const upstream = net.connect(server.port, "127.0.0.1");
      client.once("data", (first: Buffer) => {
        client.pause(); // hold later chunks until the pipe is set up
        upstream.write(first.subarray(0, 7));
        setTimeout(() => {
          upstream.write(first.subarray(7));
          client.pipe(upstream);
          upstream.pipe(client);
        }, 30);
      });
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    const port = (proxy.address() as net.AddressInfo).port;
    try {
      const client = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
      expect((await client.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    } finally {
      proxy.close();
    }
  });
});

describe("defaults and timeouts", () => {
  it("without a fallback, non-RPC paths get 404", async () => {
    const s = await start({ fallback: undefined });
    const res = await h1Request(`${s.url}/filter`, { method: "POST", body: "{}" });
    expect(res.status).toBe(404);
  });

  it("drops a connection that sends nothing within firstByteTimeoutMs", async () => {
    const s = await start({ firstByteTimeoutMs: 150 });
    const t0 = Date.now();
    const out = await rawExchange(s.port, []);
    expect(out).toBe("");
    expect(Date.now() - t0).toBeLessThan(1_500);
  });

  it("enforces headersTimeout on the inner HTTP/1.1 server (slowloris gets 408)", async () => {
    const s = await start({ headersTimeoutMs: 200, requestTimeoutMs: 400, connectionsCheckingIntervalMs: 50 });
    const t0 = Date.now();
    const out = await rawExchange(s.port, ["POST /filter HTTP/1.1\r\nHost: x\r\n"]);
    expect(out).toMatch(/^HTTP\/1\.1 408/);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it("closes an h2 session that stays idle, but not one with an open stream", async () => {
    const s = await start({ h2IdleTimeoutMs: 150 });
    const idle = http2.connect(s.url);
    const busy = http2.connect(s.url);
    try {
      await h2Request(idle, "/warmup");
      const idleGone = new Promise<void>((r) => idle.once("goaway", () => r()));
      // The fallback waits for the request body, so this stream stays open while the session is quiet.
      const stream = busy.request({ ":method": "POST", ":path": "/hold" });
      stream.on("error", () => {});
      await idleGone;
      await new Promise((r) => setTimeout(r, 400));
      expect(busy.closed || busy.destroyed).toBe(false);
      stream.end();
    } finally {
      idle.destroy();
      busy.destroy();
    }
  });
});

describe("close()", () => {
  it("finishes well within a second with idle keep-alive h1, an idle h2 session, an open Watch stream and a silent socket", async () => {
    const s = await startServer({ host: "127.0.0.1", port: 0, routes, fallback });

    const agent = new http.Agent({ keepAlive: true });
    await h1Request(`${s.url}/x`, { agent });
    const h1Socket = Object.values(agent.freeSockets)[0]?.[0];
    expect(h1Socket).toBeDefined();
    const h1Closed = new Promise<void>((r) => h1Socket!.once("close", () => r()));

    const session = http2.connect(s.url);
    await h2Request(session, "/x");
    const sessionClosed = new Promise<void>((r) => session.once("close", () => r()));
    session.on("error", () => {});

    const watchClient = createClient(Health, createGrpcTransport({ baseUrl: s.url }));
    const watch = watchClient.watch({ service: "" })[Symbol.asyncIterator]();
    expect((await watch.next()).value?.status).toBe(ServingStatus.SERVING);
    const watchEnded = watch.next().then(
      (r) => (r.done ? "done" : "message"),
      () => "error",
    );

    const silent = net.connect(s.port, "127.0.0.1");
    silent.on("error", () => {});
    await new Promise<void>((r) => silent.once("connect", () => r()));
    const silentClosed = new Promise<void>((r) => silent.once("close", () => r()));

    const t0 = Date.now();
    await s.close();
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(1_000);
    await Promise.all([h1Closed, sessionClosed, silentClosed]);
    expect(["done", "error"]).toContain(await watchEnded);
    expect(s.netServer.listening).toBe(false);
    agent.destroy();
  });

  it("lets an in-flight HTTP/1.1 request finish and answers it with Connection: close", async () => {
    const s = await startServer({ host: "127.0.0.1", port: 0, routes, fallback });
    const agent = new http.Agent({ keepAlive: true });
    try {
      const pending = h1Request(`${s.url}/slow`, { method: "POST", body: "{}", agent });
      await new Promise((r) => setTimeout(r, 50)); // the request is in the handler now
      const closing = s.close();
      const res = await pending;
      expect(res.status).toBe(200);
      expect(res.headers.connection).toBe("close");
      await closing;
      await expect(h1Request(`${s.url}/x`)).rejects.toThrow();
    } finally {
      agent.destroy();
    }
  });

  it("is idempotent", async () => {
    const s = await startServer({ host: "127.0.0.1", port: 0, routes });
    await Promise.all([s.close(), s.close()]);
    await s.close();
  });
});
