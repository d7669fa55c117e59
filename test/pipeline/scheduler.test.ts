// The decision pipeline against the fake API server over real HTTP: writes outside the lock, ordered and
// coalesced per reservation, answers waiting for their own write, failed writes forgetting exactly what was not
// stored, compaction as its own step, reads that never wait.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { reservationFromObject } from "../../src/engine/reservation.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import {
  NODES,
  NS,
  PODS,
  type Replica,
  driverObject,
  eventually,
  executorObject,
  nodeObject,
  putEstablishedCrd,
  replica,
  slotPods,
  storedReservations,
  testConfig,
} from "../kube/fixtures.js";

let server: FakeApiServer;
const replicas: Replica[] = [];
const NODE_NAMES = ["n1", "n2", "n3"];

beforeEach(async () => {
  server = await FakeApiServer.start();
  putEstablishedCrd(server);
  for (const n of NODE_NAMES) server.put(NODES, nodeObject(n, "16", "16Gi"));
});

afterEach(async () => {
  for (const r of replicas.splice(0)) await r.stop();
  await server.stop();
});

async function readyReplica(): Promise<Replica> {
  const r = replica(server, testConfig({ "leader-election": { enabled: false } }));
  replicas.push(r);
  await r.cluster.start();
  await eventually(() => expect(r.cluster.readiness()).toEqual({ ready: true }));
  return r;
}

const rrWrites = () => server.requests.filter((q) => q.method !== "GET" && q.path.includes("resourcereservations"));

describe("pipeline", () => {
  it("coalesces concurrent executor binds of one application into fewer writes, each answer after its own write", async () => {
    const r = await readyReplica();
    server.put(PODS, driverObject("app-driver", "app", { executors: 12 }));
    expect((await r.schedule("app-driver", NODE_NAMES)).outcome).toBe("success");
    for (let i = 1; i <= 12; i++) server.put(PODS, executorObject(`app-exec-${i}`, "app"));
    await eventually(() => expect(r.engine.state.pods.has(`${NS}/app-exec-12`)).toBe(true));
    server.setLatency(20);
    const before = rrWrites().length;
    const answers = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const d = await r.schedule(`app-exec-${i + 1}`, NODE_NAMES);
        // Durable when answered: the stored reservation names this executor.
        const stored = storedReservations(server).get("app")!;
        return { d, stored: Object.values(slotPods(stored)).includes(`app-exec-${i + 1}`) };
      }),
    );
    server.setLatency(0);
    expect(answers.map((a) => a.d.outcome)).toEqual(Array(12).fill("success"));
    expect(answers.every((a) => a.stored)).toBe(true);
    const writes = rrWrites().length - before;
    expect(writes).toBeGreaterThanOrEqual(1);
    expect(writes).toBeLessThanOrEqual(3); // the first bind alone, then the rest coalesced
    expect(r.engine.state.isHeld(NS, "app")).toBe(false);
    const pods = new Set(Object.values(slotPods(storedReservations(server).get("app")!)));
    expect(pods.size).toBe(13);
  });

  it("a read answers at once while a decision's write is in flight; the decision's answer waits for the write", async () => {
    const r = await readyReplica();
    server.put(PODS, driverObject("app-driver", "app", { executors: 2 }));
    await eventually(() => expect(r.engine.state.pods.has(`${NS}/app-driver`)).toBe(true));
    server.setLatency(300);
    let answered = false;
    const decision = r.schedule("app-driver", NODE_NAMES).then((d) => ((answered = true), d));
    await eventually(() => expect(r.scheduler.pipeline.busy).toBe(1));
    // The admission is assumed: a read sees it at once, and it is not answered before it is stored.
    const seen = await r.scheduler.read(() => r.engine.listReservations(NS).map((x) => x.appId));
    expect(seen).toEqual(["app"]);
    expect(answered).toBe(false);
    expect(storedReservations(server).has("app")).toBe(false);
    server.setLatency(0);
    expect((await decision).outcome).toBe("success");
    expect(storedReservations(server).has("app")).toBe(true);
  });

  it("a failed create forgets the admission only; the answer is an error and nothing stays reserved", async () => {
    const r = await readyReplica();
    server.put(PODS, driverObject("app-driver", "app", { executors: 2 }));
    server.injectFault({ method: "POST", pathIncludes: "resourcereservations", status: 422, times: 1 });
    const d = await r.schedule("app-driver", NODE_NAMES);
    expect(d.outcome).toBe("failure-internal");
    expect(d.reason).toMatch(/could not persist reservation spark\/app/);
    expect(r.engine.state.getReservation(NS, "app")).toBeUndefined();
    for (const n of NODE_NAMES) expect(r.engine.state.reservedOn(n).cpu).toBe(0);
    expect((await r.schedule("app-driver", NODE_NAMES)).outcome).toBe("success");
  });

  it("a failed write never rolls back a stored one: compaction's stored PUT survives another decision's failed create", async () => {
    const r = await readyReplica();
    // Application a: dynamic allocation, min 1 / max 2: exec-1 holds the hard slot, exec-2 a soft reservation.
    server.put(PODS, driverObject("a-driver", "a", { dynamic: { min: 1, max: 2 } }));
    expect((await r.schedule("a-driver", NODE_NAMES)).outcome).toBe("success");
    for (const e of ["a-exec-1", "a-exec-2"]) server.put(PODS, executorObject(e, "a"));
    await eventually(() => expect(r.engine.state.pods.has(`${NS}/a-exec-2`)).toBe(true));
    expect((await r.schedule("a-exec-1", NODE_NAMES)).outcome).toBe("success");
    expect((await r.schedule("a-exec-2", NODE_NAMES)).outcome).toBe("success-scheduled-extra-executor");

    // exec-1 is deleted: exec-2 moves into its slot (compaction, its own step, with its own write).
    server.remove(PODS, "a-exec-1", NS);
    await eventually(() => expect(slotPods(storedReservations(server).get("a")!)["executor-1"]).toBe("a-exec-2"));

    // The watches go down, so no echo repairs the engine's picture; a new driver's create fails.
    const watchFault = server.injectFault({ method: "GET", status: 503, times: Infinity });
    server.dropWatches();
    server.put(PODS, driverObject("b-driver", "b", { executors: 1 }));
    server.injectFault({ method: "POST", pathIncludes: "resourcereservations", status: 422, times: 1 });
    expect((await r.schedule("b-driver", NODE_NAMES)).outcome).toBe("failure-internal");

    // The engine still holds what the API server stored: exec-2 in executor-1, no soft reservation left.
    const held = r.engine.state.getReservation(NS, "a")!;
    expect(held.pods.get("executor-1")).toBe("a-exec-2");
    expect(r.engine.state.getSoft(NS, "a")!.executors.size).toBe(0);
    // So a third executor does not take exec-2's slot (the old rollback made it look free, and the writer then
    // re-applied the stale content over the server's).
    server.put(PODS, executorObject("a-exec-3", "a"));
    expect((await r.schedule("a-exec-3", NODE_NAMES)).outcome).toBe("success-scheduled-extra-executor");
    watchFault.cancel();
    await r.scheduler.pipeline.idle();
    const stored = reservationFromObject(storedReservations(server).get("a")!);
    if (typeof stored === "string") throw new Error(stored);
    expect(stored.pods.get("executor-1")).toBe("a-exec-2");
    expect(storedReservations(server).has("b")).toBe(false);
  });
});
