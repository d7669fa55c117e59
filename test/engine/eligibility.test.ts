import { describe, expect, it } from "vitest";
import {
  instanceGroupOf,
  matchesNodeSelectorTerms,
  nodeEligible,
  nodeInstanceGroup,
  nodeMatchesPodSelectors,
  toleratesTaint,
} from "../../src/engine/eligibility.js";
import type {
  NodeInfo,
  NodeSelectorRequirement,
  NodeSelectorTerm,
  PodInfo,
  Taint,
  Toleration,
} from "../../src/engine/model.js";
import { res } from "../../src/engine/resources.js";

function node(over: Partial<NodeInfo> = {}): NodeInfo {
  return {
    name: "n1",
    labels: {},
    allocatable: res(8000, 32 * 2 ** 30),
    unschedulable: false,
    ready: true,
    taints: [],
    createdAtMs: 0,
    ...over,
  };
}

function pod(over: Partial<PodInfo> = {}): PodInfo {
  return {
    uid: "u1",
    name: "driver",
    namespace: "ns",
    labels: {},
    annotations: {},
    createdAtMs: 0,
    deleting: false,
    nodeName: "",
    schedulerName: "spark-scheduler",
    phase: "Pending",
    terminated: false,
    requests: res(1000, 2 ** 30),
    nodeSelector: {},
    requiredNodeTerms: [],
    tolerations: [],
    ...over,
  };
}

const expr = (key: string, operator: string, values?: string[]): NodeSelectorRequirement => ({ key, operator, values });
const affinity = (...terms: NodeSelectorTerm[]) => pod({ requiredNodeTerms: terms });
const eligible = (p: PodInfo, n: NodeInfo) => nodeEligible(p, n);

describe("nodeEligible: basic node state", () => {
  it("an unconstrained pod fits a ready, untainted node", () => {
    expect(eligible(pod(), node())).toEqual({ ok: true });
  });

  it("rejects a node that is not Ready", () => {
    expect(eligible(pod(), node({ ready: false }))).toEqual({ ok: false, reason: "node is not Ready" });
  });

  it("rejects a cordoned node unless the pod tolerates node.kubernetes.io/unschedulable", () => {
    const cordoned = node({ unschedulable: true });
    expect(eligible(pod(), cordoned)).toEqual({ ok: false, reason: "node is unschedulable (cordoned)" });
    const tol: Toleration = { key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule" };
    expect(eligible(pod({ tolerations: [tol] }), cordoned).ok).toBe(true);
    expect(eligible(pod({ tolerations: [{ operator: "Exists" }] }), cordoned).ok).toBe(true);
    const wrongEffect: Toleration = { ...tol, effect: "NoExecute" };
    expect(eligible(pod({ tolerations: [wrongEffect] }), cordoned).ok).toBe(false);
  });
});

describe("taints and tolerations", () => {
  const dedicated: Taint = { key: "dedicated", value: "spark", effect: "NoSchedule" };

  it("rejects an untolerated NoSchedule or NoExecute taint, naming it", () => {
    expect(eligible(pod(), node({ taints: [dedicated] }))).toEqual({
      ok: false,
      reason: "node has taint dedicated=spark:NoSchedule that the pod does not tolerate",
    });
    const noExec: Taint = { key: "gpu", effect: "NoExecute" };
    expect(eligible(pod(), node({ taints: [noExec] }))).toEqual({
      ok: false,
      reason: "node has taint gpu:NoExecute that the pod does not tolerate",
    });
  });

  it("ignores PreferNoSchedule taints", () => {
    expect(eligible(pod(), node({ taints: [{ key: "soft", effect: "PreferNoSchedule" }] })).ok).toBe(true);
  });

  it("every blocking taint must be tolerated", () => {
    const other: Taint = { key: "zone-maintenance", effect: "NoSchedule" };
    const p = pod({ tolerations: [{ key: "dedicated", operator: "Equal", value: "spark", effect: "NoSchedule" }] });
    expect(eligible(p, node({ taints: [dedicated] })).ok).toBe(true);
    const r = eligible(p, node({ taints: [dedicated, other] }));
    expect(r).toEqual({
      ok: false,
      reason: "node has taint zone-maintenance:NoSchedule that the pod does not tolerate",
    });
  });

  it.each<[string, Toleration, boolean]>([
    ["Equal with matching value", { key: "dedicated", operator: "Equal", value: "spark", effect: "NoSchedule" }, true],
    ["empty operator means Equal", { key: "dedicated", value: "spark" }, true],
    ["Equal with a different value", { key: "dedicated", operator: "Equal", value: "ml" }, false],
    ["Equal without value vs valued taint", { key: "dedicated", operator: "Equal" }, false],
    ["Exists ignores the value", { key: "dedicated", operator: "Exists" }, true],
    ["Exists with a different key", { key: "other", operator: "Exists" }, false],
    ["empty key + Exists tolerates everything", { operator: "Exists" }, true],
    ["empty key + Exists + effect limits the effect", { operator: "Exists", effect: "NoExecute" }, false],
    ["empty effect matches all effects", { key: "dedicated", operator: "Exists", effect: "" }, true],
    ["different effect", { key: "dedicated", operator: "Exists", effect: "NoExecute" }, false],
    ["unknown operator tolerates nothing", { key: "dedicated", operator: "Gt", value: "spark" }, false],
  ])("toleratesTaint: %s", (_name, tol, want) => {
    expect(toleratesTaint(tol, dedicated)).toBe(want);
  });

  it("a valueless taint is tolerated by Equal with an empty or missing value", () => {
    const t: Taint = { key: "k", effect: "NoSchedule" };
    expect(toleratesTaint({ key: "k", operator: "Equal", value: "" }, t)).toBe(true);
    expect(toleratesTaint({ key: "k" }, t)).toBe(true);
  });
});

describe("nodeSelector", () => {
  it("requires every label to be equal, with the mismatch in the reason", () => {
    const p = pod({ nodeSelector: { "instance-group": "batch", zone: "a" } });
    expect(eligible(p, node({ labels: { "instance-group": "batch", zone: "a", extra: "x" } })).ok).toBe(true);
    expect(eligible(p, node({ labels: { "instance-group": "batch", zone: "b" } }))).toEqual({
      ok: false,
      reason: "nodeSelector requires zone=a, node has zone=b",
    });
    expect(eligible(p, node({ labels: { zone: "a" } }))).toEqual({
      ok: false,
      reason: "nodeSelector requires instance-group=batch, node has no instance-group label",
    });
  });

  it("an empty-valued selector needs the label present with an empty value", () => {
    const p = pod({ nodeSelector: { flag: "" } });
    expect(eligible(p, node({ labels: { flag: "" } })).ok).toBe(true);
    expect(eligible(p, node({ labels: {} })).ok).toBe(false);
  });

  it("node state is checked before selectors", () => {
    const p = pod({ nodeSelector: { zone: "a" } });
    expect(eligible(p, node({ ready: false }))).toEqual({ ok: false, reason: "node is not Ready" });
  });
});

describe("required node affinity", () => {
  const labelled = node({ labels: { "instance-group": "batch", cores: "16", zone: "a" } });
  const matches = (...exprs: NodeSelectorRequirement[]) => eligible(affinity({ matchExpressions: exprs }), labelled).ok;

  it("In", () => {
    expect(matches(expr("instance-group", "In", ["batch", "ml"]))).toBe(true);
    expect(matches(expr("instance-group", "In", ["ml"]))).toBe(false);
    expect(matches(expr("missing", "In", ["x"]))).toBe(false);
  });

  it("NotIn (matches when the label is absent)", () => {
    expect(matches(expr("instance-group", "NotIn", ["ml"]))).toBe(true);
    expect(matches(expr("instance-group", "NotIn", ["batch"]))).toBe(false);
    expect(matches(expr("missing", "NotIn", ["x"]))).toBe(true);
  });

  it("Exists and DoesNotExist", () => {
    expect(matches(expr("zone", "Exists"))).toBe(true);
    expect(matches(expr("missing", "Exists"))).toBe(false);
    expect(matches(expr("missing", "DoesNotExist"))).toBe(true);
    expect(matches(expr("zone", "DoesNotExist", []))).toBe(false);
  });

  it("Gt and Lt compare integers; non-integer label values never match", () => {
    expect(matches(expr("cores", "Gt", ["8"]))).toBe(true);
    expect(matches(expr("cores", "Gt", ["16"]))).toBe(false);
    expect(matches(expr("cores", "Lt", ["32"]))).toBe(true);
    expect(matches(expr("cores", "Lt", ["16"]))).toBe(false);
    expect(matches(expr("zone", "Gt", ["0"]))).toBe(false);
    expect(matches(expr("missing", "Lt", ["100"]))).toBe(false);
  });

  it("invalid requirements make the term match nothing", () => {
    expect(matches(expr("instance-group", "In", []))).toBe(false);
    expect(matches(expr("zone", "Exists", ["a"]))).toBe(false);
    expect(matches(expr("cores", "Gt", ["8", "9"]))).toBe(false);
    expect(matches(expr("cores", "Gt", ["eight"]))).toBe(false);
    expect(matches(expr("zone", "Like", ["a"]))).toBe(false);
  });

  it("expressions within a term are ANDed", () => {
    expect(matches(expr("zone", "In", ["a"]), expr("instance-group", "In", ["batch"]))).toBe(true);
    expect(matches(expr("zone", "In", ["a"]), expr("instance-group", "In", ["ml"]))).toBe(false);
  });

  it("terms are ORed; an empty term matches nothing; no terms means no constraint", () => {
    const miss: NodeSelectorTerm = { matchExpressions: [expr("zone", "In", ["b"])] };
    const hit: NodeSelectorTerm = { matchExpressions: [expr("zone", "In", ["a"])] };
    expect(eligible(affinity(miss, hit), labelled).ok).toBe(true);
    expect(eligible(affinity(miss), labelled).ok).toBe(false);
    expect(eligible(affinity({}), labelled).ok).toBe(false);
    expect(eligible(affinity({ matchExpressions: [], matchFields: [] }, hit), labelled).ok).toBe(true);
    expect(matchesNodeSelectorTerms([], labelled)).toBe(true);
  });

  it("matchFields supports metadata.name with In / NotIn and one value", () => {
    const byName = (operator: string, values: string[]) =>
      eligible(affinity({ matchFields: [expr("metadata.name", operator, values)] }), node({ name: "n7" })).ok;
    expect(byName("In", ["n7"])).toBe(true);
    expect(byName("In", ["n8"])).toBe(false);
    expect(byName("NotIn", ["n8"])).toBe(true);
    expect(byName("NotIn", ["n7"])).toBe(false);
    expect(byName("In", ["n7", "n8"])).toBe(false); // one value only
    expect(byName("Exists", [])).toBe(false);
    // Fields and expressions in one term are ANDed.
    const both = affinity({
      matchExpressions: [expr("zone", "In", ["a"])],
      matchFields: [expr("metadata.name", "In", ["n1"])],
    });
    expect(eligible(both, labelled).ok).toBe(true);
    expect(eligible(both, node({ name: "n2", labels: { zone: "a" } })).ok).toBe(false);
  });

  it("reasons describe the failing requirement per term", () => {
    expect(eligible(affinity({ matchExpressions: [expr("zone", "In", ["b"])] }), labelled)).toEqual({
      ok: false,
      reason: "node does not match required node affinity: zone In [b] (node has zone=a)",
    });
    expect(
      eligible(
        affinity({ matchExpressions: [expr("gpu", "Exists")] }, { matchExpressions: [expr("cores", "Gt", ["64"])] }),
        labelled,
      ),
    ).toEqual({
      ok: false,
      reason:
        "node does not match required node affinity: term 1: gpu Exists (node has no gpu label); " +
        "term 2: cores Gt 64 (node has cores=16)",
    });
  });

  it("nodeMatchesPodSelectors ignores node state and taints", () => {
    const p = pod({ nodeSelector: { zone: "a" } });
    const bad = node({
      ready: false,
      unschedulable: true,
      taints: [{ key: "x", effect: "NoSchedule" }],
      labels: { zone: "a" },
    });
    expect(nodeMatchesPodSelectors(p, bad).ok).toBe(true);
    expect(eligible(p, bad).ok).toBe(false);
  });
});

describe("instance groups", () => {
  const label = "instance-group";

  it("first required-affinity In expression with exactly one value", () => {
    const p = affinity(
      { matchExpressions: [expr("zone", "In", ["a"]), expr(label, "In", ["batch"])] },
      { matchExpressions: [expr(label, "In", ["ml"])] },
    );
    expect(instanceGroupOf(p, label)).toBe("batch");
  });

  it("skips expressions with several values and continues to later terms", () => {
    const p = affinity(
      { matchExpressions: [expr(label, "In", ["a", "b"])] },
      { matchExpressions: [expr(label, "In", ["c"])] },
    );
    expect(instanceGroupOf(p, label)).toBe("c");
  });

  it("NotIn (and other operators) do not count — the reference quirk is fixed", () => {
    const notIn = affinity({ matchExpressions: [expr(label, "NotIn", ["batch"])] });
    expect(instanceGroupOf(notIn, label)).toBeUndefined();
    const notInThenIn = affinity({ matchExpressions: [expr(label, "NotIn", ["batch"]), expr(label, "In", ["ml"])] });
    expect(instanceGroupOf(notInThenIn, label)).toBe("ml");
    const gt = affinity({ matchExpressions: [expr(label, "Gt", ["1"])] });
    expect(instanceGroupOf(gt, label)).toBeUndefined();
  });

  it("falls back to nodeSelector, and affinity wins over it", () => {
    expect(instanceGroupOf(pod({ nodeSelector: { [label]: "batch" } }), label)).toBe("batch");
    const both = pod({
      nodeSelector: { [label]: "from-selector" },
      requiredNodeTerms: [{ matchExpressions: [expr(label, "In", ["from-affinity"])] }],
    });
    expect(instanceGroupOf(both, label)).toBe("from-affinity");
    const notInWithSelector = pod({
      nodeSelector: { [label]: "batch" },
      requiredNodeTerms: [{ matchExpressions: [expr(label, "NotIn", ["ml"])] }],
    });
    expect(instanceGroupOf(notInWithSelector, label)).toBe("batch");
  });

  it("undefined when neither names the label; other labels are ignored", () => {
    expect(instanceGroupOf(pod(), label)).toBeUndefined();
    expect(instanceGroupOf(pod({ nodeSelector: { resource_channel: "batch" } }), label)).toBeUndefined();
    expect(instanceGroupOf(pod({ nodeSelector: { resource_channel: "batch" } }), "resource_channel")).toBe("batch");
  });

  it("nodeInstanceGroup reads the node label", () => {
    expect(nodeInstanceGroup(node({ labels: { [label]: "batch" } }), label)).toBe("batch");
    expect(nodeInstanceGroup(node({ labels: { [label]: "" } }), label)).toBe("");
    expect(nodeInstanceGroup(node(), label)).toBeUndefined();
  });
});
