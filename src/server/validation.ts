// Validation at the edge, declared once for every route. A request is bounded and well-typed before it reaches the
// scheduler; what is wrong is reported as RequestErrors naming the fields (errors.ts).
//
// - Pods (`/predicates`, the Filter and Simulate RPCs): `parsePod` (engine/model.ts) converts and lists every
//   field that does not have Kubernetes' type; any violation refuses the pod. A creationTimestamp that is not
//   RFC 3339 within 0001–9999 is a violation; an absent one is taken as the call's time.
// - Node name lists: at most MAX_NODE_NAMES names of at most MAX_NAME_LENGTH characters.
// - RPC request messages: RPC_RULES below, applied by `validationInterceptor` to every RPC's input message.

import type { DescMessage, Message } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { type FieldViolation, MAX_NAMESPACE_LENGTH, MAX_NAME_LENGTH, type PodInfo, parsePod } from "../engine/model.js";
import { badField, invalidArgument } from "./errors.js";

/** Most node names one request may list (NodeNames, node_names); above any real cluster's node count. */
export const MAX_NODE_NAMES = 100_000;
/** Most entries of a map or list field of an RPC request other than node names (e.g. node_selector). */
export const MAX_LIST_ITEMS = 1_000;
/** Longest string a request field other than a pod may hold. */
export const MAX_STRING_LENGTH = 1_024;

/** Converts and validates a pod sent by a client; throws an InvalidArgument RequestError naming the fields. */
export function podFromRequest(raw: unknown, field: string, nowMs: number): PodInfo {
  const parsed = parsePod(raw, nowMs);
  const problems = [...parsed.problems];
  if (!parsed.pod.name && !problems.some((p) => p.field === "metadata.name")) {
    problems.unshift({ field: "metadata.name", description: "is required" });
  }
  if (problems.length > 0) {
    throw invalidArgument(problems.map((p) => ({ field: p.field ? `${field}.${p.field}` : field, description: p.description })));
  }
  return parsed.pod;
}

/** Checks a list of node names: a bounded number of non-empty, bounded strings. */
export function checkNodeNames(names: readonly unknown[], field: string): string[] {
  if (names.length > MAX_NODE_NAMES) {
    throw badField(field, `lists ${names.length} nodes; at most ${MAX_NODE_NAMES} are accepted`, "LIMIT_EXCEEDED");
  }
  const bad: FieldViolation[] = [];
  names.forEach((n, i) => {
    if (typeof n !== "string") bad.push({ field: `${field}[${i}]`, description: "must be a node name (a string)" });
    else if (n === "" || n.length > MAX_NAME_LENGTH) {
      bad.push({ field: `${field}[${i}]`, description: `must be a node name of 1 to ${MAX_NAME_LENGTH} characters` });
    }
  });
  if (bad.length > 0) throw invalidArgument(bad.slice(0, 50));
  return names as string[];
}

// ---------------------------------------------------------------------------------------------
// RPC request rules, next to nothing else: one entry per request message of proto/sparkscheduler/v1 that has
// bounds beyond its proto types. Keyed by message type name, then by the field's proto name.

interface FieldRule {
  /** Non-empty (strings) / set (messages). */
  required?: boolean;
  /** Strings: longest length. Lists and maps: most entries. */
  max?: number;
  /** Numbers: smallest value. */
  min?: number;
}

export const RPC_RULES: Record<string, Record<string, FieldRule>> = {
  "sparkscheduler.v1.FilterRequest": { pod: { required: true }, node_names: { required: true, max: MAX_NODE_NAMES } },
  "sparkscheduler.v1.GetReservationRequest": {
    namespace: { required: true, max: MAX_NAMESPACE_LENGTH },
    app_id: { required: true, max: MAX_NAME_LENGTH },
  },
  "sparkscheduler.v1.ListReservationsRequest": { namespace: { max: MAX_NAMESPACE_LENGTH } },
  "sparkscheduler.v1.GetQueuePositionRequest": {
    namespace: { required: true, max: MAX_NAMESPACE_LENGTH },
    pod_name: { required: true, max: MAX_NAME_LENGTH },
  },
  "sparkscheduler.v1.ExplainPodRequest": {
    namespace: { required: true, max: MAX_NAMESPACE_LENGTH },
    pod_name: { required: true, max: MAX_NAME_LENGTH },
  },
  "sparkscheduler.v1.SimulateRequest": {
    executor_count: { min: 0 },
    node_selector: { max: MAX_LIST_ITEMS },
    node_names: { max: MAX_NODE_NAMES },
  },
};

/** The violations of one request message against RPC_RULES (and, for every string field, MAX_STRING_LENGTH). */
export function checkMessage(desc: DescMessage, message: Message): FieldViolation[] {
  const rules = RPC_RULES[desc.typeName] ?? {};
  const out: FieldViolation[] = [];
  const m = message as unknown as Record<string, unknown>;
  for (const f of desc.fields) {
    const rule = rules[f.name] ?? {};
    const v = m[f.localName];
    if (f.fieldKind === "scalar" && typeof v === "string") {
      if (rule.required && v === "") out.push({ field: f.name, description: "is required" });
      const max = rule.max ?? MAX_STRING_LENGTH;
      if (v.length > max) out.push({ field: f.name, description: `must be at most ${max} characters` });
    } else if (f.fieldKind === "scalar" && typeof v === "number") {
      if (rule.min !== undefined && v < rule.min) out.push({ field: f.name, description: `must be at least ${rule.min}` });
    } else if (f.fieldKind === "list" && Array.isArray(v)) {
      if (rule.required && v.length === 0) out.push({ field: f.name, description: "must list at least one entry" });
      if (rule.max !== undefined && v.length > rule.max) out.push({ field: f.name, description: `must have at most ${rule.max} entries` });
    } else if (f.fieldKind === "map" && v && typeof v === "object") {
      const n = Object.keys(v).length;
      if (rule.max !== undefined && n > rule.max) out.push({ field: f.name, description: `must have at most ${rule.max} entries` });
      for (const [k, val] of Object.entries(v)) {
        if (k.length > MAX_STRING_LENGTH || (typeof val === "string" && val.length > MAX_STRING_LENGTH)) {
          out.push({ field: `${f.name}.${k.slice(0, 64)}`, description: `keys and values must be at most ${MAX_STRING_LENGTH} characters` });
        }
      }
    } else if (f.fieldKind === "message" && rule.required && v === undefined) {
      out.push({ field: f.name, description: "is required" });
    }
  }
  return out;
}

/** Applies RPC_RULES to every unary RPC's request before its handler runs. */
export const validationInterceptor: Interceptor = (next) => async (req) => {
  if (!req.stream) {
    const problems = checkMessage(req.method.input, req.message);
    if (problems.length > 0) throw invalidArgument(problems);
  }
  return next(req);
};
