// Terminating pods (graceful deletion: deletionTimestamp set, the pod still there until its grace period is
// over): a Terminating executor hands its reservation slot (or soft reservation) to its replacement, as a dead
// one does, but still occupies its node until it is gone, as kube-scheduler counts it there.
import * as k8s from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";
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
} from "./fixtures.js";

let server: FakeApiServer;
let r: Replica;
let core: k8s.CoreV1Api;

beforeEach(async () => {
  server = await FakeApiServer.start();
  putEstablishedCrd(server);
  server.put(NODES, nodeObject("big", "8", "8Gi"));
  // Room for exactly one 1-CPU, 1Gi pod.
  server.put(NODES, nodeObject("small", "1", "1Gi"));
  core = makeKubeConfig(server.url).makeApiClient(k8s.CoreV1Api);
  r = replica(server);
  await r.cluster.start();
  await eventually(() => expect(r.cluster.readiness()).toEqual({ ready: true }));
});

afterEach(async () => {
  await r.stop();
  await server.stop();
});

/** Deletes a pod as Spark does (default grace period) and waits until the informer has it Terminating. */
async function deleteGracefully(name: string): Promise<void> {
  await core.deleteNamespacedPod({ name, namespace: NS });
  expect(server.get(PODS, name, NS)?.metadata.deletionTimestamp).toBeDefined();
  await eventually(() => expect(r.engine.state.getPod(NS, name)?.deleting).toBe(true));
}

describe("Terminating executors", () => {
  it("hand their reservation slot to a replacement, and still occupy their node until they are gone", async () => {
    server.put(PODS, driverObject("app-1-driver", "app-1", { executors: 1 }));
    expect((await r.schedule("app-1-driver", ["big"])).node).toBe("big");
    server.put(PODS, executorObject("exec-1", "app-1"));
    expect((await r.schedule("exec-1", ["small"])).node).toBe("small");

    await deleteGracefully("exec-1");
    // kube-scheduler counts the Terminating pod on "small", so it offers only "big" to the replacement.
    server.put(PODS, executorObject("exec-2", "app-1"));
    const replacement = await r.schedule("exec-2", ["big"]);
    expect([replacement.outcome, replacement.node]).toEqual(["success-rescheduled", "big"]);
    expect(slotPods(storedReservations(server).get("app-1")!)).toEqual({ driver: "app-1-driver", "executor-1": "exec-2" });

    // The Terminating executor, no longer in a reservation, still fills "small": another application's driver
    // does not fit there until it is gone.
    server.put(PODS, driverObject("app-2-driver", "app-2", { executors: 0 }));
    const blocked = await r.schedule("app-2-driver", ["small"]);
    expect(blocked.outcome).not.toMatch(/^success/);
    server.finishTerminating(PODS);
    await eventually(() => expect(r.engine.state.getPod(NS, "exec-1")).toBeUndefined());
    expect(await r.schedule("app-2-driver", ["small"])).toMatchObject({ outcome: "success", node: "small" });
  });

  it("give up their soft reservation (dynamic allocation) to a replacement", async () => {
    server.put(PODS, driverObject("da-driver", "da", { dynamic: { min: 1, max: 2 } }));
    expect((await r.schedule("da-driver", ["big"])).outcome).toBe("success");
    for (const name of ["da-exec-1", "da-exec-2"]) {
      server.put(PODS, executorObject(name, "da"));
      expect((await r.schedule(name, ["big"])).outcome).toMatch(/^success/);
    }
    expect([...(r.engine.state.getSoft(NS, "da")?.executors.keys() ?? [])]).toEqual(["da-exec-2"]);

    await deleteGracefully("da-exec-2");
    expect(r.engine.state.getSoft(NS, "da")?.executors.size).toBe(0);
    server.put(PODS, executorObject("da-exec-3", "da"));
    expect(await r.schedule("da-exec-3", ["big"])).toMatchObject({ outcome: "success-scheduled-extra-executor", node: "big" });
    // The reservation slot stays with the executor that is still running.
    expect(slotPods(storedReservations(server).get("da")!)).toEqual({ driver: "da-driver", "executor-1": "da-exec-1" });
  });

  it("keep a Terminating driver's reservation until the driver is gone", async () => {
    server.put(PODS, driverObject("app-3-driver", "app-3", { executors: 1 }));
    expect((await r.schedule("app-3-driver", ["big"])).outcome).toBe("success");
    await deleteGracefully("app-3-driver");
    expect(storedReservations(server).has("app-3")).toBe(true);
    expect(r.engine.state.getReservation(NS, "app-3")).toBeDefined();
    server.finishTerminating(PODS);
    await eventually(() => expect(storedReservations(server).has("app-3")).toBe(false));
  });
});
