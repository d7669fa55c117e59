// src/kube/client.ts (plain-JSON requests on client-node's KubeConfig and HTTP library) against the fake API
// server over real HTTP, and src/kube/lean-client-node.ts (client-node loaded without its generated API and
// model surface) in a process of its own.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { transformSync } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiException, KubeApi, V1MicroTime, objectPath } from "../../src/kube/client.js";
import * as gen from "../../src/kube/client-node-gen.js";
import { apiErrorCode, apiErrorMessage, isTransientApiError } from "../../src/kube/reservation-writer.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";

let server: FakeApiServer;
let api: KubeApi;

beforeAll(async () => {
  server = await FakeApiServer.start();
  api = new KubeApi(makeKubeConfig(server.url));
});
afterAll(async () => {
  await server.stop();
});

const cm = (name: string, data: Record<string, string>) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "ns" }, data });

describe("KubeApi", () => {
  it("fails a request the API server never answers after its timeout, as a transient network error", async () => {
    const quick = new KubeApi(makeKubeConfig(server.url), 300);
    server.setWriteLatency(3_600_000);
    try {
      const err = await quick.create(objectPath("v1", "configmaps", "ns"), cm("hung", { k: "1" })).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: "ETIMEDOUT" });
      expect(isTransientApiError(err)).toBe(true);
    } finally {
      server.setWriteLatency(0);
    }
  });

  it("creates, reads, replaces, merge-patches and deletes as plain JSON", async () => {
    const created = await api.create<{ metadata: { resourceVersion: string } }>(objectPath("v1", "configmaps", "ns"), cm("a", { k: "1" }));
    expect(created.metadata.resourceVersion).toBeTruthy();
    const read = await api.get<{ data: Record<string, string>; metadata: { creationTimestamp: unknown } }>(objectPath("v1", "configmaps", "ns", "a"));
    expect(read.data).toEqual({ k: "1" });
    // Plain JSON: timestamps stay strings (no model classes, no Dates).
    expect(typeof read.metadata.creationTimestamp).toBe("string");
    await api.replace(objectPath("v1", "configmaps", "ns", "a"), { ...cm("a", { k: "2" }), metadata: { ...cm("a", {}).metadata, resourceVersion: created.metadata.resourceVersion } });
    await api.mergePatch(objectPath("v1", "configmaps", "ns", "a"), { data: { other: "x" } });
    expect(server.get("configmaps", "a", "ns")?.data).toEqual({ k: "2", other: "x" });
    await api.delete(objectPath("v1", "configmaps", "ns", "a"));
    expect(server.get("configmaps", "a", "ns")).toBeUndefined();
  });

  it("throws client-node's ApiException with the status and the Status body, as the typed APIs do", async () => {
    const err = await api.get(objectPath("v1", "configmaps", "ns", "missing")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    expect(apiErrorCode(err)).toBe(404);
    expect(apiErrorMessage(err)).toMatch(/^HTTP 404 NotFound: /);
    await api.create(objectPath("v1", "configmaps", "ns"), cm("b", {}));
    const conflict = await api.create(objectPath("v1", "configmaps", "ns"), cm("b", {})).catch((e: unknown) => e);
    expect(apiErrorCode(conflict)).toBe(409);
  });

  it("sends DeleteOptions: a stale precondition is refused with 409", async () => {
    const c = await api.create<{ metadata: { resourceVersion: string } }>(objectPath("v1", "configmaps", "ns"), cm("c", {}));
    await api.mergePatch(objectPath("v1", "configmaps", "ns", "c"), { data: { x: "1" } });
    const stale = await api.delete(objectPath("v1", "configmaps", "ns", "c"), { preconditions: { resourceVersion: c.metadata.resourceVersion } }).catch((e: unknown) => e);
    expect(apiErrorCode(stale)).toBe(409);
    expect(server.get("configmaps", "c", "ns")).toBeDefined();
  });

  it("passes query parameters (labelSelector, limit and continue)", async () => {
    for (const name of ["l1", "l2", "l3"]) server.put("configmaps", { metadata: { name, namespace: "sel", labels: { pick: "yes" } } });
    server.put("configmaps", { metadata: { name: "l4", namespace: "sel" } });
    const picked = await api.get<{ items: { metadata: { name: string } }[] }>(objectPath("v1", "configmaps", "sel"), { labelSelector: "pick" });
    expect(picked.items.map((i) => i.metadata.name).sort()).toEqual(["l1", "l2", "l3"]);
    const page = await api.get<{ items: unknown[]; metadata: { continue?: string } }>(objectPath("v1", "configmaps", "sel"), { limit: 2 });
    expect(page.items).toHaveLength(2);
    const rest = await api.get<{ items: unknown[] }>(objectPath("v1", "configmaps", "sel"), { limit: 2, continue: page.metadata.continue });
    expect(rest.items).toHaveLength(2);
  });

  it("serialises a V1MicroTime with the six fractional digits a MicroTime field needs", () => {
    expect(JSON.stringify({ t: new V1MicroTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678)) })).toBe('{"t":"2026-01-02T03:04:05.678000Z"}');
  });

  it("builds object paths with escaped names", () => {
    expect(objectPath("v1", "pods", "ns", "a b")).toBe("/api/v1/namespaces/ns/pods/a%20b");
    expect(objectPath("coordination.k8s.io/v1", "leases")).toBe("/apis/coordination.k8s.io/v1/leases");
  });
});

describe("client-node without its generated surface (lean-client-node)", () => {
  const root = resolve(import.meta.dirname, "../..");

  it("the shim exports every name client-node's config.js imports from its generated index", () => {
    const source = readFileSync(join(root, "node_modules/@kubernetes/client-node/dist/config.js"), "utf8");
    const m = /import\s*\{([^}]*)\}\s*from\s*'\.\/gen\/index\.js'/.exec(source);
    expect(m).not.toBeNull();
    const names = m![1].split(",").map((n) => n.trim()).filter(Boolean);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(gen).toHaveProperty(name);
  });

  it("a compiled process loads KubeConfig, requests and watches without any generated model or API module", async () => {
    // The hook applies to compiled JavaScript only (its shim is a .js file): transpile the three modules.
    const dir = mkdtempSync(join(root, "node_modules", ".lean-client-test-"));
    try {
      for (const file of ["lean-client-node", "client-node-gen", "client"]) {
        const ts = readFileSync(join(root, "src/kube", `${file}.ts`), "utf8");
        writeFileSync(join(dir, `${file}.js`), transformSync(ts, { loader: "ts", format: "esm" }).code);
      }
      const script = `
        import { registerHooks } from "node:module";
        import { loadClientNodeLean } from ${JSON.stringify(pathToFileURL(join(dir, "lean-client-node.js")).href)};
        if (process.env.LEAN === "1" && !loadClientNodeLean()) throw new Error("hook not registered");
        const loaded = [];
        registerHooks({ resolve(s, c, next) { const r = next(s, c); loaded.push(r.url); return r; } });
        const { KubeApi, KubeConfig, Watch } = await import(${JSON.stringify(pathToFileURL(join(dir, "client.js")).href)});
        const kc = new KubeConfig();
        kc.loadFromOptions({ clusters: [{ name: "c", server: process.env.SERVER, skipTLSVerify: true }], users: [{ name: "u", token: "t" }],
          contexts: [{ name: "x", cluster: "c", user: "u" }], currentContext: "x" });
        const nodes = await new KubeApi(kc).get("/api/v1/nodes");
        const events = [];
        await new Promise((done, fail) => new Watch(kc).watch("/api/v1/nodes", { timeoutSeconds: 1 }, (type, obj) => events.push(type + " " + obj.metadata.name), (e) => e ? fail(e) : done()));
        const generated = loaded.filter((u) => /client-node\\/dist\\/gen\\/(models\\/|types\\/|apis\\/(?!exception\\.js))|client-node\\/dist\\/gen\\/index\\.js|client-node\\/dist\\/(index|api)\\.js/.test(u));
        console.log(JSON.stringify({ items: nodes.items.map((n) => n.metadata.name), events, generated }));
      `;
      server.put("nodes", { metadata: { name: "n1" } });
      // Not spawnSync: the fake API server answering the child runs in this process.
      const run = async (lean: boolean) => {
        const child = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: root, env: { ...process.env, SERVER: server.url, LEAN: lean ? "1" : "0" } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
        child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
        const code = await new Promise<number | null>((done) => child.on("exit", done));
        expect(stderr).toBe("");
        expect(code).toBe(0);
        return JSON.parse(stdout.trim()) as { items: string[]; events: string[]; generated: string[] };
      };
      const lean = await run(true);
      expect(lean.items).toEqual(["n1"]);
      expect(lean.events).toContain("ADDED n1");
      expect(lean.generated).toEqual([]);
      // Without the hook the same imports load the whole generated surface (what the check above would see).
      const full = await run(false);
      expect(full.items).toEqual(["n1"]);
      expect(full.generated.length).toBeGreaterThan(100);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
