// The real entry point, as a process: embedded mode on a fresh machine, and Kubernetes mode against the fake
// API server through a kubeconfig file (informers, CRD, leader election, reservation writes, events).

import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { FakeApiServer } from "./support/fake-apiserver.js";
import { writeKubeConfigFile } from "./support/kubeconfig.js";
import { duplicateKeys } from "./support/log-lines.js";
import { CRDS, LEASES, NODES, RRS, eventually, putEstablishedCrd } from "./kube/fixtures.js";
import { example, postJson } from "./server/app-harness.js";
import { TestCa } from "./server/test-certs.js";

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGTERM");
});

/** Starts `src/main.ts` and resolves with its URL once it logs that it listens. */
function startMain(args: string[]): Promise<{ url: string; logs: string[]; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "--port", "0", ...args], {
    env: { ...process.env, LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const logs: string[] = [];
  return new Promise((resolve, reject) => {
    let buffer = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        logs.push(line);
        try {
          const rec = JSON.parse(line);
          if (rec.msg === "spark-scheduler listening") resolve({ url: rec.url, logs, child });
        } catch {
          /* not JSON */
        }
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => logs.push(chunk.toString()));
    child.on("exit", (code) => reject(new Error(`main exited with ${code}: ${logs.join("\n")}`)));
  });
}

describe("npm start", () => {
  it("inside a pod without a service-account token, exits with a clear error instead of simulating", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "--port", "0"], {
      env: { ...process.env, KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443", LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let stderr = "";
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/running inside Kubernetes but no readable service-account token/);
  });

  it("runs on the embedded cluster without Kubernetes", async () => {
    const { url } = await startMain(["--embedded-cluster", "examples/cluster.yaml"]);
    const res = await postJson(`${url}/predicates`, example("driver-etl"));
    expect(res.json.NodeNames).toHaveLength(1);
  });

  it("serves HTTPS when tls.cert-file and tls.key-file are set, and reloads them when they rotate", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tls-main-"));
    copyFileSync("test/support/tls/cert.pem", join(dir, "tls.crt"));
    copyFileSync("test/support/tls/key.pem", join(dir, "tls.key"));
    const file = join(dir, "config.yaml");
    writeFileSync(file, `tls:\n  cert-file: ${join(dir, "tls.crt")}\n  key-file: ${join(dir, "tls.key")}\nembedded: true\n`);
    const { url } = await startMain(["--config", file]);
    expect(url).toMatch(/^https:/);
    const ca = readFileSync("test/support/tls/cert.pem");
    const answer = await new Promise<any>((resolve, reject) => {
      const req = https.request(`${url}/predicates`, { method: "POST", ca, headers: { "content-type": "application/json" } }, (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve(JSON.parse(text)));
      });
      req.on("error", reject);
      req.end(JSON.stringify(example("driver-etl")));
    });
    expect(answer.NodeNames).toHaveLength(1);
    // cert-manager renews the certificate: new connections get the new one, without a restart.
    copyFileSync("test/support/tls/rotated-key.pem", join(dir, "tls.key"));
    copyFileSync("test/support/tls/rotated-cert.pem", join(dir, "tls.crt"));
    const port = Number(new URL(url).port);
    const servedCn = () =>
      new Promise<string>((resolve, reject) => {
        const sock = tls.connect({ host: "127.0.0.1", port, servername: "localhost", rejectUnauthorized: false }, () => {
          resolve(String(sock.getPeerCertificate().subject.CN));
          sock.end();
        });
        sock.on("error", reject);
      });
    await eventually(async () => (await servedCn()) === "spark-scheduler-test-rotated", 10_000, 50);
    rmSync(dir, { recursive: true, force: true });
  });

  it("verifies client certificates with tls.client-ca-file (client-auth: required), and reloads the CA bundle", async () => {
    const ca = TestCa.create("main-client-ca");
    const other = TestCa.create("main-other-ca");
    const dir = mkdtempSync(join(tmpdir(), "mtls-main-"));
    try {
      const caFile = join(dir, "client-ca.crt");
      writeFileSync(caFile, ca.cert);
      const file = join(dir, "config.yaml");
      writeFileSync(
        file,
        `tls:\n  cert-file: test/support/tls/cert.pem\n  key-file: test/support/tls/key.pem\n  client-ca-file: ${caFile}\n  client-auth: required\nembedded: true\n`,
      );
      const { url } = await startMain(["--config", file]);
      const serverCa = readFileSync("test/support/tls/cert.pem");
      const predicates = (identity?: { cert: Buffer; key: Buffer }) =>
        new Promise<any>((resolve, reject) => {
          const req = https.request(`${url}/predicates`, { method: "POST", ca: serverCa, agent: false, ...identity, headers: { "content-type": "application/json" } }, (res) => {
            let text = "";
            res.on("data", (c) => (text += c));
            res.on("end", () => resolve(JSON.parse(text)));
          });
          req.on("error", reject);
          req.end(JSON.stringify(example("driver-etl")));
        }).then(
          (answer: { NodeNames?: string[] }) => (answer.NodeNames ? "answered" : "refused"),
          () => "handshake refused",
        );
      const mine = ca.issue("/CN=kube-scheduler");
      const theirs = other.issue("/CN=kube-scheduler");
      expect([await predicates(), await predicates(theirs), await predicates(mine)]).toEqual(["handshake refused", "handshake refused", "answered"]);
      // The client CA rotates: the new CA's certificates are accepted without a restart.
      writeFileSync(caFile, other.cert);
      await eventually(async () => (await predicates(theirs)) === "answered", 10_000, 50);
      expect(await predicates(mine)).toBe("handshake refused");
    } finally {
      rmSync(dir, { recursive: true, force: true });
      ca.dispose();
      other.dispose();
    }
  });

  it("refuses a client CA bundle that holds no certificate", async () => {
    const file = join(tmpdir(), `bad-ca-config-${process.pid}.yaml`);
    writeFileSync(file, `tls:\n  cert-file: test/support/tls/cert.pem\n  key-file: test/support/tls/key.pem\n  client-ca-file: ${file}\nembedded: true\n`);
    const err = await startMain(["--config", file]).then(
      () => "started",
      (e: Error) => e.message,
    );
    rmSync(file, { force: true });
    expect(err).toMatch(/exited with 2/);
    expect(err).toMatch(/tls.client-ca-file .*: the client CA bundle holds no PEM certificate/);
  });

  it("refuses a bad configuration with the key named", async () => {
    const file = join(tmpdir(), `bad-config-${process.pid}.yaml`);
    writeFileSync(file, "binpack: tightest-pack\n");
    const err = await startMain(["--config", file]).then(
      () => "started",
      (e: Error) => e.message,
    );
    expect(err).toMatch(/exited with 2/);
    expect(err).toMatch(/binpack: unknown binpack algorithm "tightest-pack"; valid choices are/);
  });

  it("runs against Kubernetes through a kubeconfig: rebuilds state, becomes leader, persists reservations", async () => {
    const server = await FakeApiServer.start();
    const kubeconfig = await writeKubeConfigFile(server.url);
    try {
      putEstablishedCrd(server);
      for (const name of ["node-a1", "node-a2", "node-b1", "node-b2"]) {
        server.put(NODES, {
          metadata: { name, labels: { resource_channel: "batch", "topology.kubernetes.io/zone": name.slice(5, 6) } },
          status: {
            allocatable: { cpu: "16", memory: "64Gi" },
            conditions: [{ type: "Ready", status: "True" }],
          },
        });
      }
      const driver = example("driver-etl").Pod;
      server.put("pods", driver);
      // kube-scheduler in this "pod" (same hostname) holds its lease, so this extender leads.
      server.put(LEASES, {
        metadata: { name: "spark-scheduler", namespace: "spark" },
        spec: { holderIdentity: `${hostname()}_0b7c`, leaseDurationSeconds: 15, renewTime: new Date().toISOString() },
      });
      const { url, logs } = await startMain(["--kube-config", kubeconfig.path]);
      await eventually(async () => ((await (await fetch(`${url}/readyz`)).json()) as any).schedules === true, 10_000, 50);

      const res = await postJson(`${url}/predicates`, example("driver-etl"));
      expect(res.json.NodeNames).toHaveLength(1);
      const rr = server.get(RRS, "etl", "spark")!;
      expect(rr).toMatchObject({ metadata: { ownerReferences: [{ kind: "Pod", name: "etl-driver" }] } });
      expect((rr as any).spec.reservations.driver.node).toBe(res.json.NodeNames[0]);
      await eventually(() => server.list("events.events.k8s.io", "spark").some((e: any) => e.reason === "ApplicationAdmitted"), 5000, 50);
      expect(server.get(CRDS, "resourcereservations.sparkscheduler.palantir.com")).toBeDefined();
      // The admin API's secure default in Kubernetes mode: a bearer token, reviewed by the API server.
      const list = (headers: Record<string, string> = {}) =>
        fetch(`${url}/sparkscheduler.v1.SparkSchedulerService/ListReservations`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: "{}",
        });
      expect((await list()).status).toBe(401);
      server.access.tokens.set("alice-token", { username: "alice" });
      expect((await list({ authorization: "Bearer alice-token" })).status).toBe(403);
      server.access.grants.push({ user: "alice", verb: "list", group: "sparkscheduler.palantir.com", resource: "resourcereservations" });
      server.access.tokens.set("alice-token-2", { username: "alice" });
      const allowed = await list({ authorization: "Bearer alice-token-2" });
      expect(allowed.status).toBe(200);
      expect(((await allowed.json()) as any).reservations).toHaveLength(1);
      // Every component names itself once: no log line carries a key twice.
      const jsonLines = logs.filter((l) => l.startsWith("{"));
      expect(jsonLines.some((l) => l.includes('"component":"leader-election"'))).toBe(true);
      expect(jsonLines.filter((l) => duplicateKeys(l).length > 0)).toEqual([]);
    } finally {
      for (const c of children.splice(0)) c.kill("SIGTERM");
      await kubeconfig.cleanup();
      await server.stop();
    }
  });

  it("exits on SIGTERM within the shutdown deadline when API writes hang (a lease renewal in flight)", async () => {
    const server = await FakeApiServer.start();
    const dir = mkdtempSync(join(tmpdir(), "sigterm-main-"));
    const kubeconfig = await writeKubeConfigFile(server.url);
    try {
      putEstablishedCrd(server);
      server.put(NODES, {
        metadata: { name: "node-a1", labels: { resource_channel: "batch" } },
        status: { allocatable: { cpu: "64", memory: "256Gi" }, conditions: [{ type: "Ready", status: "True" }] },
      });
      // The extender's own Lease: it renews by writing, so a renewal is in flight when writes hang.
      const config = join(dir, "config.yaml");
      writeFileSync(config, "shutdown-timeout: 8s\nleader-election:\n  mode: own-lease\n  retry-period: 500ms\n  renew-deadline: 4s\n");
      const { url, child, logs } = await startMain(["--kube-config", kubeconfig.path, "--config", config]);
      await eventually(async () => ((await (await fetch(`${url}/readyz`)).json()) as any).schedules === true, 10_000, 50);
      // The API server stops answering writes (a partition, an overloaded etcd): every write hangs.
      server.setWriteLatency(3_600_000);
      // A driver's admission now waits for its reservation write.
      void postJson(`${url}/predicates`, example("driver-etl")).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      const t0 = Date.now();
      child.kill("SIGTERM");
      const code = await Promise.race([exited, new Promise<"hung">((r) => setTimeout(() => r("hung"), 20_000))]);
      expect(code, logs.slice(-20).join("\n")).toBe(1);
      expect(Date.now() - t0).toBeLessThan(15_000);
      const last = JSON.parse(logs.filter((l) => l.startsWith("{")).at(-1)!);
      // The server's grace (5 s) passed for the admission whose write hangs; the deadline fell while waiting for it.
      expect(last).toMatchObject({ level: 50, msg: "shutdown did not finish in time; exiting", deadlineMs: 8000, step: "waiting for reservation writes in flight" });
    } finally {
      for (const c of children.splice(0)) c.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      await kubeconfig.cleanup();
      await server.stop();
    }
  }, 40_000);

  it("on SIGTERM, reservation writes still in flight land before the process exits", async () => {
    const server = await FakeApiServer.start();
    const kubeconfig = await writeKubeConfigFile(server.url);
    try {
      putEstablishedCrd(server);
      for (const name of ["node-a1", "node-a2", "node-b1", "node-b2"]) {
        server.put(NODES, {
          metadata: { name, labels: { resource_channel: "batch", "topology.kubernetes.io/zone": name.slice(5, 6) } },
          status: { allocatable: { cpu: "16", memory: "64Gi" }, conditions: [{ type: "Ready", status: "True" }] },
        });
      }
      server.put("pods", example("driver-etl").Pod);
      server.put(LEASES, {
        metadata: { name: "spark-scheduler", namespace: "spark" },
        spec: { holderIdentity: `${hostname()}_0b7c`, leaseDurationSeconds: 15, renewTime: new Date().toISOString() },
      });
      const { url, child } = await startMain(["--kube-config", kubeconfig.path]);
      await eventually(async () => ((await (await fetch(`${url}/readyz`)).json()) as any).schedules === true, 10_000, 50);
      expect((await postJson(`${url}/predicates`, example("driver-etl"))).json.NodeNames).toHaveLength(1);
      server.put("pods", example("executor-etl-1").Pod);
      // The executor's bind is answered before its write; the write's first attempt fails and is retried after a
      // backoff, by which time the process has been told to stop.
      server.injectFault({ method: "PUT", pathIncludes: "resourcereservations", status: 503, times: 1 });
      const res = await postJson(`${url}/predicates`, example("executor-etl-1"));
      expect(res.json.NodeNames).toHaveLength(1);
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
      const pods = (server.get(RRS, "etl", "spark") as any).status.pods as Record<string, string>;
      expect(Object.values(pods)).toContain("etl-exec-1");
    } finally {
      for (const c of children.splice(0)) c.kill("SIGTERM");
      await kubeconfig.cleanup();
      await server.stop();
    }
  });
});
