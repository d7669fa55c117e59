// The Kubernetes side with opaque resourceVersions (the fake's opaqueResourceVersions option: random base32
// strings, no order to read from them), as the API conventions require clients to treat them: informers (list
// pages with continue, re-lists with resourceVersionMatch, watch resumes), the reservation writer (conflicts,
// echoes of our own writes), leader election and garbage collection all work on identity alone.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeApiServer } from "../support/fake-apiserver.js";
import {
  LEASES,
  NODES,
  NS,
  PODS,
  RRS,
  type Replica,
  driverObject,
  eventually,
  executorObject,
  nodeObject,
  putEstablishedCrd,
  replica,
  setPhase,
  slotPods,
  storedReservations,
} from "./fixtures.js";

let server: FakeApiServer;
const replicas: Replica[] = [];
const NODE_NAMES = ["n1", "n2", "n3"];
const OPAQUE = /^[a-z2-7]{12}$/;

beforeEach(async () => {
  server = await FakeApiServer.start({ opaqueResourceVersions: true });
  putEstablishedCrd(server);
  for (const n of NODE_NAMES) server.put(NODES, nodeObject(n));
});

afterEach(async () => {
  for (const r of replicas.splice(0)) await r.stop();
  await server.stop();
});

async function readyReplica(): Promise<Replica> {
  // Pages of 2: every list of more than two objects goes through continue tokens.
  const r = replica(server, undefined, { watchTiming: { pageSize: 2 } });
  replicas.push(r);
  await r.cluster.start();
  await eventually(() => expect(r.cluster.readiness()).toEqual({ ready: true }), 3000);
  return r;
}

describe("opaque resourceVersions", () => {
  it("list pages, re-lists, watches, writes, leader election and garbage collection all work", async () => {
    for (const i of [1, 2, 3]) server.put(PODS, executorObject(`other-${i}`, "unrelated", { nodeName: "n1" }));
    expect(server.resourceVersion).toMatch(OPAQUE);
    const a = await readyReplica();
    expect(server.requests.some((q) => q.path === "/api/v1/pods" && q.query.continue)).toBe(true);
    expect(server.get(LEASES, "spark-scheduler-test", NS)?.spec).toMatchObject({ holderIdentity: a.cluster.identity });

    server.put(PODS, driverObject("app-1-driver", "app-1", { executors: 2 }));
    expect((await a.schedule("app-1-driver", NODE_NAMES)).outcome).toBe("success");
    for (const e of ["app-1-exec-1", "app-1-exec-2"]) {
      server.put(PODS, executorObject(e, "app-1"));
      expect((await a.schedule(e, NODE_NAMES)).outcome).toBe("success");
    }
    const stored = storedReservations(server).get("app-1")!;
    expect(stored.metadata.resourceVersion).toMatch(OPAQUE);
    expect(slotPods(stored)).toEqual({ driver: "app-1-driver", "executor-1": "app-1-exec-1", "executor-2": "app-1-exec-2" });
    await eventually(() => expect(a.engine.state.getReservation(NS, "app-1")?.resourceVersion).toBe(stored.metadata.resourceVersion));

    // A lost watch whose version left the history: 410, then a re-list from the last version seen.
    server.compactHistory();
    server.dropWatches();
    server.put(PODS, executorObject("while-away", "unrelated", { nodeName: "n2" }));
    await eventually(() => expect(a.engine.state.getPod(NS, "while-away")).toBeDefined(), 3000);
    const relist = server.requests.find((q) => q.path === "/api/v1/pods" && !q.watch && q.query.resourceVersionMatch === "NotOlderThan");
    expect(relist?.query.resourceVersion).toMatch(OPAQUE);

    // A follower takes over once the leader is gone, and keeps scheduling.
    const b = replica(server, undefined, { watchTiming: { pageSize: 2 } });
    replicas.push(b);
    await b.cluster.start();
    await eventually(() => expect(b.cluster.readiness().reason).toBe(`not the leader (leader: ${a.cluster.identity})`));
    await a.stop();
    await eventually(() => expect(b.cluster.readiness()).toEqual({ ready: true }), 3000);
    server.put(PODS, driverObject("app-2-driver", "app-2", { executors: 1 }));
    expect((await b.schedule("app-2-driver", NODE_NAMES)).outcome).toBe("success");

    // Garbage collection deletes with the version it judged as precondition.
    setPhase(server, "app-1-driver", "Succeeded");
    await eventually(() => expect([...storedReservations(server).keys()]).toEqual(["app-2"]));
    await eventually(() => expect(b.engine.listReservations().map((x) => x.appId)).toEqual(["app-2"]));
  });

  it("an older echo of our own write, arriving after a later write was stored, never replaces it", async () => {
    const a = await readyReplica();
    const events = server.holdEvents(RRS);
    server.put(PODS, driverObject("app-1-driver", "app-1", { executors: 2 }));
    expect((await a.schedule("app-1-driver", NODE_NAMES)).outcome).toBe("success");
    const created = server.get(RRS, "app-1", NS)!.metadata.resourceVersion;
    server.put(PODS, executorObject("app-1-exec-1", "app-1"));
    expect((await a.schedule("app-1-exec-1", NODE_NAMES)).outcome).toBe("success");
    const bound = server.get(RRS, "app-1", NS)!.metadata.resourceVersion;
    expect(a.engine.state.getReservation(NS, "app-1")?.resourceVersion).toBe(bound);

    // The creation's echo comes now: it names no executor, and is older than what the engine holds.
    events.release(1);
    await eventually(() => expect((a.cluster as any).informers.reservations.resourceVersion).toBe(created));
    expect(a.engine.state.getReservation(NS, "app-1")?.pods.get("executor-1")).toBe("app-1-exec-1");
    // So the next executor does not get the slot already promised.
    server.put(PODS, executorObject("app-1-exec-2", "app-1"));
    expect((await a.schedule("app-1-exec-2", NODE_NAMES)).outcome).toBe("success");
    events.resume();
    await eventually(() => expect(a.engine.state.getReservation(NS, "app-1")?.resourceVersion).toBe(server.get(RRS, "app-1", NS)!.metadata.resourceVersion));
    expect(slotPods(server.get(RRS, "app-1", NS)!)).toEqual({ driver: "app-1-driver", "executor-1": "app-1-exec-1", "executor-2": "app-1-exec-2" });
  });
});
