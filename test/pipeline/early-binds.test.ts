// Executor binds answered before their write (`executor-bind-answer: before-write`): an executor bound into a
// slot its reservation already stores on the chosen node is answered as soon as the bind is assumed; the write
// naming the pod follows, ordered and coalesced per reservation. A failed write forgets exactly what was not
// stored; the bound executor is node overhead until reconciliation (on takeover) re-attaches it. Admissions and
// slots that move still wait for their writes. Against the fake API server over real HTTP.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configFromObject } from "../../src/config.js";
import type { EarlyBind } from "../../src/pipeline/reservation-pipeline.js";
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
let late: EarlyBind[] = [];

beforeEach(async () => {
  server = await FakeApiServer.start();
  putEstablishedCrd(server);
  for (const n of NODE_NAMES) server.put(NODES, nodeObject(n, "16", "16Gi"));
  late = [];
});

afterEach(async () => {
  for (const r of replicas.splice(0)) await r.stop();
  await server.stop();
});

async function readyReplica(earlyExecutorBinds = true): Promise<Replica> {
  const r = replica(server, testConfig({ "leader-election": { enabled: false } }), {}, {
    earlyExecutorBinds,
    onLateFailure: (binds) => late.push(...binds),
  });
  replicas.push(r);
  await r.cluster.start();
  await eventually(() => expect(r.cluster.readiness()).toEqual({ ready: true }));
  return r;
}

/** An admitted application with `executors` executor pods created and seen by the engine. */
async function admitted(r: Replica, app: string, executors: number): Promise<void> {
  server.put(PODS, driverObject(`${app}-driver`, app, { executors }));
  expect((await r.schedule(`${app}-driver`, NODE_NAMES)).outcome).toBe("success");
  for (let i = 1; i <= executors; i++) server.put(PODS, executorObject(`${app}-exec-${i}`, app));
  await eventually(() => expect(r.engine.state.pods.has(`${NS}/${app}-exec-${executors}`)).toBe(true));
}

const storedPods = (app: string) => Object.values(slotPods(storedReservations(server).get(app)!));
const rrPuts = () => server.requests.filter((q) => q.method === "PUT" && q.path.includes("resourcereservations"));

describe("executor binds answered before their write", () => {
  it("the configuration key: before-write by default, after-write, anything else refused", () => {
    expect(configFromObject({}).earlyExecutorBinds).toBe(true);
    expect(configFromObject({ "executor-bind-answer": "after-write" }).earlyExecutorBinds).toBe(false);
    expect(() => configFromObject({ "executor-bind-answer": "sometimes" })).toThrow(/executor-bind-answer/);
  });

  it("a bind into a slot stored on the offered node is answered before the write; the writes follow, coalesced", async () => {
    const r = await readyReplica();
    await admitted(r, "app", 8);
    // The first attempt of the first write fails (503, retried): nothing can be stored when the answers come.
    server.injectFault({ method: "PUT", pathIncludes: "resourcereservations", status: 503, times: 1 });
    const before = rrPuts().length;
    const answers = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const d = await r.schedule(`app-exec-${i + 1}`, NODE_NAMES);
        return { d, stored: storedPods("app").includes(`app-exec-${i + 1}`) };
      }),
    );
    expect(answers.map((a) => a.d.outcome)).toEqual(Array(8).fill("success"));
    expect(answers.some((a) => a.stored)).toBe(false);
    // Engine state has every bind assumed at once (a read sees them), and the API server gets them all.
    expect(r.engine.state.getReservation(NS, "app")!.pods.size).toBe(9);
    await r.scheduler.pipeline.idle();
    expect(new Set(storedPods("app")).size).toBe(9);
    // The failed attempt, then fewer writes than binds: binds assumed while a write is in flight share the next.
    expect(rrPuts().length - before).toBeLessThan(1 + 8);
    expect(late).toEqual([]);
    expect(r.engine.state.isHeld(NS, "app")).toBe(false);
  });

  it("with after-write every bind waits for its write", async () => {
    const r = await readyReplica(false);
    await admitted(r, "app", 2);
    const d = await r.schedule("app-exec-1", NODE_NAMES);
    expect(d.outcome).toBe("success");
    expect(storedPods("app")).toContain("app-exec-1");
  });

  it("an admission and a slot that moves still wait for their writes: a failed one is refused", async () => {
    const r = await readyReplica();
    server.put(PODS, driverObject("app-driver", "app", { executors: 1 }));
    server.injectFault({ method: "POST", pathIncludes: "resourcereservations", status: 422, times: 1 });
    expect((await r.schedule("app-driver", NODE_NAMES)).outcome).toBe("failure-internal");
    expect((await r.schedule("app-driver", NODE_NAMES)).outcome).toBe("success");
    server.put(PODS, executorObject("app-exec-1", "app"));
    await eventually(() => expect(r.engine.state.pods.has(`${NS}/app-exec-1`)).toBe(true));
    const reserved = r.engine.state.getReservation(NS, "app")!.slots.get("executor-1")!.node;
    const others = NODE_NAMES.filter((n) => n !== reserved);
    server.injectFault({ method: "PUT", pathIncludes: "resourcereservations", status: 422, times: 1 });
    const moved = await r.schedule("app-exec-1", others);
    expect(moved.outcome).toBe("failure-internal");
    expect(r.engine.state.getReservation(NS, "app")!.slots.get("executor-1")!.node).toBe(reserved);
    expect(late).toEqual([]);
  });

  it("a failed write after the answer: the bind, answered already, is written again into its slot", async () => {
    const r = await readyReplica();
    await admitted(r, "app", 2);
    const slotNode = r.engine.state.getReservation(NS, "app")!.slots.get("executor-1")!.node;
    server.injectFault({ method: "PUT", pathIncludes: "resourcereservations", status: 422, times: 1 });
    const d = await r.schedule("app-exec-1", [slotNode]);
    expect(d.outcome).toBe("success");
    await r.scheduler.pipeline.idle();
    expect(r.scheduler.pipeline.reattached).toBe(1);
    expect(late).toEqual([]);
    expect(slotPods(storedReservations(server).get("app")!)["executor-1"]).toBe("app-exec-1");
    expect(r.engine.state.getReservation(NS, "app")!.pods.get("executor-1")).toBe("app-exec-1");
    expect(r.engine.state.isHeld(NS, "app")).toBe(false);
  });

  it("a bind whose write fails twice is forgotten: engine and API server agree, the executor is overhead", async () => {
    const r = await readyReplica();
    await admitted(r, "app", 2);
    const slotNode = r.engine.state.getReservation(NS, "app")!.slots.get("executor-1")!.node;
    server.injectFault({ method: "PUT", pathIncludes: "resourcereservations", status: 422, times: 2 });
    const d = await r.schedule("app-exec-1", [slotNode]);
    expect(d.outcome).toBe("success");
    expect(d.node).toBe(slotNode);
    await r.scheduler.pipeline.idle();
    expect(late.map((b) => b.pod)).toEqual(["app-exec-1"]);
    expect([...r.engine.state.getReservation(NS, "app")!.pods.values()]).not.toContain("app-exec-1");
    expect(storedPods("app")).not.toContain("app-exec-1");
    // Bound by kube-scheduler and named by no reservation: it counts on its node, next to the slot it left.
    await eventually(() => expect(r.engine.state.overheadOn(slotNode).cpu).toBeGreaterThanOrEqual(1000));
    expect(r.engine.state.reservedOn(slotNode).cpu).toBeGreaterThanOrEqual(1000);
  });

  it("a restart before the write lands: the new leader's reconciliation re-attaches the running executor", async () => {
    const r1 = await readyReplica();
    await admitted(r1, "app", 2);
    const slotNode = r1.engine.state.getReservation(NS, "app")!.slots.get("executor-2")!.node;
    // Every write fails from now on, as if the process died before it landed.
    const down = server.injectFault({ method: "PUT", pathIncludes: "resourcereservations", status: 503, times: Infinity });
    const d = await r1.schedule("app-exec-2", [slotNode]);
    expect(d.outcome).toBe("success");
    await r1.stop();
    await r1.scheduler.pipeline.idle();
    down.cancel();
    expect(storedPods("app")).not.toContain("app-exec-2");

    const r2 = await readyReplica();
    // Reconciliation on takeover: the running executor takes the unbound slot on its own node.
    const stored = slotPods(storedReservations(server).get("app")!);
    expect(stored["executor-2"] === "app-exec-2" || stored["executor-1"] === "app-exec-2").toBe(true);
    const slot = Object.entries(stored).find(([, p]) => p === "app-exec-2")![0];
    expect(slotsOf(server, "app")[slot]).toBe(slotNode);
    expect([...r2.engine.state.getReservation(NS, "app")!.pods.values()]).toContain("app-exec-2");
    expect(r2.engine.state.overheadOn(slotNode).cpu).toBe(0);
  });
});

function slotsOf(s: FakeApiServer, app: string): Record<string, string> {
  const obj = storedReservations(s).get(app)!;
  const spec = obj.spec as { reservations: Record<string, { node: string }> };
  return Object.fromEntries(Object.entries(spec.reservations).map(([k, v]) => [k, v.node]));
}
