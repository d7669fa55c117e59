// mTLS (tls.client-ca-file): a client certificate verified against the client CA identifies its caller the way
// kube-apiserver's x509 authenticator does (user = subject CN, groups = subject O), authorised with the same
// SubjectAccessReview path and cache as bearer tokens (against the fake API server); a missing certificate, one
// from another CA or one without a CN is refused; `client-auth: required` refuses the handshake; the extender
// route admits a caller elsewhere by its certificate; a rotated client CA bundle is reloaded.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { Code, ConnectError } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { Outcome } from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import { configFromObject } from "../../src/config.js";
import { RR_GROUP, RR_PLURAL } from "../../src/engine/reservation.js";
import { KubeAccessReviewer } from "../../src/kube/access-review.js";
import { certificateUser } from "../../src/server/access.js";
import { parseCaBundle } from "../../src/server/listen.js";
import { TlsReloader } from "../../src/server/tls-reload.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";
import { type TestApp, bothClients, example, postFrom, startTestApp } from "./app-harness.js";
import { type Issued, TestCa } from "./test-certs.js";

// The serving pair of the other TLS tests (CN spark-scheduler-test, for 127.0.0.1): clients trust it as their CA.
const serving = {
  cert: readFileSync(new URL("../support/tls/cert.pem", import.meta.url)),
  key: readFileSync(new URL("../support/tls/key.pem", import.meta.url)),
};

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}

let ca: TestCa;
let other: TestCa;
let alice: Issued; // O=readers, O=team-x, CN=alice: may list
let carol: Issued; // CN=carol: may list and create
let forged: Issued; // CN=alice, from a CA the server does not trust
let noCn: Issued; // O=readers only
beforeAll(() => {
  ca = TestCa.create("spark-scheduler-test-client-ca");
  other = TestCa.create("some-other-ca");
  alice = ca.issue("/O=readers/O=team-x/CN=alice");
  carol = ca.issue("/CN=carol");
  forged = other.issue("/CN=alice");
  noCn = ca.issue("/O=readers");
});
afterAll(() => {
  ca?.dispose();
  other?.dispose();
});

/**
 * Clients of both services over HTTPS, presenting `identity` (or no certificate). A new transport and no
 * connection reuse per client, so each client makes a new TLS handshake.
 */
function client(t: TestApp, identity?: Issued, opts: { grpc?: boolean; token?: string } = {}) {
  const nodeOptions = { ca: serving.cert, ...(identity ? { cert: identity.cert, key: identity.key } : {}) };
  const interceptors = opts.token
    ? [
        (next: any) => (req: any) => {
          req.header.set("authorization", `Bearer ${opts.token}`);
          return next(req);
        },
      ]
    : [];
  return bothClients(
    opts.grpc
      ? createGrpcTransport({ baseUrl: t.url, nodeOptions, interceptors })
      : createConnectTransport({ baseUrl: t.url, httpVersion: "1.1", nodeOptions: { ...nodeOptions, agent: false }, interceptors }),
  );
}

const reviews = (server: FakeApiServer) => ({
  tokens: server.requests.filter((r) => r.path.endsWith("/tokenreviews")).length,
  access: server.requests.filter((r) => r.path.endsWith("/subjectaccessreviews")).length,
});

describe("client certificates with access.rpc: kubernetes (tls.client-auth: optional)", () => {
  let api: FakeApiServer;
  let t: TestApp;
  beforeAll(async () => {
    api = await FakeApiServer.start();
    api.access.tokens.set("reader-token", { username: "alice" });
    api.access.grants.push(
      { user: "alice", verb: "list", group: RR_GROUP, resource: RR_PLURAL },
      { user: "carol", verb: "list", group: RR_GROUP, resource: RR_PLURAL },
      { user: "carol", verb: "create", group: RR_GROUP, resource: RR_PLURAL },
    );
    t = await startTestApp({
      tls: { ...serving, clientCa: ca.cert, clientAuth: "optional" },
      access: { rpc: "kubernetes", reviewer: new KubeAccessReviewer(makeKubeConfig(api.url)) },
    });
  });
  afterAll(async () => {
    await t?.close();
    await api?.stop();
  });

  it("a certificate from the CA names its caller (CN = user, O = groups) and RBAC decides, with no TokenReview", async () => {
    const before = reviews(api);
    for (const grpc of [false, true]) expect((await client(t, alice, { grpc }).listReservations({})).reservations).toEqual([]);
    const sar = JSON.parse(api.requests.filter((r) => r.path.endsWith("/subjectaccessreviews")).at(-1)!.body);
    expect(sar.spec).toMatchObject({ user: "alice", groups: ["readers", "team-x", "system:authenticated"], resourceAttributes: { verb: "list" } });

    const body = example("driver-etl");
    const e = await failure(client(t, alice).filter({ pod: body.Pod, nodeNames: body.NodeNames }));
    expect(e.code).toBe(Code.PermissionDenied);
    expect(e.findDetails(ErrorInfoSchema)[0]).toMatchObject({ reason: "PERMISSION_DENIED", metadata: { user: "alice", verb: "create" } });
    expect(t.engine.state.getPod("spark", body.Pod.metadata.name)).toBeUndefined();
    expect((await client(t, carol, { grpc: true }).filter({ pod: body.Pod, nodeNames: body.NodeNames })).outcome).toBe(Outcome.SUCCESS);
    expect(reviews(api).tokens).toBe(before.tokens);
  });

  it("no certificate, one from another CA, or one without a CN is Unauthenticated; a bearer token still works", async () => {
    const cases: [Issued | undefined, RegExp][] = [
      [undefined, /a bearer token is required/],
      [forged, /^the client certificate is not verified against tls.client-ca-file \([A-Z_]+\)/],
      [noCn, /no common name/],
    ];
    for (const [identity, message] of cases) {
      for (const grpc of [false, true]) {
        const e = await failure(client(t, identity, { grpc }).listReservations({}));
        expect([e.code, e.rawMessage]).toEqual([Code.Unauthenticated, expect.stringMatching(message)]);
        expect(e.findDetails(ErrorInfoSchema)[0]).toMatchObject({ reason: "UNAUTHENTICATED" });
      }
    }
    // A token identifies the caller when the certificate does not (as in kube-apiserver).
    expect((await client(t, undefined, { token: "reader-token" }).listReservations({})).reservations).toBeDefined();
    expect((await client(t, forged, { token: "reader-token", grpc: true }).listReservations({})).reservations).toBeDefined();
  });

  it("a burst of calls with one certificate makes one SubjectAccessReview", async () => {
    const fresh = ca.issue("/CN=alice");
    const before = reviews(api);
    const c = client(t, fresh, { grpc: true });
    await Promise.all(Array.from({ length: 30 }, () => c.listQueues({})));
    await client(t, fresh).listReservations({});
    const after = reviews(api);
    expect([after.tokens - before.tokens, after.access - before.access]).toEqual([0, 1]);
  });

  it("the extender route admits a caller elsewhere by its certificate, if RBAC lets it create reservations", async () => {
    const driver = JSON.stringify(example("driver-too-big"));
    const refused: [Issued | undefined, number, string][] = [
      [undefined, 403, "PERMISSION_DENIED"], // no certificate: the source address decides
      [alice, 403, "PERMISSION_DENIED"], // lacks create
      [forged, 401, "UNAUTHENTICATED"],
    ];
    for (const [identity, status, reason] of refused) {
      const res = await postFrom(t, "192.0.2.7", "/predicates", driver, { ca: serving.cert, ...(identity ?? {}) });
      expect([res.status, res.json.reason]).toEqual([status, reason]);
    }
    expect(t.engine.state.getPod("spark", "too-big-driver")).toBeUndefined();
    const ok = await postFrom(t, "192.0.2.7", "/predicates", driver, { ca: serving.cert, ...carol });
    expect(ok.status).toBe(200);
    expect(t.engine.state.getPod("spark", "too-big-driver")).toBeDefined();
  });
});

describe("tls.client-auth: required", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ tls: { ...serving, clientCa: ca.cert, clientAuth: "required" }, access: { rpc: "none" } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("refuses the handshake of a client without a certificate from the CA", async () => {
    for (const identity of [undefined, forged]) {
      for (const grpc of [false, true]) {
        const e = await failure(client(t, identity, { grpc }).listReservations({}));
        // A transport failure, not an answer of the service.
        expect(e.findDetails(ErrorInfoSchema)).toEqual([]);
        expect(e.code).not.toBe(Code.Unauthenticated);
      }
    }
    expect((await client(t, alice).listReservations({})).reservations).toEqual([]);
  });
});

describe("client CA reload", () => {
  let dir: string;
  let t: TestApp;
  let reloader: TlsReloader | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "client-ca-"));
    t = await startTestApp({ tls: { ...serving, clientCa: ca.cert }, access: { rpc: "none" } });
  });
  afterAll(async () => {
    reloader?.stop();
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a rotated bundle verifies new connections; a broken one keeps the current CAs", async () => {
    const certFile = join(dir, "tls.crt");
    const keyFile = join(dir, "tls.key");
    const clientCaFile = join(dir, "ca.crt");
    writeFileSync(certFile, serving.cert);
    writeFileSync(keyFile, serving.key);
    writeFileSync(clientCaFile, ca.cert);
    reloader = new TlsReloader({
      certFile,
      keyFile,
      clientCaFile,
      initial: { ...serving, clientCa: ca.cert },
      apply: (c) => t.app.server.setCredentials(c),
      log: pino({ level: "silent" }),
      settleMs: 10,
    });
    expect(reloader.check()).toBe(false); // unchanged
    expect(await peerVerified(t, alice)).toBe(true);
    expect(await peerVerified(t, forged)).toBe(false);

    writeFileSync(clientCaFile, "not a certificate");
    expect(reloader.check()).toBe(false);
    expect(await peerVerified(t, alice)).toBe(true);

    // The other CA replaces the first: its certificates are verified, the first CA's no longer.
    writeFileSync(clientCaFile, other.cert);
    expect(reloader.check()).toBe(true);
    expect(await peerVerified(t, forged)).toBe(true);
    expect(await peerVerified(t, alice)).toBe(false);

    // A bundle of both, seen through the directory watch.
    reloader.start();
    writeFileSync(clientCaFile, Buffer.concat([ca.cert, other.cert]));
    await vi.waitFor(async () => expect(await peerVerified(t, alice)).toBe(true), { timeout: 10_000, interval: 50 });
    expect(await peerVerified(t, forged)).toBe(true);
  });
});

/** Whether the server verified the client certificate of a new connection presenting `identity` (its side of the socket says). */
async function peerVerified(t: TestApp, identity: Issued): Promise<boolean> {
  const server = t.app.server.netServer as tls.Server;
  const seen = new Promise<boolean>((resolve) => server.once("secureConnection", (s: tls.TLSSocket) => resolve(s.authorized)));
  const sock = tls.connect({ host: "127.0.0.1", port: t.app.server.port, servername: "localhost", ca: serving.cert, ...identity, ALPNProtocols: ["http/1.1"] });
  sock.on("error", () => {});
  try {
    return await seen;
  } finally {
    sock.destroy();
  }
}

describe("configuration and helpers", () => {
  it("reads tls.client-ca-file and tls.client-auth", () => {
    const tlsKeys = { "cert-file": "c", "key-file": "k" };
    expect(configFromObject({ tls: { ...tlsKeys, "client-ca-file": "ca" } }).tls).toEqual({ certFile: "c", keyFile: "k", clientCaFile: "ca", clientAuth: "optional" });
    expect(configFromObject({ tls: { ...tlsKeys, "client-ca-file": "ca", "client-auth": "required" } }).tls?.clientAuth).toBe("required");
    expect(configFromObject({ tls: tlsKeys }).tls).toEqual({ certFile: "c", keyFile: "k" });
    expect(() => configFromObject({ tls: { "client-ca-file": "ca" } })).toThrow(/needs tls.cert-file/);
    expect(() => configFromObject({ tls: { ...tlsKeys, "client-auth": "required" } })).toThrow(/needs tls.client-ca-file/);
    expect(() => configFromObject({ tls: { ...tlsKeys, "client-ca-file": "ca", "client-auth": "always" } })).toThrow(/tls.client-auth: expected optional or required/);
  });

  it("maps a certificate subject as kube-apiserver does, and parses CA bundles", () => {
    const cert = (subject: Record<string, string | string[]>) => ({ verified: true, subject, fingerprint256: "f" }) as never;
    expect(certificateUser(cert({ CN: "alice", O: ["a", "b"] }))).toEqual({ username: "alice", groups: ["a", "b", "system:authenticated"], extra: {} });
    expect(certificateUser(cert({ CN: ["first", "last"], O: "a" }))?.username).toBe("last");
    expect(certificateUser(cert({ O: "a" }))).toBeUndefined();
    expect(parseCaBundle(Buffer.concat([ca.cert, other.cert])).map((x) => x.subject)).toEqual([`CN=${ca.name}`, `CN=${other.name}`]);
    expect(() => parseCaBundle("nothing here")).toThrow(/no PEM certificate/);
    expect(() => parseCaBundle("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")).toThrow(/certificate 1 .* does not parse/);
  });
});
