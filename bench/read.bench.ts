// One read alone: ListReservations pages of 100 over Connect (HTTP/1.1, src/cli/client.ts's openClient, as the
// pipeline benchmark's reader), back to back with nothing else running, against the service process (src/main.ts)
// and the fake API server: what a read costs before any queueing behind decisions (issue 9: read p99 < 5 ms),
// with the service's CPU per read from its process_cpu_seconds_total.

import * as http from "node:http";
import { openClient } from "../src/cli/client.js";
import { type AppSpec, NS, OfferWindow, Rng, driverObject, feasibleNodesToFind } from "./cluster.js";
import type { BenchContext } from "./engine.bench.js";
import { PODS, bindStored, fakeCluster, filterCall, startService } from "./kube-harness.js";
import { serviceCpuSeconds } from "./pipeline.bench.js";
import { resultOf } from "./stats.js";

export async function benchRead(ctx: BenchContext): Promise<void> {
  const nodes = 300;
  const apps = 200;
  const reads = ctx.quick ? 300 : 2_000;
  const fc = await fakeCluster(nodes);
  const svc = await startService(fc.server);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const window = new OfferWindow(new Rng(5).shuffle([...fc.nodeNames]));
  const { client, close } = openClient(svc.url, "connect", 30_000);
  try {
    let admitted = 0;
    for (let i = 0; i < apps; i++) {
      const app: AppSpec = {
        appId: `r-${String(i).padStart(5, "0")}`,
        namespace: NS,
        driverCpu: "1",
        driverMem: "2Gi",
        executorCpu: "1",
        executorMem: "4Gi",
        executors: 8,
        createdAtMs: Date.now(),
      };
      const pod = fc.server.put(PODS, driverObject(app));
      const reply = await filterCall(agent, svc.url, pod, window.next(feasibleNodesToFind(nodes)));
      if (reply.NodeNames?.length !== 1) continue;
      bindStored(fc.server, pod.metadata.name, reply.NodeNames[0]);
      admitted++;
    }
    const first = await client.listReservations({ pageSize: 100 });
    ctx.log(
      `read/*: service (own process) against the fake API server, ${nodes} nodes, ${admitted} admitted apps (driver + 8 executor slots ` +
        `each); ListReservations pages of ${first.reservations.length} over Connect (HTTP/1.1, openClient), one at a time, no other load`,
    );
    for (let i = 0; i < 50; i++) await client.listReservations({ pageSize: 100 }); // warm-up: JIT, the connection
    const cpu0 = await serviceCpuSeconds(svc.url);
    const latencies: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < reads; i++) {
      const s = performance.now();
      await client.listReservations({ pageSize: 100 });
      latencies.push(performance.now() - s);
    }
    const wallMs = performance.now() - t0;
    const cpuMs = ((await serviceCpuSeconds(svc.url)) - cpu0) * 1000;
    ctx.report(resultOf("read/list-reservations-100", latencies, wallMs, `ListReservations; service CPU ${(cpuMs / reads).toFixed(2)} ms per read`));
  } finally {
    close();
    agent.destroy();
    await svc.stop();
    await fc.stop();
  }
}
