// Default leadership mode: each extender leads exactly while the kube-scheduler in its own pod holds
// kube-scheduler's Lease (two independent elections could pin the two leaders to different pods forever).

import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ServiceConfig } from "../../src/config.js";
import { LeaseFollower } from "../../src/kube/lease-follower.js";
import { startApp } from "../../src/server/app.js";
import { Metrics } from "../../src/server/metrics.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";
import {
  LEASES,
  NODES,
  NS,
  PODS,
  type Replica,
  driverObject,
  eventually,
  nodeObject,
  putEstablishedCrd,
  replica,
  storedReservations,
  testConfig,
} from "./fixtures.js";

const KUBE_SCHEDULER_LEASE = "spark-scheduler";

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

function followConfig(): ServiceConfig {
  return testConfig({
    "leader-election": {
      enabled: true,
      namespace: NS,
      "lease-duration": "400ms",
      "renew-deadline": "250ms",
      "retry-period": "20ms",
    },
  });
}

/** A replica pod named `pod`: its kube-scheduler's identity would be `<pod>_<uuid>`. */
function podReplica(pod: string): Replica {
  const r = replica(server, followConfig(), { kubeSchedulerIdentityPrefix: `${pod}_` });
  replicas.push(r);
  return r;
}

/** Plays kube-scheduler: holds (and renews) its lease under `holder`. */
function kubeSchedulerLease(holder: string): void {
  const existing = server.get(LEASES, KUBE_SCHEDULER_LEASE, NS);
  server.put(LEASES, {
    metadata: { name: KUBE_SCHEDULER_LEASE, namespace: NS },
    spec: { ...(existing?.spec as object), holderIdentity: holder, leaseDurationSeconds: 1, renewTime: new Date().toISOString() },
  });
}

describe("leader-election mode follow-kube-scheduler", () => {
  it("is the default, and reads kube-scheduler's lease named spark-scheduler", () => {
    const config = testConfig({ "leader-election": {} });
    expect(config.leaderElection).toMatchObject({ enabled: true, mode: "follow-kube-scheduler", leaseName: "spark-scheduler" });
    expect(testConfig({ "leader-election": { mode: "own-lease" } }).leaderElection.leaseName).toBe("spark-scheduler-extender");
    expect(() => testConfig({ "leader-election": { mode: "coin-toss" } })).toThrow(/leader-election.mode/);
  });

  it("leads in the pod whose kube-scheduler holds the lease, and hands over with it", async () => {
    kubeSchedulerLease("pod-a_1111");
    const a = podReplica("pod-a");
    const b = podReplica("pod-b");
    await Promise.all([a.cluster.start(), b.cluster.start()]);
    await eventually(() => expect(a.cluster.readiness()).toEqual({ ready: true }));
    await eventually(() => expect(b.cluster.readiness()).toEqual({ ready: false, reason: "not the leader (leader: pod-a_1111)" }));
    expect(b.cluster.synced()).toBe(true); // a standby: state loaded, reads served

    server.put(PODS, driverObject("app-driver", "app"));
    await eventually(() => expect(a.engine.state.getPod(NS, "app-driver")).toBeDefined());
    expect((await a.schedule("app-driver", ["n1", "n2"])).outcome).toBe("success");
    expect(storedReservations(server).has("app")).toBe(true);
    expect(server.list(LEASES, NS).map((l) => l.metadata.name)).toEqual([KUBE_SCHEDULER_LEASE]); // never writes one

    // kube-scheduler's leadership moves to pod-b: so does the extender's, after reconciling.
    kubeSchedulerLease("pod-b_2222");
    await eventually(() => expect(b.cluster.readiness()).toEqual({ ready: true }));
    await eventually(() => expect(a.cluster.readiness().reason).toBe("not the leader (leader: pod-b_2222)"));
    expect(b.engine.state.getReservation(NS, "app")).toBeDefined();
  });

  it("stops leading when kube-scheduler's lease expires or cannot be read", async () => {
    const clock = { now: Date.now() };
    const follower = new LeaseFollower(
      makeKubeConfig(server.url),
      { namespace: NS, leaseName: KUBE_SCHEDULER_LEASE, identityPrefix: "pod-a_", leaseDurationMs: 400, renewDeadlineMs: 250, retryPeriodMs: 10, clock: () => clock.now },
      pino({ level: "silent" }),
    );
    const events: string[] = [];
    follower.onStartedLeading(() => events.push("started"));
    follower.onStoppedLeading(() => events.push("stopped"));
    kubeSchedulerLease("pod-a_1");
    follower.start();
    await eventually(() => expect(follower.isLeader()).toBe(true));
    clock.now += 1500; // the lease (1 s) is not renewed for longer than its duration
    await eventually(() => expect(follower.isLeader()).toBe(false));
    kubeSchedulerLease("pod-a_1"); // renewed again
    await eventually(() => expect(follower.isLeader()).toBe(true));
    const fault = server.injectFault({ pathIncludes: "/leases/", status: 500, times: Infinity });
    clock.now += 300; // cannot read it for longer than renew-deadline
    await eventually(() => expect(follower.isLeader()).toBe(false));
    fault.cancel();
    await follower.stop();
    expect(events).toEqual(["started", "stopped", "started", "stopped"]);
  });

  it("a synced standby passes /readyz (rollouts proceed) but does not schedule", async () => {
    kubeSchedulerLease("pod-a_1111");
    const b = podReplica("pod-b");
    await b.cluster.start();
    const metrics = new Metrics(b.engine);
    const app = await startApp({ scheduler: b.scheduler, metrics, log: pino({ level: "silent" }), host: "127.0.0.1", port: 0, contextPath: "/x", maxBodyBytes: 65536 });
    try {
      await eventually(async () => expect(await (await fetch(`${app.server.url}/readyz`)).json()).toMatchObject({ status: "standby", schedules: false }));
      expect((await fetch(`${app.server.url}/readyz`)).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});
