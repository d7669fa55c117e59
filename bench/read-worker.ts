// The pipeline benchmark's reader (pipeline.bench.ts readLoad), on its own thread: a ListReservations page of 100
// over Connect every PERIOD_MS (the next at once when one took longer) until told to stop, then the latencies are
// posted back. On the benchmark's main thread the read's latency included that thread's own event-loop delays
// (64 callers and the fake API server: p99 23–45 ms, max 55–74 ms measured), which are not the service's. Paced,
// because back to back on its own thread the reads took about a quarter of the service's CPU (~3 ms each) from the
// filter calls whose rates the benchmark reports.

import { parentPort, workerData } from "node:worker_threads";
import { openClient } from "../src/cli/client.js";

const PERIOD_MS = 25;

const port = parentPort!;
const { client, close } = openClient((workerData as { url: string }).url, "connect", 30_000);
let running = true;
port.on("message", (m) => {
  if (m === "stop") running = false;
});
const latencies: number[] = [];
await client.listReservations({ pageSize: 100 }); // the connection, before the phase starts
port.postMessage("ready");
while (running) {
  const t0 = performance.now();
  await client.listReservations({ pageSize: 100 });
  const ms = performance.now() - t0;
  latencies.push(ms);
  if (ms < PERIOD_MS) await new Promise((resolve) => setTimeout(resolve, PERIOD_MS - ms));
}
close();
port.postMessage(latencies);
