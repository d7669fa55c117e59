// ResourceReservation: the persisted record of an admitted application (reference §3.3, §5), and its
// wire format (group sparkscheduler.palantir.com, version v1beta2), kept compatible with the reference so a
// cluster can move over without losing reservations.

import { type Resources, resourcesFromMap, resourcesToMap } from "./resources.js";
import { timeMs } from "./model.js";

export const RR_GROUP = "sparkscheduler.palantir.com";
export const RR_VERSION = "v1beta2";
export const RR_PLURAL = "resourcereservations";
export const RR_KIND = "ResourceReservation";
export const DRIVER_SLOT = "driver";

/** Label holding the application id (as the reference writes it) when the id is a valid label value. */
export const APP_ID_LABEL_KEY = "app-id";
/** Annotation holding the application id when it is not a valid label value (longer than 63 characters). */
export const APP_ID_ANNOTATION = "sparkscheduler.palantir.com/app-id";

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const MAX_NAME = 253;

export function isValidObjectName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME && DNS1123_SUBDOMAIN.test(name);
}

export function isValidLabelValue(value: string): boolean {
  return value.length <= 63 && LABEL_VALUE.test(value);
}

/** 64-bit FNV-1a of a string's UTF-16 code units, as 13 base-36 digits: a short, stable suffix. */
function hashSuffix(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(36).padStart(13, "0");
}

/**
 * A valid object name (DNS-1123 subdomain, at most 253 characters) for an id, deterministically: the id itself
 * when it already is one (so names match what the reference wrote), otherwise `prefix` + the id lowercased with
 * invalid characters replaced by '-', truncated, plus a hash of the original id, so that distinct ids
 * ("My_App", "my-app") never share a name. The caller keeps the original id in a label or annotation: names
 * are never parsed back into ids.
 */
export function objectNameFor(id: string, prefix = ""): string {
  const plain = prefix + id;
  if (isValidObjectName(plain)) return plain;
  const suffix = `-${hashSuffix(id)}`;
  const sanitized = plain
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "-")
    .replace(/\.{2,}/g, ".")
    .replace(/-*\.-*/g, ".")
    .slice(0, MAX_NAME - suffix.length)
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  return `${sanitized || "x"}${suffix}`;
}

/** The object name of an application's ResourceReservation. */
export function reservationName(appId: string): string {
  return objectNameFor(appId);
}

export function executorSlotName(i: number): string {
  return `executor-${i}`;
}

export interface Slot {
  node: string;
  resources: Resources;
}

export interface Reservation {
  namespace: string;
  /** Application id; the object name is reservationName(appId) (the id itself whenever it is a valid name). */
  appId: string;
  /** Owner: the driver pod. */
  driverPod: string;
  driverUid: string;
  /** Slot name → reserved node and resources: `driver`, `executor-1` … `executor-N`. */
  slots: Map<string, Slot>;
  /** Slot name → name of the pod bound to it (status.pods). */
  pods: Map<string, string>;
  createdAtMs: number;
  /** API server resourceVersion of the stored object; undefined before the first write. */
  resourceVersion?: string;
}

export function reservationKey(namespace: string, appId: string): string {
  return `${namespace}/${appId}`;
}

export function cloneReservation(r: Reservation): Reservation {
  const slots = new Map<string, Slot>();
  for (const [k, s] of r.slots) slots.set(k, { node: s.node, resources: { ...s.resources } });
  return { ...r, slots, pods: new Map(r.pods) };
}

/** Executor slot names in numeric order (executor-2 before executor-10). */
export function executorSlots(r: Reservation): string[] {
  const keyed: [number, string][] = [];
  for (const k of r.slots.keys()) if (k !== DRIVER_SLOT) keyed.push([slotIndex(k), k]);
  keyed.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return keyed.map((e) => e[1]);
}

function slotIndex(name: string): number {
  const m = /^executor-(\d+)$/.exec(name);
  return m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
}

/** The Kubernetes object for a reservation (v1beta2). */
export function reservationToObject(r: Reservation): Record<string, unknown> {
  const reservations: Record<string, unknown> = {};
  for (const name of [DRIVER_SLOT, ...executorSlots(r)]) {
    const s = r.slots.get(name);
    if (s) reservations[name] = { node: s.node, resources: resourcesToMap(s.resources) };
  }
  const idFits = isValidLabelValue(r.appId);
  const metadata: Record<string, unknown> = {
    name: reservationName(r.appId),
    namespace: r.namespace,
    labels: idFits ? { [APP_ID_LABEL_KEY]: r.appId } : {},
    ownerReferences: [
      { apiVersion: "v1", kind: "Pod", name: r.driverPod, uid: r.driverUid, controller: true, blockOwnerDeletion: true },
    ],
  };
  if (!idFits) metadata.annotations = { [APP_ID_ANNOTATION]: r.appId };
  if (r.resourceVersion) metadata.resourceVersion = r.resourceVersion;
  return {
    apiVersion: `${RR_GROUP}/${RR_VERSION}`,
    kind: RR_KIND,
    metadata,
    spec: { reservations },
    status: { pods: Object.fromEntries(r.pods) },
  };
}

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});

/** Parses a ResourceReservation object (v1beta2); returns an error string for malformed objects. */
export function reservationFromObject(input: unknown): Reservation | string {
  const o = asObj(input);
  const meta = asObj(o.metadata);
  const name = typeof meta.name === "string" ? meta.name : "";
  const namespace = typeof meta.namespace === "string" ? meta.namespace : "";
  if (!name || !namespace) return "resource reservation without metadata.name or metadata.namespace";
  // The id is read from the label or annotation; the name is only the fallback for objects without either.
  const labels = asObj(meta.labels);
  const annotations = asObj(meta.annotations);
  const label = labels[APP_ID_LABEL_KEY];
  const annotation = annotations[APP_ID_ANNOTATION];
  const appId =
    typeof label === "string" && label ? label : typeof annotation === "string" && annotation ? annotation : name;
  const slots = new Map<string, Slot>();
  for (const [slot, v] of Object.entries(asObj(asObj(o.spec).reservations))) {
    const so = asObj(v);
    if (typeof so.node !== "string") return `resource reservation ${namespace}/${name}: slot ${slot} has no node`;
    slots.set(slot, { node: so.node, resources: resourcesFromMap(asObj(so.resources)) });
  }
  const pods = new Map<string, string>();
  for (const [slot, pod] of Object.entries(asObj(asObj(o.status).pods))) {
    if (typeof pod === "string" && pod) pods.set(slot, pod);
  }
  const owner = (Array.isArray(meta.ownerReferences) ? meta.ownerReferences : []).map(asObj).find((x) => x.kind === "Pod");
  return {
    namespace,
    appId,
    driverPod: pods.get(DRIVER_SLOT) ?? (typeof owner?.name === "string" ? owner.name : ""),
    driverUid: typeof owner?.uid === "string" ? owner.uid : "",
    slots,
    pods,
    createdAtMs: timeMs(meta.creationTimestamp),
    resourceVersion: typeof meta.resourceVersion === "string" ? meta.resourceVersion : undefined,
  };
}
