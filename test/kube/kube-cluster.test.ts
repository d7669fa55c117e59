import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ServiceConfig } from "../../src/config.js";
import { reservationFromObject } from "../../src/engine/reservation.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import {
  LEASES,
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
  setPhase,
  slotNames,
  slotPods,
  storedReservations,
  testConfig,
} from "./fixtures.js";

let server: FakeApiServer;
const replicas: Replica[] = [];

beforeEach(async () => {
  server = await FakeApiServer.start();
  putEstablishedCrd(server);
  for (const n of ["n1", "n2", "n3"]) server.put(NODES, nodeObject(n));
});

afterEach(async () => {
  for (const r of replicas.splice(0)) await r.stop();
  await server.stop();
});

function newReplica(config?: ServiceConfig): Replica {
  const r = replica(server, config);
  replicas.push(r);
  return r;
}

async function readyReplica(config?: ServiceConfig): Promise<Replica> {
  const r = newReplica(config);
  await r.cluster.start();
  await eventually(() => expect(r.cluster.readiness()).toEqual({ ready: true }));
  return r;
}

const NODE_NAMES = ["n1", "n2", "n3"];

describe("KubeCluster readiness", () => {
  it("is not ready until the informers synced, the lease is held and the state is reconciled", async () => {
    // A driver runs without a reservation (say its create was lost): taking over must rebuild and persist it.
    server.put(PODS, driverObject("orphan-driver", "orphan", { nodeName: "n1", executors: 2 }));
    const listFault = server.injectFault({ pathIncludes: "/api/v1/pods", watch: false, status: 500, times: Infinity });
    const leaseFault = server.injectFault({ pathIncludes: "/leases/", status: 500, times: Infinity });
    const writeFault = server.injectFault({ method: "POST", pathIncludes: "resourcereservations", status: 503, times: Infinity });
    const r = newReplica();
    expect(r.cluster.readiness()).toEqual({ ready: false, reason: "waiting for the ResourceReservation CRD" });

    const started = r.cluster.start();
    await eventually(() => expect(r.cluster.readiness().reason).toMatch(/^waiting for informers to sync: pods \(last error: HTTP 500/));
    listFault.cancel();
    await started;
    expect(r.cluster.readiness()).toEqual({ ready: false, reason: "not the leader (leader: unknown)" });

    leaseFault.cancel();
    await eventually(() =>
      expect(r.cluster.readiness().reason).toMatch(
        /^reconciliation failed, retrying: reconciliation write create spark\/orphan: create of reservation spark\/orphan failed after 4 attempt/,
      ),
    );
    expect(r.engine.state.getReservation(NS, "orphan")).toBeUndefined(); // rolled back
    writeFault.cancel();
    await eventually(() => expect(r.cluster.readiness()).toEqual({ ready: true }), 3000);
    const rebuilt = storedReservations(server).get("orphan")!;
    expect(slotNames(rebuilt)).toEqual(["driver", "executor-1", "executor-2"]);
    expect(r.engine.state.getReservation(NS, "orphan")?.resourceVersion).toBe(rebuilt.metadata.resourceVersion);

    await r.stop();
    expect(r.cluster.readiness()).toEqual({ ready: false, reason: "stopped" });
    expect(server.get(LEASES, "spark-scheduler-test", NS)?.spec).toMatchObject({ holderIdentity: "" });
  });

  it("stops deciding while a watch has been failing for more than 30 s (the state may be stale)", async () => {
    const r = await readyReplica();
    // Backdate the start of a run of watch failures instead of waiting 30 s.
    const pods = (r.cluster as any).informers.pods;
    pods.lastError = "HTTP 503";
    pods.failingSinceMs = performance.now() - 31_000; // the informers' monotonic clock
    expect(r.cluster.readiness()).toEqual({ ready: false, reason: "watches failing for more than 30 s: pods (HTTP 503)" });
    expect(r.cluster.synced()).toBe(true);
    pods.failingSinceMs = undefined;
    expect(r.cluster.readiness()).toEqual({ ready: true });
  });

  it("is ready right after start() without leader election", async () => {
    const r = newReplica(testConfig({ "leader-election": { enabled: false } }));
    await r.cluster.start();
    expect(r.cluster.readiness()).toEqual({ ready: true });
    expect(server.list(LEASES)).toEqual([]);
  });
});

describe("KubeCluster persistence", () => {
  it("persists reservations before answering: created with the driver as owner, updated as executors bind", async () => {
    const r = await readyReplica();
    const driver = server.put(PODS, driverObject("app-1-driver", "app-1", { executors: 2 }));
    const d = await r.schedule("app-1-driver", NODE_NAMES);
    expect(d.outcome).toBe("success");
    let obj = storedReservations(server).get("app-1")!;
    expect(obj.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: "Pod", name: "app-1-driver", uid: driver.metadata.uid, controller: true }),
    ]);
    expect(slotNames(obj)).toEqual(["driver", "executor-1", "executor-2"]);
    expect(r.engine.state.getReservation(NS, "app-1")?.resourceVersion).toBe(obj.metadata.resourceVersion);

    server.put(PODS, executorObject("app-1-exec-1", "app-1"));
    expect((await r.schedule("app-1-exec-1", NODE_NAMES)).outcome).toBe("success");
    obj = storedReservations(server).get("app-1")!;
    expect(Object.values(slotPods(obj))).toContain("app-1-exec-1");
    expect(r.engine.state.getReservation(NS, "app-1")?.resourceVersion).toBe(obj.metadata.resourceVersion);
  });

  it("rolls a decision back when its reservation cannot be persisted", async () => {
    const r = await readyReplica();
    server.put(PODS, driverObject("app-1-driver", "app-1"));
    const fault = server.injectFault({ method: "POST", pathIncludes: "resourcereservations", status: 503, times: Infinity });
    const d = await r.schedule("app-1-driver", NODE_NAMES);
    expect(d.outcome).toBe("failure-internal");
    expect(d.reason).toMatch(/could not persist reservation spark\/app-1: create of reservation spark\/app-1 failed after 4 attempt/);
    expect(fault.hits).toBe(4);
    expect(r.engine.state.getReservation(NS, "app-1")).toBeUndefined();
    expect(storedReservations(server).size).toBe(0);
    expect(r.engine.state.reservedOn("n1").cpu + r.engine.state.reservedOn("n2").cpu).toBe(0);

    fault.cancel();
    expect((await r.schedule("app-1-driver", NODE_NAMES)).outcome).toBe("success");
    expect(storedReservations(server).has("app-1")).toBe(true);
  });

  it("survives a restart in the middle of a burst: nothing lost, nothing double-booked, scheduling resumes", async () => {
    const first = await readyReplica();
    const apps = ["a", "b", "c", "d", "e"];
    for (const app of apps) {
      server.put(PODS, driverObject(`${app}-driver`, app, { executors: 2 }));
      for (const i of [1, 2, 3]) server.put(PODS, executorObject(`${app}-exec-${i}`, app));
    }
    server.put(PODS, driverObject("da-driver", "da", { dynamic: { min: 1, max: 3 } }));
    for (const i of [1, 2]) server.put(PODS, executorObject(`da-exec-${i}`, "da"));

    const sequential = ["a-driver", "b-driver", "c-driver", "d-driver", "da-driver", "a-exec-1", "b-exec-1", "da-exec-1", "da-exec-2"];
    const outcomes = [];
    for (const pod of sequential) outcomes.push((await first.schedule(pod, NODE_NAMES)).outcome);
    expect(outcomes.slice(-2)).toEqual(["success", "success-scheduled-extra-executor"]);

    // A burst of requests in flight at once, against a slow API server; the replica stops in the middle.
    server.setLatency(15);
    const puts = () => server.requests.filter((q) => q.method !== "GET" && q.path.includes("resourcereservations")).length;
    const writesBefore = puts();
    const burst = ["c-exec-1", "d-exec-1", "a-exec-2", "b-exec-2", "e-driver"].map((pod) => first.schedule(pod, NODE_NAMES));
    await eventually(() => expect(puts()).toBeGreaterThanOrEqual(writesBefore + 2));
    // Decisions no longer queue behind writes, so the stop is made to land between the requests of the burst.
    const stopped = first.stop();
    burst.push(...["c-exec-2", "d-exec-2"].map((pod) => first.schedule(pod, NODE_NAMES)));
    await stopped;
    const answered = await Promise.all(burst);
    server.setLatency(0);
    const succeeded = answered.filter((d) => d.outcome.startsWith("success"));
    expect(succeeded.length).toBeGreaterThanOrEqual(2);
    expect(answered.filter((d) => d.outcome === "failure-not-ready").length).toBeGreaterThanOrEqual(1);
    expect(answered.length).toBe(succeeded.length + answered.filter((d) => d.outcome === "failure-not-ready").length);

    // Whatever was answered with success is durable, exactly as the first replica held it.
    const before = storedReservations(server);
    for (const d of succeeded) expect(before.has(d.appId!)).toBe(true);

    const second = await readyReplica();
    const state = second.engine.state;
    expect([...state.reservations.keys()].sort()).toEqual([...before.keys()].map((k) => `${NS}/${k}`).sort());
    for (const [name, obj] of before) {
      const held = state.getReservation(NS, name)!;
      const parsed = reservationFromObject(obj);
      if (typeof parsed === "string") throw new Error(parsed);
      expect(Object.fromEntries(held.pods)).toEqual(Object.fromEntries(parsed.pods));
      expect(held.slots).toEqual(parsed.slots);
    }
    // The dynamic-allocation extra was soft-reserved in the first replica's memory only: rebuilt from the pods.
    expect([...state.getSoft(NS, "da")!.executors.keys()]).toEqual(["da-exec-2"]);

    // Scheduling resumes: every pending pod is offered again.
    for (const p of server.list(PODS, NS).filter((x) => !(x.spec as { nodeName?: string }).nodeName)) {
      await second.schedule(p.metadata.name, NODE_NAMES);
    }
    const after = storedReservations(server);
    expect([...after.keys()].sort()).toEqual([...apps, "da"].sort());
    // No slot is held twice, every executor holds at most one slot, and no node is over-reserved.
    const holders = new Map<string, string>();
    for (const [app, obj] of after) {
      for (const [slot, pod] of Object.entries(slotPods(obj))) {
        expect(holders.get(`${app}/${pod}`)).toBeUndefined();
        holders.set(`${app}/${pod}`, slot);
      }
    }
    for (const app of apps) {
      const pods = Object.values(slotPods(after.get(app)!)).sort();
      expect(pods).toEqual([`${app}-driver`, `${app}-exec-1`, `${app}-exec-2`]);
    }
    for (const n of NODE_NAMES) expect(state.reservedOn(n).cpu).toBeLessThanOrEqual(8000);
    const stillPending = server.list(PODS, NS).filter((p) => !(p.spec as { nodeName?: string }).nodeName);
    expect(stillPending.map((p) => p.metadata.name).sort()).toEqual(apps.map((app) => `${app}-exec-3`).sort());
  });
});

describe("KubeCluster leader election", () => {
  it("hands over to the follower when the leader stops; the follower answers failure-not-ready until then", async () => {
    const a = await readyReplica();
    const b = newReplica();
    await b.cluster.start();
    await eventually(() => expect(b.cluster.readiness()).toEqual({ ready: false, reason: `not the leader (leader: ${a.cluster.identity})` }));

    server.put(PODS, driverObject("app-1-driver", "app-1"));
    // The follower's informers run: it knows the pod, but refuses to decide.
    await eventually(() => expect(b.engine.state.getPod(NS, "app-1-driver")).toBeDefined());
    const refused = await b.schedule("app-1-driver", NODE_NAMES);
    expect(refused).toMatchObject({ outcome: "failure-not-ready", reason: `spark-scheduler is not ready: not the leader (leader: ${a.cluster.identity})` });
    expect(storedReservations(server).size).toBe(0);

    expect((await a.schedule("app-1-driver", NODE_NAMES)).outcome).toBe("success");
    await eventually(() => expect(b.engine.state.getReservation(NS, "app-1")).toBeDefined());

    await a.stop();
    await eventually(() => expect(b.cluster.readiness()).toEqual({ ready: true }), 3000);
    server.put(PODS, executorObject("app-1-exec-1", "app-1"));
    expect((await b.schedule("app-1-exec-1", NODE_NAMES)).outcome).toBe("success");
  });

  it("takes over a lease whose holder stopped renewing once it expires", async () => {
    server.put(LEASES, {
      metadata: { name: "spark-scheduler-test", namespace: NS },
      spec: { holderIdentity: "crashed-replica", leaseDurationSeconds: 1, renewTime: new Date().toISOString() },
    });
    const b = newReplica();
    await b.cluster.start();
    await eventually(() => expect(b.cluster.readiness().reason).toBe("not the leader (leader: crashed-replica)"));
    const waitingSince = Date.now();
    await eventually(() => expect(b.cluster.readiness()).toEqual({ ready: true }), 3000);
    expect(Date.now() - waitingSince).toBeGreaterThanOrEqual(250);
    const lease = server.get(LEASES, "spark-scheduler-test", NS)!;
    expect(lease.spec).toMatchObject({ holderIdentity: b.cluster.identity, leaseTransitions: 1 });
  });

  it("steps down when it cannot renew the lease, and leads again once it can", async () => {
    const a = await readyReplica();
    const fault = server.injectFault({ method: "PUT", pathIncludes: "/leases/", status: 500, times: Infinity });
    await eventually(() => expect(a.cluster.readiness().reason).toBe(`not the leader (leader: ${a.cluster.identity})`), 3000);
    server.put(PODS, driverObject("app-1-driver", "app-1"));
    await eventually(() => expect(a.engine.state.getPod(NS, "app-1-driver")).toBeDefined());
    expect((await a.schedule("app-1-driver", NODE_NAMES)).outcome).toBe("failure-not-ready");
    fault.cancel();
    await eventually(() => expect(a.cluster.readiness()).toEqual({ ready: true }), 3000);
    expect((await a.schedule("app-1-driver", NODE_NAMES)).outcome).toBe("success");
  });
});

describe("KubeCluster garbage collection", () => {
  it("deletes the reservation of a driver that succeeded and of a driver that was deleted", async () => {
    const r = await readyReplica();
    for (const app of ["done", "removed", "running"]) {
      server.put(PODS, driverObject(`${app}-driver`, app, { executors: 1 }));
      expect((await r.schedule(`${app}-driver`, NODE_NAMES)).outcome).toBe("success");
    }
    expect(storedReservations(server).size).toBe(3);

    setPhase(server, "done-driver", "Succeeded");
    server.remove(PODS, "removed-driver", NS);
    await eventually(() => expect([...storedReservations(server).keys()]).toEqual(["running"]));
    await eventually(() => expect(r.engine.listReservations().map((x) => x.appId)).toEqual(["running"]));
  });

  it("sweeps reservations of vanished or finished drivers when taking over", async () => {
    const seed = await readyReplica();
    for (const app of ["vanished", "finished", "alive"]) {
      server.put(PODS, driverObject(`${app}-driver`, app, { executors: 1 }));
      expect((await seed.schedule(`${app}-driver`, NODE_NAMES)).outcome).toBe("success");
    }
    await seed.stop();
    // While no replica leads: one driver pod disappears, another finishes.
    server.remove(PODS, "vanished-driver", NS);
    setPhase(server, "finished-driver", "Failed");

    const next = await readyReplica();
    expect([...storedReservations(server).keys()]).toEqual(["alive"]);
    expect(next.engine.listReservations().map((x) => x.appId)).toEqual(["alive"]);
  });
});

describe("KubeCluster periodic maintenance", () => {
  it("reconciles drift while leading: a running executor no reservation accounts for gets its slot", async () => {
    const r = replica(server, testConfig(), { gcIntervalMs: 50 });
    replicas.push(r);
    await r.cluster.start();
    await eventually(() => expect(r.cluster.readiness()).toEqual({ ready: true }));
    server.put(PODS, driverObject("app-driver", "app", { executors: 1 }));
    await eventually(() => expect(r.engine.state.getPod(NS, "app-driver")).toBeDefined());
    const admitted = await r.schedule("app-driver", NODE_NAMES);
    expect(admitted.outcome).toBe("success");
    const slotNode = (storedReservations(server).get("app")!.spec as any).reservations["executor-1"].node;
    // An executor that runs on the slot's node without ever having been through the extender (drift).
    server.put(PODS, executorObject("app-exec-1", "app", { nodeName: slotNode }));
    await eventually(() => expect(slotPods(storedReservations(server).get("app")!)["executor-1"]).toBe("app-exec-1"), 3000);
  });
});

describe("KubeCluster reconciliation warnings", () => {
  it("warns about a persisting problem once, not at every periodic pass", async () => {
    const lines: { level: number; msg: string; appId?: string }[] = [];
    const log = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const r = replica(server, testConfig(), { gcIntervalMs: 30, log });
    replicas.push(r);
    await r.cluster.start();
    await eventually(() => expect(r.cluster.readiness()).toEqual({ ready: true }));
    server.put(PODS, driverObject("app-driver", "app", { executors: 1 }));
    await eventually(() => expect(r.engine.state.getPod(NS, "app-driver")).toBeDefined());
    expect((await r.schedule("app-driver", NODE_NAMES)).outcome).toBe("success");
    // Two executors run where the reservation has one slot: the second can never be accounted for.
    server.put(PODS, executorObject("app-exec-1", "app", { nodeName: "n1" }));
    server.put(PODS, executorObject("app-exec-2", "app", { nodeName: "n2" }));
    const problem = (l: { msg: string; appId?: string }) => l.appId === "app" && l.msg.startsWith("reconciliation: running pods not accounted for");
    // Several periodic passes see the same problem.
    await eventually(() => expect(lines.filter(problem).length).toBeGreaterThanOrEqual(4), 5000);
    expect(lines.filter((l) => problem(l) && l.level === 40)).toHaveLength(1);
  });
});

describe("KubeCluster object names", () => {
  it("names a reservation validly when the application id is not a valid object name, and reads the id back from the label", async () => {
    const r = await readyReplica();
    // A legal label value, an illegal object name: a real API server refuses an object named "My_App".
    server.put(PODS, driverObject("my-app-driver", "My_App", { executors: 1 }));
    expect((await r.schedule("my-app-driver", NODE_NAMES)).outcome).toBe("success");
    const [name, obj] = [...storedReservations(server)][0];
    expect(name).toMatch(/^my-app-[0-9a-z]{13}$/);
    expect(obj.metadata.labels).toEqual({ "app-id": "My_App" });
    server.put(PODS, executorObject("my-app-exec-1", "My_App"));
    expect((await r.schedule("my-app-exec-1", NODE_NAMES)).outcome).toBe("success");
    expect(Object.values(slotPods(storedReservations(server).get(name)!))).toContain("my-app-exec-1");
    // A restarted replica maps the object back to the application through the label, not the name.
    await r.stop();
    const next = await readyReplica();
    expect(next.engine.listReservations().map((x) => x.appId)).toEqual(["My_App"]);
    server.remove(PODS, "my-app-driver", NS);
    await eventually(() => expect(storedReservations(server).size).toBe(0));
  });
});
