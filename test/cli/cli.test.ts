// The admin CLI (src/cli) against the whole service on an embedded cluster: every command over Connect,
// gRPC and gRPC-Web in-process through runCli, usage and error handling, and one real process.

import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { USAGE, runCli } from "../../src/cli/run.js";
import { type TestApp, example, startTestApp } from "../server/app-harness.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const request = (name: string) => join(ROOT, "examples", "requests", `${name}.json`);
const APP_CONFIG = { fifo: true, "instance-group-label": "resource_channel" };

interface Result {
  code: number;
  out: string;
  err: string;
}

async function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Result> {
  let out = "";
  let err = "";
  const code = await runCli(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env, cwd: ROOT });
  return { code, out, err };
}

/** Rows of a table printed by the CLI (columns are separated by at least two spaces). */
function rows(text: string): string[][] {
  return text
    .trimEnd()
    .split("\n")
    .map((l) => l.split(/ {2,}/));
}

/** The value of a `Key:  value` line. */
function field(text: string, key: string): string | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${key}:`));
  return line?.slice(key.length + 1).trim();
}

describe.each(["connect", "grpc", "grpcweb"])("over %s", (protocol) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: APP_CONFIG });
  });
  afterAll(async () => {
    await t.close();
  });
  const run = (...args: string[]) => cli(["--server", t.url, "--protocol", protocol, ...args]);

  it("filter admits the etl driver; reservations lists etl with 8 executors", async () => {
    expect(await run("reservations")).toEqual({ code: 0, out: "No reservations.\n", err: "" });

    const f = await run("filter", request("driver-etl"));
    expect(f.err).toBe("");
    expect(f.code).toBe(0);
    expect(field(f.out, "Pod")).toBe("spark/etl-driver");
    expect(field(f.out, "Outcome")).toBe("SUCCESS");
    const node = field(f.out, "Node")!;
    expect(example("driver-etl").NodeNames).toContain(node);
    expect(field(f.out, "Reason")).toBe("-");

    const list = await run("reservations");
    expect(list.code).toBe(0);
    const table = rows(list.out);
    expect(table[0]).toEqual(["APP", "NAMESPACE", "DRIVER", "NODE", "EXECUTORS", "SOFT", "AGE"]);
    expect(table).toHaveLength(2);
    expect(table[1].slice(0, 6)).toEqual(["etl", "spark", "etl-driver", node, "0/8", "-"]);
    expect(table[1][6]).toMatch(/^\d+s$/);

    const json = await run("reservations", "--output", "json");
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.out);
    expect(parsed.reservations).toHaveLength(1);
    const r = parsed.reservations[0];
    expect(r).toMatchObject({ namespace: "spark", appId: "etl", driverPod: "etl-driver", maxExtraExecutors: 0, softSlots: [] });
    expect(r.slots).toHaveLength(9);
    expect(r.slots[0]).toEqual({
      name: "driver",
      node,
      resources: { cpuMillis: "4000", memoryBytes: String(16 * 2 ** 30), gpus: "0" },
      pod: "etl-driver",
      active: true,
    });

    expect((await run("reservations", "-n", "spark")).out).toContain("etl-driver");
    expect(await run("reservations", "--namespace", "elsewhere")).toMatchObject({ code: 0, out: "No reservations in namespace elsewhere.\n" });
    expect(JSON.parse((await run("reservations", "-n", "elsewhere", "-o", "json")).out)).toEqual({ reservations: [], nextPageToken: "" });
  });

  it("filter binds an executor; reservation shows the slots", async () => {
    const f = await run("filter", request("executor-etl-1"));
    expect(field(f.out, "Outcome")).toBe("SUCCESS");
    const node = field(f.out, "Node")!;

    const got = await run("reservation", "spark", "etl");
    expect(got.err).toBe("");
    expect(got.code).toBe(0);
    expect(field(got.out, "Application")).toBe("spark/etl");
    expect(field(got.out, "Driver pod")).toBe("etl-driver");
    expect(field(got.out, "Executors")).toBe("1/8 bound");
    expect(field(got.out, "Soft slots")).toBe("0 of max 0 extra executors");
    const table = rows(got.out.slice(got.out.indexOf("NAME")));
    expect(table[0]).toEqual(["NAME", "NODE", "CPU", "MEMORY", "GPU", "POD", "ACTIVE"]);
    expect(table.slice(1).map((r) => r[0])).toEqual(["driver", ...Array.from({ length: 8 }, (_, i) => `executor-${i + 1}`)]);
    expect(table.find((r) => r[5] === "etl-exec-1")).toEqual([expect.stringMatching(/^executor-\d$/), node, "4", "16Gi", "0", "etl-exec-1", "yes"]);
    expect(table.filter((r) => r[5] === "-").every((r) => r[6] === "no")).toBe(true);
    expect(table.filter((r) => r[5] === "-")).toHaveLength(7);

    const json = JSON.parse((await run("reservation", "spark", "etl", "-o", "json")).out);
    expect(json.reservation.slots.find((s: { pod: string }) => s.pod === "etl-exec-1")).toMatchObject({ node, active: true });
  });

  it("queue shows a too-big driver WAITING with a reason", async () => {
    const f = await run("filter", request("driver-too-big"));
    expect(f.code).toBe(0); // a failed placement is an answer, not an error
    expect(field(f.out, "Outcome")).toBe("FAILURE_FIT");
    expect(field(f.out, "Node")).toBe("-");
    expect(field(f.out, "Reason")).toMatch(/does not fit/);
    expect(field(f.out, "Rejected")).toBe("node-a1, node-a2, node-b1, node-b2");

    const q = await run("queue", "spark", "too-big-driver");
    expect(q.code).toBe(0);
    expect(field(q.out, "Driver")).toBe("spark/too-big-driver");
    expect(field(q.out, "State")).toBe("WAITING");
    expect(field(q.out, "Position")).toBe("1 of 1");
    expect(field(q.out, "Instance group")).toBe("batch");
    expect(field(q.out, "FIFO enforced")).toBe("yes");
    expect(field(q.out, "Fits now")).toBe("no");
    expect(field(q.out, "Reason")).toMatch(/does not fit.*40 executors/);
    expect(q.out).toContain("No drivers ahead.");

    const json = JSON.parse((await run("queue", "spark", "too-big-driver", "-o", "json")).out);
    expect(json).toMatchObject({ state: "QUEUE_STATE_WAITING", position: 1, queueLength: 1, instanceGroup: "batch", fitsNow: false, ahead: [] });

    const bound = await run("queue", "spark", "etl-driver");
    expect(field(bound.out, "State")).toBe("SCHEDULED");
    expect(field(bound.out, "Position")).toBe("-");
  });

  it("simulate places a shape given by flags, or a driver pod, without reserving", async () => {
    const before = t.engine.state.reservations.size;
    const s = await run(
      "simulate",
      ...["--driver-cpu", "1", "--driver-mem", "4Gi", "--executor-cpu", "2", "--executor-mem", "8Gi", "--executors", "10"],
      ...["--node-selector", "resource_channel=batch"],
    );
    expect(s.err).toBe("");
    expect(s.code).toBe(0);
    expect(field(s.out, "Fits")).toBe("yes");
    expect(field(s.out, "Driver node")).toMatch(/^node-[ab][12]$/);
    const placed = field(s.out, "Executors")!;
    expect(placed).toMatch(/^10: node-[ab][12] ×\d+(, node-[ab][12] ×\d+)*$/);
    const counts = [...placed.matchAll(/×(\d+)/g)].map((m) => Number(m[1]));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(10);
    expect(field(s.out, "Efficiency")).toMatch(/^\d+\.\d%$/);
    expect(field(s.out, "Binpack")).toBe("distribute-evenly");
    expect(field(s.out, "Reason")).toBe("-");

    const json = JSON.parse((await run("simulate", "--driver-cpu", "500m", "--driver-mem", "512Mi", "--executor-cpu", "1.5", "--executor-mem", "2g", "--executors", "2", "-o", "json")).out);
    expect(json).toMatchObject({ fits: true, binpack: "distribute-evenly", reason: "" });
    expect(json.executorNodes).toHaveLength(2);

    const nowhere = await run("simulate", "--driver-cpu", "1", "--driver-mem", "1Gi", "--executor-cpu", "1", "--executor-mem", "1Gi", "--executors", "1", "--node-selector", "resource_channel=gpu");
    expect(nowhere.code).toBe(0);
    expect(field(nowhere.out, "Fits")).toBe("no");
    expect(field(nowhere.out, "Executors")).toBe("none");
    expect(field(nowhere.out, "Reason")).toMatch(/no node is eligible for the driver/); // nothing was offered

    const pod = await run("simulate", "--pod", request("driver-too-big"));
    expect(field(pod.out, "Fits")).toBe("no");
    expect(field(pod.out, "Reason")).toMatch(/40 executors/);
    expect(t.engine.state.reservations.size).toBe(before);
  });

  it("NotFound and InvalidArgument exit 1 with the code and message on stderr", async () => {
    const r = await run("reservation", "spark", "nope");
    expect(r).toEqual({ code: 1, out: "", err: "error: not_found: no reservation for application spark/nope\n" });
    const q = await run("queue", "spark", "ghost");
    expect(q).toEqual({ code: 1, out: "", err: "error: not_found: pod spark/ghost is not known to spark-scheduler\n" });
    const bad = await run("filter", request("non-spark-pod"), "--node", "node-a1", "-o", "json");
    expect(bad.code).toBe(0);
    expect(JSON.parse(bad.out)).toMatchObject({ outcome: "OUTCOME_FAILURE_NON_SPARK_POD", nodeName: "", failedNodes: { "node-a1": expect.any(String) } });
  });
});

describe("queue order, inputs and wiring", () => {
  let t: TestApp;
  let dir: string;
  beforeAll(async () => {
    t = await startTestApp({ config: APP_CONFIG });
    dir = mkdtempSync(join(tmpdir(), "spark-cli-"));
  });
  afterAll(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const run = (...args: string[]) => cli(["--server", t.url, ...args]);

  /** A bare driver Pod file: the too-big example under another name, created `agoMs` before now. */
  function bigDriver(name: string, agoMs: number): string {
    const pod = example("driver-too-big").Pod;
    pod.metadata = {
      ...pod.metadata,
      name,
      uid: `${name}-uid`,
      creationTimestamp: new Date(Date.now() - agoMs).toISOString().replace(/\.\d+Z$/, "Z"),
      labels: { "spark-role": "driver", "spark-app-id": name },
    };
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(pod));
    return file;
  }

  it("queue lists the drivers ahead with their demand", async () => {
    const first = bigDriver("big-1", 600_000);
    const second = bigDriver("big-2", 300_000);
    expect(await run("filter", first)).toMatchObject({ code: 2, err: expect.stringContaining("lists no NodeNames") });
    expect(field((await run("filter", first, "--node", "node-a1", "--node", "node-b1")).out, "Outcome")).toBe("FAILURE_FIT");
    const f = await run("filter", second, "--node", "node-a1");
    expect(field(f.out, "Outcome")).toBe("FAILURE_EARLIER_DRIVER");
    expect(field(f.out, "Rejected")).toBe("node-a1");

    const q = await run("queue", "spark", "big-2");
    expect(field(q.out, "State")).toBe("WAITING");
    expect(field(q.out, "Position")).toBe("2 of 2");
    expect(field(q.out, "Reason")).toMatch(/spark\/big-1/);
    expect(field(q.out, "Ahead demand")).toBe("cpu=164 memory=656Gi gpu=0");
    const table = rows(q.out.slice(q.out.indexOf("#")));
    expect(table[0]).toEqual(["#", "POD", "APP", "CREATED", "CPU", "MEMORY", "GPU", "FITS"]);
    expect(table.slice(1)).toEqual([["1", "spark/big-1", "big-1", expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), "164", "656Gi", "0", "no"]]);
  });

  it("takes the server from SPARK_SCHEDULER_URL and reports an unreachable one", async () => {
    expect(await cli(["reservations", "-o", "json"], { SPARK_SCHEDULER_URL: t.url })).toMatchObject({ code: 0, err: "" });
    const down = await cli(["reservations", "--timeout", "2000"], { SPARK_SCHEDULER_URL: "http://127.0.0.1:1" });
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/^error: unavailable: .*ECONNREFUSED/);
    expect(down.err).not.toMatch(/\n\s+at /);
  });

  it("--timeout sets the deadline", async () => {
    const silent = createServer(() => {}); // accepts requests and never answers
    await new Promise<void>((ok) => silent.listen(0, "127.0.0.1", ok));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const r = await cli(["reservations", "--server", url, "--timeout", "200"]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^error: deadline_exceeded: /);
    } finally {
      silent.closeAllConnections();
      await new Promise((ok) => silent.close(ok));
    }
  });

  it("usage errors exit 2 with the usage text", async () => {
    expect(await cli([])).toEqual({ code: 2, out: "", err: `error: no command given\n\n${USAGE}` });
    const unknown = await cli(["frobnicate"]);
    expect(unknown).toMatchObject({ code: 2, out: "" });
    expect(unknown.err).toMatch(/^error: unknown command "frobnicate"\n\n/);
    expect(unknown.err).toContain("Usage: npm run cli -- <command> [flags]");

    const cases: [string[], RegExp][] = [
      [["reservations", "--bogus"], /^error: unknown flag --bogus\n\nUsage: npm run cli -- reservations /],
      [["reservation", "spark"], /^error: missing APP_ID \(reservation takes NAMESPACE APP_ID\)/],
      [["queue", "a", "b", "c"], /^error: unexpected argument "c"/],
      [["reservations", "--timeout"], /^error: flag --timeout needs a value/],
      [["reservations", "--timeout", "soon"], /^error: --timeout: "soon" is not a positive number/],
      [["reservations", "-o", "xml"], /^error: --output: "xml" is not table, json or yaml/],
      [["reservations", "--protocol", "thrift"], /^error: --protocol: "thrift" is not one of connect, grpc, grpcweb/],
      [["reservations", "--server", "not a url"], /^error: --server: "not a url" is not a URL/],
      [["simulate", "--driver-cpu", "1"], /^error: missing --driver-mem, --executor-cpu, --executor-mem, --executors/],
      [["simulate", "--driver-cpu", "lots", "--driver-mem", "1Gi", "--executor-cpu", "1", "--executor-mem", "1Gi", "--executors", "1"], /^error: --driver-cpu: "lots" is not a quantity/],
      [["simulate", "--driver-cpu", "1", "--driver-mem", "1Gi", "--executor-cpu", "1", "--executor-mem", "1Gi", "--executors=-3"], /^error: --executors: "-3" is not a whole number/],
      [["simulate", "--executors", "-3"], /^error: flag --executors needs a value \(for a value starting with "-", write --executors=VALUE\)/],
      [["simulate", "--driver-cpu", "1", "--driver-mem", "1Gi", "--executor-cpu", "1", "--executor-mem", "1Gi", "--executors", "1", "--node-selector", "batch"], /^error: --node-selector: "batch" is not KEY=VALUE/],
      [["simulate", "--pod", "x.json", "--executors", "3"], /^error: --pod cannot be combined with --executors/],
      [["filter"], /^error: missing FILE\.json/],
    ];
    for (const [args, message] of cases) {
      const r = await run(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.out).toBe("");
      expect(r.err).toMatch(message);
      expect(r.err).toMatch(/\nUsage: npm run cli -- \w+/);
    }
  });

  it("--help prints help on stdout and exits 0", async () => {
    expect(await cli(["--help"])).toEqual({ code: 0, out: USAGE, err: "" });
    expect(await cli(["help"])).toEqual({ code: 0, out: USAGE, err: "" });
    const filterHelp = await cli(["filter", "--help"]);
    expect(filterHelp.code).toBe(0);
    expect(filterHelp.out).toMatch(/^Usage: npm run cli -- filter FILE\.json/);
    expect(filterHelp.out).toContain("CHANGES STATE");
    expect((await cli(["help", "simulate"])).out).toContain("--node-selector KEY=VALUE");
    expect((await cli(["-h", "queue"])).out).toMatch(/^Usage: npm run cli -- queue NAMESPACE DRIVER_POD/);
    expect((await cli(["help", "nope"])).code).toBe(2);
  });

  it("input file problems exit 1 without a stack trace", async () => {
    const missing = await run("filter", "does-not-exist.json");
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^error: cannot read does-not-exist\.json: ENOENT/);
    const notJson = join(dir, "broken.json");
    writeFileSync(notJson, "{ nope");
    expect((await run("simulate", "--pod", notJson)).err).toMatch(/^error: .*broken\.json is not valid JSON/);
    expect((await run("filter", join(ROOT, "package.json"))).err).toMatch(/expected a Pod \(with metadata\) or an ExtenderArgs object/);
  });

  it("the real process: npx tsx src/cli/main.ts over gRPC", async () => {
    expect((await run("filter", request("driver-etl"))).code).toBe(0);
    const { stdout, stderr } = await promisify(execFile)(
      "npx",
      ["--no-install", "tsx", "src/cli/main.ts", "--server", t.url, "--protocol", "grpc", "reservation", "spark", "etl"],
      { cwd: ROOT, timeout: 15_000 },
    );
    expect(stderr).not.toMatch(/^error:/m);
    expect(field(stdout, "Application")).toBe("spark/etl");
    expect(stdout).toMatch(/^driver\s+node-\w+\s+4\s+16Gi\s+0\s+etl-driver\s+yes$/m);
  });
});

describe("explain and queues", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: APP_CONFIG });
  });
  afterAll(async () => {
    await t.close();
  });
  const run = (...args: string[]) => cli(["--server", t.url, ...args]);

  it("explain shows the refused driver's decision, grouped nodes and shortfall; queues lists it as head", async () => {
    expect((await run("filter", request("driver-too-big"))).code).toBe(0);
    const x = await run("explain", "spark", "too-big-driver");
    expect(x.code).toBe(0);
    expect(field(x.out, "Decision")).toBe("FAILURE_FIT");
    expect(x.out).toContain("Nodes (4):");
    expect(x.out).toMatch(/RESOURCE\s+MISSING/);
    expect(x.out).toMatch(/^cpu\s+\S+\s+\d+\s+4\s+/m);
    const y = await run("explain", "spark", "too-big-driver", "-o", "yaml");
    expect(y.out).toMatch(/^outcome: OUTCOME_FAILURE_FIT$/m);
    const q = await run("queues");
    expect(rows(q.out)[0]).toEqual(["INSTANCE GROUP", "PENDING", "OLDEST", "HEAD", "ADMITTED", "REFUSED", "HEAD REASON"]);
    expect(q.out).toMatch(/batch\s+1\s+\S+\s+spark\/too-big-driver\s+0\s+1\s+does not fit/);
    expect((await run("explain", "spark", "ghost")).code).toBe(1);
  });

  it("watch queue and watch reservations print the initial state, SYNCED, and stop after --count", async () => {
    expect((await run("filter", request("driver-too-big"))).code).toBe(0); // waits in the queue
    const q = await run("watch", "queue", "--count", "2");
    expect(q.err).toBe("");
    expect(q.code).toBe(0);
    const lines = q.out.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^ADDED\s+spark\/too-big-driver\s+group=batch\s+position=1\s+\S/);
    expect(lines[1]).toBe("SYNCED");
    const j = await run("watch", "queue", "--count", "2", "-o", "json");
    expect(j.out.trimEnd().split("\n").map((l) => JSON.parse(l).type)).toEqual(["CHANGE_TYPE_ADDED", "CHANGE_TYPE_SYNCED"]);
    // A change after SYNCED: the watch is running (its SYNCED line is out) when the etl driver is admitted.
    let live = "";
    let synced!: () => void;
    const isSynced = new Promise<void>((resolve) => (synced = resolve));
    const watching = runCli(["--server", t.url, "watch", "reservations", "-n", "spark", "--count", "2"], {
      stdout: (s) => {
        live += s;
        if (s.startsWith("SYNCED")) synced();
      },
      stderr: (s) => (live += s),
      env: {},
    });
    await isSynced;
    expect((await run("filter", request("driver-etl"))).code).toBe(0);
    expect(await watching).toBe(0);
    expect(live.trimEnd().split("\n")).toEqual(["SYNCED", expect.stringMatching(/^ADDED\s+spark\/etl\s+driver=etl-driver\s+slots=9$/)]);
    const r = await run("watch", "reservations", "-n", "spark", "--count", "2");
    expect(r.out.trimEnd().split("\n")).toEqual([expect.stringMatching(/^ADDED\s+spark\/etl\s+driver=etl-driver\s+slots=9$/), "SYNCED"]);
    expect((await run("watch", "nodes")).code).toBe(2);
    expect((await run("watch", "queue", "--count", "0")).code).toBe(2);
  });

  it("simulate --batch examples/batch.yaml (the README's example, npm start's defaults): two admitted, one too big for the cluster", async () => {
    const fresh = await startTestApp();
    try {
      const r = await cli(["--server", fresh.url, "simulate", "--batch", "examples/batch.yaml", "-o", "json"]);
      expect(r.err).toBe("");
      const res = JSON.parse(r.out) as { results: { name: string; admitted: boolean; fitsEmptyCluster: boolean }[] };
      expect(res.results.map((x) => [x.name, x.admitted, x.fitsEmptyCluster])).toEqual([
        ["etl", true, true],
        ["props", true, true],
        ["huge", false, false],
      ]);
    } finally {
      await fresh.close();
    }
  });

  it("simulate --batch reads a YAML list and prints one row per application, in order", async () => {
    const dir = mkdtempSync(join(tmpdir(), "spark-cli-batch-"));
    try {
      const file = join(dir, "batch.yaml");
      writeFileSync(
        file,
        [
          "- name: small",
          "  shape: { driver: { cpuMillis: 1000, memoryBytes: 1073741824 }, executor: { cpuMillis: 1000, memoryBytes: 1073741824 }, executorCount: 2 }",
          "- name: huge",
          "  shape: { driver: { cpuMillis: 1000000, memoryBytes: 1073741824 }, executor: { cpuMillis: 1000, memoryBytes: 1073741824 }, executorCount: 1 }",
          "",
        ].join("\n"),
      );
      const r = await run("simulate", "--batch", file);
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      const table = rows(r.out);
      expect(table[0]).toEqual(["NAME", "ADMITTED", "DRIVER NODE", "EXECUTORS", "POSITION", "BLOCKS", "FITS EMPTY", "REASON"]);
      expect(table.map((row) => row[0])).toEqual(["NAME", "small", "huge"]);
      expect(table[1].slice(1, 2)).toEqual(["yes"]);
      expect(table[1][2]).toMatch(/^node-/);
      expect(table[2].slice(1, 3)).toEqual(["no", "-"]);
      expect(table[2][6]).toBe("no");
      const json = JSON.parse((await run("simulate", "--batch", file, "-o", "json")).out);
      expect(json.results.map((x: { name: string; admitted: boolean }) => [x.name, x.admitted])).toEqual([["small", true], ["huge", false]]);
      expect(json.results[1].fitsEmptyCluster).toBe(false);
      writeFileSync(file, "- { name: x, bogus: 1 }\n");
      expect((await run("simulate", "--batch", file)).err).toMatch(/^error: .*batch\.yaml: not a list of applications/);
      expect((await run("simulate", "--batch", file, "--executors", "1")).code).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
