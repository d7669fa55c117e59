// A new leader takes over (garbage collection, reconciliation) only once its watches are live: after an
// API-server outage the lease can be back before the watches are, and the caches may be stale meanwhile.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { NODES, NS, PODS, type Replica, driverObject, eventually, nodeObject, putEstablishedCrd, replica, storedReservations } from "./fixtures.js";

let server: FakeApiServer;
const replicas: Replica[] = [];

beforeEach(async () => {
  server = await FakeApiServer.start();
  putEstablishedCrd(server);
  for (const n of ["n1", "n2"]) server.put(NODES, nodeObject(n));
});
afterEach(async () => {
  for (const r of replicas.splice(0)) await r.stop();
  await server.stop();
});

describe("KubeCluster take-over", () => {
  it("waits for every watch to be live before garbage collection and reconciliation", async () => {
    const seed = replica(server);
    replicas.push(seed);
    await seed.cluster.start();
    await eventually(() => expect(seed.cluster.readiness()).toEqual({ ready: true }));
    server.put(PODS, driverObject("gone-driver", "gone", { executors: 1 }));
    expect((await seed.schedule("gone-driver", ["n1", "n2"])).outcome).toBe("success");
    await seed.stop();
    server.remove(PODS, "gone-driver", NS); // while nobody leads: its reservation is garbage

    const leaseFault = server.injectFault({ pathIncludes: "/leases/", status: 500, times: Infinity });
    const r = replica(server);
    replicas.push(r);
    await r.cluster.start();
    // The pods watch breaks and keeps failing.
    const watchFault = server.injectFault({ pathIncludes: "/pods", watch: true, status: 500, times: Infinity });
    server.dropWatches();
    await eventually(() => expect(watchFault.hits).toBeGreaterThanOrEqual(2));

    leaseFault.cancel();
    await eventually(() => expect(r.cluster.readiness().reason).toBe("waiting for the watches to be live before taking over: pods"));
    const hits = watchFault.hits;
    await eventually(() => expect(watchFault.hits).toBeGreaterThan(hits + 1));
    expect(r.cluster.readiness().ready).toBe(false);
    expect(storedReservations(server).has("gone")).toBe(true); // no sweep on a stale cache

    watchFault.cancel();
    await eventually(() => expect(r.cluster.readiness()).toEqual({ ready: true }));
    expect(storedReservations(server).has("gone")).toBe(false);
  });
});
