// `npm run bench [-- [--quick] [filter ...]]`: spark-scheduler's benchmarks.
//
//   admission   Engine.filter for new drivers (50 executors) on 5,000 nodes with 1,000 running apps
//   executor    Engine.filter for executors of admitted apps (100 offered nodes)
//   fifo        a younger driver behind 500 pending drivers that do not fit
//   large-app   one driver with 1,000 executors on 5,000 nodes, then its 1,000 executor bindings
//   http        the real service over HTTP/1.1 loopback (1,000-node embedded cluster)
//   queues      5,000 nodes × 0 / 100 / 1,000 queued drivers of mixed shapes: driver decision, executor bind,
//               GetQueuePosition, one unschedulable-marker pass
//   growth      driver decision and GetQueuePosition versus nodes and queue depth, with fitted exponents
//   pipeline    the service process against the fake API server with 5 / 20 ms writes, 64 concurrent callers:
//               driver admissions/s, executor binds/s, ListReservations p99 meanwhile
//   read        one ListReservations page of 100 alone (service process, fake API server): latency, service CPU
//   burst       kube-scheduler's one-call-at-a-time pattern, 5 ms writes, versus a no-op extender: the ratio
//
// Filters are substrings of those ids (any match runs the scenario); --quick runs smaller, shorter loops.
// Everything is deterministic (seeded PRNG, fixed "now"); only the timings vary between runs.

import * as os from "node:os";
import { type BenchContext, benchAdmission, benchExecutors, benchFifo, benchLargeApp } from "./engine.bench.js";
import { benchHttp } from "./http.bench.js";
import { benchRead } from "./read.bench.js";
import { benchBurst, benchPipeline } from "./pipeline.bench.js";
import { benchGrowth, benchQueues } from "./queues.bench.js";
import { type BenchResult, fmtMs, fmtRate, formatLine, table } from "./stats.js";

interface Scenario {
  id: string;
  title: string;
  run: (ctx: BenchContext) => void | Promise<void>;
}

const SCENARIOS: Scenario[] = [
  { id: "admission", title: "1. Engine driver admission", run: benchAdmission },
  { id: "executor", title: "2. Engine executor binding", run: benchExecutors },
  { id: "fifo", title: "3. FIFO with a deep queue", run: benchFifo },
  { id: "large-app", title: "4. A large application", run: benchLargeApp },
  { id: "http", title: "5. End to end over HTTP/1.1 loopback", run: benchHttp },
  { id: "queues", title: "6. Heterogeneous queues", run: benchQueues },
  { id: "growth", title: "7. Growth with nodes and queue depth", run: benchGrowth },
  { id: "pipeline", title: "8. Pipeline with API write latency", run: benchPipeline },
  { id: "read", title: "8b. One read alone", run: benchRead },
  { id: "burst", title: "9. End-to-end burst versus a no-op extender", run: benchBurst },
];

function usage(): string {
  return [
    "usage: npm run bench -- [--quick] [filter ...]",
    "  --quick   smaller iteration counts and time budgets",
    `  filter    substring of a scenario id: ${SCENARIOS.map((s) => s.id).join(", ")}`,
  ].join("\n");
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    console.log(usage());
    return 0;
  }
  const quick = args.includes("--quick");
  const unknownFlags = args.filter((a) => a.startsWith("-") && a !== "--quick");
  if (unknownFlags.length > 0) {
    console.error(`unknown option(s): ${unknownFlags.join(" ")}\n${usage()}`);
    return 2;
  }
  const filters = args.filter((a) => !a.startsWith("-")).map((a) => a.toLowerCase());
  const selected = SCENARIOS.filter((s) => filters.length === 0 || filters.some((f) => s.id.includes(f)));
  if (selected.length === 0) {
    console.error(`no scenario matches ${filters.join(", ")}\n${usage()}`);
    return 2;
  }

  const cpus = os.cpus();
  console.log("spark-scheduler benchmarks");
  console.log(
    `node ${process.version} (${process.platform}/${process.arch}), CPU: ${cpus[0]?.model ?? "unknown"} × ${cpus.length}, ` +
      `memory ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; mode: ${quick ? "quick" : "full"}; ` +
      `scenarios: ${selected.map((s) => s.id).join(", ")}`,
  );
  console.log(
    "Each line: iterations, total = wall time of the measured loop (incl. binding the pod after success), " +
      "ops/s = iterations / total, p50/p99/max = latency of the measured call alone. Warm-up iterations are not counted.",
  );

  const results: BenchResult[] = [];
  const ctx: BenchContext = {
    quick,
    log: (line) => console.log(line),
    report: (r) => {
      results.push(r);
      console.log(`  => ${formatLine(r)}`);
    },
  };
  const started = performance.now();
  for (const s of selected) {
    console.log(`\n== ${s.title} [${s.id}]`);
    const t0 = performance.now();
    await s.run(ctx);
    console.log(`  (${s.id} took ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }

  console.log(`\n== Summary (${quick ? "quick" : "full"} run, ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  console.log(
    table(
      ["scenario", "iterations", "total ms", "ops/s", "p50 ms", "p99 ms", "max ms"],
      results.map((r) => [
        r.name + (r.timeCapped ? " *" : ""),
        String(r.iterations),
        fmtMs(r.totalMs),
        fmtRate(r.opsPerSec),
        fmtMs(r.p50Ms),
        fmtMs(r.p99Ms),
        fmtMs(r.maxMs),
      ]),
      [false, true, true, true, true, true, true],
    ),
  );
  if (results.some((r) => r.timeCapped)) console.log("* stopped on its wall-time budget before the iteration count");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
