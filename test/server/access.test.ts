// Access control: the Connect services behind a TokenReview + SubjectAccessReview (against the fake API server),
// the review cache, the loopback policy, and the extender route's source addresses.

import { Code, ConnectError } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { Outcome } from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import { RR_GROUP, RR_PLURAL } from "../../src/engine/reservation.js";
import { runCli } from "../../src/cli/run.js";
import { KubeAccessReviewer } from "../../src/kube/access-review.js";
import { ReviewCache, bearerToken, extenderSourceFilter, isLoopback, parseSources } from "../../src/server/access.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";
import { type TestApp, bothClients, example, postFrom, postJson, startTestApp } from "./app-harness.js";

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}

const reviews = (server: FakeApiServer) => ({
  tokens: server.requests.filter((r) => r.path.endsWith("/tokenreviews")).length,
  access: server.requests.filter((r) => r.path.endsWith("/subjectaccessreviews")).length,
});

describe("access.rpc: kubernetes (TokenReview + SubjectAccessReview)", () => {
  let api: FakeApiServer;
  let t: TestApp;
  beforeAll(async () => {
    api = await FakeApiServer.start();
    api.access.tokens.set("reader-token", { username: "alice" });
    api.access.tokens.set("writer-token", { username: "bob" });
    api.access.tokens.set("nobody-token", { username: "mallory" });
    api.access.grants.push(
      { user: "alice", verb: "list", group: RR_GROUP, resource: RR_PLURAL },
      { user: "bob", verb: "list", group: RR_GROUP, resource: RR_PLURAL },
      { user: "bob", verb: "create", group: RR_GROUP, resource: RR_PLURAL },
    );
    t = await startTestApp({ access: { rpc: "kubernetes", reviewer: new KubeAccessReviewer(makeKubeConfig(api.url)) } });
  });
  afterAll(async () => {
    await t.close();
    await api.stop();
  });
  const client = (token?: string, grpc = false) => {
    const interceptors = token
      ? [
          (next: any) => (req: any) => {
            req.header.set("authorization", `Bearer ${token}`);
            return next(req);
          },
        ]
      : [];
    return bothClients(grpc ? createGrpcTransport({ baseUrl: t.url, interceptors }) : createConnectTransport({ baseUrl: t.url, httpVersion: "1.1", interceptors }));
  };

  it("no token or an invalid one is Unauthenticated, with ErrorInfo", async () => {
    for (const grpc of [false, true]) {
      for (const token of [undefined, "forged"]) {
        const e = await failure(client(token, grpc).listReservations({}));
        expect(e.code).toBe(Code.Unauthenticated);
        expect(e.findDetails(ErrorInfoSchema)[0]).toMatchObject({ reason: "UNAUTHENTICATED", domain: "sparkscheduler.v1" });
      }
    }
    const raw = await fetch(`${t.url}/sparkscheduler.v1.SparkSchedulerService/ListReservations`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Basic abc" },
      body: "{}",
    });
    expect(raw.status).toBe(401);
  });

  it("every 401 carries a bearer challenge, with error=invalid_token when a token was presented and rejected", async () => {
    const call = (path: string, authorization?: string) =>
      fetch(`${t.url}/sparkscheduler.v1.${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
        body: "{}",
      });
    for (const path of ["SparkSchedulerService/ListReservations", "ExtenderService/Filter"]) {
      for (const authorization of [undefined, "Basic abc", "Bearer"]) {
        const res = await call(path, authorization);
        expect([res.status, res.headers.get("www-authenticate")], `${path} ${authorization}`).toEqual([401, 'Bearer realm="spark-scheduler"']);
      }
      const forged = await call(path, "Bearer forged");
      expect([forged.status, forged.headers.get("www-authenticate")]).toEqual([401, 'Bearer realm="spark-scheduler", error="invalid_token"']);
    }
    // Answers other than 401 carry no challenge.
    const ok = await call("SparkSchedulerService/ListReservations", "Bearer reader-token");
    expect([ok.status, ok.headers.get("www-authenticate")]).toEqual([200, null]);
    const denied = await call("ExtenderService/Filter", "Bearer reader-token");
    expect([denied.status, denied.headers.get("www-authenticate")]).toEqual([403, null]);
  });

  it("RBAC decides: list reads the admin API, create is needed for Filter", async () => {
    expect((await client("reader-token").listReservations({})).reservations).toEqual([]);
    const body = example("driver-etl");
    const e = await failure(client("reader-token").filter({ pod: body.Pod, nodeNames: body.NodeNames }));
    expect(e.code).toBe(Code.PermissionDenied);
    expect(e.findDetails(ErrorInfoSchema)[0]).toMatchObject({
      reason: "PERMISSION_DENIED",
      metadata: { user: "alice", verb: "create", group: RR_GROUP, resource: RR_PLURAL },
    });
    expect(t.engine.state.getPod("spark", body.Pod.metadata.name)).toBeUndefined();
    const nobody = await failure(client("nobody-token", true).listNodes({}));
    expect(nobody.code).toBe(Code.PermissionDenied);
    expect(nobody.rawMessage).toMatch(/user "mallory" .* needs list resourcereservations/);
    expect((await client("writer-token").filter({ pod: body.Pod, nodeNames: body.NodeNames })).outcome).toBe(Outcome.SUCCESS);
  });

  it("a burst of calls with one token makes one TokenReview and one SubjectAccessReview", async () => {
    api.access.tokens.set("burst-token", { username: "alice" });
    const before = reviews(api);
    const c = client("burst-token");
    await Promise.all(Array.from({ length: 50 }, () => c.listQueues({})));
    await c.listReservations({});
    const after = reviews(api);
    expect(after.tokens - before.tokens).toBe(1);
    expect(after.access - before.access).toBe(1);
  });

  it("the CLI sends --token, or $SPARK_SCHEDULER_TOKEN", async () => {
    const err: string[] = [];
    const io = (env: Record<string, string> = {}) => ({ stdout: () => {}, stderr: (s: string) => err.push(s), env });
    expect(await runCli(["reservations", "--server", t.url], io())).toBe(1);
    expect(err.join("")).toMatch(/^error: unauthenticated: a bearer token is required/);
    expect(await runCli(["reservations", "--server", t.url, "--token", "reader-token"], io())).toBe(0);
    expect(await runCli(["queues", "--server", t.url, "--protocol", "grpc"], io({ SPARK_SCHEDULER_TOKEN: "reader-token" }))).toBe(0);
  });

  it("health and reflection need no token", async () => {
    const res = await fetch(`${t.url}/grpc.health.v1.Health/Check`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(200);
  });

  it("a failed review is Unavailable and not cached", async () => {
    api.access.tokens.set("flaky-token", { username: "alice" });
    api.injectFault({ pathIncludes: "/tokenreviews", status: 500, times: 1 });
    const e = await failure(client("flaky-token").listReservations({}));
    expect(e.code).toBe(Code.Unavailable);
    expect(e.findDetails(ErrorInfoSchema)[0].reason).toBe("ACCESS_REVIEW_FAILED");
    expect((await client("flaky-token").listReservations({})).reservations).toBeDefined();
  });
});

describe("ReviewCache", () => {
  it("reuses an answer until its TTL, shares one load, drops failures and the oldest entries", async () => {
    let now = 0;
    const cache = new ReviewCache<string>(1000, 2, () => now);
    let loads = 0;
    const load = () => Promise.resolve(`v${++loads}`);
    const [a, b] = await Promise.all([cache.get("k", load), cache.get("k", load)]);
    expect([a, b, loads]).toEqual(["v1", "v1", 1]);
    now = 999;
    expect(await cache.get("k", load)).toBe("v1");
    now = 1000;
    expect(await cache.get("k", load)).toBe("v2");
    await expect(cache.get("bad", () => Promise.reject(new Error("down")))).rejects.toThrow("down");
    await Promise.resolve();
    expect(await cache.get("bad", load)).toBe("v3");
    await cache.get("third", load);
    expect(cache.size).toBe(2);
    expect(await cache.get("k", load)).toBe("v5"); // "k" was the oldest and went first
  });
});

describe("addresses and tokens", () => {
  it("knows loopback, parses sources, reads bearer tokens", () => {
    expect(["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"].map(isLoopback)).toEqual([true, true, true, true]);
    expect(["10.0.0.1", "::ffff:10.0.0.1", "fd00::1", undefined, "garbage"].map(isLoopback)).toEqual([false, false, false, false, false]);
    const allowed = extenderSourceFilter(["10.1.0.0/16", "fd00::5"]);
    expect(["127.0.0.1", "10.1.2.3", "::ffff:10.1.2.3", "fd00::5"].map(allowed)).toEqual([true, true, true, true]);
    expect(["10.2.0.1", "fd00::6", undefined].map(allowed)).toEqual([false, false, false]);
    for (const bad of ["10.0.0.0/33", "host.example", "10.0.0.0/8/1", "::/129"]) expect(() => parseSources([bad]), bad).toThrow(bad);
    expect(bearerToken("Bearer abc")).toBe("abc");
    expect(bearerToken("bearer  abc ")).toBe("abc");
    expect([bearerToken(null), bearerToken("Basic abc"), bearerToken("Bearer a b")]).toEqual([undefined, undefined, undefined]);
  });
});

describe("the extender route and access.rpc: loopback", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ access: { rpc: "loopback" } });
  });
  afterAll(async () => {
    await t.close();
  });

  it("serves loopback callers (kube-scheduler in the pod, the quick start)", async () => {
    const body = example("driver-etl");
    const res = await postJson(`http://127.0.0.1:${t.app.server.port}/predicates`, body);
    expect(res.status).toBe(200);
    expect(res.json.NodeNames).toHaveLength(1);
    expect((await bothClients(createConnectTransport({ baseUrl: `http://127.0.0.1:${t.app.server.port}`, httpVersion: "1.1" })).listReservations({})).reservations).toHaveLength(1);
    // The simulated connection of the test below, from loopback, is served: only its address decides.
    expect((await postFrom(t, "::ffff:127.0.0.1", "/sparkscheduler.v1.SparkSchedulerService/ListQueues", "{}")).status).toBe(200);
  });

  it("refuses other callers, unless access.extender-allowed-sources lists them", async () => {
    const before = t.engine.state.reservations.size;
    for (const address of ["192.0.2.7", "::ffff:10.1.2.3", "fd00::7"]) {
      const res = await postFrom(t, address, "/predicates", JSON.stringify(example("driver-too-big")));
      expect([address, res.status, res.json.reason]).toEqual([address, 403, "PERMISSION_DENIED"]);
      const rpc = await postFrom(t, address, "/sparkscheduler.v1.SparkSchedulerService/ListReservations", "{}");
      expect([address, rpc.status, rpc.json.code]).toEqual([address, 403, "permission_denied"]);
    }
    expect(t.engine.state.getPod("spark", "too-big-driver")).toBeUndefined();
    expect(t.engine.state.reservations.size).toBe(before);

    const open = await startTestApp({ access: { rpc: "loopback", extenderAllowedSources: ["192.0.2.0/24", "fd00::7"] } });
    try {
      for (const address of ["192.0.2.7", "::ffff:192.0.2.8", "fd00::7"]) {
        const ok = await postFrom(open, address, "/predicates", JSON.stringify(example("driver-etl")));
        expect([address, ok.status, ok.json.NodeNames]).toEqual([address, 200, [expect.any(String)]]);
      }
      expect((await postFrom(open, "192.0.3.1", "/predicates", JSON.stringify(example("driver-etl")))).status).toBe(403);
    } finally {
      await open.close();
    }
  });
});
