// ResourceReservation conversion between the reference's two wire versions (reference §5.1, §5.2):
// `sparkscheduler.palantir.com/v1beta1` (what the reference's CRD stores) and `/v1beta2` (what we read and
// write, see reservation.ts). The CRD conversion webhook (server/conversion-route.ts) calls this, so a cluster
// whose CRD still stores v1beta1 can be served by us without losing reservations. Pure: no I/O, never mutates
// its input.
//
// v1beta2 → v1beta1: metadata copied; the whole v1beta2 spec stored as JSON in the annotation
//   `sparkscheduler.palantir.com/reservation-spec`; status.pods copied; each reservation keeps node, cpu and
//   memory (a missing quantity becomes "0").
// v1beta1 → v1beta2: metadata copied without that annotation; status.pods copied; each reservation becomes
//   {node, resources {cpu, memory}} from the v1beta1 fields, which win; resources the annotation holds beyond
//   those (e.g. nvidia.com/gpu) are added, but only to reservations that exist in the v1beta1 spec — a
//   reservation deleted while stored as v1beta1 stays deleted.
//
// Strictness, decided here:
// - Absent fields read as empty, as Go's decoder does (no spec → no reservations, no status → no pods, no
//   node → ""), but a field of the wrong JSON type (spec.reservations a list, node a number, a quantity an
//   object, …) is an error naming the field — the reference's typed decoding failed on those too.
// - Quantities are passed through as given (strings kept verbatim, JSON numbers turned into strings); they are
//   not parsed or canonicalised here. Whoever reads the object parses them.
// - An annotation that is not valid JSON, or not shaped like a v1beta2 spec, is ignored (treated as absent),
//   as are individual entries in it of the wrong shape. The reference failed the conversion instead; but a
//   conversion failure makes every LIST/WATCH of reservations fail, i.e. stops all scheduling, whereas ignoring
//   the annotation only loses the extra resources (e.g. GPUs) of that one object. The annotation is removed
//   either way.

import { RR_GROUP, RR_KIND } from "./reservation.js";

export const RR_API_VERSION_V1BETA1 = `${RR_GROUP}/v1beta1`;
export const RR_API_VERSION_V1BETA2 = `${RR_GROUP}/v1beta2`;
export const RR_API_VERSIONS: readonly string[] = [RR_API_VERSION_V1BETA1, RR_API_VERSION_V1BETA2];
/** Where a v1beta1 object keeps the full v1beta2 spec it was converted from. */
export const RESERVATION_SPEC_ANNOTATION = `${RR_GROUP}/reservation-spec`;

export type ConversionResult = { ok: true; value: Record<string, unknown> } | { ok: false; error: string };

type Obj = Record<string, unknown>;

class ConversionError extends Error {}

const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);

/** Sets an own property even for keys like `__proto__` (reservation and resource names come from the wire). */
function put(o: object, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Converts one ResourceReservation object to `desiredApiVersion` (either of RR_API_VERSIONS). */
export function convertReservationObject(obj: unknown, desiredApiVersion: string): ConversionResult {
  if (!isObj(obj)) return { ok: false, error: "resource reservation must be a JSON object" };
  const who = describe(obj);
  const apiVersion = obj.apiVersion;
  if (typeof apiVersion !== "string" || !RR_API_VERSIONS.includes(apiVersion)) {
    return { ok: false, error: `${who}: unsupported apiVersion ${JSON.stringify(apiVersion)} (${versionsHint()})` };
  }
  if (!RR_API_VERSIONS.includes(desiredApiVersion)) {
    return { ok: false, error: `${who}: unsupported desired apiVersion ${JSON.stringify(desiredApiVersion)} (${versionsHint()})` };
  }
  if (obj.kind !== undefined && obj.kind !== RR_KIND) {
    return { ok: false, error: `${who}: kind ${JSON.stringify(obj.kind)} is not ${RR_KIND}` };
  }
  if (apiVersion === desiredApiVersion) return { ok: true, value: { ...structuredClone(obj), apiVersion } };
  try {
    const value = desiredApiVersion === RR_API_VERSION_V1BETA1 ? toV1beta1(obj) : toV1beta2(obj);
    return { ok: true, value };
  } catch (e) {
    if (e instanceof ConversionError) return { ok: false, error: `${who}: ${e.message}` };
    throw e;
  }
}

function versionsHint(): string {
  return `supported: ${RR_API_VERSIONS.join(", ")}`;
}

/** "resource reservation <namespace>/<name>" as far as the object says. */
function describe(obj: Obj): string {
  const meta = isObj(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === "string" && meta.name ? meta.name : "<unnamed>";
  return typeof meta.namespace === "string" && meta.namespace
    ? `resource reservation ${meta.namespace}/${name}`
    : `resource reservation ${name}`;
}

// ---- v1beta2 → v1beta1 ----

function toV1beta1(src: Obj): Obj {
  const metadata = copyMetadata(src);
  const v2 = readV1beta2Spec(src.spec);
  const reservations: Obj = {};
  for (const [key, r] of Object.entries(v2)) {
    put(reservations, key, { node: r.node, cpu: r.resources.cpu ?? "0", memory: r.resources.memory ?? "0" });
  }
  const annotations = isObj(metadata.annotations) ? metadata.annotations : {};
  annotations[RESERVATION_SPEC_ANNOTATION] = JSON.stringify(specJson(v2));
  metadata.annotations = annotations;
  return {
    apiVersion: RR_API_VERSION_V1BETA1,
    kind: RR_KIND,
    metadata,
    spec: { reservations },
    status: { pods: readPods(src.status) },
  };
}

interface V2Reservation {
  node: string;
  resources: Record<string, string>;
}

function readV1beta2Spec(spec: unknown): Record<string, V2Reservation> {
  const out: Record<string, V2Reservation> = {};
  for (const [key, raw] of Object.entries(readReservations(spec))) {
    const where = `spec.reservations.${key}`;
    if (!isObj(raw)) throw new ConversionError(`${where} must be an object`);
    const resources: Record<string, string> = {};
    const rawResources = raw.resources ?? {};
    if (!isObj(rawResources)) throw new ConversionError(`${where}.resources must be an object`);
    for (const [name, q] of Object.entries(rawResources)) {
      if (q === null || q === undefined) continue;
      put(resources, name, quantity(q, `${where}.resources.${name}`));
    }
    put(out, key, { node: readNode(raw.node, where), resources });
  }
  return out;
}

/** The v1beta2 spec as the reference serialised it into the annotation: keys sorted, only node and resources. */
function specJson(spec: Record<string, V2Reservation>): Obj {
  const reservations: Obj = {};
  for (const key of Object.keys(spec).sort()) {
    const r = spec[key];
    const resources: Obj = {};
    for (const name of Object.keys(r.resources).sort()) put(resources, name, r.resources[name]);
    put(reservations, key, { node: r.node, resources });
  }
  return { reservations };
}

// ---- v1beta1 → v1beta2 ----

function toV1beta2(src: Obj): Obj {
  const metadata = copyMetadata(src);
  let annotationSpec: unknown;
  if (isObj(metadata.annotations)) {
    const annotations = metadata.annotations;
    const text = annotations[RESERVATION_SPEC_ANNOTATION];
    if (typeof text === "string") annotationSpec = parseJsonOrUndefined(text);
    delete annotations[RESERVATION_SPEC_ANNOTATION];
    if (Object.keys(annotations).length === 0) delete metadata.annotations;
  }

  const reservations: Record<string, V2Reservation> = {};
  for (const [key, raw] of Object.entries(readReservations(src.spec))) {
    const where = `spec.reservations.${key}`;
    if (!isObj(raw)) throw new ConversionError(`${where} must be an object`);
    put(reservations, key, {
      node: readNode(raw.node, where),
      resources: {
        cpu: raw.cpu === undefined || raw.cpu === null ? "0" : quantity(raw.cpu, `${where}.cpu`),
        memory: raw.memory === undefined || raw.memory === null ? "0" : quantity(raw.memory, `${where}.memory`),
      },
    });
  }

  // Other resources from the annotation, for reservations that still exist; v1beta1 values win.
  const fromAnnotation = isObj(annotationSpec) && isObj(annotationSpec.reservations) ? annotationSpec.reservations : {};
  for (const [key, raw] of Object.entries(fromAnnotation)) {
    if (!Object.hasOwn(reservations, key) || !isObj(raw) || !isObj(raw.resources)) continue;
    const dst = reservations[key];
    for (const [name, q] of Object.entries(raw.resources)) {
      if (Object.hasOwn(dst.resources, name)) continue;
      if (typeof q === "string" || (typeof q === "number" && Number.isFinite(q))) put(dst.resources, name, String(q));
    }
  }

  const spec: Obj = {};
  for (const [key, r] of Object.entries(reservations)) put(spec, key, { node: r.node, resources: r.resources });
  return {
    apiVersion: RR_API_VERSION_V1BETA2,
    kind: RR_KIND,
    metadata,
    spec: { reservations: spec },
    status: { pods: readPods(src.status) },
  };
}

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

// ---- shared ----

function copyMetadata(src: Obj): Obj {
  if (src.metadata === undefined || src.metadata === null) return {};
  if (!isObj(src.metadata)) throw new ConversionError("metadata must be an object");
  return structuredClone(src.metadata);
}

function readReservations(spec: unknown): Obj {
  if (spec === undefined || spec === null) return {};
  if (!isObj(spec)) throw new ConversionError("spec must be an object");
  const reservations = spec.reservations;
  if (reservations === undefined || reservations === null) return {};
  if (!isObj(reservations)) throw new ConversionError("spec.reservations must be an object (reservation name → reservation)");
  return reservations;
}

function readNode(node: unknown, where: string): string {
  if (node === undefined || node === null) return "";
  if (typeof node !== "string") throw new ConversionError(`${where}.node must be a string`);
  return node;
}

function quantity(q: unknown, where: string): string {
  if (typeof q === "string") return q;
  if (typeof q === "number" && Number.isFinite(q)) return String(q);
  throw new ConversionError(`${where} must be a quantity (a string or a number), not ${JSON.stringify(q)}`);
}

function readPods(status: unknown): Record<string, string> {
  if (status === undefined || status === null) return {};
  if (!isObj(status)) throw new ConversionError("status must be an object");
  const pods = status.pods;
  if (pods === undefined || pods === null) return {};
  if (!isObj(pods)) throw new ConversionError("status.pods must be an object (reservation name → pod name)");
  const out: Record<string, string> = {};
  for (const [key, pod] of Object.entries(pods)) {
    if (typeof pod !== "string") throw new ConversionError(`status.pods.${key} must be a pod name (a string)`);
    put(out, key, pod);
  }
  return out;
}
