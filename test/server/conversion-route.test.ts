// The ResourceReservation CRD conversion webhook over real HTTP, with API-server-shaped ConversionReviews.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RESERVATION_SPEC_ANNOTATION } from "../../src/engine/rr-conversion.js";
import { type TestApp, postJson, startTestApp } from "./app-harness.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.close();
});

const V1 = "sparkscheduler.palantir.com/v1beta1";
const V2 = "sparkscheduler.palantir.com/v1beta2";

function storedV1(name: string, gpu?: string): Record<string, unknown> {
  const resources: Record<string, string> = { cpu: "2", memory: "4Gi" };
  if (gpu) resources["nvidia.com/gpu"] = gpu;
  return {
    apiVersion: V1,
    kind: "ResourceReservation",
    metadata: {
      name,
      namespace: "spark",
      resourceVersion: "12",
      labels: { "app-id": name },
      annotations: { [RESERVATION_SPEC_ANNOTATION]: JSON.stringify({ reservations: { driver: { node: "node-a1", resources } } }) },
    },
    spec: { reservations: { driver: { node: "node-a1", cpu: "2", memory: "4Gi" } } },
    status: { pods: { driver: `${name}-driver` } },
  };
}

function review(apiVersion: string, desiredAPIVersion: string, objects: unknown[], uid = "705ab4f5-6393-11e8-b7cc-42010a800002") {
  return { apiVersion, kind: "ConversionReview", request: { uid, desiredAPIVersion, objects } };
}

describe("POST /convert", () => {
  it("converts every object of a v1 ConversionReview (v1beta1 → v1beta2) and echoes the uid", async () => {
    const r = await postJson(`${t.url}/convert`, review("apiextensions.k8s.io/v1", V2, [storedV1("etl", "1"), storedV1("report")]));
    expect(r.status).toBe(200);
    expect(r.json.apiVersion).toBe("apiextensions.k8s.io/v1");
    expect(r.json.kind).toBe("ConversionReview");
    expect(r.json.response.uid).toBe("705ab4f5-6393-11e8-b7cc-42010a800002");
    expect(r.json.response.result).toEqual({ status: "Success" });
    const [etl, report] = r.json.response.convertedObjects;
    expect(r.json.response.convertedObjects).toHaveLength(2);
    expect(etl).toEqual({
      apiVersion: V2,
      kind: "ResourceReservation",
      metadata: { name: "etl", namespace: "spark", resourceVersion: "12", labels: { "app-id": "etl" } },
      spec: { reservations: { driver: { node: "node-a1", resources: { cpu: "2", memory: "4Gi", "nvidia.com/gpu": "1" } } } },
      status: { pods: { driver: "etl-driver" } },
    });
    expect(report.metadata.name).toBe("report");
    expect(report.spec.reservations.driver.resources).toEqual({ cpu: "2", memory: "4Gi" });
  });

  it("answers a v1beta1 ConversionReview in kind, and converts v1beta2 → v1beta1 too", async () => {
    const v2 = {
      apiVersion: V2,
      kind: "ResourceReservation",
      metadata: { name: "etl", namespace: "spark" },
      spec: { reservations: { driver: { node: "node-a1", resources: { cpu: "2", memory: "4Gi", "nvidia.com/gpu": "1" } } } },
      status: { pods: { driver: "etl-driver" } },
    };
    const r = await postJson(`${t.url}/convert`, review("apiextensions.k8s.io/v1beta1", V1, [v2], "uid-2"));
    expect(r.status).toBe(200);
    expect(r.json.apiVersion).toBe("apiextensions.k8s.io/v1beta1");
    expect(r.json.kind).toBe("ConversionReview");
    expect(r.json.response).toMatchObject({ uid: "uid-2", result: { status: "Success" } });
    const [v1] = r.json.response.convertedObjects;
    expect(v1.apiVersion).toBe(V1);
    expect(v1.spec).toEqual({ reservations: { driver: { node: "node-a1", cpu: "2", memory: "4Gi" } } });
    expect(JSON.parse(v1.metadata.annotations[RESERVATION_SPEC_ANNOTATION])).toEqual(v2.spec);
  });

  it("is served under the context path too", async () => {
    const r = await postJson(`${t.url}/spark-scheduler/convert`, review("apiextensions.k8s.io/v1", V2, [storedV1("etl")], "uid-3"));
    expect(r.status).toBe(200);
    expect(r.json.response).toMatchObject({ uid: "uid-3", result: { status: "Success" } });
    expect(r.json.response.convertedObjects[0].apiVersion).toBe(V2);
  });

  it("an object that cannot be converted makes the review a Failure with a message (HTTP 200)", async () => {
    const bad = { ...storedV1("broken"), spec: { reservations: { driver: { node: 42 } } } };
    const r = await postJson(`${t.url}/convert`, review("apiextensions.k8s.io/v1", V2, [storedV1("etl"), bad], "uid-4"));
    expect(r.status).toBe(200);
    expect(r.json.response.uid).toBe("uid-4");
    expect(r.json.response.result.status).toBe("Failure");
    expect(r.json.response.result.message).toBe(
      "object 2 of 2: resource reservation spark/broken: spec.reservations.driver.node must be a string",
    );
    expect(r.json.response.convertedObjects).toBeUndefined();

    const other = await postJson(`${t.url}/convert`, review("apiextensions.k8s.io/v1", "scaler.palantir.com/v1alpha2", [], "uid-5"));
    expect(other.status).toBe(200);
    expect(other.json.response).toMatchObject({ uid: "uid-5", result: { status: "Failure" } });
    expect(other.json.response.result.message).toMatch(/unsupported desiredAPIVersion "scaler.palantir.com\/v1alpha2"/);
  });

  it("refuses what is not a ConversionReview with HTTP 400", async () => {
    const cases: [unknown, RegExp][] = [
      ["{not json", /malformed JSON/],
      ["[]", /must be a JSON object/],
      [{ ...review("apiextensions.k8s.io/v1", V2, []), kind: "AdmissionReview" }, /kind must be ConversionReview/],
      [review("apiextensions.k8s.io/v2", V2, []), /unsupported ConversionReview apiVersion "apiextensions.k8s.io\/v2"/],
      [{ apiVersion: "apiextensions.k8s.io/v1", kind: "ConversionReview" }, /request is required/],
      [review("apiextensions.k8s.io/v1", V2, [], ""), /request.uid is required/],
      [{ apiVersion: "apiextensions.k8s.io/v1", kind: "ConversionReview", request: { uid: "u" } }, /desiredAPIVersion is required/],
      [{ apiVersion: "apiextensions.k8s.io/v1", kind: "ConversionReview", request: { uid: "u", desiredAPIVersion: V2, objects: {} } }, /objects must be a list/],
    ];
    for (const [body, message] of cases) {
      const r = await postJson(`${t.url}/convert`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error).toMatch(message);
    }
  });

  it("refuses an oversized body with 400 and other methods with 405", async () => {
    const big = review("apiextensions.k8s.io/v1", V2, Array.from({ length: 400 }, (_, i) => storedV1(`app-${i}`)));
    const r = await postJson(`${t.url}/convert`, big);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/exceeds the limit of 65536 bytes/);

    const get = await fetch(`${t.url}/spark-scheduler/convert`);
    expect(get.status).toBe(405);
    expect(((await get.json()) as any).error).toMatch(/use POST with a ConversionReview body/);
  });
});
