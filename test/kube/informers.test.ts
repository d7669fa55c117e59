import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PodInfo } from "../../src/engine/model.js";
import { reservationFromObject, reservationToObject } from "../../src/engine/reservation.js";
import { res } from "../../src/engine/resources.js";
import { ClusterState } from "../../src/engine/state.js";
import { type ClusterInformers, type WatchTiming, clusterInformers } from "../../src/kube/informers.js";
import { ReservationEchoes } from "../../src/kube/reservation-echoes.js";
import { Mutex } from "../../src/pipeline/mutex.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";
import { CONFIGMAPS, NODES, NS, PODS, RRS, driverObject, eventually, executorObject, nodeObject, setPhase, silentLog, startInformers } from "./fixtures.js";

let server: FakeApiServer;
let state: ClusterState;
let informers: ClusterInformers | undefined;
let ended: { pod: string; deleted: boolean }[];

beforeEach(async () => {
  server = await FakeApiServer.start();
  state = new ClusterState();
  ended = [];
});

afterEach(async () => {
  if (informers) await Promise.all(Object.values(informers).map((i) => i.stop()));
  informers = undefined;
  await server.stop();
});

async function start(timing?: Partial<WatchTiming>): Promise<ClusterInformers> {
  informers = await startInformers(server, state, {
    timing,
    hooks: { driverEnded: (pod: PodInfo, deleted: boolean) => ended.push({ pod: pod.name, deleted }) },
  });
  return informers;
}

function rrObject(appId: string, node: string, executor?: string): object {
  const obj = reservationToObject({
    namespace: NS,
    appId,
    driverPod: `${appId}-driver`,
    driverUid: "uid",
    slots: new Map([
      ["driver", { node, resources: res(1000, 2 ** 30) }],
      ["executor-1", { node, resources: res(1000, 2 ** 30) }],
    ]),
    pods: new Map(executor ? [["driver", `${appId}-driver`], ["executor-1", executor]] : [["driver", `${appId}-driver`]]),
    createdAtMs: 0,
  });
  return obj;
}

describe("cluster informers", () => {
  it("load nodes, pods and reservations before reporting synced, and never list or watch ConfigMaps", async () => {
    server.put(NODES, nodeObject("n1"));
    server.put(PODS, driverObject("d1", "app-1", { nodeName: "n1" }));
    server.put(RRS, rrObject("app-1", "n1"));
    server.put(CONFIGMAPS, { metadata: { name: "unrelated", namespace: NS }, data: { other: "x".repeat(10_000) } });
    const inf = await start();
    expect(Object.keys(inf).sort()).toEqual(["nodes", "pods", "reservations"]);
    expect(Object.values(inf).every((i) => i.synced)).toBe(true);
    expect([...state.nodes.keys()]).toEqual(["n1"]);
    expect(state.getPod(NS, "d1")?.nodeName).toBe("n1");
    expect(state.getReservation(NS, "app-1")?.resourceVersion).toBe(server.get(RRS, "app-1", NS)!.metadata.resourceVersion);
    expect(server.requests.filter((r) => r.path.includes("configmaps"))).toEqual([]);
    expect(state.configMaps.size).toBe(0);
  });

  it("apply later adds, updates and deletes", async () => {
    await start();
    server.put(NODES, nodeObject("n1"));
    server.put(PODS, executorObject("e1", "app-1"));
    await eventually(() => expect(state.getPod(NS, "e1")).toBeDefined());
    server.put(NODES, nodeObject("n1", "16"));
    server.remove(PODS, "e1", NS);
    await eventually(() => {
      expect(state.nodes.get("n1")?.allocatable.cpu).toBe(16000);
      expect(state.getPod(NS, "e1")).toBeUndefined();
    });
  });

  it.each([false, true])(
    "never let a reservation event replace a newer copy of ours, and ignore deletions of an earlier incarnation (opaque resourceVersions: %s)",
    async (opaque) => {
      await server.stop();
      server = await FakeApiServer.start({ opaqueResourceVersions: opaque });
      const echoes = new ReservationEchoes();
      informers = await startInformers(server, state, { echoes });
      server.put(RRS, rrObject("app-1", "n1"));
      await eventually(() => expect(state.getReservation(NS, "app-1")).toBeDefined());
      // The watch lags: a copy and a deletion of app-1 are committed, then our own write of a new incarnation,
      // which the engine holds (as the pipeline confirms it) before the watch has delivered any of them.
      const events = server.holdEvents(RRS);
      const stale = server.put(RRS, rrObject("app-1", "n1", "stale"));
      const deleted = server.remove(RRS, "app-1", NS)!;
      echoes.begin(`${NS}/app-1`);
      const mine = server.put(RRS, rrObject("app-1", "n1", "mine"));
      echoes.end(`${NS}/app-1`, mine.metadata.resourceVersion);
      const ours = reservationFromObject(mine);
      if (typeof ours === "string") throw new Error(ours);
      state.putReservation(ours);
      server.put(RRS, rrObject("app-2", "n1"));
      // One event at a time: neither the older copy nor the older deletion may replace ours, even for a moment.
      for (const older of [stale, deleted]) {
        events.release(1);
        await eventually(() => expect(informers!.reservations.resourceVersion).toBe(older.metadata.resourceVersion));
        expect(state.getReservation(NS, "app-1")?.pods.get("executor-1")).toBe("mine");
      }
      events.resume();
      await eventually(() => expect(state.getReservation(NS, "app-2")).toBeDefined());
      expect(state.getReservation(NS, "app-1")?.pods.get("executor-1")).toBe("mine");
      expect(state.getReservation(NS, "app-1")?.resourceVersion).toBe(mine.metadata.resourceVersion);

      // Later copies are anyone's, and apply.
      server.put(RRS, rrObject("app-1", "n1", "newer"));
      await eventually(() => expect(state.getReservation(NS, "app-1")?.pods.get("executor-1")).toBe("newer"));
    },
  );

  it("drop a deleted reservation together with the application's soft reservations", async () => {
    await start();
    server.put(RRS, rrObject("app-1", "n1"));
    await eventually(() => expect(state.getReservation(NS, "app-1")).toBeDefined());
    state.ensureSoft(NS, "app-1", 2);
    state.addSoft(NS, "app-1", "extra", { node: "n1", resources: res(1000, 0) });
    server.remove(RRS, "app-1", NS);
    await eventually(() => expect(state.getReservation(NS, "app-1")).toBeUndefined());
    expect(state.getSoft(NS, "app-1")).toBeUndefined();
    expect(state.reservedOn("n1")).toEqual(res(0, 0));
  });

  it("release the soft reservation of a terminated or deleted executor for good, and report ended drivers", async () => {
    server.put(PODS, driverObject("d1", "app-1", { nodeName: "n1" }));
    server.put(PODS, executorObject("x1", "app-1", { nodeName: "n1" }));
    server.put(PODS, executorObject("x2", "app-1", { nodeName: "n1" }));
    await start();
    state.ensureSoft(NS, "app-1", 2);
    state.addSoft(NS, "app-1", "x1", { node: "n1", resources: res(1000, 0) });
    state.addSoft(NS, "app-1", "x2", { node: "n1", resources: res(1000, 0) });
    setPhase(server, "x1", "Failed");
    server.remove(PODS, "x2", NS);
    await eventually(() => expect(state.getSoft(NS, "app-1")?.executors.size).toBe(0));
    expect([...state.getSoft(NS, "app-1")!.dead].sort()).toEqual(["x1", "x2"]);

    setPhase(server, "d1", "Succeeded");
    await eventually(() => expect(ended).toEqual([{ pod: "d1", deleted: false }]));
    expect(state.getSoft(NS, "app-1")).toBeUndefined();
    server.remove(PODS, "d1", NS);
    await eventually(() => expect(ended).toHaveLength(2));
    expect(ended[1]).toEqual({ pod: "d1", deleted: true });
  });

  it("restart after dropped watches, and deliver what happened meanwhile and later", async () => {
    const inf = await start();
    const watchesBefore = server.requests.filter((r) => r.watch).length;
    server.dropWatches();
    server.put(PODS, executorObject("while-down", "app-1"));
    await eventually(() => expect(server.requests.filter((r) => r.watch).length).toBeGreaterThanOrEqual(watchesBefore + 3));
    server.put(PODS, executorObject("after", "app-1"));
    server.put(NODES, nodeObject("n-after"));
    await eventually(() => {
      expect(state.getPod(NS, "while-down")).toBeDefined();
      expect(state.getPod(NS, "after")).toBeDefined();
      expect(state.nodes.has("n-after")).toBe(true);
    });
    // Resumed from the last resourceVersion: no informer listed again.
    expect(server.requests.filter((r) => !r.watch && r.method === "GET" && r.query.resourceVersionMatch)).toEqual([]);
    expect(Object.values(inf).every((i) => i.synced)).toBe(true);
  });

  it("track since when a watch keeps failing, and clear it on recovery", async () => {
    const inf = await start();
    expect(inf.pods.failingSinceMs).toBeUndefined();
    const fault = server.injectFault({ pathIncludes: "/api/v1/pods", status: 500, times: Infinity });
    server.dropWatches();
    await eventually(() => expect(inf.pods.failingSinceMs).toBeTypeOf("number"));
    const since = inf.pods.failingSinceMs!;
    await eventually(() => expect(inf.pods.restarts).toBeGreaterThan(1));
    expect(inf.pods.failingSinceMs).toBe(since); // the run of failures keeps its start
    fault.cancel();
    await eventually(() => expect(inf.pods.failingSinceMs).toBeUndefined(), 3000);
  });

  it("restart after a failing watch request and a 410 re-list, with deletions seen", async () => {
    server.put(PODS, executorObject("gone-later", "app-1"));
    const inf = await start();
    server.injectFault({ watch: true, pathIncludes: "/pods", status: 503, times: 2 });
    server.dropWatches();
    server.remove(PODS, "gone-later", NS);
    server.compactHistory();
    await eventually(() => expect(state.getPod(NS, "gone-later")).toBeUndefined());
    expect(inf.pods.restarts).toBeGreaterThanOrEqual(2);
    server.put(PODS, executorObject("fresh", "app-1"));
    await eventually(() => expect(state.getPod(NS, "fresh")).toBeDefined());
  });

  it("keep retrying a failing initial list, reporting the error until synced", async () => {
    server.injectFault({ pathIncludes: "/api/v1/nodes", watch: false, status: 500, times: 3 });
    const mutex = new Mutex();
    informers = clusterInformers({ kc: makeKubeConfig(server.url), state, serialize: (fn) => mutex.run(fn), log: silentLog, backoff: { initialMs: 20, maxMs: 40 } });
    let notified = 0;
    informers.nodes.onSynced(() => notified++);
    const synced = informers.nodes.start();
    await eventually(() => expect(informers!.nodes.lastError).toMatch(/HTTP 500/));
    expect(informers.nodes.synced).toBe(false);
    expect(notified).toBe(0);
    await synced;
    expect(informers.nodes.synced).toBe(true);
    expect(informers.nodes.lastError).toBeUndefined();
    expect(notified).toBe(1);
    informers.nodes.onSynced(() => notified++);
    expect(notified).toBe(2);
  });

  it("release a pending start() when stopped before syncing", async () => {
    server.injectFault({ pathIncludes: "/api/v1/nodes", watch: false, status: 500, times: Infinity });
    const mutex = new Mutex();
    const inf = clusterInformers({ kc: makeKubeConfig(server.url), state, serialize: (fn) => mutex.run(fn), log: silentLog, backoff: { initialMs: 20, maxMs: 40 } });
    const started = inf.nodes.start();
    await eventually(() => expect(inf.nodes.lastError).toBeDefined());
    await inf.nodes.stop();
    await started;
    expect(inf.nodes.synced).toBe(false);
  });
});
