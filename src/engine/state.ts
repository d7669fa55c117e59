// The engine's in-memory picture of the cluster: nodes, pods, reservations (hard, from ResourceReservation
// objects; soft, for dynamic-allocation extras) and Spark conf ConfigMaps. Everything is fed from Kubernetes
// objects by the kube layer (or the embedded cluster) and read by the decision code.
// Reserved usage and overhead per node are both maintained incrementally, so a decision never rescans
// every pod: a pod counts as overhead while it is bound, not terminated, and named by no reservation.

import type { NodeInfo, PodInfo } from "./model.js";
import { podKey } from "./model.js";
import { type Reservation, reservationKey } from "./reservation.js";
import { type Resources, addInto, subInto, zero } from "./resources.js";
import { classifyPod } from "./spark-pods.js";
import type { Slot } from "./reservation.js";

/** Soft reservations of one dynamic-allocation application (reference §4.3), keyed by namespace + app id. */
export interface SoftReservations {
  namespace: string;
  appId: string;
  /** max − min executors: how many extras may hold a soft reservation at once. */
  maxExtra: number;
  /** Executor pod name → its soft slot. */
  executors: Map<string, Slot>;
  /** Executor pods that were seen dead; they never get a soft reservation again (late-request race). */
  dead: Set<string>;
}

export class ClusterState {
  readonly nodes = new Map<string, NodeInfo>();
  /** Pods by namespace/name. */
  readonly pods = new Map<string, PodInfo>();
  /** Reservations by namespace/appId. */
  readonly reservations = new Map<string, Reservation>();
  readonly soft = new Map<string, SoftReservations>();
  /** ConfigMap data by namespace/name (Spark driver confs). */
  readonly configMaps = new Map<string, Record<string, string>>();
  /** Spark Operator SparkApplication objects by namespace/name (zero-configuration sizing). */
  readonly sparkApplications = new Map<string, unknown>();
  /** Spark driver pods by namespace/name (any phase). */
  readonly drivers = new Set<string>();

  private readonly reserved = new Map<string, Resources>();
  /** Overhead per node, and what each overhead pod contributes to it (by namespace/name). */
  private readonly overheadByNode = new Map<string, Resources>();
  private readonly overheadPods = new Map<string, { node: string; requests: Resources }>();
  /** How many reservation slots and soft reservations name each pod (namespace/name). */
  private readonly reservedPodRefs = new Map<string, number>();
  /** Applications (namespace/appId) whose reservation may have a slot freed by a deleted pod. */
  readonly compactionCandidates = new Set<string>();
  /** Bumped on every change; lets callers cache derived views. */
  version = 0;

  // ---- nodes --------------------------------------------------------------------------------

  upsertNode(node: NodeInfo): void {
    this.nodes.set(node.name, node);
    this.version++;
  }

  removeNode(name: string): void {
    this.nodes.delete(name);
    this.version++;
  }

  // ---- pods ---------------------------------------------------------------------------------

  upsertPod(pod: PodInfo): void {
    const key = podKey(pod.namespace, pod.name);
    this.pods.set(key, pod);
    if (pod.labels["spark-role"] === "driver") this.drivers.add(key);
    this.refreshOverhead(key);
    this.version++;
  }

  removePod(namespace: string, name: string): PodInfo | undefined {
    const key = podKey(namespace, name);
    const pod = this.pods.get(key);
    this.pods.delete(key);
    this.drivers.delete(key);
    this.refreshOverhead(key);
    if (pod && this.reservedPodRefs.has(key)) {
      const id = classifyPod(pod);
      if (id.ok) this.compactionCandidates.add(reservationKey(namespace, id.value.appId));
    }
    this.version++;
    return pod;
  }

  getPod(namespace: string, name: string): PodInfo | undefined {
    return this.pods.get(podKey(namespace, name));
  }

  /** A pod counts as active when it exists and has not terminated. */
  isActive(namespace: string, name: string): boolean {
    const p = this.pods.get(podKey(namespace, name));
    return p !== undefined && !p.terminated;
  }

  /** The single driver pod of an application, if exactly one exists. */
  findDriver(namespace: string, appId: string): PodInfo | undefined {
    const r = this.reservations.get(reservationKey(namespace, appId));
    if (r) {
      const p = this.getPod(namespace, r.driverPod);
      if (p) return p;
    }
    let found: PodInfo | undefined;
    for (const key of this.drivers) {
      const p = this.pods.get(key)!;
      if (p.namespace !== namespace) continue;
      const id = classifyPod(p);
      if (id.ok && id.value.appId === appId) {
        if (found) return undefined; // ambiguous: more than one driver with this app id
        found = p;
      }
    }
    return found;
  }

  // ---- reservations -------------------------------------------------------------------------

  getReservation(namespace: string, appId: string): Reservation | undefined {
    return this.reservations.get(reservationKey(namespace, appId));
  }

  /** Inserts or replaces a reservation; keeps the per-node usage in step. */
  putReservation(r: Reservation): void {
    const key = reservationKey(r.namespace, r.appId);
    const old = this.reservations.get(key);
    if (old) this.account(old.slots.values(), -1);
    this.reservations.set(key, r);
    this.account(r.slots.values(), +1);
    for (const pod of r.pods.values()) this.reference(r.namespace, pod, +1);
    if (old) for (const pod of old.pods.values()) this.reference(old.namespace, pod, -1);
    // A reservation arriving from the API server may name pods that are already gone.
    this.compactionCandidates.add(key);
    this.version++;
  }

  removeReservation(namespace: string, appId: string): Reservation | undefined {
    const key = reservationKey(namespace, appId);
    const old = this.reservations.get(key);
    if (!old) return undefined;
    this.account(old.slots.values(), -1);
    this.reservations.delete(key);
    for (const pod of old.pods.values()) this.reference(namespace, pod, -1);
    this.version++;
    return old;
  }

  // ---- soft reservations --------------------------------------------------------------------

  getSoft(namespace: string, appId: string): SoftReservations | undefined {
    return this.soft.get(reservationKey(namespace, appId));
  }

  ensureSoft(namespace: string, appId: string, maxExtra: number): SoftReservations {
    const key = reservationKey(namespace, appId);
    let s = this.soft.get(key);
    if (!s) {
      s = { namespace, appId, maxExtra, executors: new Map(), dead: new Set() };
      this.soft.set(key, s);
    } else {
      s.maxExtra = maxExtra;
    }
    return s;
  }

  addSoft(namespace: string, appId: string, pod: string, slot: Slot): void {
    const s = this.soft.get(reservationKey(namespace, appId));
    if (!s || s.dead.has(pod) || s.executors.has(pod)) return;
    s.executors.set(pod, slot);
    this.account([slot], +1);
    this.reference(namespace, pod, +1);
    this.version++;
  }

  removeSoft(namespace: string, appId: string, pod: string, markDead: boolean): Slot | undefined {
    const s = this.soft.get(reservationKey(namespace, appId));
    if (!s) return undefined;
    if (markDead) s.dead.add(pod);
    const slot = s.executors.get(pod);
    if (!slot) return undefined;
    s.executors.delete(pod);
    this.account([slot], -1);
    this.reference(namespace, pod, -1);
    this.version++;
    return slot;
  }

  dropSoftApp(namespace: string, appId: string): void {
    const key = reservationKey(namespace, appId);
    const s = this.soft.get(key);
    if (!s) return;
    this.account(s.executors.values(), -1);
    for (const pod of s.executors.keys()) this.reference(namespace, pod, -1);
    this.soft.delete(key);
    this.version++;
  }

  // ---- derived views ------------------------------------------------------------------------

  /** Reserved resources (hard + soft) on a node. */
  reservedOn(node: string): Resources {
    return this.reserved.get(node) ?? zero();
  }

  /**
   * Resources used on each node by pods that hold no reservation ("overhead", reference §2.4): non-Spark
   * pods and Spark pods outside reservations. Completed pods do not count (a reference bug fixed).
   * The map is live and owned by the state: read it, do not change it.
   */
  overhead(): ReadonlyMap<string, Resources> {
    return this.overheadByNode;
  }

  overheadOn(node: string): Resources {
    return this.overheadByNode.get(node) ?? zero();
  }

  /** Counts a reservation (slot or soft) naming a pod; a pod's overhead changes when its count leaves or reaches 0. */
  private reference(namespace: string, pod: string, delta: 1 | -1): void {
    const key = podKey(namespace, pod);
    const before = this.reservedPodRefs.get(key) ?? 0;
    const after = before + delta;
    if (after <= 0) this.reservedPodRefs.delete(key);
    else this.reservedPodRefs.set(key, after);
    if ((before === 0) !== (after <= 0)) this.refreshOverhead(key);
  }

  /** Re-derives one pod's overhead contribution from its current state. */
  private refreshOverhead(key: string): void {
    const old = this.overheadPods.get(key);
    if (old) {
      subInto(this.overheadByNode.get(old.node)!, old.requests);
      this.overheadPods.delete(key);
    }
    const p = this.pods.get(key);
    if (!p || !p.nodeName || p.terminated || this.reservedPodRefs.has(key)) return;
    let sum = this.overheadByNode.get(p.nodeName);
    if (!sum) this.overheadByNode.set(p.nodeName, (sum = zero()));
    addInto(sum, p.requests);
    this.overheadPods.set(key, { node: p.nodeName, requests: p.requests });
  }

  private account(slots: Iterable<Slot>, sign: 1 | -1): void {
    for (const s of slots) {
      let u = this.reserved.get(s.node);
      if (!u) this.reserved.set(s.node, (u = zero()));
      if (sign > 0) addInto(u, s.resources);
      else subInto(u, s.resources);
    }
  }
}
