import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Reservation, cloneReservation, reservationFromObject } from "../../src/engine/reservation.js";
import { res } from "../../src/engine/resources.js";
import { ReservationWriteError, ReservationWriter } from "../../src/kube/reservation-writer.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";
import { NS, RRS, silentLog } from "./fixtures.js";

let server: FakeApiServer;
let writer: ReservationWriter;

beforeEach(async () => {
  server = await FakeApiServer.start();
  writer = new ReservationWriter(makeKubeConfig(server.url), { maxAttempts: 4, initialBackoffMs: 5, maxBackoffMs: 20 }, silentLog);
});

afterEach(async () => {
  await server.stop();
});

function reservation(appId = "app-1", driverUid = "uid-driver"): Reservation {
  return {
    namespace: NS,
    appId,
    driverPod: `${appId}-driver`,
    driverUid,
    slots: new Map([
      ["driver", { node: "n1", resources: res(1000, 2 ** 30) }],
      ["executor-1", { node: "n2", resources: res(2000, 2 ** 31) }],
    ]),
    pods: new Map([["driver", `${appId}-driver`]]),
    createdAtMs: 0,
  };
}

/** The stored object parsed back into a Reservation. */
function stored(name = "app-1"): Reservation {
  const obj = server.get(RRS, name, NS);
  if (!obj) throw new Error(`no reservation ${name}`);
  const r = reservationFromObject(obj);
  if (typeof r === "string") throw new Error(r);
  return r;
}

async function created(r: Reservation): Promise<Reservation> {
  r.resourceVersion = await writer.write({ op: "create", reservation: r });
  return r;
}

function bound(r: Reservation, slot: string, pod: string): Reservation {
  const next = cloneReservation(r);
  next.pods.set(slot, pod);
  return next;
}

describe("ReservationWriter", () => {
  it("creates the v1beta2 object owned by the driver pod and returns its resourceVersion", async () => {
    const rv = await writer.write({ op: "create", reservation: reservation() });
    const obj = server.get(RRS, "app-1", NS)!;
    expect(rv).toBe(obj.metadata.resourceVersion);
    expect(obj.apiVersion).toBe("sparkscheduler.palantir.com/v1beta2");
    expect(obj.metadata.ownerReferences).toEqual([
      { apiVersion: "v1", kind: "Pod", name: "app-1-driver", uid: "uid-driver", controller: true, blockOwnerDeletion: true },
    ]);
    expect(obj.spec).toEqual({
      reservations: {
        driver: { node: "n1", resources: { cpu: "1", memory: "1073741824", "nvidia.com/gpu": "0" } },
        "executor-1": { node: "n2", resources: { cpu: "2", memory: "2147483648", "nvidia.com/gpu": "0" } },
      },
    });
    expect(obj.status).toEqual({ pods: { driver: "app-1-driver" } });
  });

  it("updates with the held resourceVersion", async () => {
    const r = await created(reservation());
    const next = bound(r, "executor-1", "exec-a");
    const rv = await writer.write({ op: "update", reservation: next, previous: r });
    expect(Number(rv)).toBeGreaterThan(Number(r.resourceVersion));
    expect(stored().pods.get("executor-1")).toBe("exec-a");
    const put = server.requests.find((q) => q.method === "PUT")!;
    expect(JSON.parse(put.body).metadata.resourceVersion).toBe(r.resourceVersion);
  });

  it("resolves a 409 Conflict by re-reading the server's version and re-applying our content", async () => {
    const r = await created(reservation());
    const obj = server.get(RRS, "app-1", NS)!;
    server.put(RRS, { ...obj, status: { pods: { driver: "app-1-driver", "executor-1": "someone-else" } } });
    const next = bound(r, "executor-1", "exec-a");
    const rv = await writer.write({ op: "update", reservation: next, previous: r });
    expect(rv).toBe(server.get(RRS, "app-1", NS)!.metadata.resourceVersion);
    expect(stored().pods.get("executor-1")).toBe("exec-a");
    expect(server.requests.map((q) => q.method)).toEqual(["POST", "PUT", "GET", "PUT"]);
  });

  it("retries 5xx and network errors with backoff, then succeeds", async () => {
    server.injectFault({ method: "POST", status: 503 });
    server.injectFault({ method: "POST", status: 0 });
    server.injectFault({ method: "POST", status: 500 });
    await writer.write({ op: "create", reservation: reservation() });
    expect(stored().slots.size).toBe(2);
    expect(server.requests.filter((q) => q.method === "POST")).toHaveLength(4);
  });

  it("rejects after maxAttempts when the API server keeps failing", async () => {
    const fault = server.injectFault({ method: "POST", status: 503, times: Infinity });
    const write = writer.write({ op: "create", reservation: reservation() });
    await expect(write).rejects.toThrow(ReservationWriteError);
    await expect(write).rejects.toThrow(/create of reservation spark\/app-1 failed after 4 attempt\(s\): HTTP 503 ServiceUnavailable/);
    expect(fault.hits).toBe(4);
    expect(server.get(RRS, "app-1", NS)).toBeUndefined();
  });

  it("does not retry a non-transient error", async () => {
    server.injectFault({ method: "POST", status: 422 });
    await expect(writer.write({ op: "create", reservation: reservation() })).rejects.toThrow(/after 1 attempt\(s\): HTTP 422/);
  });

  it("adopts an existing object of the same driver on AlreadyExists", async () => {
    await created(reservation());
    const again = bound(reservation(), "executor-1", "exec-a");
    await writer.write({ op: "create", reservation: again });
    expect(stored().pods.get("executor-1")).toBe("exec-a");
  });

  it("refuses to overwrite another driver's reservation of the same name", async () => {
    await created(reservation("app-1", "uid-old"));
    const write = writer.write({ op: "create", reservation: reservation("app-1", "uid-new") });
    await expect(write).rejects.toThrow(
      /it already exists for another driver \(uid uid-old, ours uid-new\); refusing to overwrite it/,
    );
    expect(stored().driverUid).toBe("uid-old");
  });

  it("re-creates a reservation that disappeared before an update", async () => {
    const r = await created(reservation());
    server.remove(RRS, "app-1", NS);
    await writer.write({ op: "update", reservation: bound(r, "executor-1", "exec-a"), previous: r });
    expect(stored().pods.get("executor-1")).toBe("exec-a");
  });

  it("deletes reservations: NotFound counts as success, a changed object is left alone", async () => {
    const r = await created(reservation());
    expect(await writer.deleteReservation(NS, "app-1", "1")).toBe("changed");
    expect(server.get(RRS, "app-1", NS)).toBeDefined();
    expect(await writer.deleteReservation(NS, "app-1", r.resourceVersion)).toBe("deleted");
    expect(await writer.deleteReservation(NS, "app-1")).toBe("absent");
  });
});

describe("ReservationWriter against a TLS API server", () => {
  it("keeps one connection for its writes and every client of the same kubeconfig, with the kubeconfig's CA and bearer token (client-node made one per request)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "writer-tls-"));
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "key.pem", "-out", "cert.pem",
        "-subj", "/CN=127.0.0.1", "-days", "1", "-addext", "subjectAltName=IP:127.0.0.1"],
      { cwd: dir, stdio: "pipe" },
    );
    const cert = readFileSync(join(dir, "cert.pem"));
    const key = readFileSync(join(dir, "key.pem"));
    rmSync(dir, { recursive: true, force: true });
    let connections = 0;
    const seen: { method: string; path: string; auth: string | undefined; body: { metadata?: { resourceVersion?: string } } }[] = [];
    let rv = 0;
    const api = https.createServer({ cert, key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as (typeof seen)[number]["body"];
        seen.push({ method: req.method!, path: req.url!, auth: req.headers.authorization, body });
        const out = JSON.stringify({ ...body, metadata: { ...body.metadata, resourceVersion: String(++rv) } });
        res.writeHead(req.method === "POST" ? 201 : 200, { "content-type": "application/json" });
        res.end(out);
      });
    });
    api.on("secureConnection", () => connections++);
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = api.address() as { port: number };
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: "tls", server: `https://127.0.0.1:${port}`, caData: cert.toString("base64"), skipTLSVerify: false }],
        users: [{ name: "tls", token: "secret-token" }],
        contexts: [{ name: "tls", cluster: "tls", user: "tls" }],
        currentContext: "tls",
      });
      const tlsWriter = new ReservationWriter(kc, { maxAttempts: 1, initialBackoffMs: 5, maxBackoffMs: 20 }, silentLog);
      let r = reservation();
      r.resourceVersion = await tlsWriter.write({ op: "create", reservation: r });
      for (let i = 1; i <= 4; i++) {
        const next = bound(r, "executor-1", `exec-${i}`);
        next.resourceVersion = await tlsWriter.write({ op: "update", reservation: next, previous: r });
        r = next;
      }
      expect(r.resourceVersion).toBe("5");
      expect(seen.map((s) => s.method)).toEqual(["POST", "PUT", "PUT", "PUT", "PUT"]);
      expect(seen[0].path).toBe(`/apis/sparkscheduler.palantir.com/v1beta2/namespaces/${NS}/resourcereservations`);
      expect(seen[1].path).toBe(`/apis/sparkscheduler.palantir.com/v1beta2/namespaces/${NS}/resourcereservations/app-1`);
      expect(seen[2].body.metadata?.resourceVersion).toBe("2");
      expect(seen.every((s) => s.auth === "Bearer secret-token")).toBe(true);
      expect(connections).toBe(1);
      // Every client made from the same kubeconfig shares that connection (one pool, not one per module).
      const other = new ReservationWriter(kc, { maxAttempts: 1, initialBackoffMs: 5, maxBackoffMs: 20 }, silentLog);
      const last = bound(r, "executor-1", "exec-5");
      expect(await other.write({ op: "update", reservation: last, previous: r })).toBe("6");
      expect(connections).toBe(1);
    } finally {
      api.closeAllConnections();
      await new Promise((resolve) => api.close(resolve));
    }
  });
});
