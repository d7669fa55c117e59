import { describe, expect, it } from "vitest";
import { ReservationEchoes } from "../../src/kube/reservation-echoes.js";

describe("ReservationEchoes", () => {
  it("drops copies the watch delivers while a write of ours waits for its echo, by identity", () => {
    const e = new ReservationEchoes();
    e.begin("ns/app");
    e.end("ns/app", "k2");
    e.begin("ns/app");
    e.end("ns/app", "a9");
    expect(e.current("ns/app", "zz")).toBe(false); // committed before our writes (someone else's)
    expect(e.current("ns/app", "k2")).toBe(false); // the echo of our first write: older than our second
    expect(e.current("ns/app", "a9")).toBe(true); // our latest write
    expect(e.isPending("ns/app")).toBe(false);
    expect(e.current("ns/app", "bb")).toBe(true); // after it: anyone's
    expect(e.current("ns/other", "k2")).toBe(true);
  });

  it("does not wait for an echo that came before the answer, nor for a write that changed nothing", () => {
    const e = new ReservationEchoes();
    e.begin("ns/app");
    expect(e.current("ns/app", "v1")).toBe(true);
    expect(e.current("ns/app", "v2")).toBe(true);
    e.end("ns/app", "v1");
    expect(e.isPending("ns/app")).toBe(false);
    e.begin("ns/app");
    e.end("ns/app", "v2"); // a no-op update answers with the version stored, and no event follows
    expect(e.isPending("ns/app")).toBe(false);
    e.begin("ns/app");
    e.end("ns/app", undefined); // failed
    expect(e.isPending("ns/app")).toBe(false);
  });

  it("takes a listed copy as current (a list is not in watch order) and forgets deleted reservations", () => {
    const e = new ReservationEchoes();
    e.begin("ns/app");
    e.end("ns/app", "w1");
    expect(e.current("ns/app", "other", true)).toBe(true);
    expect(e.isPending("ns/app")).toBe(false);
    e.begin("ns/app");
    e.end("ns/app", "w2");
    e.forget("ns/app");
    expect(e.isPending("ns/app")).toBe(false);
  });
});
