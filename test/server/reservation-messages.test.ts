// The Reservation messages of ListReservations / GetReservation are kept per reservation and reused
// (src/server/service.ts): every change must still show — a new reservation object (a bind), a pod's state under
// an unchanged reservation (a slot's `active`), soft reservations changed in place.

import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Outcome } from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import { type BothClients, type TestApp, bothClients, example, startTestApp } from "./app-harness.js";

let t: TestApp;
let client: BothClients;
beforeAll(async () => {
  t = await startTestApp();
  client = bothClients(createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }));
});
afterAll(async () => {
  await t.close();
});

const listed = async () => (await client.listReservations({ namespace: "spark" })).reservations.find((r) => r.appId === "etl")!;
const got = async () => (await client.getReservation({ namespace: "spark", appId: "etl" })).reservation!;

describe("reservation messages", () => {
  it("follow binds, pod state and soft reservations", async () => {
    const driver = example("driver-etl");
    expect((await client.filter({ pod: driver.Pod, nodeNames: driver.NodeNames })).outcome).toBe(Outcome.SUCCESS);
    const first = await listed();
    expect(await listed()).toEqual(first);
    expect(first.slots[0]).toMatchObject({ name: "driver", pod: "etl-driver", active: true });
    expect(first.slots[1]).toMatchObject({ name: "executor-1", pod: "", active: false });

    // A bind: the engine stores a new reservation object.
    const exec = example("executor-etl-1");
    const bound = await client.filter({ pod: exec.Pod, nodeNames: exec.NodeNames });
    expect(bound.outcome).toBe(Outcome.SUCCESS);
    const slot = (await listed()).slots.find((s) => s.pod === "etl-exec-1");
    expect(slot).toBeDefined();

    // The executor pod ends: the reservation object is the same, its slot is no longer active.
    const { state } = t.engine;
    const pod = state.getPod("spark", "etl-exec-1")!;
    state.upsertPod({ ...pod, nodeName: slot!.node });
    expect((await listed()).slots.find((s) => s.pod === "etl-exec-1")!.active).toBe(true);
    state.upsertPod({ ...pod, nodeName: slot!.node, terminated: true });
    expect((await listed()).slots.find((s) => s.pod === "etl-exec-1")!.active).toBe(false);
    expect((await got()).slots.find((s) => s.pod === "etl-exec-1")!.active).toBe(false);

    // Soft reservations, changed in place.
    state.ensureSoft("spark", "etl", 3);
    expect((await listed()).maxExtraExecutors).toBe(3);
    state.addSoft("spark", "etl", "etl-exec-20", { node: "node-b2", resources: { cpu: 4000, memory: 16 * 2 ** 30, gpu: 0 } });
    expect((await listed()).softSlots).toEqual([expect.objectContaining({ pod: "etl-exec-20", node: "node-b2" })]);
    state.removeSoft("spark", "etl", "etl-exec-20", false);
    state.addSoft("spark", "etl", "etl-exec-21", { node: "node-a2", resources: { cpu: 4000, memory: 16 * 2 ** 30, gpu: 0 } });
    expect((await listed()).softSlots.map((s) => [s.pod, s.node])).toEqual([["etl-exec-21", "node-a2"]]);
    expect((await got()).softSlots.map((s) => [s.pod, s.node])).toEqual([["etl-exec-21", "node-a2"]]);
    state.ensureSoft("spark", "etl", 1);
    expect((await listed()).maxExtraExecutors).toBe(1);
    state.dropSoftApp("spark", "etl");
    expect(await listed()).toMatchObject({ softSlots: [], maxExtraExecutors: 0 });
  });
});
