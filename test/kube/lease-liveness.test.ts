// Leadership follows the real liveness of kube-scheduler's lease: a record that changes while we watch is live
// for leaseDurationSeconds on our monotonic clock; a record we did not see change (first read, or changed during
// an outage) is as old as its renewTime says.

import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LeaseFollower } from "../../src/kube/lease-follower.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";
import { LEASES, NS, eventually } from "./fixtures.js";

const LEASE = "spark-scheduler";
let server: FakeApiServer;
let follower: LeaseFollower | undefined;

beforeEach(async () => {
  server = await FakeApiServer.start();
});
afterEach(async () => {
  await follower?.stop();
  follower = undefined;
  await server.stop();
});

function putLease(holder: string, renewedAgoMs: number, durationSeconds = 15): void {
  server.put(LEASES, {
    metadata: { name: LEASE, namespace: NS },
    spec: { holderIdentity: holder, leaseDurationSeconds: durationSeconds, renewTime: new Date(Date.now() - renewedAgoMs).toISOString() },
  });
}

const leaseReads = () => server.requests.filter((q) => q.method === "GET" && q.path.endsWith(`/leases/${LEASE}`)).length;

function start(clock: { now: number }): { events: string[] } {
  const events: string[] = [];
  follower = new LeaseFollower(
    makeKubeConfig(server.url),
    { namespace: NS, leaseName: LEASE, identityPrefix: "pod-a_", leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 10, clock: () => clock.now },
    pino({ level: "silent" }),
  );
  follower.onStartedLeading(() => events.push("started"));
  follower.onStoppedLeading(() => events.push("stopped"));
  follower.start();
  return { events };
}

describe("LeaseFollower liveness", () => {
  it("does not lead on a lease first seen with a renewTime older than its duration (its holder is dead)", async () => {
    putLease("pod-a_1", 22_000);
    const clock = { now: 1_000 };
    const { events } = start(clock);
    await eventually(() => expect(leaseReads()).toBeGreaterThanOrEqual(5));
    expect(follower!.isLeader()).toBe(false);
    expect(follower!.leader()).toBeUndefined();
    // kube-scheduler comes back and renews: that change, seen while watching, is live.
    putLease("pod-a_2", 0);
    await eventually(() => expect(follower!.isLeader()).toBe(true));
    expect(events).toEqual(["started"]);
  });

  it("leads at once on a lease first seen freshly renewed", async () => {
    putLease("pod-a_1", 1_000);
    const clock = { now: 1_000 };
    start(clock);
    await eventually(() => expect(follower!.isLeader()).toBe(true));
    // Not renewed for longer than its duration on our monotonic clock: not live any more.
    clock.now += 13_500; // renewed 1 s before we first read it: 14.5 s old now
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(follower!.isLeader()).toBe(true);
    clock.now += 1_000;
    await eventually(() => expect(follower!.isLeader()).toBe(false));
  });

  it("after an outage, judges a lease that changed meanwhile by its renewTime, not as a fresh renewal", async () => {
    putLease("pod-a_1", 0);
    const clock = { now: 1_000 };
    const { events } = start(clock);
    await eventually(() => expect(follower!.isLeader()).toBe(true));
    const fault = server.injectFault({ pathIncludes: "/leases/", status: 500, times: Infinity });
    clock.now += 20_000; // the outage: no read for longer than renew-deadline and lease duration
    await eventually(() => expect(follower!.isLeader()).toBe(false));
    // During the outage kube-scheduler renewed once more (18 s ago), then died.
    putLease("pod-a_1", 18_000);
    fault.cancel();
    const before = leaseReads();
    await eventually(() => expect(leaseReads()).toBeGreaterThanOrEqual(before + 5));
    expect(follower!.isLeader()).toBe(false);
    // An edit that bumps only the resourceVersion (a label) is no renewal either.
    const stored = server.get(LEASES, LEASE, NS)!;
    server.put(LEASES, { ...stored, metadata: { ...stored.metadata, labels: { touched: "yes" } } });
    const again = leaseReads();
    await eventually(() => expect(leaseReads()).toBeGreaterThanOrEqual(again + 5));
    expect(follower!.isLeader()).toBe(false);
    expect(events).toEqual(["started", "stopped"]);
  });
});
