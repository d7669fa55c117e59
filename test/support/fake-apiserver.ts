/**
 * A fake Kubernetes API server for tests, served over real HTTP on 127.0.0.1 so that the real
 * @kubernetes/client-node code (typed APIs, CustomObjectsApi, KubernetesObjectApi, Watch, informers) runs
 * against it unchanged.
 *
 * It keeps objects in memory, stamps them with a global resourceVersion, serves list/watch/get/create/
 * update/patch/delete with Kubernetes semantics (selectors, optimistic concurrency, the status subresource,
 * 410 Gone for expired watches), minimal discovery, and hooks for fault injection.
 */
import { randomUUID } from "node:crypto";
import { createServer, request as httpRequest } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { isDeepStrictEqual } from "node:util";
import { parse as parseYaml } from "yaml";
import { crdErrors, metadataErrors, prune, schemaErrors } from "./api-validation.js";

// ------------------------------------------------------------------------------------------------
// Public types

/** A resource type the server serves, e.g. core `pods` or `resourcereservations.sparkscheduler.palantir.com`. */
export interface ResourceType {
  /** API group; "" for the core group served under /api/v1. */
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /**
   * Serve `<name>/status`. As in Kubernetes, writes to the main resource then keep the stored `.status`
   * (and create drops it), while writes to `/status` change nothing but `.status`.
   */
  statusSubresource?: boolean;
  /** Rejects an object the real server would refuse (HTTP 422 with the message); `old` on updates. */
  validate?: (obj: JsonObject, old?: JsonObject) => string | undefined;
}

export const DEFAULT_RESOURCES: readonly ResourceType[] = [
  { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true, statusSubresource: true },
  { group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false, statusSubresource: true },
  { group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false, statusSubresource: true },
  { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true },
  { group: "", version: "v1", plural: "events", kind: "Event", namespaced: true },
  {
    group: "sparkscheduler.palantir.com",
    version: "v1beta2",
    plural: "resourcereservations",
    kind: "ResourceReservation",
    namespaced: true,
  },
  {
    group: "scaler.palantir.com",
    version: "v1alpha2",
    plural: "demands",
    kind: "Demand",
    namespaced: true,
    statusSubresource: true,
  },
  { group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true },
  {
    group: "apiextensions.k8s.io",
    version: "v1",
    plural: "customresourcedefinitions",
    kind: "CustomResourceDefinition",
    namespaced: false,
    statusSubresource: true,
  },
  { group: "events.k8s.io", version: "v1", plural: "events", kind: "Event", namespaced: true, validate: validateEventsV1 },
];

const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/;

/** What the API server checks for events.k8s.io/v1 Events (ValidateEventCreate / ValidateEventUpdate). */
function validateEventsV1(e: JsonObject, old?: JsonObject): string | undefined {
  const str = (k: string) => (typeof e[k] === "string" ? (e[k] as string) : "");
  if (!MICRO_TIME.test(str("eventTime"))) return `eventTime: Required value (RFC 3339 with microseconds), got ${JSON.stringify(e.eventTime)}`;
  for (const [k, max] of [["reportingController", 316], ["reportingInstance", 128], ["action", 128], ["reason", 128]] as const) {
    if (!str(k)) return `${k}: Required value`;
    if (str(k).length > max) return `${k}: Too long: may not be more than ${max} bytes`;
  }
  if (str("note").length > 1024) return "note: Too long: may not be more than 1024 bytes";
  if (e.type !== "Normal" && e.type !== "Warning") return `type: Invalid value: ${JSON.stringify(e.type)}`;
  for (const k of ["deprecatedCount", "deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedSource"]) {
    if (e[k] !== undefined && e[k] !== null) return `${k}: Invalid value: needs to be unset`;
  }
  const series = e.series as JsonObject | undefined | null;
  if (series) {
    if (typeof series.count !== "number" || series.count < 2) return "series.count: Invalid value: should be at least 2";
    if (!MICRO_TIME.test(String(series.lastObservedTime))) return "series.lastObservedTime: Required value (RFC 3339 with microseconds)";
  }
  if (old) {
    for (const k of ["eventTime", "action", "reason", "reportingController", "reportingInstance", "type", "regarding"]) {
      if (JSON.stringify(old[k]) !== JSON.stringify(e[k])) return `${k}: Invalid value: field is immutable`;
    }
  }
  return undefined;
}

const CRD_RESOURCE = "customresourcedefinitions.apiextensions.k8s.io";
/** Groups served by kube-apiserver itself: no CRD schema applies to them. */
const BUILT_IN_GROUPS = new Set(["apiextensions.k8s.io", "coordination.k8s.io", "events.k8s.io", "apps", "batch"]);

export interface FakeApiServerOptions {
  /** Resource types to serve instead of DEFAULT_RESOURCES (more can be added with registerResource). */
  resources?: readonly ResourceType[];
  /** How many past events a watch can resume from; older resourceVersions get 410 Gone. Default 1000. */
  historyLimit?: number;
  /**
   * How often a watch that asked for bookmarks (allowWatchBookmarks=true) gets a BOOKMARK event carrying the
   * current resourceVersion, as kube-apiserver sends them about once a minute. Default 60,000 ms.
   */
  bookmarkIntervalMs?: number;
  /**
   * Longest a watch stays open: kube-apiserver closes every watch after its timeoutSeconds, or after a
   * server-chosen time when none was asked for. Default 1,800,000 ms.
   */
  maxWatchMs?: number;
  /**
   * Issue opaque resourceVersions (random base32 strings, no order to read from them) instead of etcd's
   * increasing integers: the API conventions say clients must not compare them, only pass them back.
   * Watches, list continuations and resourceVersionMatch accept them as before.
   */
  opaqueResourceVersions?: boolean;
}

export interface StoredMetadata {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  generation: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** An object as the server stores it: plain JSON with server-assigned metadata. */
export interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: StoredMetadata;
  [key: string]: unknown;
}

/** A SubjectAccessReview the fake server allows: `user` may `verb` `resource` of `group`, cluster-wide. */
export interface AccessGrant {
  user: string;
  verb: string;
  group: string;
  resource: string;
}

export interface RecordedRequest {
  method: string;
  /** URL path without the query string, e.g. /api/v1/namespaces/default/pods. */
  path: string;
  query: Record<string, string>;
  /** Content-Type without parameters, e.g. application/merge-patch+json. */
  contentType?: string;
  /** Raw request body ("" when there is none). */
  body: string;
  watch: boolean;
}

export interface FaultSpec {
  /** HTTP method to match (any when omitted). */
  method?: string;
  /** Substring the URL path must contain (any when omitted). */
  pathIncludes?: string;
  /** Match only watch requests (true) or only non-watch requests (false). */
  watch?: boolean;
  /** A query parameter the request must carry, e.g. "continue" (any when omitted). */
  queryHas?: string;
  /** HTTP status to answer with; 0 destroys the connection without answering. */
  status: number;
  /** How many matching requests fail (default 1; Infinity for all). */
  times?: number;
  /** Response body: a string is sent as is, anything else as JSON. Default: a Kubernetes Status. */
  body?: unknown;
}

export interface InjectedFault {
  readonly spec: FaultSpec;
  /** Matching requests still to fail. */
  readonly remaining: number;
  /** Requests failed so far. */
  readonly hits: number;
  cancel(): void;
}

/** The store key of a resource type: the plural for core resources, else `<plural>.<group>`. */
export function resourceId(type: Pick<ResourceType, "group" | "plural">): string {
  return type.group ? `${type.plural}.${type.group}` : type.plural;
}

// ------------------------------------------------------------------------------------------------
// Errors as Kubernetes Status objects

type JsonObject = Record<string, unknown>;

const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "Conflict",
  410: "Expired",
  415: "UnsupportedMediaType",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/** An error the server answers with a Kubernetes Status. */
class StatusError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly reason: string = REASONS[code] ?? "",
    readonly details?: JsonObject,
  ) {
    super(message);
  }

  toStatus(): JsonObject {
    return {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

const badRequest = (message: string) => new StatusError(400, message);
const invalid = (message: string) => new StatusError(422, message);
const notFound = () => new StatusError(404, "the server could not find the requested resource");
const objectNotFound = (id: string, name: string) =>
  new StatusError(404, `${id} "${name}" not found`, "NotFound", { name, kind: id });
const alreadyExists = (id: string, name: string) =>
  new StatusError(409, `${id} "${name}" already exists`, "AlreadyExists", { name, kind: id });
const conflict = (id: string, name: string) =>
  new StatusError(
    409,
    `Operation cannot be fulfilled on ${id} "${name}": the object has been modified; ` +
      `please apply your changes to the latest version and try again`,
    "Conflict",
    { name, kind: id },
  );

// ------------------------------------------------------------------------------------------------
// JSON helpers

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deep copy through JSON, which also turns client-node model instances (with Dates) into plain JSON. */
function cloneJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`invalid JSON in request body: ${(err as Error).message}`);
  }
}

function parseJsonObject(text: string): JsonObject {
  const value = parseJson(text);
  if (!isPlainObject(value)) throw badRequest("request body must be a JSON object");
  return value;
}

/** The object's metadata, created when missing. */
function metadataOf(obj: JsonObject): JsonObject {
  if (!isPlainObject(obj.metadata)) obj.metadata = {};
  return obj.metadata as JsonObject;
}

function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ""}/${name}`;
}

// ------------------------------------------------------------------------------------------------
// Patches

/** RFC 7386 JSON merge patch. Returns a new value; `target` is not modified. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return cloneJson(patch);
  const result: JsonObject = isPlainObject(target) ? cloneJson(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

type Container = JsonObject | unknown[];

function parsePointer(pointer: unknown): string[] {
  if (pointer === "") return [];
  if (typeof pointer !== "string" || !pointer.startsWith("/")) throw badRequest(`invalid JSON pointer ${String(pointer)}`);
  return pointer.slice(1).split("/").map((token) => token.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function arrayIndex(token: string, max: number): number {
  const index = /^(0|[1-9][0-9]*)$/.test(token) ? Number(token) : NaN;
  if (!(index <= max)) throw invalid(`JSON patch: array index "${token}" out of range`);
  return index;
}

/** Walks to the container holding the last token of `path` (tokens include the wrapper's "doc"). */
function parentOf(root: JsonObject, path: string[]): { parent: Container; key: string } {
  let node: unknown = root;
  for (const token of path.slice(0, -1)) {
    if (Array.isArray(node)) node = node[arrayIndex(token, node.length - 1)];
    else if (isPlainObject(node) && Object.hasOwn(node, token)) node = node[token];
    else throw invalid(`JSON patch: path segment "${token}" does not exist`);
  }
  if (!Array.isArray(node) && !isPlainObject(node)) throw invalid("JSON patch: path does not lead into an object or array");
  return { parent: node, key: path[path.length - 1] };
}

function valueAt(root: JsonObject, path: string[]): unknown {
  const { parent, key } = parentOf(root, path);
  if (Array.isArray(parent)) return parent[arrayIndex(key, parent.length - 1)];
  if (!Object.hasOwn(parent, key)) throw invalid(`JSON patch: "${key}" does not exist`);
  return parent[key];
}

function addAt(root: JsonObject, path: string[], value: unknown): void {
  const { parent, key } = parentOf(root, path);
  if (!Array.isArray(parent)) parent[key] = value;
  else if (key === "-") parent.push(value);
  else parent.splice(arrayIndex(key, parent.length), 0, value);
}

function removeAt(root: JsonObject, path: string[]): unknown {
  const value = valueAt(root, path);
  const { parent, key } = parentOf(root, path);
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete parent[key];
  return value;
}

function applyOperation(root: JsonObject, operation: unknown): void {
  if (!isPlainObject(operation) || typeof operation.op !== "string") {
    throw badRequest("JSON patch operations must be objects with an op");
  }
  // Pointers are resolved inside a wrapper object so that "" (the whole document) needs no special case.
  const path = ["doc", ...parsePointer(operation.path)];
  const from = () => ["doc", ...parsePointer(operation.from)];
  const value = () => {
    if (!Object.hasOwn(operation, "value")) throw badRequest(`JSON patch ${String(operation.op)} needs a value`);
    return operation.value;
  };
  switch (operation.op) {
    case "add":
      return addAt(root, path, value());
    case "remove":
      removeAt(root, path);
      return;
    case "replace":
      valueAt(root, path);
      removeAt(root, path);
      return addAt(root, path, value());
    case "move":
      return addAt(root, path, removeAt(root, from()));
    case "copy":
      return addAt(root, path, cloneJson(valueAt(root, from())));
    case "test":
      if (!isDeepStrictEqual(valueAt(root, path), value())) {
        throw invalid(`JSON patch: test operation failed at "${String(operation.path)}"`);
      }
      return;
    default:
      throw badRequest(`JSON patch: unsupported operation "${operation.op}"`);
  }
}

/** RFC 6902 JSON patch. Returns a new object; `document` is not modified. */
function applyJsonPatch(document: JsonObject, operations: unknown): JsonObject {
  if (!Array.isArray(operations)) throw badRequest("a JSON patch must be an array of operations");
  const root: JsonObject = { doc: cloneJson(document) };
  for (const operation of operations) applyOperation(root, operation);
  if (!isPlainObject(root.doc)) throw invalid("JSON patch must leave an object");
  return root.doc;
}

// ------------------------------------------------------------------------------------------------
// Label and field selectors

type Predicate = (obj: StoredObject) => boolean;

const LABEL_KEY = String.raw`[A-Za-z0-9][-A-Za-z0-9_./]*`;
const LABEL_VALUE = String.raw`[-A-Za-z0-9_.]*`;
const LABEL_NOT_EXISTS = new RegExp(String.raw`^!\s*(${LABEL_KEY})$`);
const LABEL_EXISTS = new RegExp(`^(${LABEL_KEY})$`);
const LABEL_EQUALITY = new RegExp(String.raw`^(${LABEL_KEY})\s*(==|=|!=)\s*(${LABEL_VALUE})$`);
const LABEL_SET = new RegExp(String.raw`^(${LABEL_KEY})\s+(in|notin)\s*\(([^)]*)\)$`);
const FIELD_REQUIREMENT = /^([A-Za-z0-9_.-]+)\s*(==|=|!=)\s*(.*)$/;

/** Splits on commas outside parentheses: "a in (x,y),b" → ["a in (x,y)", "b"]. */
function splitRequirements(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of selector) {
    if (char === "," && depth === 0) {
      parts.push(current);
      current = "";
      continue;
    }
    if (char === "(") depth++;
    if (char === ")") depth--;
    current += char;
  }
  parts.push(current);
  return parts.map((part) => part.trim()).filter((part) => part !== "");
}

function parseLabelRequirement(text: string): (labels: Record<string, string>) => boolean {
  let match: RegExpExecArray | null;
  if ((match = LABEL_NOT_EXISTS.exec(text))) {
    const key = match[1];
    return (labels) => !Object.hasOwn(labels, key);
  }
  if ((match = LABEL_EXISTS.exec(text))) {
    const key = match[1];
    return (labels) => Object.hasOwn(labels, key);
  }
  if ((match = LABEL_EQUALITY.exec(text))) {
    const [, key, operator, value] = match;
    return (labels) => (labels[key] === value) === (operator !== "!=");
  }
  if ((match = LABEL_SET.exec(text))) {
    const [, key, operator, list] = match;
    const values = new Set(list.split(",").map((value) => value.trim()));
    return (labels) => (Object.hasOwn(labels, key) && values.has(labels[key])) === (operator === "in");
  }
  throw badRequest(`unable to parse label selector requirement "${text}"`);
}

function parseLabelSelector(selector: string): Predicate {
  const requirements = splitRequirements(selector).map(parseLabelRequirement);
  return (obj) => requirements.every((matches) => matches(obj.metadata.labels ?? {}));
}

/** The value of a dotted field path as a field selector sees it; missing fields read as "". */
function fieldValue(obj: StoredObject, path: string): string {
  let node: unknown = obj;
  for (const key of path.split(".")) node = isPlainObject(node) ? node[key] : undefined;
  if (node === undefined || node === null) return "";
  return typeof node === "object" ? JSON.stringify(node) : String(node);
}

/** Any dotted path is accepted (real servers allow only a few fields per resource). */
function parseFieldSelector(selector: string): Predicate {
  const requirements = splitRequirements(selector).map((text): Predicate => {
    const match = FIELD_REQUIREMENT.exec(text);
    if (!match) throw badRequest(`invalid field selector requirement "${text}"`);
    const [, field, operator, value] = match;
    return (obj) => (fieldValue(obj, field) === value) === (operator !== "!=");
  });
  return (obj) => requirements.every((matches) => matches(obj));
}

/** Label and field selectors of a list or watch request, combined. */
function selectorOf(query: Record<string, string>): Predicate {
  const byLabels = parseLabelSelector(query.labelSelector ?? "");
  const byFields = parseFieldSelector(query.fieldSelector ?? "");
  return (obj) => byLabels(obj) && byFields(obj);
}

// ------------------------------------------------------------------------------------------------
// Object store with a global resourceVersion and an event history for watches

type EventType = "ADDED" | "MODIFIED" | "DELETED";

interface StoreEvent {
  revision: number;
  resource: string;
  type: EventType;
  /** The object after the change; for DELETED, the last state stamped with the deletion's resourceVersion. */
  object: StoredObject;
  /** The object before the change (absent for ADDED). */
  previous?: StoredObject;
}

/** Everything but metadata and status, to decide whether a write bumps metadata.generation. */
function specOf(obj: JsonObject): JsonObject {
  const { metadata: _metadata, status: _status, ...rest } = obj;
  return rest;
}

function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

function encodeContinue(rv: number, after: string): string {
  return Buffer.from(JSON.stringify({ rv, after })).toString("base64url");
}

function decodeContinue(token: string): { rv: number; after: string } {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { rv?: unknown; after?: unknown };
    if (typeof parsed.rv === "number" && typeof parsed.after === "string") return { rv: parsed.rv, after: parsed.after };
  } catch {
    // fall through
  }
  throw badRequest("continue key is not valid");
}

/**
 * A managedFields entry as kube-apiserver records one on every write: the manager, the operation and a
 * FieldsV1 set mirroring the object's fields (so objects carry managedFields of a realistic size, which
 * clients must not keep).
 */
function managedFieldsEntry(obj: StoredObject, operation: "Create" | "Update", manager: string): JsonObject {
  const fields = (v: unknown): JsonObject => {
    if (!isPlainObject(v)) return {};
    const out: JsonObject = {};
    for (const [k, child] of Object.entries(v)) {
      if (k === "managedFields" || k === "resourceVersion" || k === "uid" || k === "creationTimestamp" || k === "generation") continue;
      out[`f:${k}`] = Array.isArray(child) ? { ".": {} } : fields(child);
    }
    return out;
  };
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return {
    manager,
    operation,
    apiVersion: obj.apiVersion,
    time: nowTimestamp(),
    fieldsType: "FieldsV1",
    fieldsV1: fields(rest),
  };
}

class ObjectStore {
  private readonly buckets = new Map<string, Map<string, StoredObject>>();
  /** list() in key order, per resource, until the next change of that resource. */
  private readonly sorted = new Map<string, StoredObject[]>();
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private history: StoreEvent[] = [];
  private revision = 1;
  /** The oldest resourceVersion a watch may start from: every later event is still in the history. */
  private watchableFrom = 1;

  /** Field manager recorded in managedFields for the write being committed. */
  manager = "fake-apiserver";
  /** With opaque resourceVersions: revision → its token, and back. */
  private readonly tokens?: { byRevision: Map<number, string>; byToken: Map<string, number> };

  constructor(
    private readonly historyLimit: number,
    opaque = false,
  ) {
    if (opaque) this.tokens = { byRevision: new Map(), byToken: new Map() };
  }

  get resourceVersion(): string {
    return this.versionOf(this.revision);
  }

  /** The current revision, as a number (the fake's own ordering; clients only see versionOf). */
  get currentRevision(): number {
    return this.revision;
  }

  /** The resourceVersion clients see for a revision: the integer, or its opaque token. */
  versionOf(revision: number): string {
    if (!this.tokens) return String(revision);
    let token = this.tokens.byRevision.get(revision);
    if (token === undefined) {
      const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
      do token = Array.from({ length: 12 }, () => alphabet[Math.floor(Math.random() * 32)]).join("");
      while (this.tokens.byToken.has(token));
      this.tokens.byRevision.set(revision, token);
      this.tokens.byToken.set(token, revision);
    }
    return token;
  }

  /** The revision a client's resourceVersion names; undefined when it names none. */
  revisionOf(version: string): number | undefined {
    if (this.tokens) return this.tokens.byToken.get(version);
    const n = Number(version);
    return Number.isInteger(n) ? n : undefined;
  }

  /** The stored object itself; callers must not modify it. */
  find(id: string, namespace: string | undefined, name: string): StoredObject | undefined {
    return this.bucket(id).get(objectKey(namespace, name));
  }

  /** Stored objects (not copies) in key order, optionally of one namespace. */
  list(id: string, namespace?: string): StoredObject[] {
    let sorted = this.sorted.get(id);
    if (!sorted) {
      sorted = [...this.bucket(id).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, obj]) => obj);
      this.sorted.set(id, sorted);
    }
    return namespace === undefined ? [...sorted] : sorted.filter((obj) => obj.metadata.namespace === namespace);
  }

  /** Creates `input` (name and namespace already set, or generateName) with fresh uid and timestamps. */
  create(type: ResourceType, input: JsonObject): StoredObject {
    const obj = cloneJson(input);
    const metadata = metadataOf(obj);
    if (!metadata.name && typeof metadata.generateName === "string" && metadata.generateName) {
      metadata.name = metadata.generateName + Math.random().toString(36).slice(2, 7);
    }
    if (typeof metadata.name !== "string" || !metadata.name) throw invalid("metadata.name or generateName is required");
    const namespace = metadata.namespace as string | undefined;
    if (this.find(resourceId(type), namespace, metadata.name)) throw alreadyExists(resourceId(type), metadata.name);
    Object.assign(metadata, { uid: randomUUID(), creationTimestamp: nowTimestamp(), generation: 1 });
    return this.commit(type, obj, "ADDED");
  }

  /** Replaces an existing object, keeping its uid and creationTimestamp. */
  update(type: ResourceType, input: JsonObject): StoredObject {
    const obj = cloneJson(input);
    const metadata = metadataOf(obj);
    const previous = this.find(resourceId(type), metadata.namespace as string | undefined, String(metadata.name));
    if (!previous) throw objectNotFound(resourceId(type), String(metadata.name));
    // A spec change bumps generation, and so does the start of a deletion (rest.BeforeDelete).
    const bump = !isDeepStrictEqual(specOf(previous), specOf(obj)) || (!previous.metadata.deletionTimestamp && !!metadata.deletionTimestamp);
    Object.assign(metadata, {
      uid: previous.metadata.uid,
      creationTimestamp: previous.metadata.creationTimestamp,
      generation: previous.metadata.generation + (bump ? 1 : 0),
    });
    return this.commit(type, obj, "MODIFIED", previous);
  }

  delete(type: ResourceType, namespace: string | undefined, name: string): StoredObject {
    const id = resourceId(type);
    const previous = this.find(id, namespace, name);
    if (!previous) throw objectNotFound(id, name);
    this.bucket(id).delete(objectKey(namespace, name));
    this.sorted.delete(id);
    const deleted = cloneJson(previous);
    deleted.metadata.resourceVersion = this.versionOf(++this.revision);
    this.record({ revision: this.revision, resource: id, type: "DELETED", object: deleted, previous });
    return deleted;
  }

  /** Whether a watch (or a list continuation) may still start from `revision`. */
  watchable(revision: number): boolean {
    return revision >= this.watchableFrom && revision <= this.revision;
  }

  /** Events after `revision`, or undefined when that revision is no longer (or not yet) watchable. */
  eventsAfter(revision: number): StoreEvent[] | undefined {
    if (revision < this.watchableFrom || revision > this.revision) return undefined;
    return this.history.filter((event) => event.revision > revision);
  }

  /** Forgets the event history, so watches from any earlier resourceVersion get 410 Gone. */
  compact(): void {
    this.history = [];
    this.watchableFrom = this.revision;
  }

  subscribe(listener: (event: StoreEvent) => void): void {
    this.listeners.add(listener);
  }

  private bucket(id: string): Map<string, StoredObject> {
    let bucket = this.buckets.get(id);
    if (!bucket) this.buckets.set(id, (bucket = new Map()));
    return bucket;
  }

  private commit(type: ResourceType, obj: JsonObject, eventType: EventType, previous?: StoredObject): StoredObject {
    const { apiVersion: _apiVersion, kind: _kind, ...fields } = obj;
    const stored = { apiVersion: apiVersionOf(type), kind: type.kind, ...fields } as StoredObject;
    stored.metadata.resourceVersion = this.versionOf(++this.revision);
    stored.metadata.managedFields = [managedFieldsEntry(stored, eventType === "ADDED" ? "Create" : "Update", this.manager)];
    this.sorted.delete(resourceId(type));
    this.bucket(resourceId(type)).set(objectKey(stored.metadata.namespace, stored.metadata.name), stored);
    this.record({ revision: this.revision, resource: resourceId(type), type: eventType, object: stored, previous });
    return stored;
  }

  private record(event: StoreEvent): void {
    this.history.push(event);
    if (this.history.length > this.historyLimit) this.watchableFrom = this.history.shift()!.revision;
    for (const listener of this.listeners) listener(event);
  }
}

// ------------------------------------------------------------------------------------------------
// HTTP server

/** What a resource URL addresses. */
interface Target {
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: "status";
}

interface WatchStream {
  type: ResourceType;
  /** Whether the watch's namespace, name and selectors admit an object. */
  admits: Predicate;
  res: ServerResponse;
  /** Whether the client asked for BOOKMARK events. */
  bookmarks: boolean;
  /** The last revision the backlog covered: later (delayed) deliveries skip what it already sent. */
  sentRevision: number;
}

interface WatchEvent {
  type: EventType;
  object: StoredObject;
}

interface ApiGroup {
  name: string;
  versions: { groupVersion: string; version: string }[];
  preferredVersion: { groupVersion: string; version: string };
}

const PATCH_TYPES = {
  json: "application/json-patch+json",
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
};

const RESOURCE_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"];
const STATUS_VERBS = ["get", "patch", "update"];

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  if (res.destroyed) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, err: unknown): void {
  const error = err instanceof StatusError ? err : new StatusError(500, `fake apiserver: ${String(err)}`);
  sendJson(res, error.code, error.toStatus());
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Translates a store event for one watch: objects entering its selection are ADDED, leaving it DELETED. */
function eventForWatch(event: StoreEvent, admits: Predicate): WatchEvent | undefined {
  const wasVisible = event.previous !== undefined && admits(event.previous);
  const isVisible = event.type !== "DELETED" && admits(event.object);
  if (isVisible) return { type: wasVisible ? "MODIFIED" : "ADDED", object: event.object };
  if (wasVisible) return { type: "DELETED", object: event.object };
  return undefined;
}

export class FakeApiServer {
  /** Every request received, in order. Tests may clear it with `requests.length = 0`. */
  readonly requests: RecordedRequest[] = [];
  private readonly types: ResourceType[] = [];
  private readonly store: ObjectStore;
  private readonly watches = new Set<WatchStream>();
  /** Watch connections kept open but never written to again (silenceWatches). */
  private readonly silenced = new Set<ServerResponse>();
  private faults: (InjectedFault & { remaining: number; hits: number })[] = [];
  private latencyMs = 0;
  private writeLatency: number | (() => number) = 0;
  private eventDelay: (resource: string) => number = () => 0;
  /** Watch events held back per resource (holdEvents), in order. */
  private readonly heldEvents = new Map<string, StoreEvent[]>();
  private readonly bookmarkIntervalMs: number;
  private readonly maxWatchMs: number;
  /** Resolvers of requests waiting out the latency, released early by stop(). */
  private readonly delayed = new Set<() => void>();
  private stopped = false;
  /**
   * TokenReview (authentication.k8s.io/v1) and SubjectAccessReview (authorization.k8s.io/v1), create only, as
   * on the real server: `tokens` maps a bearer token to its user (others are not authenticated), `grants` lists
   * what is allowed (nothing else is).
   */
  readonly access: { tokens: Map<string, { username: string; groups?: string[] }>; grants: AccessGrant[] } = {
    tokens: new Map(),
    grants: [],
  };

  /** services/proxy targets: `namespace/name:port` (port as the path spells it) → base URL (proxyService). */
  private readonly serviceProxies = new Map<string, string>();

  private constructor(
    private readonly http: Server,
    options: FakeApiServerOptions,
  ) {
    this.store = new ObjectStore(options.historyLimit ?? 1000, options.opaqueResourceVersions ?? false);
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 60_000;
    this.maxWatchMs = options.maxWatchMs ?? 1_800_000;
    this.store.subscribe((event) => this.broadcast(event));
    for (const type of options.resources ?? DEFAULT_RESOURCES) this.registerResource(type);
    http.on("request", (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res));
  }

  /** Starts a server on 127.0.0.1 with an ephemeral port. */
  static async start(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const http = createServer();
    const server = new FakeApiServer(http, options);
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(0, "127.0.0.1", () => resolve());
    });
    return server;
  }

  /** Base URL, e.g. http://127.0.0.1:40123. */
  get url(): string {
    const { port } = this.http.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** The current global resourceVersion. */
  get resourceVersion(): string {
    return this.store.resourceVersion;
  }

  get openWatchCount(): number {
    return this.watches.size;
  }

  /** Destroys open watches and connections, then stops listening. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const release of this.delayed) release();
    this.dropWatches();
    for (const res of this.silenced) res.destroy();
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  /** Serves another resource type (objects of the same plural and group share one store across versions). */
  registerResource(type: ResourceType): void {
    const known = this.lookup(type.group, type.version, type.plural);
    if (known) this.types.splice(this.types.indexOf(known), 1);
    this.types.push({ ...type });
  }

  // ---- direct store access (emits watch events like API writes) -------------------------------
  // `resource` is a resourceId: "pods", "nodes", "resourcereservations.sparkscheduler.palantir.com", ...

  /**
   * Creates or replaces an object, bypassing API rules (status and deletion metadata are stored as given);
   * returns a copy. An object being deleted whose last finalizer this removes goes, as through the API.
   */
  put(resource: string, obj: object): StoredObject {
    const type = this.typeById(resource);
    const input = cloneJson(obj) as JsonObject;
    const metadata = metadataOf(input);
    delete metadata.resourceVersion;
    if (type.namespaced) metadata.namespace ??= "default";
    else delete metadata.namespace;
    const namespace = metadata.namespace as string | undefined;
    const exists = typeof metadata.name === "string" && this.store.find(resource, namespace, metadata.name);
    return cloneJson(exists ? this.finalizeIfDone(type, this.store.update(type, input)) : this.store.create(type, input));
  }

  /** A copy of the object, or undefined. Namespaced resources default to namespace "default". */
  get(resource: string, name: string, namespace?: string): StoredObject | undefined {
    const found = this.store.find(resource, this.namespaceFor(resource, namespace), name);
    return found && cloneJson(found);
  }

  /** Copies of all objects of a resource, optionally of one namespace, ordered by namespace and name. */
  list(resource: string, namespace?: string): StoredObject[] {
    this.typeById(resource);
    return cloneJson(this.store.list(resource, namespace));
  }

  /**
   * Finishes graceful deletions, as the kubelet does once a Terminating pod's containers have stopped (a delete
   * with gracePeriodSeconds=0) and the garbage collector does for the `orphan` and `foregroundDeletion`
   * finalizers it owns (the fake tracks no dependents): every object being deleted (of `resource`, or of every
   * resource; only `name` in `namespace` when given) goes (DELETED), unless other finalizers hold it: it then
   * stays with deletionGracePeriodSeconds 0 until they are removed. Returns what went.
   */
  finishTerminating(resource?: string, name?: string, namespace?: string): StoredObject[] {
    const gone: StoredObject[] = [];
    for (const type of this.types) {
      const id = resourceId(type);
      if (resource !== undefined && id !== resource) continue;
      if (this.types.find((t) => resourceId(t) === id) !== type) continue;
      const ns = name === undefined ? undefined : this.namespaceFor(id, namespace);
      for (const obj of this.store.list(id)) {
        if (!obj.metadata.deletionTimestamp) continue;
        if (name !== undefined && (obj.metadata.name !== name || obj.metadata.namespace !== ns)) continue;
        const next = cloneJson(obj);
        const finalizers = Array.isArray(next.metadata.finalizers) ? (next.metadata.finalizers as string[]) : [];
        const kept = finalizers.filter((f) => f !== "orphan" && f !== "foregroundDeletion");
        if (kept.length === 0) {
          gone.push(cloneJson(this.store.delete(type, obj.metadata.namespace, obj.metadata.name)));
          continue;
        }
        if (kept.length === finalizers.length && next.metadata.deletionGracePeriodSeconds === 0) continue;
        next.metadata.finalizers = kept;
        next.metadata.deletionGracePeriodSeconds = 0;
        this.store.update(type, next);
      }
    }
    return gone;
  }

  /** Objects being deleted (deletionTimestamp set) of a resource, e.g. Terminating pods. */
  terminating(resource: string): StoredObject[] {
    return this.list(resource).filter((obj) => obj.metadata.deletionTimestamp);
  }

  /**
   * Deletes an object at once, as a force delete (gracePeriodSeconds=0) of an object without finalizers does;
   * returns it, or undefined when it did not exist.
   */
  remove(resource: string, name: string, namespace?: string): StoredObject | undefined {
    const type = this.typeById(resource);
    namespace = this.namespaceFor(resource, namespace);
    return this.store.find(resource, namespace, name) ? this.store.delete(type, namespace, name) : undefined;
  }

  // ---- fault injection ------------------------------------------------------------------------

  /** Fails the next `times` requests matching `spec`; the first matching active fault wins. */
  injectFault(spec: FaultSpec): InjectedFault {
    const fault = {
      spec,
      remaining: spec.times ?? 1,
      hits: 0,
      cancel: () => {
        this.faults = this.faults.filter((f) => f !== fault);
      },
    };
    this.faults.push(fault);
    return fault;
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Delays every request (including the start of watches) by `ms`. */
  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  /**
   * Delays every write request (any method but GET) by `ms`, or by what `ms()` returns for each request (so
   * writes can overtake one another), on top of `setLatency`.
   */
  setWriteLatency(ms: number | (() => number)): void {
    this.writeLatency = ms;
  }

  /**
   * Delays every watch event of a resource by `ms` after its write (a function gives each resource its own
   * delay, for skew between resources); events of one resource keep their order. Lists are not delayed, so a
   * write is visible to GET before its watch event arrives, as with a lagging watch cache.
   */
  setEventDelay(ms: number | ((resource: string) => number)): void {
    this.eventDelay = typeof ms === "function" ? ms : () => ms;
  }

  /**
   * Holds back the watch events of a resource (writes, GET and lists are not held back), as a watch cache
   * lagging behind etcd: `release(n)` delivers the first `n` held events (all by default) to the open watches,
   * in order, and returns how many it delivered; `resume()` releases all and stops holding. A watch opened
   * meanwhile from a resourceVersion replays the history, held events included.
   */
  holdEvents(resource: string): { release(n?: number): number; readonly pending: number; resume(): void } {
    this.typeById(resource);
    const queue: StoreEvent[] = [];
    this.heldEvents.set(resource, queue);
    const release = (n = Infinity) => {
      const out = queue.splice(0, Math.min(n, queue.length));
      for (const event of out) this.deliver(event);
      return out.length;
    };
    return {
      release,
      get pending() {
        return queue.length;
      },
      resume: () => {
        release();
        if (this.heldEvents.get(resource) === queue) this.heldEvents.delete(resource);
      },
    };
  }

  /**
   * Stops writing to open watches without closing them: the connection stays up and silent, as a half-open
   * TCP connection does. Clients must notice on their own.
   */
  silenceWatches(): void {
    for (const watch of this.watches) {
      this.watches.delete(watch);
      this.silenced.add(watch.res);
    }
  }

  /** Destroys every open watch connection mid-stream; clients see a network error. */
  dropWatches(): void {
    for (const watch of this.watches) watch.res.destroy();
    for (const res of this.silenced) res.destroy();
    this.silenced.clear();
  }

  /** Ends every open watch cleanly, as a real apiserver does on watch timeout; clients re-watch. */
  endWatches(): void {
    for (const watch of this.watches) watch.res.end();
  }

  /** Forgets the event history: watches resuming from any earlier resourceVersion get 410 Gone. */
  compactHistory(): void {
    this.store.compact();
  }

  // ---- request handling -----------------------------------------------------------------------

  /**
   * Serves `/api/v1/namespaces/NS/services/NAME:PORT/proxy/...` by forwarding to `targetUrl`, as the real API
   * server proxies to a service's endpoints: the caller's bearer token must be in `access.tokens` (else 401), its
   * user needs a grant of the method's verb (GET get, POST create, PUT update, PATCH patch, DELETE delete) on
   * resource `services/proxy` of group "" (else 403), and the Authorization header is not forwarded (the real
   * server removes it once it has authenticated the caller). Bodies are streamed both ways.
   */
  proxyService(namespace: string, name: string, port: string, targetUrl: string): void {
    this.serviceProxies.set(`${namespace}/${name}:${port}`, targetUrl.replace(/\/+$/, ""));
  }

  /** True when the request was a services/proxy call (answered or forwarded here). */
  private proxy(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)\/proxy(\/.*)?$/.exec(url.pathname);
    if (!m) return false;
    const [, namespace, service, rest = "/"] = m;
    const method = req.method ?? "GET";
    this.requests.push({ method, path: url.pathname, query: Object.fromEntries(url.searchParams), body: "", watch: false });
    const verbs: Record<string, string> = { GET: "get", HEAD: "get", POST: "create", PUT: "update", PATCH: "patch", DELETE: "delete" };
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
    const user = token === undefined ? undefined : this.access.tokens.get(token);
    // A refusal is sent once the request body is read: a client still writing it would otherwise get EPIPE
    // instead of the answer (kube-apiserver's Go server reads unread bodies before closing, so clients see it).
    const refuse = (err: StatusError) => {
      req.on("end", () => sendError(res, err));
      req.resume();
      return true;
    };
    if (!user) return refuse(new StatusError(401, "Unauthorized"));
    const verb = verbs[method] ?? method.toLowerCase();
    if (!this.access.grants.some((g) => g.user === user.username && g.verb === verb && g.group === "" && g.resource === "services/proxy")) {
      const message = `services "${service}" is forbidden: User "${user.username}" cannot ${verb} resource "services/proxy" in API group "" in the namespace "${namespace}"`;
      return refuse(new StatusError(403, message));
    }
    const target = this.serviceProxies.get(`${namespace}/${service}`);
    if (target === undefined) return refuse(new StatusError(404, `services "${service.split(":")[0]}" not found`));
    const headers = { ...req.headers };
    delete headers.authorization;
    delete headers.host;
    const upstream = httpRequest(`${target}${rest}${url.search}`, { method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on("error", (err) => sendError(res, new StatusError(503, `error trying to reach service: ${err.message}`)));
    req.pipe(upstream);
    return true;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? "/", "http://fake");
      if (this.proxy(req, res, url)) return;
      const query = Object.fromEntries(url.searchParams);
      const request: RecordedRequest = {
        method: req.method ?? "GET",
        path: url.pathname,
        query,
        contentType: req.headers["content-type"]?.split(";")[0].trim().toLowerCase(),
        body: await readBody(req),
        watch: query.watch === "true" || query.watch === "1",
      };
      this.requests.push(request);
      await this.delay(this.latencyMs);
      if (request.method !== "GET") {
        await this.delay(typeof this.writeLatency === "function" ? this.writeLatency() : this.writeLatency);
      }
      if (this.stopped) return;
      const fault = this.takeFault(request);
      if (fault) this.sendFault(res, fault.spec);
      else {
        // managedFields name the writer: the fieldManager asked for, else the client's user agent.
        this.store.manager = query.fieldManager ?? req.headers["user-agent"]?.split("/")[0] ?? "unknown";
        try {
          this.route(request, res);
        } finally {
          this.store.manager = "fake-apiserver";
        }
      }
    } catch (err) {
      sendError(res, err);
    }
  }

  private delay(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const release = () => {
        clearTimeout(timer);
        this.delayed.delete(release);
        resolve();
      };
      const timer = setTimeout(release, ms);
      this.delayed.add(release);
    });
  }

  private takeFault(request: RecordedRequest): InjectedFault | undefined {
    const fault = this.faults.find(
      ({ spec, remaining }) =>
        remaining > 0 &&
        (spec.method === undefined || spec.method.toUpperCase() === request.method) &&
        (spec.pathIncludes === undefined || request.path.includes(spec.pathIncludes)) &&
        (spec.watch === undefined || spec.watch === request.watch) &&
        (spec.queryHas === undefined || request.query[spec.queryHas] !== undefined),
    );
    if (!fault) return undefined;
    fault.hits++;
    if (--fault.remaining <= 0) fault.cancel();
    return fault;
  }

  private sendFault(res: ServerResponse, spec: FaultSpec): void {
    if (spec.status === 0) res.destroy();
    else if (spec.body !== undefined) sendJson(res, spec.status, spec.body);
    else sendError(res, new StatusError(spec.status, `injected fault: HTTP ${spec.status}`));
  }

  private route(request: RecordedRequest, res: ServerResponse): void {
    const review = this.review(request);
    if (review) return sendJson(res, 201, review);
    const discovery = this.discovery(request.path);
    if (discovery) {
      if (request.method !== "GET") throw new StatusError(405, `${request.method} is not allowed on ${request.path}`);
      return sendJson(res, 200, discovery);
    }
    const target = this.resolve(request.path);
    const { method } = request;
    if (method === "GET" && request.watch) return this.watch(target, request, res);
    if (method === "GET" && target.name === undefined) return sendJson(res, 200, this.listBody(target, request));
    if (method === "GET") return sendJson(res, 200, this.present(target.type, this.require(target)));
    if (method === "POST" && target.name === undefined) return sendJson(res, 201, this.create(target, request));
    if (method === "PUT" && target.name !== undefined) return sendJson(res, 200, this.replace(target, request));
    if (method === "PATCH" && target.name !== undefined) {
      const { code, object } = this.patch(target, request);
      return sendJson(res, code, object);
    }
    if (method === "DELETE" && target.name !== undefined && !target.subresource) {
      return sendJson(res, 200, this.delete(target, request));
    }
    throw new StatusError(405, `${method} is not allowed on ${request.path}`);
  }

  // ---- access reviews -------------------------------------------------------------------------

  /** The answered TokenReview or SubjectAccessReview for a POST to their paths; undefined for other requests. */
  private review(request: RecordedRequest): JsonObject | undefined {
    if (request.method !== "POST") return undefined;
    if (request.path === "/apis/authentication.k8s.io/v1/tokenreviews") {
      const review = parseJsonObject(request.body);
      const user = this.access.tokens.get(String((review.spec as JsonObject | undefined)?.token ?? ""));
      const status = user ? { authenticated: true, user: { username: user.username, groups: user.groups ?? [] } } : { authenticated: false };
      return { ...review, status };
    }
    if (request.path === "/apis/authorization.k8s.io/v1/subjectaccessreviews") {
      const review = parseJsonObject(request.body);
      const spec = (review.spec ?? {}) as JsonObject;
      const attrs = (spec.resourceAttributes ?? {}) as JsonObject;
      const allowed = this.access.grants.some(
        (g) => g.user === spec.user && g.verb === attrs.verb && g.group === (attrs.group ?? "") && g.resource === attrs.resource,
      );
      return { ...review, status: allowed ? { allowed: true, reason: "granted by the fake API server" } : { allowed: false } };
    }
    return undefined;
  }

  // ---- discovery ------------------------------------------------------------------------------

  /** The discovery document for /api, /apis, /api/v1, /apis/<g> or /apis/<g>/<v>; undefined for other paths. */
  private discovery(path: string): JsonObject | undefined {
    const segments = path.split("/").filter(Boolean);
    if (segments[0] === "api" && segments.length === 1) {
      return { kind: "APIVersions", apiVersion: "v1", versions: ["v1"], serverAddressByClientCIDRs: [] };
    }
    if (segments[0] === "api" && segments.length === 2) return this.resourceList("", segments[1]);
    if (segments[0] !== "apis" || segments.length > 3) return undefined;
    const groups = this.groups();
    if (segments.length === 1) return { kind: "APIGroupList", apiVersion: "v1", groups };
    if (segments.length === 3) return this.resourceList(segments[1], segments[2]);
    const group = groups.find((g) => g.name === segments[1]);
    if (!group) throw notFound();
    return { kind: "APIGroup", apiVersion: "v1", ...group };
  }

  private groups(): ApiGroup[] {
    const versionsByGroup = new Map<string, string[]>();
    for (const { group, version } of this.types) {
      if (!group) continue;
      const versions = versionsByGroup.get(group) ?? [];
      if (!versions.includes(version)) versions.push(version);
      versionsByGroup.set(group, versions);
    }
    return [...versionsByGroup].map(([name, versions]) => {
      const entries = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
      return { name, versions: entries, preferredVersion: entries[0] };
    });
  }

  private resourceList(group: string, version: string): JsonObject {
    const types = this.types.filter((t) => t.group === group && t.version === version);
    if (types.length === 0) throw notFound();
    const resources = types.flatMap((t) => {
      const base = { namespaced: t.namespaced, kind: t.kind };
      const main = { name: t.plural, singularName: t.kind.toLowerCase(), verbs: RESOURCE_VERBS, ...base };
      const status = { name: `${t.plural}/status`, singularName: "", verbs: STATUS_VERBS, ...base };
      return t.statusSubresource ? [main, status] : [main];
    });
    return { kind: "APIResourceList", apiVersion: "v1", groupVersion: apiVersionOf(types[0]), resources };
  }

  // ---- resource paths -------------------------------------------------------------------------

  private lookup(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.find((t) => t.group === group && t.version === version && t.plural === plural);
  }

  private typeById(id: string): ResourceType {
    const type = this.types.find((t) => resourceId(t) === id);
    if (!type) throw new Error(`fake apiserver: unknown resource "${id}"; known: ${this.types.map(resourceId).join(", ")}`);
    return type;
  }

  private namespaceFor(id: string, namespace: string | undefined): string | undefined {
    return this.typeById(id).namespaced ? (namespace ?? "default") : undefined;
  }

  /**
   * Parses /api/v1/[namespaces/<ns>/]<plural>[/<name>[/status]] and the /apis/<group>/<version>/... form.
   * "namespaces/<x>/<y>" is a namespaced path only when <y> is a namespaced resource, so that
   * /api/v1/namespaces/<name>/status still addresses a Namespace.
   */
  private resolve(path: string): Target {
    let segments: string[];
    try {
      segments = path.split("/").filter(Boolean).map(decodeURIComponent);
    } catch {
      throw badRequest(`malformed path ${path}`);
    }
    const [root, ...tail] = segments;
    if (root !== "api" && root !== "apis") throw notFound();
    const group = root === "api" ? "" : tail.shift();
    const version = tail.shift();
    const rest = tail;
    if (group === undefined || version === undefined) throw notFound();
    if (rest[0] === "namespaces" && rest.length >= 3) {
      const type = this.lookup(group, version, rest[2]);
      if (type?.namespaced) return this.target(type, rest[1], rest.slice(3));
    }
    const type = rest.length > 0 ? this.lookup(group, version, rest[0]) : undefined;
    if (!type || (type.namespaced && rest.length > 1)) throw notFound();
    return this.target(type, undefined, rest.slice(1));
  }

  private target(type: ResourceType, namespace: string | undefined, [name, subresource, ...extra]: string[]): Target {
    const subresourceOk = subresource === undefined || (subresource === "status" && type.statusSubresource);
    if (!subresourceOk || extra.length > 0) throw notFound();
    return { type, namespace, name, subresource: subresource === undefined ? undefined : "status" };
  }

  // ---- verbs ----------------------------------------------------------------------------------

  /** The object as served at the requested version. */
  private present(type: ResourceType, obj: StoredObject): StoredObject {
    const apiVersion = apiVersionOf(type);
    return obj.apiVersion === apiVersion ? obj : { ...obj, apiVersion };
  }

  private require(target: Target): StoredObject {
    const id = resourceId(target.type);
    const found = this.store.find(id, target.namespace, target.name!);
    if (!found) throw objectNotFound(id, target.name!);
    return found;
  }

  /**
   * A list, paginated as kube-apiserver does: `limit` caps the items and a `continue` token resumes after
   * the last key at the first page's resourceVersion (410 Expired once that version left the history; the
   * fake serves the current objects, not a snapshot, which a client sees as changes it then watches).
   * `resourceVersion` + `resourceVersionMatch`: NotOlderThan is served at the current version (504 when asked
   * for a version the server has not reached), Exact only at the current version (410 otherwise).
   */
  private listBody(target: Target, request: RecordedRequest): JsonObject {
    const { query } = request;
    const selected = selectorOf(query);
    const limit = query.limit === undefined ? 0 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 0) throw badRequest(`invalid limit "${query.limit}"`);
    const match = query.resourceVersionMatch;
    if (match !== undefined && !["NotOlderThan", "Exact"].includes(match)) {
      throw invalid(`resourceVersionMatch: Unsupported value: "${match}"`);
    }
    if (match !== undefined && !query.resourceVersion) throw invalid("resourceVersionMatch is forbidden unless resourceVersion is provided");
    if (query.continue && query.resourceVersion) throw invalid("specifying resource version is not allowed when using continue");
    const current = this.store.currentRevision;
    if (query.resourceVersion && query.resourceVersion !== "0") {
      const asked = this.store.revisionOf(query.resourceVersion);
      if (asked === undefined) throw badRequest(`invalid resourceVersion "${query.resourceVersion}"`);
      const [a, c] = [query.resourceVersion, this.store.resourceVersion];
      if (asked > current) throw new StatusError(504, `Too large resource version: ${a}, current: ${c}`, "Timeout");
      if (match === "Exact" && asked !== current) throw new StatusError(410, `too old resource version: ${a} (${c})`, "Expired");
    }
    let listVersion = this.store.resourceVersion;
    let after: string | undefined;
    if (query.continue) {
      const token = decodeContinue(query.continue);
      if (!this.store.watchable(token.rv)) {
        throw new StatusError(410, "The provided continue parameter is too old to display a consistent list result.", "Expired");
      }
      listVersion = this.store.versionOf(token.rv);
      after = token.after;
    }
    let items = this.store.list(resourceId(target.type), target.namespace).filter(selected);
    if (after !== undefined) items = items.filter((item) => objectKey(item.metadata.namespace, item.metadata.name) > after!);
    const metadata: JsonObject = { resourceVersion: listVersion };
    if (limit > 0 && items.length > limit) {
      const last = items[limit - 1];
      metadata.continue = encodeContinue(this.store.revisionOf(listVersion)!, objectKey(last.metadata.namespace, last.metadata.name));
      metadata.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    return {
      kind: `${target.type.kind}List`,
      apiVersion: apiVersionOf(target.type),
      metadata,
      items: items.map((item) => this.present(target.type, item)),
    };
  }

  /** Points a request body at the URL's namespace and name; a body naming another object is a bad request. */
  private bindToTarget(obj: JsonObject, target: Target): void {
    const metadata = metadataOf(obj);
    if (target.type.namespaced) {
      if (metadata.namespace !== undefined && metadata.namespace !== target.namespace) {
        throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
      }
      metadata.namespace = target.namespace;
    } else {
      delete metadata.namespace;
    }
    if (target.name === undefined) return;
    if (metadata.name !== undefined && metadata.name !== target.name) {
      throw badRequest("the name of the object does not match the name on the URL");
    }
    metadata.name = target.name;
  }

  private createObject(target: Target, obj: JsonObject): StoredObject {
    this.bindToTarget(obj, target);
    const meta = metadataOf(obj);
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    if (target.type.statusSubresource) delete obj.status;
    return this.store.create(target.type, this.admit(target.type, obj));
  }

  /**
   * What kube-apiserver's validation does before storing a write: the resource type's own rules (`validate`,
   * given the stored object on updates); names, label keys and values; structural CRDs; custom objects pruned
   * to and validated against their CRD's schema. Throws 422 Invalid.
   */
  private admit(type: ResourceType, obj: JsonObject, old?: JsonObject): JsonObject {
    const problem = type.validate?.(obj, old);
    if (problem) throw invalid(problem);
    const metadata = metadataOf(obj);
    const errors = metadataErrors(metadata, type.plural === "namespaces" && !type.group ? "label" : "subdomain");
    if (resourceId(type) === CRD_RESOURCE) errors.push(...crdErrors(obj));
    const schema = this.schemaOf(type);
    if (schema) {
      obj = prune(obj, schema);
      errors.push(...schemaErrors(obj, schema));
    }
    if (errors.length > 0) {
      const name = String(metadata.name ?? metadata.generateName ?? "");
      const kind = type.group ? `${type.kind}.${type.group}` : type.kind;
      throw new StatusError(422, `${kind} "${name}" is invalid: ${errors.join(", ")}`, "Invalid", {
        name,
        group: type.group,
        kind: type.kind,
        causes: errors.map((message) => ({ reason: "FieldValueInvalid", message })),
      });
    }
    return obj;
  }

  /** The openAPIV3Schema of a custom resource version, when its CRD is stored. */
  private schemaOf(type: ResourceType): JsonObject | undefined {
    if (!type.group || BUILT_IN_GROUPS.has(type.group)) return undefined;
    const crd = this.store.find(CRD_RESOURCE, undefined, `${type.plural}.${type.group}`);
    const versions = isPlainObject(crd?.spec) && Array.isArray(crd.spec.versions) ? crd.spec.versions : [];
    const version = versions.filter(isPlainObject).find((v) => v.name === type.version);
    const schema = isPlainObject(version?.schema) ? version.schema.openAPIV3Schema : undefined;
    return isPlainObject(schema) ? schema : undefined;
  }

  private create(target: Target, request: RecordedRequest): StoredObject {
    if (target.namespace === undefined && target.type.namespaced) throw notFound();
    return this.present(target.type, this.createObject(target, parseJsonObject(request.body)));
  }

  /**
   * Stores `candidate` as the new state of the target after the optimistic-concurrency check, keeping
   * what the addressed endpoint may not change (status on the main resource, all but status on /status).
   */
  private write(target: Target, stored: StoredObject, candidate: JsonObject): StoredObject {
    this.bindToTarget(candidate, target);
    // An empty or missing resourceVersion makes the write unconditional, as in Kubernetes.
    const expected = metadataOf(candidate).resourceVersion;
    if (expected && expected !== stored.metadata.resourceVersion) {
      throw conflict(resourceId(target.type), stored.metadata.name);
    }
    const next =
      target.subresource === "status"
        ? { ...stored, status: candidate.status }
        : target.type.statusSubresource
          ? { ...candidate, status: stored.status }
          : candidate;
    // Only DELETE sets deletionTimestamp and deletionGracePeriodSeconds (rest.BeforeUpdate keeps the stored ones),
    // and no finalizer may be added to an object being deleted.
    const meta = metadataOf(next);
    for (const k of ["deletionTimestamp", "deletionGracePeriodSeconds"]) {
      if (stored.metadata[k] === undefined) delete meta[k];
      else meta[k] = stored.metadata[k];
    }
    if (stored.metadata.deletionTimestamp) {
      const before = new Set(Array.isArray(stored.metadata.finalizers) ? (stored.metadata.finalizers as string[]) : []);
      const after = Array.isArray(meta.finalizers) ? (meta.finalizers as string[]) : [];
      if (after.some((f) => !before.has(f))) {
        throw invalid(`metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(after.filter((f) => !before.has(f)))}`);
      }
    }
    const updated = this.store.update(target.type, this.admit(target.type, next, stored));
    return this.present(target.type, this.finalizeIfDone(target.type, updated));
  }

  private replace(target: Target, request: RecordedRequest): StoredObject {
    const candidate = parseJsonObject(request.body);
    return this.write(target, this.require(target), candidate);
  }

  private patch(target: Target, request: RecordedRequest): { code: number; object: StoredObject } {
    if (request.contentType === PATCH_TYPES.apply) return this.apply(target, request);
    const stored = this.require(target);
    return { code: 200, object: this.write(target, stored, this.patched(stored, request)) };
  }

  private patched(stored: StoredObject, request: RecordedRequest): JsonObject {
    switch (request.contentType) {
      case PATCH_TYPES.merge:
      case PATCH_TYPES.strategic: // approximated by a merge patch (no list merge keys or $patch directives)
        return mergePatch(stored, parseJsonObject(request.body)) as JsonObject;
      case PATCH_TYPES.json:
        return applyJsonPatch(stored, parseJson(request.body));
      default:
        throw new StatusError(415, `the patch content type "${request.contentType ?? ""}" is not supported`);
    }
  }

  /** Server-side apply, approximated as create-or-merge-patch (no field ownership tracking). */
  private apply(target: Target, request: RecordedRequest): { code: number; object: StoredObject } {
    const stored = this.store.find(resourceId(target.type), target.namespace, target.name!);
    if (!request.query.fieldManager) throw invalid("fieldManager is required for apply patch");
    let body: unknown;
    try {
      body = parseYaml(request.body);
    } catch (err) {
      throw badRequest(`invalid apply patch: ${(err as Error).message}`);
    }
    if (!isPlainObject(body)) throw badRequest("an apply patch must be an object");
    if (stored) {
      return { code: 200, object: this.write(target, stored, mergePatch(stored, body) as JsonObject) };
    }
    if (target.subresource) throw objectNotFound(resourceId(target.type), target.name!);
    return { code: 201, object: this.present(target.type, this.createObject(target, body)) };
  }

  /**
   * DELETE as kube-apiserver's generic registry does it (rest.BeforeDelete and the pod strategy's
   * CheckGracefulDelete). DeleteOptions come from the body when there is one, else from the query
   * (gracePeriodSeconds, propagationPolicy); preconditions are honoured.
   * - Pods are deleted gracefully: the grace period is the one asked for, else the pod's
   *   terminationGracePeriodSeconds, else 30 s; 0 for a pod not bound to a node or already Succeeded/Failed,
   *   1 for a negative one. A graceful delete sets metadata.deletionTimestamp (now + grace) and
   *   deletionGracePeriodSeconds and bumps generation (a MODIFIED event); the pod stays, Terminating, until
   *   finishTerminating() plays the kubelet (or a delete with a shorter grace, e.g. 0, comes).
   * - An object with finalizers (propagationPolicy Orphan adds `orphan`, Foreground `foregroundDeletion`) gets a
   *   deletionTimestamp and deletionGracePeriodSeconds 0 and stays until an update removes the last finalizer.
   * - A second delete of an object being deleted can only shorten its grace period.
   * - Anything else goes at once (DELETED). The answer is the object, 200, in every case.
   */
  private delete(target: Target, request: RecordedRequest): StoredObject {
    const stored = this.require(target);
    const id = resourceId(target.type);
    const options = request.body.trim() ? parseJsonObject(request.body) : request.query;
    const preconditions = isPlainObject(options.preconditions) ? options.preconditions : {};
    const violated = (["resourceVersion", "uid"] as const).some(
      (field) => preconditions[field] != null && preconditions[field] !== stored.metadata[field],
    );
    if (violated) throw conflict(id, stored.metadata.name);
    let grace: number | undefined;
    if (options.gracePeriodSeconds !== undefined && options.gracePeriodSeconds !== null) {
      grace = Number(options.gracePeriodSeconds);
      if (!Number.isInteger(grace)) throw badRequest(`invalid gracePeriodSeconds "${String(options.gracePeriodSeconds)}"`);
    }
    const policy = options.propagationPolicy;
    if (policy !== undefined && policy !== null && !["Orphan", "Background", "Foreground"].includes(String(policy))) {
      throw invalid(`propagationPolicy: Unsupported value: "${String(policy)}": supported values: "Foreground", "Background", "Orphan"`);
    }
    const meta = stored.metadata;
    if (meta.deletionTimestamp) {
      const current = meta.deletionGracePeriodSeconds;
      if (grace === undefined || typeof current !== "number" || Math.max(grace, 0) >= current) return this.present(target.type, stored);
      const period = Math.max(grace, 0);
      const started = Date.parse(String(meta.deletionTimestamp)) - current * 1000;
      return this.present(target.type, this.markDeleting(target.type, stored, period, started));
    }
    let period = 0;
    if (id === "pods") {
      const spec = isPlainObject(stored.spec) ? stored.spec : {};
      const phase = isPlainObject(stored.status) ? stored.status.phase : undefined;
      period = grace ?? (typeof spec.terminationGracePeriodSeconds === "number" ? spec.terminationGracePeriodSeconds : 30);
      if (!spec.nodeName || phase === "Succeeded" || phase === "Failed") period = 0;
      else if (period < 0) period = 1;
    }
    const finalizers = Array.isArray(meta.finalizers) ? [...(meta.finalizers as string[])] : [];
    const gcFinalizer = policy === "Orphan" ? "orphan" : policy === "Foreground" ? "foregroundDeletion" : undefined;
    if (gcFinalizer && !finalizers.includes(gcFinalizer)) finalizers.push(gcFinalizer);
    if (period === 0 && finalizers.length === 0) return this.present(target.type, this.store.delete(target.type, target.namespace, meta.name));
    const withFinalizers = cloneJson(stored);
    if (finalizers.length > 0) withFinalizers.metadata.finalizers = finalizers;
    return this.present(target.type, this.markDeleting(target.type, withFinalizers, period, Date.now()));
  }

  /** Stores `obj` as being deleted: deletionTimestamp = `startedMs` + the grace period; gone at once when nothing holds it. */
  private markDeleting(type: ResourceType, obj: StoredObject, graceSeconds: number, startedMs: number): StoredObject {
    const next = cloneJson(obj);
    next.metadata.deletionTimestamp = new Date(startedMs + graceSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
    next.metadata.deletionGracePeriodSeconds = graceSeconds;
    return this.finalizeIfDone(type, this.store.update(type, next));
  }

  /**
   * An object being deleted with no finalizers left and no grace period to wait out goes, as the registry's
   * update does (shouldDeleteDuringUpdate): the watch sees DELETED with its last state.
   */
  private finalizeIfDone(type: ResourceType, stored: StoredObject): StoredObject {
    const meta = stored.metadata;
    const finalizers = Array.isArray(meta.finalizers) ? meta.finalizers : [];
    if (!meta.deletionTimestamp || finalizers.length > 0 || meta.deletionGracePeriodSeconds !== 0) return stored;
    return this.store.delete(type, meta.namespace, meta.name);
  }

  // ---- watches --------------------------------------------------------------------------------

  /**
   * Streams newline-delimited watch events until stop(), dropWatches() or endWatches(), or until its
   * `timeoutSeconds` (at most maxWatchMs) pass: then, as kube-apiserver does, a watch that asked for bookmarks
   * gets a final BOOKMARK and the stream ends cleanly. Bookmarks (allowWatchBookmarks=true) also come every
   * bookmarkIntervalMs. Without a resourceVersion (or "0") it first sends every current object as ADDED;
   * otherwise it replays the history after that version, or sends a 410 ERROR event and ends when the version
   * is outside the history window.
   */
  private watch(target: Target, request: RecordedRequest, res: ServerResponse): void {
    const selected = selectorOf(request.query);
    const admits: Predicate = (obj) =>
      (target.namespace === undefined || obj.metadata.namespace === target.namespace) &&
      (target.name === undefined || obj.metadata.name === target.name) &&
      selected(obj);
    const timeoutSeconds = request.query.timeoutSeconds === undefined ? undefined : Number(request.query.timeoutSeconds);
    if (timeoutSeconds !== undefined && (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 0)) {
      throw badRequest(`invalid timeoutSeconds "${request.query.timeoutSeconds}"`);
    }
    const backlog = this.backlog(target, request.query.resourceVersion, admits);

    // Headers go out at once: client-node's Watch resolves only when the response has started.
    res.writeHead(200, { "content-type": "application/json" });
    res.flushHeaders();
    if (backlog === "expired") {
      const since = request.query.resourceVersion;
      const gone = new StatusError(410, `too old resource version: ${since} (${this.store.resourceVersion})`);
      this.writeEvent(res, "ERROR", gone.toStatus());
      res.end();
      return;
    }

    const bookmarks = request.query.allowWatchBookmarks === "true";
    const stream: WatchStream = { type: target.type, admits, res, bookmarks, sentRevision: this.store.currentRevision };
    this.watches.add(stream);
    const bookmark = () => {
      if (this.watches.has(stream)) this.writeEvent(res, "BOOKMARK", this.bookmarkObject(target.type));
    };
    const ticker = bookmarks ? setInterval(bookmark, this.bookmarkIntervalMs) : undefined;
    const lifetimeMs = Math.min(this.maxWatchMs, timeoutSeconds === undefined || timeoutSeconds === 0 ? Infinity : timeoutSeconds * 1000);
    const closer = setTimeout(() => {
      if (!this.watches.has(stream)) return;
      if (bookmarks) bookmark();
      this.watches.delete(stream);
      res.end();
    }, lifetimeMs);
    res.on("close", () => {
      this.watches.delete(stream);
      this.silenced.delete(res);
      clearInterval(ticker);
      clearTimeout(closer);
    });
    for (const event of backlog) this.writeEvent(res, event.type, this.present(target.type, event.object));
  }

  /** A BOOKMARK's object: only kind, apiVersion and the current resourceVersion. */
  private bookmarkObject(type: ResourceType): JsonObject {
    return { kind: type.kind, apiVersion: apiVersionOf(type), metadata: { resourceVersion: this.store.resourceVersion } };
  }

  private backlog(target: Target, since: string | undefined, admits: Predicate): WatchEvent[] | "expired" {
    const id = resourceId(target.type);
    if (!since || since === "0") {
      return this.store.list(id, target.namespace).filter(admits).map((object) => ({ type: "ADDED", object }));
    }
    const revision = this.store.revisionOf(since);
    if (revision === undefined) throw badRequest(`invalid resourceVersion "${since}"`);
    const events = this.store.eventsAfter(revision);
    if (!events) return "expired";
    return events.filter((event) => event.resource === id).flatMap((event) => eventForWatch(event, admits) ?? []);
  }

  private broadcast(event: StoreEvent): void {
    const held = this.heldEvents.get(event.resource);
    if (held) {
      held.push(event);
      return;
    }
    const delayMs = this.eventDelay(event.resource);
    if (delayMs > 0) {
      // Timers of equal delay fire in the order they were set: one resource's events keep their order.
      setTimeout(() => this.deliver(event), delayMs).unref();
      return;
    }
    this.deliver(event);
  }

  private deliver(event: StoreEvent): void {
    for (const watch of this.watches) {
      if (event.revision <= watch.sentRevision) continue;
      if (resourceId(watch.type) !== event.resource) continue;
      const translated = eventForWatch(event, watch.admits);
      if (translated) this.writeEvent(watch.res, translated.type, this.present(watch.type, translated.object));
    }
  }

  private writeEvent(res: ServerResponse, type: EventType | "ERROR" | "BOOKMARK", object: unknown): void {
    if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify({ type, object }) + "\n");
  }
}
