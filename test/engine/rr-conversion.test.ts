// ResourceReservation v1beta1 ⇄ v1beta2 conversion: the reference's six round-trip cases (§13.6) and more.

import { describe, expect, it } from "vitest";
import {
  RESERVATION_SPEC_ANNOTATION,
  RR_API_VERSION_V1BETA1 as V1,
  RR_API_VERSION_V1BETA2 as V2,
  convertReservationObject,
} from "../../src/engine/rr-conversion.js";
import { reservationFromObject, reservationToObject } from "../../src/engine/reservation.js";

function convert(obj: unknown, to: string): Record<string, any> {
  const r = convertReservationObject(obj, to);
  if (!r.ok) throw new Error(`unexpected conversion error: ${r.error}`);
  return r.value;
}

function convertError(obj: unknown, to: string): string {
  const r = convertReservationObject(obj, to);
  if (r.ok) throw new Error("expected a conversion error");
  return r.error;
}

const driverSpecJson = (cpu: number, memory: number, gpu: number) =>
  JSON.stringify({
    reservations: { driver: { node: "test_node", resources: { cpu: String(cpu), memory: String(memory), "nvidia.com/gpu": String(gpu) } } },
  });

const v2WithGpu = () => ({
  apiVersion: V2,
  kind: "ResourceReservation",
  metadata: {},
  spec: { reservations: { driver: { node: "test_node", resources: { cpu: "1", memory: "2", "nvidia.com/gpu": "3" } } } },
  status: { pods: { driver: "test_driver" } },
});

const v2WithGpuAndExecutor = () => ({
  apiVersion: V2,
  kind: "ResourceReservation",
  metadata: {},
  spec: {
    reservations: {
      driver: { node: "test_node", resources: { cpu: "1", memory: "2", "nvidia.com/gpu": "3" } },
      executor: { node: "test_node", resources: { cpu: "20", memory: "20" } },
    },
  },
  status: { pods: { driver: "test_driver", executor: "test_executor" } },
});

const v1WithoutGpu = () => ({
  apiVersion: V1,
  kind: "ResourceReservation",
  metadata: {},
  spec: { reservations: { driver: { node: "test_node", cpu: "1", memory: "2" } } },
  status: { pods: { driver: "test_driver" } },
});

const v1WithGpu = () => ({
  ...v1WithoutGpu(),
  metadata: { annotations: { [RESERVATION_SPEC_ANNOTATION]: driverSpecJson(1, 2, 3) } },
});

describe("reference conversion cases (§13.6)", () => {
  it("1. v1beta2 → v1beta1 keeps cpu and memory, copies status, stores the v1beta2 spec in the annotation", () => {
    const v1 = convert(v2WithGpu(), V1);
    expect(v1.apiVersion).toBe(V1);
    expect(v1.kind).toBe("ResourceReservation");
    expect(v1.spec).toEqual(v1WithGpu().spec);
    expect(v1.status).toEqual(v1WithGpu().status);
    expect(JSON.parse(v1.metadata.annotations[RESERVATION_SPEC_ANNOTATION])).toEqual(JSON.parse(driverSpecJson(1, 2, 3)));
  });

  it("2. v1beta1 with the annotation → v1beta2 gets the gpu back and drops the annotation", () => {
    const v2 = convert(v1WithGpu(), V2);
    expect(v2.apiVersion).toBe(V2);
    expect(v2.spec).toEqual(v2WithGpu().spec);
    expect(v2.status).toEqual(v2WithGpu().status);
    expect(v2.metadata.annotations).toBeUndefined();
  });

  it("3. v1beta1 without the annotation → v1beta2 has cpu and memory only", () => {
    const v2 = convert(v1WithoutGpu(), V2);
    expect(v2.spec).toEqual({ reservations: { driver: { node: "test_node", resources: { cpu: "1", memory: "2" } } } });
    expect(v2.status).toEqual({ pods: { driver: "test_driver" } });
    expect(v2.metadata.annotations).toBeUndefined();
  });

  it("4. v2 → v1, cpu changed to 10 in v1, → v2: the v1beta1 value wins, gpu kept", () => {
    const v1 = convert(v2WithGpu(), V1);
    v1.spec.reservations.driver.cpu = "10";
    const v2 = convert(v1, V2);
    expect(v2.spec).toEqual({
      reservations: { driver: { node: "test_node", resources: { cpu: "10", memory: "2", "nvidia.com/gpu": "3" } } },
    });
    expect(v2.status).toEqual({ pods: { driver: "test_driver" } });
    expect(v2.metadata.annotations).toBeUndefined();
  });

  it("5. v2 → v1, executor added in v1, → v2: driver keeps its gpu, the executor has cpu and memory only", () => {
    const v1 = convert(v2WithGpu(), V1);
    v1.spec.reservations.executor = { node: "test_node", cpu: "20", memory: "20" };
    v1.status.pods.executor = "test_executor";
    const v2 = convert(v1, V2);
    expect(v2.spec).toEqual(v2WithGpuAndExecutor().spec);
    expect(v2.status).toEqual(v2WithGpuAndExecutor().status);
    expect(v2.metadata.annotations).toBeUndefined();
  });

  it("6. v2 with the executor → v1, executor deleted from spec and status in v1, → v2: the driver-only object with gpu", () => {
    const v1 = convert(v2WithGpuAndExecutor(), V1);
    // The annotation still mentions the executor; a deleted reservation must stay deleted.
    expect(JSON.parse(v1.metadata.annotations[RESERVATION_SPEC_ANNOTATION]).reservations.executor).toBeDefined();
    delete v1.spec.reservations.executor;
    delete v1.status.pods.executor;
    const v2 = convert(v1, V2);
    expect(v2.spec).toEqual(v2WithGpu().spec);
    expect(v2.status).toEqual(v2WithGpu().status);
    expect(v2.metadata.annotations).toBeUndefined();
  });
});

/** A realistic object as we write it, with a GPU on the driver. */
function ourObject(): Record<string, any> {
  const obj: Record<string, any> = reservationToObject({
    namespace: "spark",
    appId: "etl",
    driverPod: "etl-driver",
    driverUid: "uid-1",
    slots: new Map([
      ["driver", { node: "node-a1", resources: { cpu: 2, memory: 4 * 2 ** 30, gpu: 1 } }],
      ["executor-1", { node: "node-b1", resources: { cpu: 4, memory: 8 * 2 ** 30, gpu: 0 } }],
      ["executor-2", { node: "node-b2", resources: { cpu: 4, memory: 8 * 2 ** 30, gpu: 0 } }],
    ]),
    pods: new Map([
      ["driver", "etl-driver"],
      ["executor-1", "etl-exec-1"],
    ]),
    createdAtMs: 0,
    resourceVersion: "4711",
  });
  obj.metadata.labels.team = "data";
  obj.metadata.annotations = { "example.com/keep": "yes" };
  obj.metadata.uid = "rr-uid";
  obj.metadata.creationTimestamp = "2024-01-02T03:04:05Z";
  return obj;
}

describe("round trips and details", () => {
  it("preserves every resource (gpu included), status and metadata through v1beta2 → v1beta1 → v1beta2", () => {
    const original = ourObject();
    const v1 = convert(original, V1);
    expect(v1.spec.reservations["executor-1"]).toEqual({
      node: "node-b1",
      cpu: original.spec.reservations["executor-1"].resources.cpu,
      memory: original.spec.reservations["executor-1"].resources.memory,
    });
    expect(v1.spec.reservations.driver).not.toHaveProperty("resources");
    expect(v1.metadata.annotations["example.com/keep"]).toBe("yes");
    const back = convert(v1, V2);
    expect(back).toEqual(original);
    expect(back.spec.reservations.driver.resources["nvidia.com/gpu"]).toBe("1");
    // and it still parses as the reservation we wrote
    const parsed = reservationFromObject(back);
    expect(typeof parsed).not.toBe("string");
    expect(reservationToObject(parsed as Exclude<typeof parsed, string>)).toEqual(reservationToObject(reservationFromObject(original) as any));
  });

  it("copies metadata: name, namespace, labels, ownerReferences, resourceVersion, uid", () => {
    const original = ourObject();
    for (const obj of [convert(original, V1), convert(convert(original, V1), V2)]) {
      expect(obj.metadata).toMatchObject({
        name: "etl",
        namespace: "spark",
        labels: { "app-id": "etl", team: "data" },
        resourceVersion: "4711",
        uid: "rr-uid",
        creationTimestamp: "2024-01-02T03:04:05Z",
        ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: "etl-driver", uid: "uid-1", controller: true, blockOwnerDeletion: true }],
      });
    }
  });

  it("removes only the reservation-spec annotation on the way to v1beta2", () => {
    const v1 = convert(ourObject(), V1);
    expect(Object.keys(v1.metadata.annotations).sort()).toEqual(["example.com/keep", RESERVATION_SPEC_ANNOTATION]);
    const v2 = convert(v1, V2);
    expect(v2.metadata.annotations).toEqual({ "example.com/keep": "yes" });
  });

  it("a missing cpu or memory becomes \"0\" in v1beta1; an object without status gets empty pods", () => {
    const v1 = convert(
      { apiVersion: V2, kind: "ResourceReservation", metadata: { name: "a" }, spec: { reservations: { driver: { node: "n", resources: { "nvidia.com/gpu": "1" } } } } },
      V1,
    );
    expect(v1.spec.reservations.driver).toEqual({ node: "n", cpu: "0", memory: "0" });
    expect(v1.status).toEqual({ pods: {} });
    const v2 = convert(v1, V2);
    expect(v2.spec.reservations.driver.resources).toEqual({ cpu: "0", memory: "0", "nvidia.com/gpu": "1" });
  });

  it("keeps quantities verbatim and turns JSON numbers into strings", () => {
    const v2 = convert(
      { apiVersion: V1, kind: "ResourceReservation", metadata: {}, spec: { reservations: { driver: { node: "n", cpu: 1.5, memory: "3Gi" } } } },
      V2,
    );
    expect(v2.spec.reservations.driver.resources).toEqual({ cpu: "1.5", memory: "3Gi" });
  });

  it("does not mutate its input, in either direction", () => {
    const v2 = ourObject();
    const v2Copy = structuredClone(v2);
    const v1 = convert(v2, V1);
    expect(v2).toEqual(v2Copy);
    const v1Copy = structuredClone(v1);
    const back = convert(v1, V2);
    expect(v1).toEqual(v1Copy);
    expect(v1.metadata.annotations[RESERVATION_SPEC_ANNOTATION]).toBeDefined();
    // results share nothing with their inputs
    back.metadata.labels.extra = "x";
    back.spec.reservations.driver.resources.cpu = "99";
    expect(v1).toEqual(v1Copy);
  });

  it("same-version requests return an equal copy", () => {
    const v2 = ourObject();
    const same = convert(v2, V2);
    expect(same).toEqual(v2);
    expect(same).not.toBe(v2);
    const v1 = convert(v2, V1);
    expect(convert(v1, V1)).toEqual(v1);
  });

  it("an unparsable or oddly shaped annotation is ignored (and still removed)", () => {
    for (const text of ["{not json", "[]", '"x"', '{"reservations": []}', '{"reservations": {"driver": {"resources": 5}}}']) {
      const v1 = { ...v1WithoutGpu(), metadata: { annotations: { [RESERVATION_SPEC_ANNOTATION]: text } } };
      const v2 = convert(v1, V2);
      expect(v2.spec).toEqual({ reservations: { driver: { node: "test_node", resources: { cpu: "1", memory: "2" } } } });
      expect(v2.metadata.annotations).toBeUndefined();
    }
    // entries of the wrong type inside an otherwise good annotation are skipped one by one
    const mixed = JSON.stringify({ reservations: { driver: { resources: { "nvidia.com/gpu": "2", "example.com/fpga": {} } } } });
    const v2 = convert({ ...v1WithoutGpu(), metadata: { annotations: { [RESERVATION_SPEC_ANNOTATION]: mixed } } }, V2);
    expect(v2.spec.reservations.driver.resources).toEqual({ cpu: "1", memory: "2", "nvidia.com/gpu": "2" });
  });

  it("reservation and resource names like __proto__ stay plain data", () => {
    const obj = JSON.parse(
      `{"apiVersion":"${V1}","kind":"ResourceReservation","metadata":{},"spec":{"reservations":{"__proto__":{"node":"n","cpu":"1","memory":"2"}}},"status":{"pods":{"__proto__":"p"}}}`,
    );
    const v2 = convert(obj, V2);
    expect(Object.keys(v2.spec.reservations)).toEqual(["__proto__"]);
    expect(JSON.parse(JSON.stringify(v2)).status.pods).toEqual(JSON.parse('{"__proto__":"p"}'));
    expect(({} as any).node).toBeUndefined();
  });
});

describe("errors", () => {
  it("names an unknown apiVersion, on either side", () => {
    expect(convertError({ ...v2WithGpu(), apiVersion: "sparkscheduler.palantir.com/v1" }, V1)).toMatch(
      /unsupported apiVersion "sparkscheduler.palantir.com\/v1" \(supported: sparkscheduler.palantir.com\/v1beta1, sparkscheduler.palantir.com\/v1beta2\)/,
    );
    expect(convertError({ ...v2WithGpu(), apiVersion: undefined }, V1)).toMatch(/unsupported apiVersion undefined/);
    expect(convertError(v2WithGpu(), "sparkscheduler.palantir.com/v2")).toMatch(/unsupported desired apiVersion "sparkscheduler.palantir.com\/v2"/);
    expect(convertError(v2WithGpu(), "scaler.palantir.com/v1alpha2")).toMatch(/unsupported desired apiVersion/);
  });

  it("names the object and the malformed field", () => {
    const named = (o: object) => ({ ...o, metadata: { name: "etl", namespace: "spark" } });
    expect(convertError(named({ ...v2WithGpu(), spec: { reservations: [] } }), V1)).toBe(
      "resource reservation spark/etl: spec.reservations must be an object (reservation name → reservation)",
    );
    expect(convertError(named({ ...v2WithGpu(), spec: "x" }), V1)).toMatch(/spark\/etl: spec must be an object/);
    expect(convertError({ ...v2WithGpu(), spec: { reservations: { driver: { node: 7, resources: {} } } } }, V1)).toMatch(
      /spec.reservations.driver.node must be a string/,
    );
    expect(convertError({ ...v2WithGpu(), spec: { reservations: { driver: { node: "n", resources: { cpu: {} } } } } }, V1)).toMatch(
      /spec.reservations.driver.resources.cpu must be a quantity/,
    );
    expect(convertError({ ...v1WithoutGpu(), spec: { reservations: { driver: { node: "n", cpu: true, memory: "1" } } } }, V2)).toMatch(
      /spec.reservations.driver.cpu must be a quantity/,
    );
    expect(convertError({ ...v1WithoutGpu(), spec: { reservations: { driver: "n" } } }, V2)).toMatch(/spec.reservations.driver must be an object/);
    expect(convertError({ ...v1WithoutGpu(), status: { pods: { driver: 1 } } }, V2)).toMatch(/status.pods.driver must be a pod name/);
    expect(convertError({ ...v1WithoutGpu(), metadata: [] }, V2)).toMatch(/metadata must be an object/);
    expect(convertError({ ...v1WithoutGpu(), kind: "Demand" }, V2)).toMatch(/kind "Demand" is not ResourceReservation/);
    expect(convertError([], V2)).toBe("resource reservation must be a JSON object");
    expect(convertError(null, V2)).toBe("resource reservation must be a JSON object");
  });
});
