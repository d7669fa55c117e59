// The Reservation messages of ListReservations / GetReservation are kept per reservation and reused
// (src/server/service.ts): every change must still show — a new reservation object (a bind), a pod's state under
// an unchanged reservation (a slot's `active`), soft reservations changed in place.

import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ListReservationsRequestSchema, ListReservationsResponseSchema, Outcome } from "../../gen/sparkscheduler/v1/scheduler_pb.js";
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

  it("pages are the same over every protocol and encoding, and protobuf pages are the canonical encoding", async () => {
    for (let i = 0; i < 4; i++) {
      const body = example("driver-etl");
      const app = `page-${i}`;
      body.Pod.metadata = { ...body.Pod.metadata, name: `${app}-driver`, uid: `${app}-uid`, labels: { "spark-role": "driver", "spark-app-id": app } };
      Object.assign(body.Pod.metadata.annotations, {
        "spark-driver-cpu": "1",
        "spark-driver-mem": "1Gi",
        "spark-executor-cpu": "1",
        "spark-executor-mem": "1Gi",
        "spark-executor-count": "1",
      });
      expect((await client.filter({ pod: body.Pod, nodeNames: body.NodeNames })).outcome).toBe(Outcome.SUCCESS);
    }
    const clients = {
      connectProto: client,
      connectJson: bothClients(createConnectTransport({ baseUrl: t.url, httpVersion: "1.1", useBinaryFormat: false })),
      grpc: bothClients(createGrpcTransport({ baseUrl: t.url })),
      grpcWeb: bothClients(createGrpcWebTransport({ baseUrl: t.url, httpVersion: "1.1" })),
    };
    const pages: Record<string, unknown[]> = {};
    for (const [name, c] of Object.entries(clients)) {
      pages[name] = [];
      let pageToken = "";
      do {
        const res = await c.listReservations({ namespace: "spark", pageSize: 2, pageToken });
        pages[name].push(res);
        pageToken = res.nextPageToken;
      } while (pageToken);
    }
    expect(pages.connectProto.length).toBe(3); // etl and page-0..3: 5 reservations
    for (const name of Object.keys(clients)) expect(pages[name], name).toEqual(pages.connectProto);

    // The raw protobuf body of a page with a next page token is the canonical encoding of what it decodes to.
    for (const pageToken of ["", (pages.connectProto[0] as { nextPageToken: string }).nextPageToken]) {
      const res = await fetch(`${t.url}/sparkscheduler.v1.SparkSchedulerService/ListReservations`, {
        method: "POST",
        headers: { "content-type": "application/proto" },
        body: toBinary(ListReservationsRequestSchema, { $typeName: "sparkscheduler.v1.ListReservationsRequest", namespace: "spark", pageSize: 2, pageToken }),
      });
      expect(res.status).toBe(200);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const decoded = fromBinary(ListReservationsResponseSchema, bytes);
      expect(decoded.reservations).toHaveLength(2);
      expect(decoded.nextPageToken).not.toBe("");
      expect(decoded.$unknown).toBeUndefined();
      expect(Buffer.from(toBinary(ListReservationsResponseSchema, decoded)).equals(Buffer.from(bytes))).toBe(true);
    }
  });
});
