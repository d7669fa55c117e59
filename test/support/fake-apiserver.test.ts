import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import * as k8s from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { forClientModel } from "../../src/kube/crd.js";
import { FakeApiServer } from "./fake-apiserver.js";
import { makeKubeConfig, writeKubeConfigFile } from "./kubeconfig.js";

const RR = { group: "sparkscheduler.palantir.com", version: "v1beta2", plural: "resourcereservations" };
const MERGE_PATCH = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

let server: FakeApiServer;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let custom: k8s.CustomObjectsApi;
const cleanups: (() => unknown)[] = [];

beforeEach(async () => {
  server = await FakeApiServer.start();
  kc = makeKubeConfig(server.url);
  core = kc.makeApiClient(k8s.CoreV1Api);
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  await server.stop();
});

function pod(name: string, labels: Record<string, string> = {}, spec: Partial<k8s.V1PodSpec> = {}): k8s.V1Pod {
  return { metadata: { name, namespace: "default", labels }, spec: { containers: [{ name: "main" }], ...spec } };
}

/** The rejection of `promise` as an ApiException, with its Status body parsed. */
async function apiError(promise: Promise<unknown>): Promise<{ code: number; status: { reason: string; code: number } }> {
  const err = await promise.then(
    () => expect.fail("expected the call to fail"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(k8s.ApiException);
  const { code, body } = err as k8s.ApiException<string>;
  return { code, status: JSON.parse(body) };
}

/** Starts an informer on all pods and records what it reports. */
async function podInformer() {
  // makeInformer is typed as Informer & ObjectCache but returns a ListWatch, which has latestResourceVersion().
  const informer = k8s.makeInformer(kc, "/api/v1/pods", () => core.listPodForAllNamespaces()) as k8s.ListWatch<k8s.V1Pod>;
  const seen: string[] = [];
  const errors: unknown[] = [];
  informer.on("add", (p) => seen.push(`add:${p.metadata?.name}`));
  informer.on("update", (p) => seen.push(`update:${p.metadata?.name}`));
  informer.on("delete", (p) => seen.push(`delete:${p.metadata?.name}`));
  informer.on("error", (err) => errors.push(err));
  await informer.start();
  cleanups.push(() => informer.stop());
  return { informer, seen, errors };
}

const waitFor = <T>(check: () => T) => vi.waitFor(check, { timeout: 2000, interval: 5 });

describe("core resources", () => {
  it("creates, reads, lists and replaces pods and nodes", async () => {
    const created = await core.createNamespacedPod({ namespace: "default", body: pod("p1") });
    expect(created.metadata?.uid).toBeTruthy();
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(created.metadata?.resourceVersion).toBe(server.resourceVersion);

    const read = await core.readNamespacedPod({ name: "p1", namespace: "default" });
    read.metadata!.labels = { app: "spark" };
    const replaced = await core.replaceNamespacedPod({ name: "p1", namespace: "default", body: read });
    expect(Number(replaced.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
    expect(replaced.metadata?.uid).toBe(created.metadata?.uid);

    const list = await core.listNamespacedPod({ namespace: "default" });
    expect(list.kind).toBe("PodList");
    expect(list.metadata?.resourceVersion).toBe(server.resourceVersion);
    expect(list.items.map((p) => p.metadata?.labels)).toEqual([{ app: "spark" }]);

    await core.createNode({ body: { metadata: { name: "n1", labels: { zone: "a" } } } });
    const node = await core.readNode({ name: "n1" });
    node.spec = { unschedulable: true };
    await core.replaceNode({ name: "n1", body: node });
    expect((await core.listNode()).items.map((n) => [n.metadata?.name, n.spec?.unschedulable])).toEqual([["n1", true]]);
    expect(server.get("nodes", "n1")?.metadata.namespace).toBeUndefined();
  });

  it("answers with Kubernetes Status errors", async () => {
    await core.createNamespacedPod({ namespace: "default", body: pod("p1") });
    const stale = await core.readNamespacedPod({ name: "p1", namespace: "default" });
    await core.replaceNamespacedPod({ name: "p1", namespace: "default", body: stale });

    const conflict = await apiError(core.replaceNamespacedPod({ name: "p1", namespace: "default", body: stale }));
    expect(conflict).toMatchObject({ code: 409, status: { reason: "Conflict", code: 409 } });
    const exists = await apiError(core.createNamespacedPod({ namespace: "default", body: pod("p1") }));
    expect(exists.status.reason).toBe("AlreadyExists");
    const missing = await apiError(core.readNamespacedPod({ name: "nope", namespace: "default" }));
    expect(missing).toMatchObject({ code: 404, status: { reason: "NotFound" } });
    expect((await apiError(core.deleteNamespacedPod({ name: "nope", namespace: "default" }))).code).toBe(404);

    const generated = await core.createNamespacedPod({
      namespace: "default",
      body: { metadata: { generateName: "exec-" }, spec: { containers: [] } },
    });
    expect(generated.metadata?.name).toMatch(/^exec-[a-z0-9]+$/);
  });

  it("updates only .status through the status subresource, and never through the main resource", async () => {
    await core.createNamespacedPod({ namespace: "default", body: { ...pod("p1"), status: { phase: "Running" } } });
    const created = await core.readNamespacedPod({ name: "p1", namespace: "default" });
    expect(created.status).toBeUndefined();

    created.status = { phase: "Running", conditions: [{ type: "PodExceedsClusterCapacity", status: "True" }] };
    created.spec!.nodeName = "ignored";
    const updated = await core.replaceNamespacedPodStatus({ name: "p1", namespace: "default", body: created });
    expect(updated.status?.phase).toBe("Running");
    expect(updated.spec?.nodeName).toBeUndefined();

    updated.status = { phase: "Failed" };
    updated.spec!.nodeName = "n1";
    const replaced = await core.replaceNamespacedPod({ name: "p1", namespace: "default", body: updated });
    expect([replaced.spec?.nodeName, replaced.status?.phase]).toEqual(["n1", "Running"]);
    expect(replaced.metadata?.generation).toBe(2);
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toContain("PUT /api/v1/namespaces/default/pods/p1/status");
  });

  it("filters lists by label and field selectors", async () => {
    server.put("pods", pod("driver", { "spark-role": "driver", app: "a" }, { schedulerName: "spark-scheduler" }));
    const executorSpec = { schedulerName: "spark-scheduler", nodeName: "n1" };
    server.put("pods", pod("exec-1", { "spark-role": "executor", app: "a" }, executorSpec));
    server.put("pods", { ...pod("other", { app: "b" }), status: { phase: "Running" } });
    server.put("pods", { ...pod("elsewhere", { app: "a" }), metadata: { name: "elsewhere", namespace: "ns2" } });
    const names = (list: k8s.V1PodList) => list.items.map((p) => p.metadata?.name);

    const byLabels = (labelSelector: string) =>
      core.listNamespacedPod({ namespace: "default", labelSelector }).then(names);
    expect(await byLabels("app=a,spark-role in (driver, executor)")).toEqual(["driver", "exec-1"]);
    expect(await byLabels("spark-role notin (driver),app")).toEqual(["exec-1", "other"]);
    expect(await byLabels("!spark-role")).toEqual(["other"]);
    expect(await byLabels("app!=a")).toEqual(["other"]);

    const byFields = (fieldSelector: string) => core.listPodForAllNamespaces({ fieldSelector }).then(names);
    expect(await byFields("spec.schedulerName=spark-scheduler,spec.nodeName=")).toEqual(["driver"]);
    expect(await byFields("status.phase!=Running,metadata.namespace==default")).toEqual(["driver", "exec-1"]);
    expect(await byFields("metadata.name=elsewhere")).toEqual(["elsewhere"]);
    expect((await apiError(byLabels("app in (a"))).code).toBe(400);
  });
});

describe("custom resources, leases and server-side apply", () => {
  const reservation = (name: string) => ({
    apiVersion: "sparkscheduler.palantir.com/v1beta2",
    kind: "ResourceReservation",
    metadata: { name, namespace: "spark" },
    spec: { reservations: { driver: { node: "n1", resources: { cpu: "1", memory: "1Gi" } } } },
    status: { pods: { driver: name } },
  });

  it("creates, reads, lists, patches, replaces and deletes resource reservations", async () => {
    const created = await custom.createNamespacedCustomObject({ ...RR, namespace: "spark", body: reservation("app-1") });
    expect(created.status).toEqual({ pods: { driver: "app-1" } });

    const patched = await custom.patchNamespacedCustomObject(
      { ...RR, namespace: "spark", name: "app-1", body: { status: { pods: { "executor-1": "exec-1" } } } },
      MERGE_PATCH,
    );
    expect(patched.status.pods).toEqual({ driver: "app-1", "executor-1": "exec-1" });
    expect(server.requests.at(-1)?.contentType).toBe("application/merge-patch+json");

    const stalePatch = { ...RR, namespace: "spark", name: "app-1", body: { metadata: { resourceVersion: "1" } } };
    expect((await apiError(custom.patchNamespacedCustomObject(stalePatch, MERGE_PATCH))).code).toBe(409);

    // Without a header the generated client sends a JSON patch (RFC 6902).
    const jsonPatched = await custom.patchNamespacedCustomObject({
      ...RR,
      namespace: "spark",
      name: "app-1",
      body: [
        { op: "test", path: "/status/pods/driver", value: "app-1" },
        { op: "remove", path: "/status/pods/executor-1" },
        { op: "add", path: "/metadata/labels", value: { "spark-app-id": "app-1" } },
      ],
    });
    expect(jsonPatched.status.pods).toEqual({ driver: "app-1" });
    const failedTest = [{ op: "test", path: "/status/pods/driver", value: "someone-else" }];
    const testFailure = custom.patchNamespacedCustomObject({ ...RR, namespace: "spark", name: "app-1", body: failedTest });
    expect((await apiError(testFailure)).code).toBe(422);

    const read = await custom.getNamespacedCustomObject({ ...RR, namespace: "spark", name: "app-1" });
    read.status.pods["executor-1"] = "exec-2";
    await custom.replaceNamespacedCustomObject({ ...RR, namespace: "spark", name: "app-1", body: read });
    const staleReplace = custom.replaceNamespacedCustomObject({ ...RR, namespace: "spark", name: "app-1", body: read });
    expect((await apiError(staleReplace)).status.reason).toBe("Conflict");

    await custom.createNamespacedCustomObject({ ...RR, namespace: "spark", body: reservation("app-2") });
    const list = await custom.listNamespacedCustomObject({ ...RR, namespace: "spark", labelSelector: "spark-app-id" });
    expect(list.kind).toBe("ResourceReservationList");
    expect(list.items.map((rr: k8s.KubernetesObject) => rr.metadata?.name)).toEqual(["app-1"]);
    expect((await custom.listClusterCustomObject(RR)).items).toHaveLength(2);

    const deleted = await custom.deleteNamespacedCustomObject({ ...RR, namespace: "spark", name: "app-1" });
    expect(deleted.status.pods["executor-1"]).toBe("exec-2");
    expect((await apiError(custom.getNamespacedCustomObject({ ...RR, namespace: "spark", name: "app-1" }))).code).toBe(404);
    expect(server.list("resourcereservations.sparkscheduler.palantir.com").map((rr) => rr.metadata.name)).toEqual(["app-2"]);
  });

  it("applies objects server-side through KubernetesObjectApi after discovery", async () => {
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    const demand = {
      apiVersion: "scaler.palantir.com/v1alpha2",
      kind: "Demand",
      metadata: { name: "demand-p1", namespace: "spark" },
      spec: { "instance-group": "batch", units: [{ count: 1, resources: { cpu: "1" } }] },
    };
    const apply = (obj: k8s.KubernetesObject & { spec: object }) =>
      objects.patch(obj, undefined, undefined, "spark-scheduler", true, k8s.PatchStrategy.ServerSideApply);
    await apply(demand);
    await apply({ ...demand, spec: { ...demand.spec, "is-long-lived": true } });

    const stored = server.get("demands.scaler.palantir.com", "demand-p1", "spark");
    expect(stored?.spec).toMatchObject({ "instance-group": "batch", "is-long-lived": true });
    expect(stored?.metadata.generation).toBe(2);
    const calls = server.requests.map((r) => `${r.method} ${r.path} ${r.contentType ?? ""}`.trim());
    expect(calls.slice(0, 2)).toEqual([
      "GET /apis/scaler.palantir.com/v1alpha2",
      "PATCH /apis/scaler.palantir.com/v1alpha2/namespaces/spark/demands/demand-p1 application/apply-patch+yaml",
    ]);
    expect(server.requests[1].query).toEqual({ fieldManager: "spark-scheduler", force: "true" });
  });

  it("creates and renews leases, rejecting a stale renewal", async () => {
    const leases = kc.makeApiClient(k8s.CoordinationV1Api);
    const spec = { holderIdentity: "replica-a", leaseDurationSeconds: 15, renewTime: new Date() };
    await leases.createNamespacedLease({ namespace: "spark", body: { metadata: { name: "leader" }, spec } });

    const seenByA = await leases.readNamespacedLease({ name: "leader", namespace: "spark" });
    const seenByB = await leases.readNamespacedLease({ name: "leader", namespace: "spark" });
    seenByB.spec!.holderIdentity = "replica-b";
    await leases.replaceNamespacedLease({ name: "leader", namespace: "spark", body: seenByB });
    seenByA.spec!.renewTime = new Date();
    const lost = await apiError(leases.replaceNamespacedLease({ name: "leader", namespace: "spark", body: seenByA }));
    expect(lost.code).toBe(409);
    expect((await leases.readNamespacedLease({ name: "leader", namespace: "spark" })).spec?.holderIdentity).toBe("replica-b");
  });

  it("serves cluster-scoped custom resource definitions and discovery", async () => {
    server.put("customresourcedefinitions.apiextensions.k8s.io", {
      metadata: { name: "demands.scaler.palantir.com" },
      spec: { group: "scaler.palantir.com" },
      status: { conditions: [{ type: "Established", status: "True" }] },
    });
    const crds = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const crd = await crds.readCustomResourceDefinition({ name: "demands.scaler.palantir.com" });
    expect(crd.status?.conditions?.[0].type).toBe("Established");
    expect((await apiError(crds.readCustomResourceDefinition({ name: "missing.example.com" }))).code).toBe(404);

    const groups = await kc.makeApiClient(k8s.ApisApi).getAPIVersions();
    expect(groups.groups.map((g) => g.name)).toContain("sparkscheduler.palantir.com");
    const coreResources = await core.getAPIResources();
    expect(coreResources.resources.find((r) => r.name === "pods/status")?.kind).toBe("Pod");
    expect(coreResources.resources.find((r) => r.name === "nodes")?.namespaced).toBe(false);
  });
});

describe("informers and watches", () => {
  it("reports adds, updates and deletes and tracks the latest resourceVersion", async () => {
    server.put("pods", pod("p1"));
    const { informer, seen } = await podInformer();
    expect(seen).toEqual(["add:p1"]);

    await core.createNamespacedPod({ namespace: "default", body: pod("p2") });
    server.put("pods", pod("p1", { app: "spark" }));
    await core.deleteNamespacedPod({ name: "p2", namespace: "default" });
    await waitFor(() => expect(seen).toEqual(["add:p1", "add:p2", "update:p1", "delete:p2"]));
    expect(informer.latestResourceVersion()).toBe(server.resourceVersion);
    expect(informer.list().map((p) => p.metadata?.labels)).toEqual([{ app: "spark" }]);
    expect(server.requests.at(1)).toMatchObject({ path: "/api/v1/pods", watch: true, query: { resourceVersion: "2" } });
  });

  it("surfaces dropped watches as errors and resumes from the last resourceVersion on start()", async () => {
    const { informer, seen, errors } = await podInformer();
    server.dropWatches();
    await waitFor(() => expect([errors.length, server.openWatchCount]).toEqual([1, 0]));
    // client-node 2 reads watches through Node's fetch: a dropped connection is undici's "terminated".
    expect(errors[0]).toBeInstanceOf(TypeError);
    expect(String((errors[0] as Error).message)).toBe("terminated");

    server.put("pods", pod("while-disconnected"));
    await informer.start();
    server.put("pods", pod("after-restart"));
    await waitFor(() => expect(seen).toEqual(["add:while-disconnected", "add:after-restart"]));
  });

  it("re-watches after a clean end of the watch without reporting an error", async () => {
    const { seen, errors } = await podInformer();
    server.endWatches();
    await waitFor(() => expect(server.requests.filter((r) => r.watch)).toHaveLength(2));
    await waitFor(() => expect(server.openWatchCount).toBe(1));
    server.put("pods", pod("p1"));
    await waitFor(() => expect(seen).toEqual(["add:p1"]));
    expect(errors).toEqual([]);
  });

  it("re-lists after 410 Gone when the resourceVersion left the history window", async () => {
    server.put("pods", pod("kept"));
    server.put("pods", pod("removed-while-away"));
    const { informer, seen, errors } = await podInformer();
    server.dropWatches();
    await waitFor(() => expect(errors).toHaveLength(1));
    const staleVersion = informer.latestResourceVersion();

    server.remove("pods", "removed-while-away");
    server.put("pods", pod("added-while-away"));
    server.compactHistory();
    await informer.start();
    // The resumed watch gets 410 Gone, so the informer lists again and watches from the new version.
    const calls = () => server.requests.map((r) => (r.watch ? `watch@${r.query.resourceVersion}` : "list"));
    const [stale, latest] = [`watch@${staleVersion}`, `watch@${server.resourceVersion}`];
    await waitFor(() => expect(calls()).toEqual(["list", stale, stale, "list", latest]));
    expect(seen).toEqual(["add:kept", "add:removed-while-away", "delete:removed-while-away", "add:added-while-away"]);
    expect(informer.list().map((p) => p.metadata?.name).sort()).toEqual(["added-while-away", "kept"]);
    expect(errors).toHaveLength(1);
  });

  it("honours field selectors on watches: objects entering the selection are added, leaving it deleted", async () => {
    const onNode = new k8s.ListWatch<k8s.V1Pod>(
      "/api/v1/pods",
      new k8s.Watch(kc),
      () => core.listPodForAllNamespaces({ fieldSelector: "spec.nodeName=n1" }),
      false,
      undefined,
      "spec.nodeName=n1",
    );
    const seen: string[] = [];
    onNode.on("add", (p) => seen.push(`add:${p.metadata?.name}`));
    onNode.on("delete", (p) => seen.push(`delete:${p.metadata?.name}`));
    onNode.on("error", () => undefined); // stop() reports an AbortError in client-node 1.4
    await onNode.start();
    cleanups.push(() => onNode.stop());

    server.put("pods", pod("p1"));
    server.put("pods", pod("p1", {}, { nodeName: "n1" }));
    server.put("pods", pod("p1", {}, { nodeName: "n2" }));
    await waitFor(() => expect(seen).toEqual(["add:p1", "delete:p1"]));
    expect(server.requests.at(-1)?.query.fieldSelector).toBe("spec.nodeName=n1");
  });

  it("sends current objects first to watches without a resourceVersion, and 410 for future ones", async () => {
    server.put("pods", pod("p1"));
    const events: string[] = [];
    let done: unknown = "open";
    const watch = new k8s.Watch(kc);
    const record = (type: string, obj: { code?: number; metadata?: { name?: string } }) =>
      events.push(`${type}:${obj.metadata?.name ?? obj.code}`);
    const controller = await watch.watch("/api/v1/namespaces/default/pods", {}, record, (err) => (done = err));
    cleanups.push(() => controller.abort());
    await waitFor(() => expect(events).toEqual(["ADDED:p1"]));

    await watch.watch("/api/v1/pods", { resourceVersion: "999" }, record, () => undefined);
    await waitFor(() => expect(events).toEqual(["ADDED:p1", "ERROR:410"]));
    expect(done).toBe("open");
  });
});

describe("configuration", () => {
  it("serves exactly the configured resources, plus those registered later", async () => {
    const widgets = { group: "example.com", version: "v1", plural: "widgets", kind: "Widget", namespaced: false };
    const small = await FakeApiServer.start({ resources: [widgets] });
    cleanups.push(() => small.stop());
    const api = makeKubeConfig(small.url).makeApiClient(k8s.CustomObjectsApi);
    const demands = { group: "scaler.palantir.com", version: "v1alpha2", plural: "demands" };

    await api.createClusterCustomObject({ ...widgets, body: { metadata: { name: "w1" } } });
    expect(small.list("widgets.example.com").map((w) => [w.kind, w.apiVersion])).toEqual([["Widget", "example.com/v1"]]);
    expect((await apiError(api.listClusterCustomObject(demands))).code).toBe(404);

    small.registerResource({ ...demands, kind: "Demand", namespaced: true });
    expect(await api.listClusterCustomObject(demands)).toMatchObject({ kind: "DemandList", items: [] });
  });

  it("answers 410 Gone to watches older than the history limit", async () => {
    const small = await FakeApiServer.start({ historyLimit: 2 });
    cleanups.push(() => small.stop());
    const start = small.resourceVersion;
    for (const name of ["a", "b", "c"]) small.put("pods", pod(name));

    const watch = new k8s.Watch(makeKubeConfig(small.url));
    const watchFrom = async (resourceVersion: string) => {
      const events: string[] = [];
      const record = (type: string, obj: { code?: number; metadata?: { name?: string } }) =>
        events.push(`${type}:${obj.metadata?.name ?? obj.code}`);
      await watch.watch("/api/v1/pods", { resourceVersion }, record, () => undefined);
      return events;
    };
    const tooOld = await watchFrom(start);
    const oldestKept = await watchFrom(String(Number(start) + 1));
    await waitFor(() => expect([tooOld, oldestKept]).toEqual([["ERROR:410"], ["ADDED:b", "ADDED:c"]]));
  });
});

describe("fault injection and robustness", () => {
  it("fails matching requests the given number of times", async () => {
    const fault = server.injectFault({ method: "GET", pathIncludes: "/pods", status: 500, times: 2 });
    for (let i = 0; i < 2; i++) {
      const failure = await apiError(core.listNamespacedPod({ namespace: "default" }));
      expect(failure).toMatchObject({ code: 500, status: { reason: "InternalError" } });
    }
    expect((await core.listNamespacedPod({ namespace: "default" })).items).toEqual([]);
    expect(fault).toMatchObject({ hits: 2, remaining: 0 });

    server.injectFault({ method: "POST", status: 409, body: { kind: "Status", reason: "Custom", code: 409 } });
    expect((await apiError(core.createNamespacedPod({ namespace: "default", body: pod("p1") }))).status.reason).toBe("Custom");
  });

  it("reports a failing watch to the informer and a dropped connection to the caller", async () => {
    server.injectFault({ watch: true, status: 503 });
    const { errors } = await podInformer();
    await waitFor(() => expect(errors).toHaveLength(1));
    expect((errors[0] as { statusCode: number }).statusCode).toBe(503);

    server.injectFault({ status: 0 });
    await expect(core.listNode()).rejects.toThrow();
  });

  it("delays requests by the configured latency", async () => {
    server.setLatency(60);
    const started = Date.now();
    await core.listNode();
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
  });

  it("rejects malformed input with Status objects", async () => {
    const send = (method: string, path: string, body?: string, contentType = "application/json") =>
      fetch(server.url + path, { method, body, headers: { "content-type": contentType } }).then(async (res) => ({
        code: res.status,
        status: (await res.json()) as { kind: string; reason: string },
      }));
    expect(await send("POST", "/api/v1/namespaces/default/pods", "{not json")).toMatchObject({
      code: 400,
      status: { kind: "Status", reason: "BadRequest" },
    });
    expect((await send("GET", "/apis/example.com/v1/widgets")).code).toBe(404);
    expect((await send("GET", "/api/v1/pods?labelSelector=%3D%3D")).code).toBe(400);
    expect((await send("PATCH", "/api/v1/nodes/n1", "{}", "text/plain")).code).toBe(404);
    server.put("nodes", { metadata: { name: "n1" } });
    expect((await send("PATCH", "/api/v1/nodes/n1", "{}", "text/plain")).code).toBe(415);
    expect((await send("PATCH", "/api/v1/nodes/n1", "[{\"op\":\"nope\"}]", "application/json-patch+json")).code).toBe(400);
    expect((await send("DELETE", "/api/v1/nodes")).code).toBe(405);
    expect((await send("POST", "/api/v1/nodes", JSON.stringify({ metadata: {} }))).status.reason).toBe("Invalid");
  });

  it("closes open watches promptly on stop()", async () => {
    let ended = false;
    await new k8s.Watch(kc).watch("/api/v1/pods", {}, () => undefined, () => (ended = true));
    expect(server.openWatchCount).toBe(1);
    const started = Date.now();
    await server.stop();
    expect(Date.now() - started).toBeLessThan(500);
    await waitFor(() => expect(ended).toBe(true));
  });
});

describe("kubeconfig helper", () => {
  it("writes a kubeconfig file that client-node loads", async () => {
    const file = await writeKubeConfigFile(server.url, "spark");
    cleanups.push(file.cleanup);
    const fromFile = new k8s.KubeConfig();
    fromFile.loadFromFile(file.path);
    expect(fromFile.getCurrentCluster()?.server).toBe(server.url);
    expect(fromFile.getContextObject(fromFile.currentContext)?.namespace).toBe("spark");
    server.put("nodes", { metadata: { name: "n1" } });
    expect((await fromFile.makeApiClient(k8s.CoreV1Api).listNode()).items).toHaveLength(1);
  });
});

describe("validation as kube-apiserver does it", () => {
  const crds = () => kc.makeApiClient(k8s.ApiextensionsV1Api);
  const crd = (schema: object): k8s.V1CustomResourceDefinition => ({
    metadata: { name: "widgets.example.com" },
    spec: {
      group: "example.com",
      scope: "Namespaced",
      names: { plural: "widgets", kind: "Widget" },
      versions: [{ name: "v1", served: true, storage: true, schema: { openAPIV3Schema: schema as k8s.V1JSONSchemaProps } }],
    },
  });
  const crdBody = (schema: object) => forClientModel(crd(schema));
  const refused = async (schema: object, message: RegExp) => {
    const { code, status } = await apiError(crds().createCustomResourceDefinition({ body: crdBody(schema) }));
    expect(code).toBe(422);
    expect((status as unknown as { message: string }).message).toMatch(message);
  };

  it("rejects object names that are not DNS-1123 subdomains of at most 253 characters", async () => {
    for (const name of ["My_App", "-x", "a".repeat(254), "ends-with-dash-"]) {
      expect((await apiError(core.createNamespacedPod({ namespace: "default", body: pod(name) }))).code).toBe(422);
    }
    await core.createNamespacedPod({ namespace: "default", body: pod("a".repeat(253)) });
    await core.createNamespacedPod({ namespace: "default", body: pod("spark-pi.driver-1") });
    const { status } = await apiError(
      custom.createNamespacedCustomObject({ ...RR, namespace: "default", body: { metadata: { name: "My_App" }, spec: { reservations: {} } } }),
    );
    expect(status.reason).toBe("Invalid");
  });

  it("rejects invalid label keys and values (at most 63 characters, alphanumeric at both ends)", async () => {
    for (const labels of <Record<string, string>[]>[{ a: "x".repeat(64) }, { a: "-x" }, { "bad key": "x" }, { "x/y/z": "v" }, { ["p".repeat(64)]: "v" }]) {
      expect((await apiError(core.createNamespacedPod({ namespace: "default", body: pod("p", labels) }))).code).toBe(422);
    }
    await core.createNamespacedPod({ namespace: "default", body: pod("p", { "spark-app-id": "My_App.1", "example.com/k": "" }) });
    // Updates are validated too.
    const stored = server.get("pods", "p")!;
    const relabeled = { ...stored, metadata: { ...stored.metadata, labels: { a: "x".repeat(64) } } } as unknown as k8s.V1Pod;
    expect((await apiError(core.replaceNamespacedPod({ name: "p", namespace: "default", body: relabeled }))).code).toBe(422);
  });

  it("rejects CRDs whose schema is not structural", async () => {
    await refused(
      {
        type: "object",
        properties: { spec: { type: "object", properties: { a: { type: "string" } }, additionalProperties: { type: "string" } } },
      },
      /properties\[spec\]\.additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive/,
    );
    await refused({ type: "object", properties: { spec: { properties: {} } } }, /properties\[spec\]\.type: Required value/);
    await refused({ type: "object", properties: { list: { type: "array" } } }, /properties\[list\]\.items: Required value/);
    await refused({ type: "object", properties: { metadata: { type: "object", properties: { labels: { type: "object" } } } } }, /properties\[metadata\]\.properties\[labels\]: Forbidden/);
    await refused({ type: "object", additionalProperties: { type: "string" } }, /additionalProperties: Forbidden: must not be used at the root/);
    await refused({ type: "object", properties: { q: { type: "string", anyOf: [{ type: "string", description: "x" }] } } }, /anyOf\[0\]\.type: Forbidden/);
    await refused({ type: "object", properties: { q: { type: "string", "x-kubernetes-int-or-string": true } } }, /must be empty for x-kubernetes-int-or-string/);
    const fine = await crds().createCustomResourceDefinition({
      body: crdBody({
        type: "object",
        properties: {
          metadata: { type: "object", properties: { name: { type: "string", maxLength: 20 } } },
          spec: { type: "object", additionalProperties: { "x-kubernetes-int-or-string": true, anyOf: [{ type: "integer" }, { type: "string" }] } },
          raw: { "x-kubernetes-preserve-unknown-fields": true },
        },
      }),
    });
    expect(fine.metadata?.name).toBe("widgets.example.com");
  });

  it("prunes custom objects to their CRD's schema and validates them against it", async () => {
    server.registerResource({ group: "example.com", version: "v1", plural: "widgets", kind: "Widget", namespaced: true });
    await crds().createCustomResourceDefinition({
      body: crdBody({
        type: "object",
        required: ["spec"],
        properties: {
          spec: {
            type: "object",
            required: ["size"],
            properties: { size: { "x-kubernetes-int-or-string": true, anyOf: [{ type: "integer" }, { type: "string" }], pattern: "^[0-9]+m?$" } },
          },
        },
      }),
    });
    const widgets = { group: "example.com", version: "v1", plural: "widgets", namespace: "default" };
    await custom.createNamespacedCustomObject({ ...widgets, body: { metadata: { name: "a" }, spec: { size: 3, extra: "x" }, junk: 1 } });
    expect(server.get("widgets.example.com", "a")).toMatchObject({ spec: { size: 3 } });
    expect(server.get("widgets.example.com", "a")).not.toHaveProperty("junk");
    expect(server.get("widgets.example.com", "a")!.spec).not.toHaveProperty("extra");
    for (const body of [{ spec: { size: "3x" } }, { spec: {} }, {}, { spec: { size: true } }]) {
      const { code } = await apiError(custom.createNamespacedCustomObject({ ...widgets, body: { metadata: { name: "b" }, ...body } }));
      expect(code).toBe(422);
    }
  });
});

describe("services/proxy", () => {
  it("forwards to the configured target with RBAC on services/proxy, without the caller's Authorization", async () => {
    const seen: { method?: string; url?: string; authorization?: string; body: string }[] = [];
    const target = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization, body });
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(`echo ${body}`);
      });
    });
    await new Promise<void>((ok) => target.listen(0, "127.0.0.1", ok));
    try {
      server.proxyService("ops", "svc", "http", `http://127.0.0.1:${(target.address() as AddressInfo).port}`);
      const base = `${server.url}/api/v1/namespaces/ops/services/svc:http/proxy`;
      const post = (token: string | undefined, url = `${base}/a/b?x=1`) =>
        fetch(url, { method: "POST", body: "hi", headers: token ? { authorization: `Bearer ${token}` } : {} });

      expect((await post(undefined)).status).toBe(401);
      server.access.tokens.set("t-alice", { username: "alice" });
      const denied = await post("t-alice");
      expect(denied.status).toBe(403);
      expect(((await denied.json()) as { message: string }).message).toContain('cannot create resource "services/proxy"');
      server.access.grants.push({ user: "alice", verb: "create", group: "", resource: "services/proxy" });
      const ok = await post("t-alice");
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe("echo hi");
      expect(seen).toEqual([{ method: "POST", url: "/a/b?x=1", authorization: undefined, body: "hi" }]);
      expect((await fetch(`${base}/`, { headers: { authorization: "Bearer t-alice" } })).status).toBe(403); // GET needs get
      expect((await post("t-alice", `${server.url}/api/v1/namespaces/ops/services/other:http/proxy/`)).status).toBe(404);
    } finally {
      await new Promise((ok) => target.close(ok));
    }
  });
});

describe("graceful deletion", () => {
  const bound = (name: string, spec: Partial<k8s.V1PodSpec> = {}) => pod(name, {}, { nodeName: "n1", ...spec });
  const reservation = (name: string, metadata: object = {}) => ({
    apiVersion: "sparkscheduler.palantir.com/v1beta2",
    kind: "ResourceReservation",
    metadata: { name, namespace: "spark", ...metadata },
    spec: { reservations: { driver: { node: "n1", resources: { cpu: "1", memory: "1Gi" } } } },
  });

  it("marks a bound pod Terminating (MODIFIED, deletionTimestamp = now + grace) and deletes it when the grace period is over", async () => {
    server.put("pods", { ...bound("p1"), status: { phase: "Running" } });
    const { seen, informer } = await podInformer();
    const before = Date.now();
    const answer = await core.deleteNamespacedPod({ name: "p1", namespace: "default" });
    expect(answer.metadata?.deletionGracePeriodSeconds).toBe(30);
    const stored = server.get("pods", "p1")!;
    expect(stored.metadata.deletionGracePeriodSeconds).toBe(30);
    expect(stored.metadata.generation).toBe(2);
    const at = Date.parse(String(stored.metadata.deletionTimestamp));
    expect(at).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 30_000);
    expect(at).toBeLessThanOrEqual(Date.now() + 31_000);
    await waitFor(() => expect(seen).toEqual(["add:p1", "update:p1"]));
    expect(informer.list().map((p) => p.metadata?.deletionTimestamp !== undefined)).toEqual([true]);

    // Writes keep the deletion metadata; no finalizer can be added any more.
    const read = await core.readNamespacedPod({ name: "p1", namespace: "default" });
    read.metadata!.deletionTimestamp = undefined;
    read.metadata!.labels = { still: "writable" };
    const written = await core.replaceNamespacedPod({ name: "p1", namespace: "default", body: read });
    expect(written.metadata?.deletionGracePeriodSeconds).toBe(30);
    expect(written.metadata?.labels).toEqual({ still: "writable" });
    const addFinalizer = core.replaceNamespacedPod({ name: "p1", namespace: "default", body: { ...written, metadata: { ...written.metadata, finalizers: ["x/y"] } } });
    expect((await apiError(addFinalizer)).code).toBe(422);
    // A second delete with a longer grace changes nothing; creating the name again conflicts.
    await core.deleteNamespacedPod({ name: "p1", namespace: "default", gracePeriodSeconds: 60 });
    expect(server.get("pods", "p1")!.metadata.deletionGracePeriodSeconds).toBe(30);
    expect((await apiError(core.createNamespacedPod({ namespace: "default", body: bound("p1") }))).code).toBe(409);

    expect(server.terminating("pods").map((p) => p.metadata.name)).toEqual(["p1"]);
    expect(server.finishTerminating("pods").map((p) => p.metadata.name)).toEqual(["p1"]);
    await waitFor(() => expect(seen).toEqual(["add:p1", "update:p1", "update:p1", "delete:p1"]));
    expect(server.get("pods", "p1")).toBeUndefined();
  });

  it("takes the grace period from DeleteOptions or the pod spec; 0 deletes at once, as for unbound or finished pods", async () => {
    server.put("pods", bound("spec-grace", { terminationGracePeriodSeconds: 5 }));
    server.put("pods", bound("body-grace"));
    server.put("pods", bound("now"));
    server.put("pods", bound("shortened"));
    server.put("pods", pod("unbound"));
    server.put("pods", { ...bound("finished"), status: { phase: "Succeeded" } });
    await core.deleteNamespacedPod({ name: "spec-grace", namespace: "default" });
    expect(server.get("pods", "spec-grace")!.metadata.deletionGracePeriodSeconds).toBe(5);
    await core.deleteNamespacedPod({ name: "body-grace", namespace: "default", body: { gracePeriodSeconds: 7 } });
    expect(server.get("pods", "body-grace")!.metadata.deletionGracePeriodSeconds).toBe(7);
    await core.deleteNamespacedPod({ name: "now", namespace: "default", gracePeriodSeconds: 0 });
    expect(server.get("pods", "now")).toBeUndefined();
    await core.deleteNamespacedPod({ name: "shortened", namespace: "default" });
    const first = Date.parse(String(server.get("pods", "shortened")!.metadata.deletionTimestamp));
    await core.deleteNamespacedPod({ name: "shortened", namespace: "default", gracePeriodSeconds: 10 });
    const shortened = server.get("pods", "shortened")!;
    expect(shortened.metadata.deletionGracePeriodSeconds).toBe(10);
    expect(Date.parse(String(shortened.metadata.deletionTimestamp))).toBe(first - 20_000);
    await core.deleteNamespacedPod({ name: "shortened", namespace: "default", gracePeriodSeconds: 0 });
    expect(server.get("pods", "shortened")).toBeUndefined();
    await core.deleteNamespacedPod({ name: "unbound", namespace: "default" });
    await core.deleteNamespacedPod({ name: "finished", namespace: "default" });
    expect(server.list("pods").map((p) => p.metadata.name)).toEqual(["body-grace", "spec-grace"]);
    const bad = core.deleteNamespacedPod({ name: "body-grace", namespace: "default", propagationPolicy: "Sometimes" });
    expect((await apiError(bad)).code).toBe(422);
  });

  it("keeps an object with finalizers until they are removed; Orphan and Foreground add the garbage collector's", async () => {
    await custom.createNamespacedCustomObject({ ...RR, namespace: "spark", body: reservation("held", { finalizers: ["example.com/keep"] }) });
    await custom.createNamespacedCustomObject({ ...RR, namespace: "spark", body: reservation("orphaned") });
    await custom.createNamespacedCustomObject({ ...RR, namespace: "spark", body: reservation("plain") });
    const rrs = "resourcereservations.sparkscheduler.palantir.com";

    const held = await custom.deleteNamespacedCustomObject({ ...RR, namespace: "spark", name: "held" });
    expect(held.metadata.deletionGracePeriodSeconds).toBe(0);
    expect(server.get(rrs, "held", "spark")!.metadata.deletionTimestamp).toBeDefined();
    await custom.deleteNamespacedCustomObject({ ...RR, namespace: "spark", name: "orphaned", propagationPolicy: "Orphan" });
    expect(server.get(rrs, "orphaned", "spark")!.metadata.finalizers).toEqual(["orphan"]);
    await custom.deleteNamespacedCustomObject({ ...RR, namespace: "spark", name: "plain", propagationPolicy: "Background" });
    expect(server.get(rrs, "plain", "spark")).toBeUndefined();

    // The garbage collector's finalizer goes with finishTerminating; another controller's stays until removed.
    expect(server.finishTerminating(rrs).map((o) => o.metadata.name)).toEqual(["orphaned"]);
    const patch = [{ op: "remove", path: "/metadata/finalizers" }];
    const JSON_PATCH = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch);
    await custom.patchNamespacedCustomObject({ ...RR, namespace: "spark", name: "held", body: patch }, JSON_PATCH);
    expect(server.get(rrs, "held", "spark")).toBeUndefined();
  });
});

describe("opaque resourceVersions", () => {
  it("issues random tokens that lists, continue, resourceVersionMatch and watches accept", async () => {
    await server.stop();
    server = await FakeApiServer.start({ opaqueResourceVersions: true, historyLimit: 5 });
    kc = makeKubeConfig(server.url);
    core = kc.makeApiClient(k8s.CoreV1Api);
    for (const name of ["p1", "p2", "p3"]) server.put("pods", pod(name));
    const rv = server.resourceVersion;
    expect(rv).toMatch(/^[a-z2-7]{12}$/);
    expect(new Set(server.list("pods").map((p) => p.metadata.resourceVersion)).size).toBe(3);

    const first = await core.listNamespacedPod({ namespace: "default", limit: 2 });
    expect(first.metadata?.resourceVersion).toBe(rv);
    const rest = await core.listNamespacedPod({ namespace: "default", limit: 2, _continue: first.metadata?._continue });
    expect([...first.items, ...rest.items].map((p) => p.metadata?.name)).toEqual(["p1", "p2", "p3"]);
    expect((await core.listNamespacedPod({ namespace: "default", resourceVersion: rv, resourceVersionMatch: "Exact" })).items).toHaveLength(3);
    expect((await core.listNamespacedPod({ namespace: "default", resourceVersion: rv, resourceVersionMatch: "NotOlderThan" })).items).toHaveLength(3);
    expect((await apiError(core.listNamespacedPod({ namespace: "default", resourceVersion: "12" }))).code).toBe(400);

    // A watch resumes from a token; held events come when released, in order.
    const events = server.holdEvents("pods");
    server.put("pods", pod("p4"));
    server.put("pods", pod("p5"));
    const seen: string[] = [];
    const watch = await new k8s.Watch(kc).watch("/api/v1/namespaces/default/pods", { resourceVersion: rv }, (type, obj: k8s.V1Pod) => seen.push(`${type}:${obj.metadata?.name}`), () => {});
    cleanups.push(() => watch.abort());
    await waitFor(() => expect(seen).toEqual(["ADDED:p4", "ADDED:p5"])); // from the history
    server.put("pods", pod("p6"));
    expect(events.pending).toBe(3);
    expect(events.release(2)).toBe(2); // p4 and p5 again were sent already: the stream skips them
    events.resume();
    await waitFor(() => expect(seen).toEqual(["ADDED:p4", "ADDED:p5", "ADDED:p6"]));
    // Past the history: 410 Gone, as for integers.
    for (const name of ["p7", "p8", "p9", "p10", "p11", "p12"]) server.put("pods", pod(name));
    expect((await apiError(core.listNamespacedPod({ namespace: "default", limit: 1, _continue: first.metadata?._continue }))).code).toBe(410);
  });
});
