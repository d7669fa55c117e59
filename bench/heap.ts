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
    settle: { type: "string", default: "30" },
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

/** Resident bytes by kind of mapping (/proc/PID/smaps): file-backed (code), the brk heap, other anonymous. */
function residentByKind(pid: number): { file: number; brk: number; anon: number } {
  const out = { file: 0, brk: 0, anon: 0 };
  let kind: keyof typeof out = "anon";
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) kind = header[1].startsWith("/") ? "file" : header[1] === "[heap]" ? "brk" : "anon";
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out[kind] += Number(rss[1]) * 1024;
  }
  return out;
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
    // Settled: V8's memory reducer starts 8 s after the last allocation burst and gives pooled pages back; RSS
    // is sampled every 5 s until `--settle` seconds after ready.
    const samples: string[] = [];
    for (let t = 5; t <= Number(values.settle); t += 5) {
      await new Promise((r) => setTimeout(r, 5000));
      samples.push(`${t} s ${mb(status(service.pid!, "VmRSS"))}`);
    }
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)`, "m").exec(metrics)?.[1] ?? NaN);
    const rss = status(service.pid!, "VmRSS");
    const hwm = status(service.pid!, "VmHWM");
    const heap = metric("nodejs_heap_size_used_bytes");
    // Where the resident set is: V8's committed heap by space, memory V8 knows of outside its heap (Buffers,
    // ArrayBuffers), and the rest (code, stacks, malloc'd native memory of Node and its HTTP stack).
    const spaces = [...metrics.matchAll(/^nodejs_heap_space_size_(total|used)_bytes\{space="(\w+)"\} (\S+)/gm)];
    const space = (kind: string, name: string) => Number(spaces.find((m) => m[1] === kind && m[2] === name)?.[3] ?? 0);
    const names = [...new Set(spaces.map((m) => m[2]))].filter((n) => space("total", n) >= 2 ** 20);
    const heapTotal = metric("nodejs_heap_size_total_bytes");
    const external = metric("nodejs_external_memory_bytes");
    console.log("");
    console.log(`| service (${dir === resolve(".") ? "this checkout" : dir}) | value |`);
    console.log("|---|---|");
    console.log(`| ready after (list + sync + take-over) | ${readyS.toFixed(1)} s |`);
    console.log(`| RSS when settled (${values.settle} s after ready) | ${mb(rss)} MB (after ready: ${samples.join(", ")} MB) |`);
    console.log(`| peak RSS (VmHWM) | ${mb(Math.max(hwm, peakDuringLoad))} MB |`);
    console.log(`| V8 heap used | ${mb(heap)} MB |`);
    console.log(`| V8 heap committed | ${mb(heapTotal)} MB (${names.map((n) => `${n} ${mb(space("used", n))}/${mb(space("total", n))}`).join(", ")}) |`);
    console.log(`| external (Buffers, ArrayBuffers) | ${mb(external)} MB |`);
    console.log(`| rest (code, stacks, native) | ${mb(rss - heapTotal - external)} MB |`);
    if (process.env.HEAP_SMAPS) {
      const maps: { head: string; rss: number }[] = [];
      for (const line of readFileSync(`/proc/${service.pid!}/smaps`, "utf8").split("\n")) {
        if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) maps.push({ head: line, rss: 0 });
        const m = /^Rss:\s+(\d+) kB/.exec(line);
        if (m) maps[maps.length - 1].rss = Number(m[1]) * 1024;
      }
      maps.sort((a, b) => b.rss - a.rss);
      for (const m of maps.slice(0, 25)) console.log(`${mb(m.rss)} MB ${m.head}`);
      console.log(`${maps.length} mappings; sizes of anonymous ones (MB, rss>0): ${maps.filter((m) => !m.head.includes("/") && m.rss > 0).map((m) => (m.rss / 2 ** 20).toFixed(1)).join(" ")}`);
    }
    const kinds = residentByKind(service.pid!);
    console.log(`| resident by mapping | files ${mb(kinds.file)} MB, malloc brk heap ${mb(kinds.brk)} MB, other anonymous ${mb(kinds.anon)} MB |`);
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
