// The self-consistency check recomputes ClusterState's incremental counters from scratch: silent on a state
// kept by the ordinary operations, and naming the node and counter when the bookkeeping went wrong.

import { describe, expect, it } from "vitest";
import { checkConsistency } from "../../src/engine/consistency.js";
import type { Reservation } from "../../src/engine/reservation.js";
import { res } from "../../src/engine/resources.js";
import { ClusterState } from "../../src/engine/state.js";
import { node, otherPod } from "./harness.js";

function reservation(appId: string, slots: [string, string, number][], pods: [string, string][] = []): Reservation {
  return {
    namespace: "spark",
    appId,
    driverPod: `${appId}-driver`,
    driverUid: `uid-${appId}`,
    slots: new Map(slots.map(([slot, n, cpu]) => [slot, { node: n, resources: res(cpu, 1024) }])),
    pods: new Map(pods),
    createdAtMs: 0,
  };
}

function populated(): ClusterState {
  const state = new ClusterState();
  state.upsertNode(node("n1"));
  state.upsertNode(node("n2", { zone: "zone2" }));
  state.upsertPod(otherPod("web", "n1", "500m"));
  state.upsertPod(otherPod("db", "n2", "2"));
  state.putReservation(reservation("a", [["driver", "n1", 1000], ["executor-1", "n2", 2000]]));
  state.putReservation(reservation("b", [["driver", "n2", 1000]]));
  state.ensureSoft("spark", "a", 2);
  state.addSoft("spark", "a", "a-exec-9", { node: "n1", resources: res(1000, 1024) });
  state.removeReservation("spark", "b");
  state.removePod("other", "db");
  return state;
}

describe("checkConsistency", () => {
  it("finds nothing wrong with a state changed only through its operations", () => {
    const report = checkConsistency(populated());
    expect(report).toEqual({ nodesChecked: 2, mismatches: [] });
  });

  it("reports a reserved counter that no longer matches the slots (a slot changed behind the state's back)", () => {
    const state = populated();
    // A bug of this kind: a reservation's slot resized in place, without putReservation re-accounting it.
    state.getReservation("spark", "a")!.slots.get("executor-1")!.resources.cpu = 3000;
    expect(checkConsistency(state).mismatches).toEqual([
      { counter: "reserved", node: "n2", incremental: res(2000, 1024), recomputed: res(3000, 1024) },
    ]);
  });

  it("reports overhead that disagrees with the bound pods, including on a node the state no longer knows", () => {
    const state = populated();
    // A pod re-bound in place: the state still counts it on n1.
    state.getPod("other", "web")!.nodeName = "n9";
    const report = checkConsistency(state);
    expect(report.nodesChecked).toBe(3);
    expect(report.mismatches.map((m) => [m.counter, m.node, m.incremental.cpu, m.recomputed.cpu])).toEqual([
      ["overhead", "n1", 500, 0],
      ["overhead", "n9", 0, 500],
    ]);
  });

  it("changes nothing", () => {
    const state = populated();
    const version = state.version;
    const before = JSON.stringify([...state.overhead()]);
    checkConsistency(state);
    expect(state.version).toBe(version);
    expect(JSON.stringify([...state.overhead()])).toBe(before);
  });
});
