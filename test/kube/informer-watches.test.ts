// How the informers list and watch: paginated lists, server-side watch timeouts, bookmarks, the idle-watch
// detector, and pods stripped to what the engine reads. Each test fails against an informer that lists in one
// request, sends no timeoutSeconds or allowWatchBookmarks, or keeps a silent watch forever.

import { afterEach, describe, expect, it } from "vitest";
import { ClusterState } from "../../src/engine/state.js";
import type { ClusterInformers, WatchTiming } from "../../src/kube/informers.js";
import { FakeApiServer, type FakeApiServerOptions } from "../support/fake-apiserver.js";
import { NODES, NS, PODS, driverObject, eventually, executorObject, nodeObject, startInformers } from "./fixtures.js";

let server: FakeApiServer | undefined;
let informers: ClusterInformers | undefined;

afterEach(async () => {
  if (informers) await Promise.all(Object.values(informers).map((i) => i.stop()));
  informers = undefined;
  await server?.stop();
  server = undefined;
});

async function setUp(serverOptions: FakeApiServerOptions = {}): Promise<{ server: FakeApiServer; state: ClusterState }> {
  server = await FakeApiServer.start(serverOptions);
  return { server, state: new ClusterState() };
}

async function start(fake: FakeApiServer, state: ClusterState, timing?: Partial<WatchTiming>): Promise<ClusterInformers> {
  informers = await startInformers(fake, state, { timing });
  return informers;
}

const podLists = (fake: FakeApiServer) => fake.requests.filter((r) => r.path === "/api/v1/pods" && !r.watch);
const podWatches = (fake: FakeApiServer) => fake.requests.filter((r) => r.path === "/api/v1/pods" && r.watch);

describe("informer lists", () => {
  it("are paginated with limit and continue", async () => {
    const { server: fake, state } = await setUp();
    for (let i = 0; i < 7; i++) fake.put(PODS, executorObject(`e${i}`, "app"));
    await start(fake, state, { pageSize: 3 });
    const lists = podLists(fake);
    expect(lists.map((r) => r.query.limit)).toEqual(["3", "3", "3"]);
    expect(lists.map((r) => r.query.continue !== undefined)).toEqual([false, true, true]);
    expect(state.pods.size).toBe(7);
  });

  it("restart from the first page when a continue token expired", async () => {
    const { server: fake, state } = await setUp();
    for (let i = 0; i < 5; i++) fake.put(PODS, executorObject(`e${i}`, "app"));
    fake.injectFault({ pathIncludes: "/api/v1/pods", queryHas: "continue", status: 410, times: 1 });
    const inf = await start(fake, state, { pageSize: 2 });
    expect(state.pods.size).toBe(5);
    const lists = podLists(fake).map((r) => r.query.continue !== undefined);
    // page 1, page 2 (410), then page 1 again and the rest
    expect(lists.slice(0, 3)).toEqual([false, true, false]);
    expect(inf.pods.failingSinceMs).toBeUndefined();
  });

  it("after a lost watch history, re-list from the last version (NotOlderThan) and drop what is gone", async () => {
    const { server: fake, state } = await setUp();
    fake.put(PODS, executorObject("stays", "app"));
    fake.put(PODS, executorObject("goes", "app"));
    await start(fake, state);
    fake.dropWatches();
    fake.remove(PODS, "goes", NS);
    fake.compactHistory();
    await eventually(() => expect(state.getPod(NS, "goes")).toBeUndefined());
    expect(state.getPod(NS, "stays")).toBeDefined();
    const relist = podLists(fake).at(-1)!;
    expect(relist.query.resourceVersionMatch).toBe("NotOlderThan");
    expect(relist.query.resourceVersion).toMatch(/^\d+$/);
  });
});

describe("informer watches", () => {
  it("ask for bookmarks and a server-side timeout spread over [min, 2·min)", async () => {
    const { server: fake, state } = await setUp();
    await start(fake, state, { minTimeoutSeconds: 100 });
    for (const w of fake.requests.filter((r) => r.watch)) {
      expect(w.query.allowWatchBookmarks).toBe("true");
      const t = Number(w.query.timeoutSeconds);
      expect(t).toBeGreaterThanOrEqual(100);
      expect(t).toBeLessThan(200);
    }
  });

  it("re-watch from the last version when the server ends a watch at its timeout, without re-listing", async () => {
    const { server: fake, state } = await setUp();
    const inf = await start(fake, state, { minTimeoutSeconds: 1 });
    await eventually(() => expect(podWatches(fake).length).toBeGreaterThanOrEqual(2), 5000);
    fake.put(PODS, executorObject("later", "app"));
    await eventually(() => expect(state.getPod(NS, "later")).toBeDefined());
    expect(podLists(fake)).toHaveLength(1);
    expect(inf.pods.restarts).toBe(0);
    expect(inf.pods.failingSinceMs).toBeUndefined();
  });

  it("follow bookmarks, so a quiet collection resumes after other resources moved the history on", async () => {
    const { server: fake, state } = await setUp({ historyLimit: 5, bookmarkIntervalMs: 30 });
    fake.put(PODS, executorObject("quiet", "app"));
    const inf = await start(fake, state);
    await eventually(() => expect(fake.openWatchCount).toBe(3));
    const before = inf.pods.resourceVersion;
    for (let i = 0; i < 20; i++) fake.put(NODES, nodeObject(`n${i}`));
    await eventually(() => expect(inf.pods.resourceVersion).toBe(fake.resourceVersion));
    expect(inf.pods.resourceVersion).not.toBe(before);
    fake.endWatches();
    await eventually(() => expect(podWatches(fake).length).toBeGreaterThanOrEqual(2));
    fake.put(PODS, executorObject("after", "app"));
    await eventually(() => expect(state.getPod(NS, "after")).toBeDefined());
    // The pods watch resumed from the bookmark's version: no 410, no second list.
    expect(podLists(fake)).toHaveLength(1);
  });

  it("abandon a watch that went silent (half-open) and catch up from the last version", async () => {
    const { server: fake, state } = await setUp({ bookmarkIntervalMs: 60_000 });
    const inf = await start(fake, state, { idleMs: 300 });
    await eventually(() => expect(fake.openWatchCount).toBe(3));
    fake.silenceWatches();
    fake.put(PODS, executorObject("while-silent", "app"));
    await eventually(() => expect(state.getPod(NS, "while-silent")).toBeDefined(), 3000);
    expect(inf.pods.idleWatches).toBeGreaterThanOrEqual(1);
    expect(podLists(fake)).toHaveLength(1);
  });
});

describe("informer pods", () => {
  it("keep labels, annotations and constraints of Spark pods only; other pods keep what capacity needs", async () => {
    const { server: fake, state } = await setUp();
    fake.put(PODS, driverObject("d1", "app", { nodeName: "n1" }));
    fake.put(PODS, {
      metadata: {
        name: "web",
        namespace: "apps",
        labels: { app: "web" },
        annotations: { "kubectl.kubernetes.io/last-applied-configuration": "x".repeat(5000) },
      },
      spec: {
        nodeName: "n1",
        nodeSelector: { disk: "ssd" },
        tolerations: [{ key: "k", operator: "Exists" }],
        containers: [{ name: "c", resources: { requests: { cpu: "2", memory: "1Gi" } } }],
      },
      status: { phase: "Running" },
    });
    await start(fake, state);
    const web = state.getPod("apps", "web")!;
    expect(web).toMatchObject({ nodeName: "n1", labels: {}, annotations: {}, nodeSelector: {}, tolerations: [] });
    expect(web.requests.cpu).toBe(2000);
    const driver = state.getPod(NS, "d1")!;
    expect(driver.labels["spark-role"]).toBe("driver");
    expect(driver.annotations["spark-executor-count"]).toBe("2");
  });
});
