// The real service (src/main.ts, as a child process) in Kubernetes mode against the in-process fake API server
// (test/support/fake-apiserver.ts), wired as test/main.test.ts does: a kubeconfig file pointing at the fake, the
// CRD stored Established, and kube-scheduler's Lease held by "this pod" (same hostname) so that the service leads.
// The bench process plays kube-scheduler: it renews that Lease, creates and binds pods through the fake's store
// (no write latency: only the service's own API writes wait out the injected latency) and calls the extender
// over HTTP/1.1. The service runs in its own process, as it would beside a real API server.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { resourceReservationCrd } from "../src/kube/crd.js";
import { FakeApiServer, type StoredObject } from "../test/support/fake-apiserver.js";
import { writeKubeConfigFile } from "../test/support/kubeconfig.js";
import { IG_LABEL, NS, nodeObject, otherPodObject } from "./cluster.js";

export const PODS = "pods";
export const RRS = "resourcereservations.sparkscheduler.palantir.com";
const CRDS = "customresourcedefinitions.apiextensions.k8s.io";
const LEASES = "leases.coordination.k8s.io";

export interface FakeCluster {
  server: FakeApiServer;
  nodeNames: string[];
  stop(): Promise<void>;
}

/** A fake API server holding `nodes` nodes (32 cpu / 256Gi, 3 zones) with 4 non-Spark pods each, and the CRD. */
export async function fakeCluster(nodes: number, nodeMemory = "256Gi"): Promise<FakeCluster> {
  const server = await FakeApiServer.start({ historyLimit: 100_000 });
  server.put(CRDS, { ...resourceReservationCrd(), status: { conditions: [{ type: "Established", status: "True" }] } });
  const nodeNames: string[] = [];
  for (let i = 0; i < nodes; i++) {
    const name = `node-${String(i).padStart(5, "0")}`;
    nodeNames.push(name);
    server.put("nodes", nodeObject(name, `zone-${"abc"[i % 3]}`, "32", nodeMemory));
    server.put(PODS, otherPodObject(`kube-proxy-${name}`, "kube-system", name, "100m", "128Mi"));
    server.put(PODS, otherPodObject(`node-exporter-${name}`, "kube-system", name, "100m", "256Mi"));
    server.put(PODS, otherPodObject(`fluent-bit-${name}`, "kube-system", name, "250m", "512Mi"));
    server.put(PODS, otherPodObject(`svc-${i}`, "services", name, "1", "2Gi"));
  }
  // kube-scheduler "in this pod" holds its lease; renewed as kube-scheduler would, so the service keeps leading.
  const renew = () =>
    server.put(LEASES, {
      metadata: { name: "spark-scheduler", namespace: NS },
      spec: { holderIdentity: `${hostname()}_bench`, leaseDurationSeconds: 15, renewTime: new Date().toISOString() },
    });
  renew();
  const timer = setInterval(renew, 2_000);
  return {
    server,
    nodeNames,
    async stop() {
      clearInterval(timer);
      await server.stop();
    },
  };
}

export interface Service {
  /** Base URL of the service, e.g. http://127.0.0.1:41234. */
  url: string;
  stop(): Promise<void>;
}

/** Starts src/main.ts against the fake and waits until it schedules (leader, state rebuilt). */
export async function startService(server: FakeApiServer): Promise<Service> {
  const kubeconfig = await writeKubeConfigFile(server.url);
  const dir = mkdtempSync(join(tmpdir(), "bench-config-"));
  const configFile = join(dir, "config.yaml");
  // The RPCs open to loopback callers: the benchmark measures the pipeline, not TokenReview round trips (the
  // Kubernetes-mode default, access.rpc: kubernetes, would refuse the benchmark's token-less reads).
  // BENCH_SERVICE_CONFIG adds lines to the service's config file (e.g. "executor-bind-answer: after-write");
  // BENCH_SERVICE_NODE_FLAGS passes flags to its node (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
  const extra = process.env.BENCH_SERVICE_CONFIG ? `${process.env.BENCH_SERVICE_CONFIG}\n` : "";
  writeFileSync(configFile, `instance-group-label: ${IG_LABEL}\nbinpack: distribute-evenly\nfifo: true\naccess:\n  rpc: loopback\n${extra}`);
  const nodeFlags = (process.env.BENCH_SERVICE_NODE_FLAGS ?? "").split(" ").filter(Boolean);
  const child: ChildProcess = spawn(process.execPath, [...nodeFlags, "--import", "tsx", "src/main.ts", "--port", "0", "--kube-config", kubeconfig.path, "--config", configFile], {
    env: { ...process.env, LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const cleanup = async () => {
    await kubeconfig.cleanup();
    rmSync(dir, { recursive: true, force: true });
  };
  const errors: string[] = [];
  child.stderr!.on("data", (c: Buffer) => errors.push(c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!line.includes("spark-scheduler listening")) continue;
        try {
          resolve((JSON.parse(line) as { url: string }).url);
        } catch {
          /* not JSON */
        }
      }
    });
    child.once("exit", (code) => reject(new Error(`service exited with ${code}: ${errors.join("").slice(-2000)}`)));
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = await fetch(`${url}/readyz`).then((r) => r.json() as Promise<{ schedules?: boolean }>, () => ({ schedules: false }));
    if (ready.schedules) break;
    if (Date.now() > deadline) throw new Error("service did not become ready within 60 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
      await cleanup();
    },
  };
}

export interface ExtenderReply {
  NodeNames?: string[] | null;
  FailedNodes?: Record<string, string>;
  Error?: string;
}

/** POST /predicates with kube-scheduler-shaped ExtenderArgs (nodeCacheCapable: NodeNames). */
export function filterCall(agent: http.Agent, baseUrl: string, pod: object, nodeNames: readonly string[]): Promise<ExtenderReply> {
  const body = JSON.stringify({ Pod: pod, Nodes: null, NodeNames: nodeNames });
  const url = new URL("/predicates", baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
          resolve(JSON.parse(text) as ExtenderReply);
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("extender call timed out after 30 s")));
    req.on("error", reject);
    req.end(body);
  });
}

/** The stored pod bound to `node` and Running, as kube-scheduler's bind and the kubelet would leave it. */
export function bindStored(server: FakeApiServer, name: string, node: string, namespace = NS): StoredObject {
  const stored = server.get(PODS, name, namespace);
  if (!stored) throw new Error(`no pod ${namespace}/${name}`);
  return server.put(PODS, {
    ...stored,
    spec: { ...(stored.spec as object), nodeName: node },
    status: { ...(stored.status as object), phase: "Running" },
  });
}

/** Node of a stored reservation's slot (e.g. "executor-3"), or undefined. */
export function slotNode(server: FakeApiServer, appId: string, slot: string, namespace = NS): string | undefined {
  const rr = server.get(RRS, appId, namespace) as { spec?: { reservations?: Record<string, { node?: string }> } } | undefined;
  return rr?.spec?.reservations?.[slot]?.node;
}

