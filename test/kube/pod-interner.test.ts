// The pod informer shares what pods repeat (PodInterner): equal placement constraints become one object and
// repeated strings one string, without changing any pod's content.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { podFromObject } from "../../src/engine/model.js";
import { ClusterState } from "../../src/engine/state.js";
import { type ClusterInformers, PodInterner } from "../../src/kube/informers.js";
import { FakeApiServer } from "../support/fake-apiserver.js";
import { NS, PODS, eventually, executorObject, startInformers } from "./fixtures.js";

const constraints = {
  nodeSelector: { "instance-group": "batch" },
  tolerations: [{ key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 }],
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: "instance-group", operator: "In", values: ["batch"] }] }],
      },
    },
  },
};

function constrained(name: string, node: string, tolerationKey = "node.kubernetes.io/not-ready"): object {
  const pod = executorObject(name, "app-1", { nodeName: node }) as { spec: Record<string, unknown> };
  return { ...pod, spec: { ...pod.spec, ...constraints, tolerations: [{ ...constraints.tolerations[0], key: tolerationKey }] } };
}

describe("PodInterner", () => {
  it("shares equal constraints and strings and keeps every pod's content", () => {
    const interner = new PodInterner();
    const a = podFromObject(constrained("e1", "node-a"));
    const b = podFromObject(constrained("e2", "node-a"));
    const c = podFromObject(constrained("e3", "node-b", "other"));
    const [ia, ib, ic] = [a, b, c].map((p) => interner.pod(p));
    expect([ia, ib, ic]).toEqual([a, b, c]);
    expect(ib.tolerations).toBe(ia.tolerations);
    expect(ib.requiredNodeTerms).toBe(ia.requiredNodeTerms);
    expect(ib.nodeSelector).toBe(ia.nodeSelector);
    expect(ic.tolerations).not.toBe(ia.tolerations);
    expect(ic.requiredNodeTerms).toBe(ia.requiredNodeTerms);
    // The pods' own objects are not shared with the input, and requests (which callers may add into) never are.
    expect(ib.labels).not.toBe(b.labels);
    expect(ib.requests).toBe(b.requests);
  });

  it("starts its tables afresh past the limit, still answering equal values", () => {
    const interner = new PodInterner(2);
    expect(interner.str("a")).toBe("a");
    expect(interner.str("b")).toBe("b");
    expect(interner.str("c")).toBe("c");
    const first = interner.shape([1]);
    interner.shape([2]);
    interner.shape([3]);
    const again = interner.shape([1]);
    expect(again).toEqual(first);
  });
});

describe("the pod informer", () => {
  let server: FakeApiServer;
  let informers: ClusterInformers | undefined;
  beforeEach(async () => {
    server = await FakeApiServer.start();
  });
  afterEach(async () => {
    if (informers) await Promise.all(Object.values(informers).map((i) => i.stop()));
    informers = undefined;
    await server.stop();
  });

  it("keeps one copy of the constraints its pods share, listed and watched", async () => {
    const state = new ClusterState();
    server.put(PODS, constrained("e1", "node-a"));
    informers = await startInformers(server, state);
    server.put(PODS, constrained("e2", "node-a"));
    await eventually(() => state.getPod(NS, "e2") !== undefined);
    const [e1, e2] = [state.getPod(NS, "e1")!, state.getPod(NS, "e2")!];
    expect(e2.tolerations).toEqual([{ key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute" }]);
    expect(e2.tolerations).toBe(e1.tolerations);
    expect(e2.requiredNodeTerms).toBe(e1.requiredNodeTerms);
    expect(e2.nodeName).toBe("node-a");
  });
});
