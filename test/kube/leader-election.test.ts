import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LeaderElector } from "../../src/kube/leader-election.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";
import { LEASES, NS, eventually, silentLog } from "./fixtures.js";

let server: FakeApiServer;
const electors: LeaderElector[] = [];

beforeEach(async () => {
  server = await FakeApiServer.start();
});

afterEach(async () => {
  for (const e of electors.splice(0)) await e.stop();
  await server.stop();
});

const TIMING = { leaseDurationMs: 300, renewDeadlineMs: 200, retryPeriodMs: 30 };

function elector(identity: string): LeaderElector {
  const e = new LeaderElector(makeKubeConfig(server.url), { namespace: NS, leaseName: "lock", identity, ...TIMING }, silentLog);
  electors.push(e);
  return e;
}

describe("LeaderElector", () => {
  it("rejects timings under which two replicas could lead at once", () => {
    const kc = makeKubeConfig(server.url);
    const base = { namespace: NS, leaseName: "lock", identity: "a" };
    expect(() => new LeaderElector(kc, { ...base, leaseDurationMs: 200, renewDeadlineMs: 200, retryPeriodMs: 50 }, silentLog)).toThrow(
      /lease-duration \(200 ms\) must be greater than renew-deadline \(200 ms\)/,
    );
    expect(() => new LeaderElector(kc, { ...base, leaseDurationMs: 300, renewDeadlineMs: 100, retryPeriodMs: 100 }, silentLog)).toThrow(
      /renew-deadline \(100 ms\) must be greater than retry-period/,
    );
  });

  it("creates the lease, renews it, and releases it on stop", async () => {
    const a = elector("a");
    const events: string[] = [];
    a.onStartedLeading(() => events.push("started"));
    a.onStoppedLeading(() => events.push("stopped"));
    a.start();
    await eventually(() => expect(a.isLeader()).toBe(true));
    const first = server.get(LEASES, "lock", NS)!;
    expect(first.spec).toMatchObject({ holderIdentity: "a", leaseDurationSeconds: 1, leaseTransitions: 0 });
    await eventually(() => expect(server.get(LEASES, "lock", NS)!.metadata.resourceVersion).not.toBe(first.metadata.resourceVersion));
    await a.stop();
    expect(events).toEqual(["started", "stopped"]);
    expect(server.get(LEASES, "lock", NS)!.spec).toMatchObject({ holderIdentity: "" });
  });

  it("never lets two electors lead at the same time, and hands over as leaders stop", async () => {
    const all = ["a", "b", "c"].map(elector);
    let overlaps = 0;
    const sampler = setInterval(() => {
      if (all.filter((e) => e.isLeader()).length > 1) overlaps++;
    }, 2);
    try {
      for (const e of all) e.start();
      for (let round = 0; round < 2; round++) {
        const leader = await eventually(() => {
          const leaders = all.filter((e) => e.isLeader());
          expect(leaders).toHaveLength(1);
          return leaders[0];
        });
        await eventually(() => {
          for (const e of all) expect(e.leader()).toBe(leader.identity);
        });
        await leader.stop();
        all.splice(all.indexOf(leader), 1);
      }
      await eventually(() => expect(all[0].isLeader()).toBe(true));
    } finally {
      clearInterval(sampler);
    }
    expect(overlaps).toBe(0);
    expect(server.get(LEASES, "lock", NS)!.spec).toMatchObject({ holderIdentity: all[0].identity, leaseTransitions: 2 });
  });

  it("treats a 409 on the lease write as a lost race", async () => {
    server.injectFault({ method: "POST", pathIncludes: "/leases", status: 409 });
    const a = elector("a");
    a.start();
    await eventually(() => expect(server.requests.filter((r) => r.method === "POST")).toHaveLength(1));
    expect(a.isLeader()).toBe(false);
    await eventually(() => expect(a.isLeader()).toBe(true));
  });
});
