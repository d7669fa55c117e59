// Node eligibility for a pod: may this pod run on this node at all, ignoring capacity?
//
// The checks mirror kube-scheduler's filter plugins, in this order, each failure with a short human reason:
//   1. the node is Ready (the reference's readiness filter, spec/reference-behaviour.md §7.10);
//   2. NodeUnschedulable: spec.unschedulable, unless the pod tolerates node.kubernetes.io/unschedulable:NoSchedule;
//   3. TaintToleration: every NoSchedule / NoExecute taint is tolerated (PreferNoSchedule is a preference only);
//   4. NodeAffinity: the pod's nodeSelector (every label equal) and its required node affinity (terms ORed,
//      requirements within a term ANDed), with k8s.io/component-helpers semantics, including that an empty or
//      invalid term matches nothing.
// The reference ignored taints when placing executor slots (§14.3); checking them here fixes that trap.
//
// Also the instance group of a pod and of a node (reference §2.3), with one deliberate fix: the reference takes the
// first required-affinity expression on the instance-group label that has exactly one value *whatever its
// operator*, so `instance-group NotIn [batch]` put a pod in instance group "batch". Here only operator In counts;
// other expressions on the label are skipped and the search continues, then falls back to nodeSelector.
//
// Pure and synchronous.

import type { NodeInfo, NodeSelectorRequirement, NodeSelectorTerm, PodInfo, Taint, Toleration } from "./model.js";

export type Eligibility = { ok: true } | { ok: false; reason: string };

const ELIGIBLE: Eligibility = { ok: true };

/** The taint kube-scheduler checks a cordoned node against. */
export const UNSCHEDULABLE_TAINT: Taint = { key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" };

// ---------------------------------------------------------------------------------------------
// Taints and tolerations (k8s.io/api/core/v1 Toleration.ToleratesTaint)

/**
 * Kubernetes' matching rule: an empty effect matches every effect; an empty key matches every key (API validation
 * only allows that with Exists); operator Exists ignores the value; Equal (or empty) compares values exactly;
 * unknown operators tolerate nothing.
 */
export function toleratesTaint(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.key && toleration.key !== taint.key) return false;
  switch (toleration.operator ?? "") {
    case "":
    case "Equal":
      return (toleration.value ?? "") === (taint.value ?? "");
    case "Exists":
      return true;
    default:
      return false;
  }
}

export function tolerationsTolerate(tolerations: readonly Toleration[], taint: Taint): boolean {
  return tolerations.some((t) => toleratesTaint(t, taint));
}

/** The first NoSchedule / NoExecute taint of the node that the pod does not tolerate. */
export function untoleratedTaint(pod: PodInfo, node: NodeInfo): Taint | undefined {
  return node.taints.find(
    (t) => (t.effect === "NoSchedule" || t.effect === "NoExecute") && !tolerationsTolerate(pod.tolerations, t),
  );
}

function formatTaint(t: Taint): string {
  return `${t.key}${t.value ? `=${t.value}` : ""}:${t.effect}`;
}

// ---------------------------------------------------------------------------------------------
// Node selector requirements (k8s.io/component-helpers/scheduling/corev1/nodeaffinity)

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Go's strconv.ParseInt(s, 10, 64): undefined when s is not a base-10 int64. */
function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = BigInt(s);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

/** A requirement's structural validity, as labels.NewRequirement checks it; undefined when valid. */
function invalidLabelRequirement(r: NodeSelectorRequirement): string | undefined {
  const values = r.values ?? [];
  switch (r.operator) {
    case "In":
    case "NotIn":
      return values.length === 0 ? `${r.operator} needs at least one value` : undefined;
    case "Exists":
    case "DoesNotExist":
      return values.length !== 0 ? `${r.operator} takes no values` : undefined;
    case "Gt":
    case "Lt":
      return values.length !== 1 || parseInt64(values[0]) === undefined
        ? `${r.operator} needs exactly one integer value`
        : undefined;
    default:
      return `unsupported operator ${JSON.stringify(r.operator)}`;
  }
}

function describeRequirement(r: NodeSelectorRequirement): string {
  const values = r.values ?? [];
  if (r.operator === "Exists" || r.operator === "DoesNotExist") return `${r.key} ${r.operator}`;
  if (r.operator === "Gt" || r.operator === "Lt") return `${r.key} ${r.operator} ${values[0] ?? ""}`;
  return `${r.key} ${r.operator} [${values.join(",")}]`;
}

/** Label requirement against the node's labels (labels.Requirement.Matches). Assumes a valid requirement. */
function labelRequirementMatches(r: NodeSelectorRequirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const value = has ? labels[r.key] : undefined;
  const values = r.values ?? [];
  switch (r.operator) {
    case "In":
      return has && values.includes(value!);
    case "NotIn":
      return !has || !values.includes(value!);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
    case "Gt":
    case "Lt": {
      // Both sides are parsed as 64-bit integers; a label value that is not one never matches.
      const nodeValue = has ? parseInt64(value!) : undefined;
      if (nodeValue === undefined) return false;
      const bound = parseInt64(values[0])!;
      return r.operator === "Gt" ? nodeValue > bound : nodeValue < bound;
    }
    default:
      return false;
  }
}

/**
 * Field requirement against the node. Only `metadata.name` exists as a field; operators In / NotIn with exactly
 * one value (nodeSelectorRequirementsAsFieldSelector). Returns undefined on match, else a reason.
 */
function fieldRequirementFailure(r: NodeSelectorRequirement, node: NodeInfo): string | undefined {
  const values = r.values ?? [];
  if ((r.operator !== "In" && r.operator !== "NotIn") || values.length !== 1) {
    return `invalid matchFields requirement ${describeRequirement(r)} (In/NotIn with one value only)`;
  }
  const fieldValue = r.key === "metadata.name" ? node.name : "";
  const equal = fieldValue === values[0];
  if (r.operator === "In" ? equal : !equal) return undefined;
  return `${describeRequirement(r)} does not match ${r.key}=${fieldValue}`;
}

/** Why a node selector term does not match the node; undefined when it matches. */
export function termFailure(term: NodeSelectorTerm, node: NodeInfo): string | undefined {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return "empty term matches no node";
  // An invalid requirement anywhere makes the whole term match nothing.
  for (const r of exprs) {
    const invalid = invalidLabelRequirement(r);
    if (invalid) return `invalid requirement ${describeRequirement(r)}: ${invalid}`;
  }
  for (const r of exprs) {
    if (!labelRequirementMatches(r, node.labels)) {
      const has = Object.prototype.hasOwnProperty.call(node.labels, r.key);
      return `${describeRequirement(r)} (node has ${has ? `${r.key}=${node.labels[r.key]}` : `no ${r.key} label`})`;
    }
  }
  for (const r of fields) {
    const failure = fieldRequirementFailure(r, node);
    if (failure) return failure;
  }
  return undefined;
}

/** Whether the node satisfies the required node affinity terms (ORed); no terms means no constraint. */
export function matchesNodeSelectorTerms(terms: readonly NodeSelectorTerm[], node: NodeInfo): boolean {
  return terms.length === 0 || terms.some((t) => termFailure(t, node) === undefined);
}

// ---------------------------------------------------------------------------------------------
// Eligibility

/** nodeSelector + required node affinity only (what the reference calls "matching the driver's selector"). */
const constraintKeys = new WeakMap<PodInfo, string>();
const selectorKeys = new WeakMap<PodInfo, string>();

/**
 * A pod's scheduling constraint (node selector, required node terms, tolerations) as a key: pods with equal keys
 * are eligible on the same nodes. Kept per pod object (the state replaces a pod's object when it changes): a queue
 * pass asks it of every queued driver.
 */
export function constraintKey(pod: PodInfo): string {
  let key = constraintKeys.get(pod);
  if (key === undefined) constraintKeys.set(pod, (key = JSON.stringify([pod.nodeSelector, pod.requiredNodeTerms, pod.tolerations])));
  return key;
}

/** The part of `constraintKey` that selects nodes by their labels (no tolerations), kept the same way. */
export function selectorKey(pod: PodInfo): string {
  let key = selectorKeys.get(pod);
  if (key === undefined) selectorKeys.set(pod, (key = JSON.stringify([pod.nodeSelector, pod.requiredNodeTerms])));
  return key;
}

export function nodeMatchesPodSelectors(pod: PodInfo, node: NodeInfo): Eligibility {
  for (const [key, want] of Object.entries(pod.nodeSelector)) {
    if (!Object.prototype.hasOwnProperty.call(node.labels, key)) {
      return { ok: false, reason: `nodeSelector requires ${key}=${want}, node has no ${key} label` };
    }
    const have = node.labels[key];
    if (have !== want) return { ok: false, reason: `nodeSelector requires ${key}=${want}, node has ${key}=${have}` };
  }
  const terms = pod.requiredNodeTerms;
  if (terms.length > 0) {
    const failures: string[] = [];
    for (const term of terms) {
      const failure = termFailure(term, node);
      if (failure === undefined) return ELIGIBLE;
      failures.push(failure);
    }
    const detail =
      failures.length === 1 ? failures[0] : failures.map((f, i) => `term ${i + 1}: ${f}`).join("; ");
    return { ok: false, reason: `node does not match required node affinity: ${detail}` };
  }
  return ELIGIBLE;
}

/** Whether the pod may run on the node, capacity aside; the first failing check gives the reason. */
export function nodeEligible(pod: PodInfo, node: NodeInfo): Eligibility {
  if (!node.ready) return { ok: false, reason: "node is not Ready" };
  if (node.unschedulable && !tolerationsTolerate(pod.tolerations, UNSCHEDULABLE_TAINT)) {
    return { ok: false, reason: "node is unschedulable (cordoned)" };
  }
  const taint = untoleratedTaint(pod, node);
  if (taint) return { ok: false, reason: `node has taint ${formatTaint(taint)} that the pod does not tolerate` };
  return nodeMatchesPodSelectors(pod, node);
}

// ---------------------------------------------------------------------------------------------
// Instance groups (reference §2.3, with the NotIn fix described in the header)

/**
 * The pod's instance group: the single value of the first required-affinity `In` expression on `label` that has
 * exactly one value, else `nodeSelector[label]`, else undefined. An empty-string value is returned as is.
 */
export function instanceGroupOf(pod: PodInfo, label: string): string | undefined {
  for (const term of pod.requiredNodeTerms) {
    for (const expr of term.matchExpressions ?? []) {
      if (expr.key === label && expr.operator === "In" && expr.values?.length === 1) return expr.values[0];
    }
  }
  return Object.prototype.hasOwnProperty.call(pod.nodeSelector, label) ? pod.nodeSelector[label] : undefined;
}

/** The node's instance group: its `label` label, undefined when absent. */
export function nodeInstanceGroup(node: NodeInfo, label: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(node.labels, label) ? node.labels[label] : undefined;
}
