import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import * as k8s from "@kubernetes/client-node";
import { RR_GROUP, RR_PLURAL, RR_VERSION, reservationToObject } from "../../src/engine/reservation.js";
import { CrdError, RR_CRD_NAME, ensureCrd, resourceReservationCrd } from "../../src/kube/crd.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { makeKubeConfig } from "../support/kubeconfig.js";
import { CRDS, RRS, establishWhenCreated, putEstablishedCrd, replica, silentLog } from "./fixtures.js";

let server: FakeApiServer;
const cleanups: (() => unknown)[] = [];

beforeEach(async () => {
  server = await FakeApiServer.start();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await server.stop();
});

const mutations = () => server.requests.filter((r) => r.path.includes("customresourcedefinitions") && r.method !== "GET");

describe("ResourceReservation CRD", () => {
  it("is the definition in deploy/base/crd.yaml", () => {
    const yaml = parseYaml(readFileSync(new URL("../../deploy/base/crd.yaml", import.meta.url), "utf8"));
    expect(yaml).toEqual(JSON.parse(JSON.stringify(resourceReservationCrd())));
  });

  it("is created when missing, waited for until Established, and the backend then starts", async () => {
    cleanups.push(establishWhenCreated(server));
    const r = replica(server);
    cleanups.push(() => r.stop());
    expect(r.cluster.readiness()).toEqual({ ready: false, reason: "waiting for the ResourceReservation CRD" });
    await r.cluster.start();
    const stored = server.get(CRDS, RR_CRD_NAME)!;
    expect(stored.spec).toEqual(resourceReservationCrd().spec);
    expect(mutations().map((m) => m.method)).toEqual(["POST"]);
  });

  it("leaves an existing CRD alone, even one that differs (e.g. the reference's v1beta1 storage)", async () => {
    const legacy = resourceReservationCrd();
    legacy.spec.versions = [
      { ...legacy.spec.versions[0], storage: false },
      { name: "v1beta1", served: true, storage: true },
    ];
    server.put(CRDS, { ...legacy, status: { conditions: [{ type: "Established", status: "True" }] } });
    const before = server.get(CRDS, RR_CRD_NAME)!;
    await ensureCrd(makeKubeConfig(server.url), silentLog, { timeoutMs: 1000, pollMs: 10 });
    expect(server.get(CRDS, RR_CRD_NAME)).toEqual(before);
    expect(mutations()).toEqual([]);
  });

  it("refuses to start when the existing CRD does not serve v1beta2, without touching it", async () => {
    const old = resourceReservationCrd();
    old.spec.versions = [{ name: "v1beta1", served: true, storage: true }];
    server.put(CRDS, { ...old, status: { conditions: [{ type: "Established", status: "True" }] } });
    const failure = ensureCrd(makeKubeConfig(server.url), silentLog, { timeoutMs: 1000, pollMs: 10 });
    await expect(failure).rejects.toThrow(CrdError);
    await expect(failure).rejects.toThrow(/does not serve v1beta2 \(served: v1beta1\)/);
    expect(mutations()).toEqual([]);
  });

  it("fails start-up when the CRD never becomes Established, and never deletes it", async () => {
    const failure = ensureCrd(makeKubeConfig(server.url), silentLog, { timeoutMs: 150, pollMs: 10 });
    await expect(failure).rejects.toThrow(/did not become Established within 150 ms \(last seen: present but not Established.*\); it was left in place/);
    expect(server.get(CRDS, RR_CRD_NAME)).toBeDefined();
    expect(mutations().map((m) => m.method)).toEqual(["POST"]);
  });

  it("retries transient API errors while checking", async () => {
    putEstablishedCrd(server);
    server.injectFault({ pathIncludes: "customresourcedefinitions", status: 503, times: 2 });
    await ensureCrd(makeKubeConfig(server.url), silentLog, { timeoutMs: 1000, pollMs: 10 });
    expect(server.requests.filter((r) => r.path.includes("customresourcedefinitions"))).toHaveLength(3);
  });

  it("backs off while the API server keeps failing, instead of polling it every pollMs", async () => {
    server.injectFault({ pathIncludes: "customresourcedefinitions", status: 503, times: Infinity });
    const failure = ensureCrd(makeKubeConfig(server.url), silentLog, { timeoutMs: 1500, pollMs: 10 });
    await expect(failure).rejects.toThrow(/did not become Established within 1500 ms \(last seen: API error: .*503/);
    // Polling every 10 ms would make ~100 calls in 1.5 s; doubling from 10 ms makes about 8.
    const calls = server.requests.filter((r) => r.path.includes("customresourcedefinitions")).length;
    expect(calls).toBeGreaterThanOrEqual(4);
    expect(calls).toBeLessThanOrEqual(14);
  });

  it("fails at once on a non-transient error such as Forbidden", async () => {
    server.injectFault({ pathIncludes: "customresourcedefinitions", status: 403, times: Infinity });
    await expect(ensureCrd(makeKubeConfig(server.url), silentLog, { timeoutMs: 1000, pollMs: 10 })).rejects.toThrow(
      /cannot check or create CRD resourcereservations.sparkscheduler.palantir.com: HTTP 403 Forbidden/,
    );
  });

  it("is a structural schema that accepts the reference's objects and ours, and refuses malformed ones", async () => {
    cleanups.push(establishWhenCreated(server));
    await ensureCrd(makeKubeConfig(server.url), silentLog, { timeoutMs: 2000, pollMs: 10 });
    const custom = makeKubeConfig(server.url).makeApiClient(k8s.CustomObjectsApi);
    const rr = { group: RR_GROUP, version: RR_VERSION, plural: RR_PLURAL, namespace: "spark" };
    const object = (name: string, spec: unknown, status: unknown = { pods: { driver: "d" } }) => ({
      apiVersion: `${RR_GROUP}/${RR_VERSION}`,
      kind: "ResourceReservation",
      metadata: { name },
      spec,
      status,
    });
    // As the reference writes them (quantities as strings, nvidia.com/gpu present), as a person may (integers).
    const reference = { reservations: { driver: { node: "n1", resources: { cpu: "1", memory: "2432Mi", "nvidia.com/gpu": "0" } } } };
    await custom.createNamespacedCustomObject({ ...rr, body: object("app-1", reference) });
    await custom.createNamespacedCustomObject({ ...rr, body: object("app-2", { reservations: { driver: { node: "n1", resources: { cpu: 2, memory: "1Gi" } } } }) });
    const ours = reservationToObject({
      namespace: "spark", appId: "app-3", driverPod: "d", driverUid: "u", createdAtMs: 0,
      slots: new Map([["driver", { node: "n1", resources: { cpu: 1.5, memory: 1024 ** 3, gpu: 1 } }]]),
      pods: new Map([["driver", "d"]]),
    });
    await custom.createNamespacedCustomObject({ ...rr, body: ours });
    expect(server.get(RRS, "app-3", "spark")?.spec).toEqual(ours.spec);
    const malformed = [
      object("bad-1", { reservations: { driver: { resources: { cpu: "1" } } } }), // no node
      object("bad-2", { reservations: { driver: { node: "n1", resources: { cpu: "lots" } } } }), // not a quantity
      object("bad-3", {}), // no reservations
      object("bad-4", reference, {}), // status without pods
    ];
    for (const body of malformed) {
      await expect(custom.createNamespacedCustomObject({ ...rr, body })).rejects.toMatchObject({ code: 422 });
    }
  });
});
