import { describe, expect, it } from "vitest";
import {
  APP_ID_ANNOTATION,
  isValidObjectName,
  objectNameFor,
  reservationFromObject,
  reservationName,
  reservationToObject,
} from "../../src/engine/reservation.js";
import { demandName } from "../../src/kube/demands.js";

const reservation = (appId: string) => ({
  namespace: "ns",
  appId,
  driverPod: "d",
  driverUid: "u",
  slots: new Map(),
  pods: new Map(),
  createdAtMs: 0,
});

describe("object names for ids", () => {
  it("keeps ids that are valid names (wire compatibility with the reference)", () => {
    for (const id of ["spark-pi-1", "a.b.c", "x", "a".repeat(253)]) expect(objectNameFor(id)).toBe(id);
    expect(objectNameFor("driver-1", "demand-")).toBe("demand-driver-1");
  });

  it("maps other ids to valid, distinct, deterministic names of at most 253 characters", () => {
    const ids = ["My_App", "my_app", "MY-APP", "-x-", "a..b", "a.-b", "_", "é", "a".repeat(300), `${"b".repeat(252)}_`];
    const names = ids.map((id) => objectNameFor(id));
    for (const name of names) {
      expect(isValidObjectName(name), name).toBe(true);
      expect(name.length).toBeLessThanOrEqual(253);
    }
    expect(new Set(names).size).toBe(ids.length);
    expect(ids.map((id) => objectNameFor(id))).toEqual(names);
    expect(objectNameFor("My_App")).toMatch(/^my-app-[0-9a-z]{13}$/);
    expect(demandName("p".repeat(250)).length).toBeLessThanOrEqual(253);
    expect(isValidObjectName(demandName("p".repeat(250)))).toBe(true);
    expect(demandName("spark-pi-driver")).toBe("demand-spark-pi-driver");
  });

  it("keeps the id in the app-id label, or in an annotation when it is no valid label value, and reads it back", () => {
    const short = reservationToObject(reservation("My_App")) as { metadata: Record<string, unknown> };
    expect(short.metadata.name).toBe(reservationName("My_App"));
    expect(short.metadata.labels).toEqual({ "app-id": "My_App" });
    expect(reservationFromObject(short)).toMatchObject({ appId: "My_App" });
    const longId = `app-${"x".repeat(70)}`;
    const long = reservationToObject(reservation(longId)) as { metadata: Record<string, unknown> };
    expect(long.metadata.labels).toEqual({});
    expect(long.metadata.annotations).toEqual({ [APP_ID_ANNOTATION]: longId });
    expect(reservationFromObject(long)).toMatchObject({ appId: longId });
  });
});
