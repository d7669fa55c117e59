// The kubectl plugin (bin/kubectl-spark → src/cli/kubectl-spark.ts): the admin CLI reaching the service through
// the kubeconfig's API server, here the fake API server's services/proxy route in front of the whole service on
// an embedded cluster, with the user's own kubeconfig credentials deciding (RBAC on services/proxy).

import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RR_GROUP, RR_PLURAL } from "../../src/engine/reservation.js";
import { runCli } from "../../src/cli/run.js";
import { KubeAccessReviewer } from "../../src/kube/access-review.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";
import { type TestApp, startTestApp } from "../server/app-harness.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PLUGIN = join(ROOT, "bin", "kubectl-spark");
const request = (name: string) => join(ROOT, "examples", "requests", `${name}.json`);

/** A kubeconfig with one context per user token, `alice` current. */
function kubeconfig(server: string, tokens: Record<string, string>): string {
  const names = Object.keys(tokens);
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: fake`,
    `  cluster: { server: "${server}" }`,
    "users:",
    ...names.map((n) => `- name: ${n}\n  user: { token: ${tokens[n]} }`),
    "contexts:",
    ...names.map((n) => `- name: ${n}\n  context: { cluster: fake, user: ${n} }`),
    `current-context: ${names[0]}`,
    "",
  ].join("\n");
}

describe("kubectl spark through the API server's service proxy", () => {
  let api: FakeApiServer;
  let t: TestApp;
  let secure: TestApp;
  let dir: string;
  let config: string;

  beforeAll(async () => {
    api = await FakeApiServer.start();
    t = await startTestApp({ config: { fifo: true, "instance-group-label": "resource_channel" } });
    // A second service that checks tokens itself (access.rpc: kubernetes), as deployed in a cluster.
    secure = await startTestApp({ access: { rpc: "kubernetes", reviewer: new KubeAccessReviewer(makeKubeConfig(api.url)) } });
    api.proxyService("spark-scheduler", "spark-scheduler", "http", t.url);
    api.proxyService("spark-scheduler", "secure", "http", secure.url);
    api.access.tokens.set("t-alice", { username: "alice" });
    api.access.tokens.set("t-bob", { username: "bob" });
    api.access.grants.push(
      { user: "alice", verb: "create", group: "", resource: "services/proxy" },
      { user: "alice", verb: "list", group: RR_GROUP, resource: RR_PLURAL },
    );
    dir = mkdtempSync(join(tmpdir(), "kubectl-spark-"));
    config = join(dir, "kubeconfig");
    writeFileSync(config, kubeconfig(api.url, { alice: "t-alice", bob: "t-bob", stranger: "not-a-token" }));
  });
  afterAll(async () => {
    await t.close();
    await secure.close();
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const plugin = async (args: string[], env: Record<string, string | undefined> = { KUBECONFIG: config }) => {
    let out = "";
    let err = "";
    const code = await runCli(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env, cwd: ROOT, kubectlPlugin: true });
    return { code, out, err };
  };

  it("the plugin executable lists the reservations as a table, with the kubeconfig's token", async () => {
    expect((await plugin(["filter", request("driver-etl")])).code).toBe(0); // a POST through the proxy, too
    const { stdout, stderr } = await promisify(execFile)(PLUGIN, ["reservations"], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH, HOME: dir, KUBECONFIG: config },
      timeout: 20_000,
    });
    expect(stderr).toBe("");
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0].split(/ {2,}/)).toEqual(["APP", "NAMESPACE", "DRIVER", "NODE", "EXECUTORS", "SOFT", "AGE"]);
    expect(lines[1]).toMatch(/^etl\s+spark\s+etl-driver\s+node-\w+\s+0\/8\s+-\s+\d+s$/);
    const proxied = api.requests.filter((r) => r.path.startsWith("/api/v1/namespaces/spark-scheduler/services/spark-scheduler:http/proxy/"));
    expect(proxied.map((r) => r.path.split("/proxy/")[1])).toContain("sparkscheduler.v1.SparkSchedulerService/ListReservations");
  });

  it("the plugin executable fails with a clear message when the API server does not accept the token", async () => {
    const run = promisify(execFile)(PLUGIN, ["reservations", "--context", "stranger"], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH, HOME: dir, KUBECONFIG: config },
      timeout: 20_000,
    });
    await expect(run).rejects.toMatchObject({
      code: 1,
      stdout: "",
      stderr: expect.stringMatching(/^error: unauthenticated: Unauthorized\nhint: the API server refused the call \(kubeconfig context "stranger" .*\): it did not accept the kubeconfig's credentials/),
    });
  });

  it("-o json and -o yaml, a stream, and help naming kubectl spark", async () => {
    const json = await plugin(["reservations", "-o", "json"]);
    expect(json.err).toBe("");
    expect(JSON.parse(json.out).reservations.map((r: { appId: string }) => r.appId)).toEqual(["etl"]);
    expect((await plugin(["reservation", "spark", "etl", "-o", "yaml"])).out).toMatch(/^reservation:\n {2}namespace: spark\n/);
    const watch = await plugin(["watch", "reservations", "--count", "2", "--protocol", "grpcweb"]);
    expect(watch.err).toBe("");
    expect(watch.out).toMatch(/^ADDED\s+spark\/etl\s+driver=etl-driver\s+slots=9\nSYNCED\n$/);
    const help = await plugin(["--help"]);
    expect(help.out).toContain("Usage: kubectl spark <command> [flags]");
    expect(help.out).not.toContain("npm run cli");
    expect((await plugin(["help", "explain"])).out).toMatch(/^Usage: kubectl spark explain NAMESPACE POD/);
  });

  it("RBAC on services/proxy decides; a wrong service, context or kubeconfig says so", async () => {
    // Over both HTTP/1.1 protocols the API server's refusal arrives as the call's error.
    for (const protocol of ["connect", "grpcweb"]) {
      expect((await plugin(["queues", "--context", "stranger", "--protocol", protocol])).err).toMatch(/^error: unauthenticated: (Unauthorized|HTTP 401)\n/);
    }
    const bob = await plugin(["queues", "--context", "bob"]);
    expect(bob.code).toBe(1);
    expect(bob.err).toMatch(/^error: permission_denied: services "spark-scheduler:http" is forbidden: User "bob" cannot create resource "services\/proxy"/);
    expect(bob.err).toContain("kubectl auth can-i create services/proxy -n spark-scheduler");
    const missing = await plugin(["queues", "--service", "other/nothing:8483"]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/services "nothing" not found\nhint: .*--service NAMESPACE\/NAME:PORT/);
    expect(await plugin(["queues", "--context", "nope"])).toMatchObject({ code: 1, err: 'error: kubeconfig has no context "nope"\n' });
    expect((await plugin(["queues"], { HOME: dir })).err).toMatch(/^error: no kubeconfig: \$KUBECONFIG is not set/);
    expect((await plugin(["queues", "--service", "Bad Name"])).code).toBe(2);
    expect((await plugin(["queues", "--protocol", "grpc"])).err).toMatch(/^error: --protocol grpc needs HTTP\/2, which the API server's service proxy does not pass/);
    expect((await plugin(["queues", "--server", t.url, "--context", "alice"])).code).toBe(2);
  });

  it("--server (a port-forward) bypasses the kubeconfig; the plain CLI uses the proxy when given --service", async () => {
    const direct = await plugin(["reservations", "--server", t.url], {});
    expect(direct.err).toBe("");
    expect(direct.out).toMatch(/^etl\s+spark/m);
    const env = await plugin(["reservations"], { SPARK_SCHEDULER_URL: t.url });
    expect(env.out).toMatch(/^etl\s+spark/m);
    let out = "";
    const code = await runCli(["reservations", "--kubeconfig", config, "--service", "spark-scheduler/spark-scheduler:http"], { stdout: (s) => (out += s), stderr: () => {}, env: {} });
    expect(code).toBe(0);
    expect(out).toMatch(/^etl\s+spark/m);
  });

  it("a service with access.rpc: kubernetes sees no token through the proxy: the hint says to port-forward", async () => {
    const viaProxy = await plugin(["queues", "--service", "spark-scheduler/secure"]);
    expect(viaProxy.code).toBe(1);
    expect(viaProxy.err).toMatch(/^error: unauthenticated: a bearer token is required.*\nhint: the service \(access\.rpc: kubernetes\) wants a bearer token, which the API server's service proxy does not pass on/);
    expect(viaProxy.err).toContain("kubectl spark --port-forward ...");
    // The service directly (as through a port-forward) with the user's token.
    expect(await plugin(["queues", "--server", secure.url, "--token", "t-alice"], {})).toMatchObject({ code: 0, err: "" });
  });

  it("--port-forward runs kubectl port-forward and sends the kubeconfig's token to the service, whose review decides", async () => {
    // Stands in for kubectl: records its arguments and pid, prints what kubectl port-forward prints, stays until killed.
    const port = new URL(secure.url).port;
    const kubectl = join(dir, "kubectl");
    writeFileSync(
      kubectl,
      `#!/bin/sh\necho "$@" > "${dir}/args"\necho $$ > "${dir}/pid"\necho "Forwarding from 127.0.0.1:${port} -> 8483"\necho "Forwarding from [::1]:${port} -> 8483"\nexec sleep 600\n`,
      { mode: 0o755 },
    );
    const env = { KUBECONFIG: config, KUBECTL: kubectl };
    const alice = await plugin(["queues", "--port-forward", "--service", "spark-scheduler/secure", "--context", "alice"], env);
    expect(alice).toMatchObject({ code: 0, err: "" });
    expect(readFileSync(join(dir, "args"), "utf8").trim()).toBe("port-forward --context alice -n spark-scheduler svc/secure :http");
    const pid = Number(readFileSync(join(dir, "pid"), "utf8"));
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/); // stopped once the call is done
    // bob's token authenticates, but RBAC gives bob no list on resourcereservations: the service refuses.
    const bob = await plugin(["queues", "--port-forward", "--service", "spark-scheduler/secure", "--context", "bob", "--protocol", "grpc"], env);
    expect(bob.code).toBe(1);
    expect(bob.err).toMatch(/^error: permission_denied: user "bob" may not call sparkscheduler\.v1\.SparkSchedulerService/);
    const failing = await plugin(["queues", "--port-forward"], { KUBECONFIG: config, KUBECTL: "/bin/false" });
    expect(failing.code).toBe(1);
    expect(failing.err).toMatch(/^error: \/bin\/false port-forward -n spark-scheduler svc\/spark-scheduler :http exited \(1\)/);
  });
});
