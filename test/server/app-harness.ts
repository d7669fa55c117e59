// Starts the whole service (engine, scheduler, every transport) on an embedded cluster, on a free port.

import { readFileSync } from "node:fs";
import { type IncomingHttpHeaders, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { type AddressInfo, type Socket, connect, createServer } from "node:net";
import * as tls from "node:tls";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { type Client, type Transport, createClient } from "@connectrpc/connect";
import { type Logger, pino } from "pino";
import { ExtenderService, SparkSchedulerService } from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import { configFromObject } from "../../src/config.js";
import type { DemandIntent, ReservationWrite } from "../../src/engine/decision.js";
import { Engine } from "../../src/engine/engine.js";
import { EmbeddedCluster, parseClusterSpec } from "../../src/kube/embedded-cluster.js";
import { Scheduler } from "../../src/pipeline/scheduler.js";
import { type RunningApp, startApp } from "../../src/server/app.js";
import { Metrics } from "../../src/server/metrics.js";
import type { ServerTls } from "../../src/server/listen.js";
import type { AccessOptions } from "../../src/server/access.js";
import type { ServiceOptions } from "../../src/server/service.js";

/** An embedded cluster whose writes can be made to fail and whose readiness can be switched off. */
export class FlakyCluster extends EmbeddedCluster {
  failWrites = false;
  ready = true;
  readonly demands: DemandIntent[] = [];

  override async writeReservation(write: ReservationWrite): Promise<string> {
    if (this.failWrites) throw new Error("API server unavailable (injected)");
    return super.writeReservation(write);
  }

  override readiness() {
    return this.ready ? { ready: true } : { ready: false, reason: "state not yet rebuilt (injected)" };
  }

  override synced(): boolean {
    return this.ready;
  }

  override async applyDemand(demand: DemandIntent): Promise<void> {
    this.demands.push(demand);
  }
}

export interface TestApp {
  app: RunningApp;
  url: string;
  engine: Engine;
  cluster: FlakyCluster;
  close(): Promise<void>;
}

export async function startTestApp(
  opts: {
    config?: Record<string, unknown>;
    clusterYaml?: string;
    service?: ServiceOptions;
    access?: AccessOptions;
    host?: string;
    /** Serve TLS (and verify client certificates), as startApp does. */
    tls?: ServerTls;
    /** Default: silent. */
    log?: Logger;
  } = {},
): Promise<TestApp> {
  const config = configFromObject({ "max-body-bytes": 65536, ...opts.config });
  const log = opts.log ?? pino({ level: "silent" });
  const engine = new Engine(config.engine);
  const yaml = opts.clusterYaml ?? readFileSync(new URL("../../examples/cluster.yaml", import.meta.url), "utf8");
  const cluster = new FlakyCluster(engine, parseClusterSpec(yaml), log);
  await cluster.start();
  const metrics = new Metrics(engine);
  const scheduler = new Scheduler(engine, cluster, log, { metrics });
  const app = await startApp({
    scheduler,
    metrics,
    log,
    host: opts.host ?? "127.0.0.1",
    port: 0,
    contextPath: config.contextPath,
    maxBodyBytes: config.maxBodyBytes,
    service: opts.service,
    access: opts.access,
    tls: opts.tls,
  });
  return { app, url: app.server.url, engine, cluster, close: () => app.close() };
}

export function example(name: string): Record<string, any> {
  return JSON.parse(readFileSync(new URL(`../../examples/requests/${name}.json`, import.meta.url), "utf8"));
}

export async function postJson(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** Clients of both services on one transport: the admin RPCs and ExtenderService's Filter. */
export type BothClients = Client<typeof SparkSchedulerService> & Client<typeof ExtenderService>;

export function bothClients(transport: Transport): BothClients {
  return { ...createClient(SparkSchedulerService, transport), ...createClient(ExtenderService, transport) };
}

/**
 * A POST that reaches the server on a connection whose remote address is `address`: the accepted socket of a
 * loopback relay, with its remote address replaced, is handed to the server as a new connection, so a caller
 * elsewhere is tested on any machine, with or without an address other than loopback. With `tls`, the request
 * goes over TLS on that connection (`tls` are the client's options: CA, client certificate); the TLS socket the
 * server wraps around it reads the address from the TCP handle, so it is replaced there too.
 */
export async function postFrom(
  t: TestApp,
  address: string,
  path: string,
  body: string,
  tlsOptions?: tls.ConnectionOptions,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any; headers: IncomingHttpHeaders }> {
  const relay = createServer();
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const accepted = new Promise<Socket>((resolve) => relay.once("connection", resolve));
  const raw = connect((relay.address() as AddressInfo).port, "127.0.0.1");
  const serverSide = await accepted;
  Object.defineProperty(serverSide, "remoteAddress", { value: address });
  relay.close();
  if (tlsOptions) {
    t.app.server.netServer.once("secureConnection", (s: tls.TLSSocket) => Object.defineProperty(s, "remoteAddress", { value: address }));
  }
  t.app.server.netServer.emit("connection", serverSide);
  const socket = tlsOptions ? tls.connect({ socket: raw, servername: "localhost", ALPNProtocols: ["http/1.1"], ...tlsOptions }) : raw;
  const send = tlsOptions ? httpsRequest : httpRequest;
  try {
    return await new Promise((resolve, reject) => {
      const req = send(
        {
          method: "POST",
          path,
          host: tlsOptions ? "localhost" : undefined,
          headers: { "content-type": "application/json", ...(tlsOptions ? {} : { host: "spark-scheduler" }), ...headers },
          createConnection: () => socket,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const raw = Buffer.concat(chunks);
            const encoding = res.headers["content-encoding"];
            const text = (encoding === "gzip" ? gunzipSync(raw) : encoding === "br" ? brotliDecompressSync(raw) : raw).toString();
            resolve({ status: res.statusCode!, json: text ? JSON.parse(text) : undefined, headers: res.headers });
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  } finally {
    socket.destroy();
  }
}
