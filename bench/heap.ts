// Memory of the Kubernetes mode at scale: `npm run bench:heap [-- --dir DIR] [--nodes N] [--pods N]`.
//
// Starts the fake API server (bench/heap-apiserver.ts) in its own process with 5,000 nodes and 50,000 pods,
// then the compiled service (`node dist/src/main.js`, what the image runs) against it, waits until it is ready
// (informers synced, leading, reconciled), lets it settle, and reports its resident set (VmRSS, peak VmHWM),
// its V8 heap (from /metrics) and how long the start took. `--dir` runs the service built in another checkout
// (e.g. an older commit, for a before/after comparison). Target (the data-layer issue): < 250 MB RSS.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeKubeConfigFile } from "../test/support/kubeconfig.js";

const { values } = parseArgs({
  options: {
    dir: { type: "string", default: "." },
    nodes: { type: "string", default: "5000" },
    pods: { type: "string", default: "50000" },
    "no-build": { type: "boolean", default: false },
  },
});
const dir = resolve(values.dir!);
const TARGET_MB = 250;
const children: ChildProcess[] = [];
process.on("exit", () => children.forEach((c) => c.kill("SIGKILL")));

function lines(child: ChildProcess, onLine: (line: string) => void): void {
  let buffer = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  });
}

function firstJson<T>(child: ChildProcess, match: (rec: Record<string, unknown>) => boolean, what: string): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    lines(child, (line) => {
      try {
        const rec = JSON.parse(line) as Record<string, unknown>;
        if (match(rec)) resolvePromise(rec as T);
      } catch {
        /* not JSON */
      }
    });
    child.on("exit", (code) => reject(new Error(`${what} exited with ${code}`)));
  });
}

function status(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

async function main(): Promise<void> {
  if (!values["no-build"]) {
    const build = spawnSync(process.execPath, ["scripts/build.mjs"], { cwd: dir, stdio: "inherit" });
    if (build.status !== 0) throw new Error("build failed");
  }
  const loadStarted = performance.now();
  const api = spawn(process.execPath, ["--max-old-space-size=8192", "--import", "tsx", "bench/heap-apiserver.ts"], {
    env: { ...process.env, HEAP_NODES: values.nodes, HEAP_PODS: values.pods },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(api);
  const loaded = await firstJson<{ url: string; nodes: number; pods: number; podJsonBytes: number }>(api, (r) => typeof r.url === "string", "fake API server");
  console.log(`fake API server: ${loaded.nodes} nodes, ${loaded.pods} pods (~${loaded.podJsonBytes} bytes of JSON per pod) loaded in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`);
  const kubeconfig = await writeKubeConfigFile(loaded.url);
  try {
    const started = performance.now();
    const service = spawn(process.execPath, [...(process.env.HEAP_NODE_FLAGS ?? "").split(" ").filter(Boolean), "--enable-source-maps", "dist/src/main.js", "--port", "0", "--kube-config", kubeconfig.path], {
      cwd: dir,
      env: { ...process.env, LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(service);
    const { url } = await firstJson<{ url: string }>(service, (r) => r.msg === "spark-scheduler listening", "service");
    let ready = false;
    let peakDuringLoad = 0;
    for (let i = 0; i < 6000 && !ready; i++) {
      peakDuringLoad = Math.max(peakDuringLoad, status(service.pid!, "VmRSS"));
      try {
        const body = (await (await fetch(`${url}/readyz`)).json()) as { schedules?: boolean };
        ready = body.schedules === true;
      } catch {
        /* not yet */
      }
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    if (!ready) throw new Error("the service did not become ready");
    const readyS = (performance.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 5000));
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)`, "m").exec(metrics)?.[1] ?? NaN);
    const rss = status(service.pid!, "VmRSS");
    const hwm = status(service.pid!, "VmHWM");
    const heap = metric("nodejs_heap_size_used_bytes");
    console.log("");
    console.log(`| service (${dir === resolve(".") ? "this checkout" : dir}) | value |`);
    console.log("|---|---|");
    console.log(`| ready after (list + sync + take-over) | ${readyS.toFixed(1)} s |`);
    console.log(`| RSS when settled | ${mb(rss)} MB |`);
    console.log(`| peak RSS (VmHWM) | ${mb(Math.max(hwm, peakDuringLoad))} MB |`);
    console.log(`| V8 heap used | ${mb(heap)} MB |`);
    console.log("");
    console.log(`target < ${TARGET_MB} MB RSS: ${rss / 2 ** 20 < TARGET_MB ? "met" : "NOT met"}`);
    service.kill("SIGTERM");
  } finally {
    await kubeconfig.cleanup();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
