// Starts the whole service (engine, scheduler, every transport) on an embedded cluster, on a free port.

import { readFileSync } from "node:fs";
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
