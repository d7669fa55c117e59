// Scenario 5: the whole service end to end over HTTP/1.1 on loopback, wired as test/server/app-harness.ts does
// (engine + embedded cluster + Scheduler + startApp), with an embedded cluster of 1,000 nodes generated as a cluster
// file and read through parseClusterSpec. A single keep-alive client posts kube-scheduler-shaped ExtenderArgs
// (nodeCacheCapable: true, i.e. NodeNames) sequentially: each application's driver, then its executors.
// Bounded by a request count and a wall-time budget.

import * as http from "node:http";
import { pino } from "pino";
import { configFromObject } from "../src/config.js";
import { Engine } from "../src/engine/engine.js";
import { executorSlots } from "../src/engine/reservation.js";
import { EmbeddedCluster, parseClusterSpec } from "../src/kube/embedded-cluster.js";
import { Scheduler } from "../src/pipeline/scheduler.js";
import { startApp } from "../src/server/app.js";
import { Metrics } from "../src/server/metrics.js";
import { type AppSpec, IG, IG_LABEL, NOW_MS, NS, OfferWindow, Rng, driverObject, executorObject, otherPodObject } from "./cluster.js";
import type { BenchContext } from "./engine.bench.js";
import { Counter, Sampler, fmtInt, fmtMs, median, timed } from "./stats.js";

const NODES = 1000;
const EXECUTORS_PER_APP = 10;
const OFFER_SIZE = 100;

/** The embedded cluster file: short-form nodes and four running non-Spark pods per node. JSON is valid YAML. */
function clusterFile(rng: Rng): string {
  const nodes = [];
  const pods = [];
  for (let i = 0; i < NODES; i++) {
    const name = `node-${String(i).padStart(4, "0")}`;
    nodes.push({ name, zone: `zone-${"abc"[i % 3]}`, cpu: "32", memory: "256Gi", labels: { [IG_LABEL]: IG } });
    pods.push(otherPodObject(`kube-proxy-${name}`, "kube-system", name, "100m", "128Mi"));
    pods.push(otherPodObject(`node-exporter-${name}`, "kube-system", name, "100m", "256Mi"));
    pods.push(otherPodObject(`fluent-bit-${name}`, "kube-system", name, "250m", "512Mi"));
    pods.push(otherPodObject(`svc-${i}`, "services", name, `${rng.range(1, 8) * 250}m`, `${rng.range(1, 16) * 512}Mi`));
  }
  return JSON.stringify({ nodes, pods });
}

interface Reply {
  status: number;
  body: string;
}

function post(agent: http.Agent, url: URL, body: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: "/spark-scheduler/predicates",
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("request timed out after 10 s")));
    req.on("error", reject);
    req.end(body);
  });
}

export async function benchHttp(ctx: BenchContext): Promise<void> {
  const maxRequests = ctx.quick ? 1_000 : 5_000;
  const maxMs = ctx.quick ? 5_000 : 20_000;
  const warmupRequests = ctx.quick ? 110 : 330; // whole apps: 1 driver + 10 executors
  const rng = new Rng(5);

  const yaml = clusterFile(rng);
  const parsed = timed(() => parseClusterSpec(yaml, "bench cluster"));
  const config = configFromObject({ binpack: "distribute-evenly", fifo: true, "instance-group-label": IG_LABEL });
  const log = pino({ level: "silent" });
  const engine = new Engine(config.engine);
  const cluster = new EmbeddedCluster(engine, parsed.value, log);
  await cluster.start();
  const metrics = new Metrics(engine);
  const scheduler = new Scheduler(engine, cluster, log, { metrics, clock: () => NOW_MS });
  // Time Engine.filter inside the server too, to split the request latency into engine and transport.
  const engineMs: number[] = [];
  let recordEngine = false;
  const filter = engine.filter.bind(engine);
  engine.filter = (pod, offered, nowMs) => {
    const t0 = process.hrtime.bigint();
    const d = filter(pod, offered, nowMs);
    if (recordEngine) engineMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    return d;
  };
  const app = await startApp({
    scheduler,
    metrics,
    log,
    host: "127.0.0.1",
    port: 0,
    contextPath: config.contextPath,
    maxBodyBytes: config.maxBodyBytes,
  });
  const url = new URL(app.server.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  ctx.log(
    `http/extender-filter: real service on ${url.host} (embedded cluster of ${NODES} nodes, ${fmtInt(parsed.value.pods.length)} pods, ` +
      `cluster file of ${fmtInt(yaml.length)} bytes parsed in ${parsed.ms.toFixed(0)} ms); one keep-alive HTTP/1.1 connection, ` +
      `sequential POST /spark-scheduler/predicates: per app 1 driver (2c/4Gi) then ${EXECUTORS_PER_APP} executors (2c/8Gi), ` +
      `NodeNames of ${OFFER_SIZE} nodes (executors: including their reserved node); bounded to ${fmtInt(maxRequests)} requests or ${maxMs / 1000} s`,
  );

  const nodeOrder = rng.shuffle(parsed.value.nodes.map((n) => n.name));
  const window = new OfferWindow(nodeOrder);
  let appIndex = 0;
  let pendingApp: { app: AppSpec; next: number; slotNodes: string[] } | undefined;
  const bodySizes: number[] = [];

  /** The next request body, in kube-scheduler order: a driver, then its executors once it is admitted. */
  const nextBody = (): string => {
    if (pendingApp && pendingApp.next <= EXECUTORS_PER_APP) {
      const k = pendingApp.next++;
      const offered = window.next(OFFER_SIZE);
      const slotNode = pendingApp.slotNodes[k - 1];
      if (slotNode && !offered.includes(slotNode)) offered[rng.int(offered.length)] = slotNode;
      return JSON.stringify({ Pod: executorObject(pendingApp.app, k), Nodes: null, NodeNames: offered });
    }
    const app: AppSpec = {
      appId: `http-${String(appIndex++).padStart(5, "0")}`,
      namespace: NS,
      driverCpu: "2",
      driverMem: "4Gi",
      executorCpu: "2",
      executorMem: "8Gi",
      executors: EXECUTORS_PER_APP,
      createdAtMs: NOW_MS - 30_000,
    };
    pendingApp = { app, next: 1, slotNodes: [] };
    return JSON.stringify({ Pod: driverObject(app), Nodes: null, NodeNames: window.next(OFFER_SIZE) });
  };
  /** After a driver's answer, learn its reserved executor nodes (the stand-in for kube-scheduler finding them feasible). */
  const afterReply = () => {
    if (pendingApp && pendingApp.next === 1) {
      const r = engine.state.getReservation(NS, pendingApp.app.appId);
      pendingApp.slotNodes = r ? executorSlots(r).map((s) => r.slots.get(s)!.node) : [];
      if (!r) pendingApp.next = EXECUTORS_PER_APP + 1; // not admitted: move on to the next app
    }
  };

  const outcomes = new Counter();
  try {
    for (let i = 0; i < warmupRequests; i++) {
      const res = await post(agent, url, nextBody());
      if (res.status !== 200) throw new Error(`warm-up request failed: HTTP ${res.status} ${res.body.slice(0, 200)}`);
      afterReply();
    }
    const s = new Sampler({ iterations: maxRequests, maxMs });
    recordEngine = true;
    while (s.more()) {
      const role = pendingApp && pendingApp.next <= EXECUTORS_PER_APP ? "executor" : "driver";
      const body = nextBody();
      bodySizes.push(body.length);
      s.start();
      const res = await post(agent, url, body);
      const ms = s.stop();
      if (res.status !== 200) throw new Error(`request failed: HTTP ${res.status} ${res.body.slice(0, 200)}`);
      const parsedReply = JSON.parse(res.body) as { NodeNames?: string[] | null; FailedNodes?: Record<string, string> };
      outcomes.add(`${role}-${parsedReply.NodeNames && parsedReply.NodeNames.length === 1 ? "placed" : "refused"}`, ms);
      afterReply();
    }
    recordEngine = false;
    const avgBody = bodySizes.reduce((a, b) => a + b, 0) / Math.max(1, bodySizes.length);
    ctx.report(
      s.result(
        "http/extender-filter",
        `${outcomes} over ${appIndex} apps; avg request ${fmtInt(Math.round(avgBody))} bytes; ` +
          `reservations held ${fmtInt(engine.state.reservations.size)}; Engine.filter inside the server p50 ` +
          `${fmtMs(median(engineMs))} ms, so transport + JSON + scheduler wrapper ≈ ${fmtMs(Math.max(0, median(s.latencies()) - median(engineMs)))} ms`,
      ),
    );
  } finally {
    agent.destroy();
    await app.close();
    await cluster.stop();
  }
}
