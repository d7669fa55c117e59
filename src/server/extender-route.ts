// kube-scheduler's extender filter verb: `POST /predicates` (and `<context-path>/predicates`).
// Request: ExtenderArgs {Pod, Nodes, NodeNames} with kube-scheduler's PascalCase field names (matched
// case-insensitively, as Go's decoder does). With nodeCacheCapable: true kube-scheduler sends NodeNames and
// reads NodeNames back; with false it sends full Nodes and reads Nodes back — both are answered in kind.
// Response: ExtenderFilterResult with exactly one node on success; on failure every offered node is listed
// with the reason. Malformed or oversized bodies, and pods whose fields do not have Kubernetes' types, get HTTP
// 400 `{error, reason, violations}` (errors.ts); nothing crashes. An empty node list is answered with `Error`
// set, as the Filter RPC refuses it.

import type { ServerResponse } from "node:http";
import { Code } from "@connectrpc/connect";
import type { Decision } from "../engine/decision.js";
import { isSuccess, nodeReason } from "../engine/decision.js";
import type { Scheduler } from "../pipeline/scheduler.js";
import { type ErrorReason, RequestError, jsonError } from "./errors.js";
import type { FallbackHandler } from "./listen.js";
import { checkNodeNames, podFromRequest } from "./validation.js";

export type Req = Parameters<FallbackHandler>[0];
export type Res = Parameters<FallbackHandler>[1];

/** A body that cannot be read as the route's request (HTTP 400). */
export class BadRequest extends RequestError {
  constructor(message: string, reason: ErrorReason = "MALFORMED_BODY") {
    super(Code.InvalidArgument, reason, message);
  }
}

/** Reads a request body, refusing more than `limit` bytes. */
export function readBody(req: Req, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "NaN");
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BadRequest(`request body of ${declared} bytes exceeds the limit of ${limit} bytes`, "BODY_TOO_LARGE"));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        reject(new BadRequest(`request body exceeds the limit of ${limit} bytes`, "BODY_TOO_LARGE"));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!done) resolve(Buffer.concat(chunks));
    });
    req.on("error", (e) => {
      if (!done) reject(e);
      done = true;
    });
  });
}

type Obj = Record<string, unknown>;

/** Field lookup ignoring case, like Go's encoding/json. */
function field(o: Obj, name: string): unknown {
  if (name in o) return o[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(o)) if (k.toLowerCase() === lower) return o[k];
  return undefined;
}

export interface ExtenderArgs {
  pod: Obj;
  nodeNames: string[];
  /** Full Node objects by name when kube-scheduler sent `Nodes` (nodeCacheCapable: false). */
  nodes?: Map<string, Obj>;
}

/** Validates and normalises an ExtenderArgs body; throws BadRequest with a precise message. */
export function parseExtenderArgs(body: Buffer): ExtenderArgs {
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString("utf8"));
  } catch (e) {
    throw new BadRequest(`malformed JSON: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new BadRequest("ExtenderArgs must be a JSON object");
  const args = raw as Obj;
  const pod = field(args, "Pod");
  if (!pod || typeof pod !== "object" || Array.isArray(pod)) throw new BadRequest("ExtenderArgs.Pod must be a Pod object");
  const names = field(args, "NodeNames");
  if (names !== undefined && names !== null) {
    if (!Array.isArray(names)) throw new BadRequest("ExtenderArgs.NodeNames must be a list of node names", "INVALID_ARGUMENT");
    return { pod: pod as Obj, nodeNames: checkNodeNames(names, "NodeNames") };
  }
  const nodes = field(args, "Nodes");
  if (nodes !== undefined && nodes !== null) {
    const items = typeof nodes === "object" ? (nodes as Obj).items : undefined;
    if (!Array.isArray(items)) throw new BadRequest("ExtenderArgs.Nodes must be a NodeList with items");
    const byName = new Map<string, Obj>();
    for (const n of items) {
      const name = ((n as Obj)?.metadata as Obj | undefined)?.name;
      if (typeof name !== "string" || !name) throw new BadRequest("every node in ExtenderArgs.Nodes.items needs metadata.name");
      byName.set(name, n as Obj);
    }
    return { pod: pod as Obj, nodeNames: checkNodeNames([...byName.keys()], "Nodes.items"), nodes: byName };
  }
  throw new BadRequest("ExtenderArgs needs NodeNames (nodeCacheCapable: true) or Nodes (nodeCacheCapable: false)");
}

/** Builds kube-scheduler's ExtenderFilterResult for a decision. */
export function filterResult(args: ExtenderArgs, d: Decision): Obj {
  if (isSuccess(d.outcome) && d.node) {
    if (args.nodes) {
      const node = args.nodes.get(d.node);
      return {
        Nodes: { apiVersion: "v1", kind: "NodeList", metadata: {}, items: node ? [node] : [] },
        NodeNames: null,
        FailedNodes: {},
        FailedAndUnresolvableNodes: {},
        Error: "",
      };
    }
    return { Nodes: null, NodeNames: [d.node], FailedNodes: {}, FailedAndUnresolvableNodes: {}, Error: "" };
  }
  // A short reason per node; the full one is reported once (events, queue RPCs): see nodeReason.
  const reason = nodeReason(d);
  // Preemption cannot help a pod that is not a Spark pod or whose configuration is invalid.
  const unresolvable = d.outcome === "failure-non-spark-pod" || d.outcome === "failure-invalid";
  const failed: Record<string, string> = {};
  for (const n of args.nodeNames) failed[n] = reason;
  return {
    Nodes: args.nodes ? { apiVersion: "v1", kind: "NodeList", metadata: {}, items: [] } : null,
    NodeNames: args.nodes ? null : [],
    FailedNodes: unresolvable ? {} : failed,
    FailedAndUnresolvableNodes: unresolvable ? failed : {},
    Error: "",
  };
}

export function sendJson(res: Res, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  (res as ServerResponse).writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** The answer to a call that offered no node: kube-scheduler reports `Error` as an extender failure. */
export function noNodesResult(args: ExtenderArgs): Obj {
  return {
    Nodes: args.nodes ? { apiVersion: "v1", kind: "NodeList", metadata: {}, items: [] } : null,
    NodeNames: args.nodes ? null : [],
    FailedNodes: {},
    FailedAndUnresolvableNodes: {},
    Error: "ExtenderArgs must offer at least one node (NodeNames or Nodes.items is empty)",
  };
}

/** Handles one extender filter call end to end. */
export async function handleFilter(req: Req, res: Res, scheduler: Scheduler, maxBodyBytes: number): Promise<void> {
  let args: ExtenderArgs;
  let pod;
  try {
    args = parseExtenderArgs(await readBody(req, maxBodyBytes));
    pod = podFromRequest(args.pod, "Pod", scheduler.now());
  } catch (e) {
    if (e instanceof RequestError) {
      sendJson(res, 400, jsonError(e));
      return;
    }
    throw e;
  }
  if (args.nodeNames.length === 0) {
    sendJson(res, 200, noNodesResult(args));
    return;
  }
  const decision = await scheduler.filter(pod, args.nodeNames);
  sendJson(res, 200, filterResult(args, decision));
}
