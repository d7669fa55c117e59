// The engine's in-memory picture of the cluster: nodes, pods, reservations (hard, from ResourceReservation
// objects; soft, for dynamic-allocation extras) and Spark conf ConfigMaps. Everything is fed from Kubernetes
// objects by the kube layer (or the embedded cluster) and read by the decision code.
// Reserved usage and overhead per node are both maintained incrementally, so a decision never rescans
// every pod: a pod counts as overhead while it is bound, not terminated, and named by no reservation.
//
// Reservations have two writers with different roles. `putReservation` / `removeReservation` take the API
// server's copy (informers, garbage collection, reconciliation). `assumeReservation` takes a decision's content
// before it is stored. While the pipeline holds a reservation (`hold`, between a decision and the end of its
// writes), the visible copy is the assumed one and server copies only update the held base; `release` makes
// the base visible again (it is our stored content after a successful write, the last stored one after a failed
// one). A held reservation reserves, on every node, the larger of its base and its assumed usage, so neither
// confirming nor forgetting an in-flight write can over-commit a node whose room another decision used meanwhile.
//
// Pods likewise: the informer is the only writer of `pods`. A pod kube-scheduler shows before the informer has it
// goes to a short-lived overlay (`observePod`), which the informer's copy replaces and which expires otherwise.

import type { NodeInfo, PodInfo } from "./model.js";
import { podKey } from "./model.js";
import { type Reservation, reservationKey } from "./reservation.js";
import { type Resources, addInto, subInto, zero } from "./resources.js";
import { ROLE_LABEL, classifyPod } from "./spark-pods.js";
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
  private readonly confMaps = new Map<string, Readonly<Record<string, string>>>();
  private readonly sparkApps = new Map<string, unknown>();
  /** Spark driver pods by namespace/name (any phase). */
  readonly drivers = new Set<string>();

  private readonly reserved = new Map<string, Resources>();
  /** What each reservation (namespace/appId) adds to `reserved`, per node. */
  private readonly contributions = new Map<string, Map<string, Resources>>();
  /**
   * Reservations held by the pipeline: the API server's copy (undefined: none) while an assumed one is visible,
   * and the resourceVersions of the copies the feed delivered meanwhile, in order.
   */
  private readonly held = new Map<string, { base: Reservation | undefined; delivered: string[] }>();
  /** Pods seen in extender arguments before the informer had them: namespace/name → pod and expiry time. */
  private readonly observed = new Map<string, { pod: PodInfo; expiresAtMs: number }>();
  /** Overhead per node, and what each overhead pod contributes to it (by namespace/name). */
  private readonly overheadByNode = new Map<string, Resources>();
  private readonly overheadPods = new Map<string, { node: string; requests: Resources; schedulerName: string; app: string | undefined }>();
  /** The part of the overhead per node that pods of each scheduler make up (scheduler name → node → sum). */
  private readonly overheadByScheduler = new Map<string, Map<string, Resources>>();
  /**
   * Running executors that no reservation names (a bind answered before its write that was lost, a restart
   * before reconciliation), per application (namespace/appId): pod key → node. Such an executor holds an
   * unbound slot of its application on its node (src/engine/executor.ts unboundSlotsByNode).
   */
  private readonly looseExecutors = new Map<string, Map<string, string>>();
  /** How many reservation slots and soft reservations name each pod (namespace/name). */
  private readonly reservedPodRefs = new Map<string, number>();
  /** Applications (namespace/appId) whose reservation may have a slot freed by a deleted pod. */
  readonly compactionCandidates = new Set<string>();
  /** Bumped on every change; lets callers cache derived views. */
  version = 0;
  /**
   * Bumped when what sizes applications changes (Spark conf ConfigMaps, SparkApplications): a view kept across
   * versions (a repaired FIFO walk) re-reads every shape then.
   */
  shapeVersion = 0;
  /**
   * The names of the nodes whose capacity inputs (the node, its overhead, what is reserved on it) changed, in
   * order, so that views kept across versions catch up on the nodes a change touched instead of re-deriving every
   * node (queue-walks.ts). Absolute positions: `journalStart` is the position of `journal[0]`; a reader that fell
   * behind what was trimmed rebuilds.
   */
  /** Bumped when a node is added, changed or removed (eligibility is cached per scheduling constraint). */
  nodesVersion = 0;
  /**
   * Bumped when what makes a FIFO queue may change: a driver pod added, changed or removed, a reservation
   * appearing or going (an admitted driver leaves its queue). A kept walk re-reads its queue only then.
   */
  queueVersion = 0;
  private journal: string[] = [];
  private journalStart = 0;

  // ---- nodes --------------------------------------------------------------------------------

  upsertNode(node: NodeInfo): void {
    // Node status heartbeats arrive as updates that change nothing the engine reads: they change no version, so
    // nothing kept per version or per node set is dropped for them.
    const old = this.nodes.get(node.name);
    if (old && old !== node && sameNode(old, node)) return;
    this.nodes.set(node.name, node);
    this.touch(node.name);
    this.nodesVersion++;
    this.version++;
  }

  removeNode(name: string): void {
    this.nodes.delete(name);
    this.touch(name);
    this.nodesVersion++;
    this.version++;
  }

  // ---- the journal of touched nodes ------------------------------------------------------------

  /** The position a reader is at once it has read every touched node so far. */
  get journalEnd(): number {
    return this.journalStart + this.journal.length;
  }

  /**
   * The nodes touched since position `from` (repeats possible), or undefined when that part of the journal was
   * trimmed (the reader must rebuild).
   */
  touchedSince(from: number): readonly string[] | undefined {
    if (from < this.journalStart) return undefined;
    return this.journal.slice(from - this.journalStart);
  }

  private touch(node: string): void {
    this.journal.push(node);
    // Bounded: the oldest half goes once it is long (readers that far behind rebuild, which costs what the
    // changes would have).
    if (this.journal.length >= 2 * JOURNAL_KEEP) {
      this.journal = this.journal.slice(JOURNAL_KEEP);
      this.journalStart += JOURNAL_KEEP;
    }
  }

  // ---- pods ---------------------------------------------------------------------------------

  upsertPod(pod: PodInfo): void {
    const key = podKey(pod.namespace, pod.name);
    const seen = this.observed.get(key);
    if (seen && (seen.pod.uid === "" || seen.pod.uid === pod.uid)) this.observed.delete(key);
    if (this.drivers.has(key) || pod.labels[ROLE_LABEL] === "driver") this.queueVersion++;
    this.pods.set(key, pod);
    if (pod.labels[ROLE_LABEL] === "driver") this.drivers.add(key);
    else this.drivers.delete(key);
    this.refreshOverhead(key);
    this.version++;
  }

  removePod(namespace: string, name: string): PodInfo | undefined {
    const key = podKey(namespace, name);
    const pod = this.pods.get(key);
    this.pods.delete(key);
    if (this.drivers.delete(key)) this.queueVersion++;
    this.refreshOverhead(key);
    if (pod && this.reservedPodRefs.has(key)) {
      const id = classifyPod(pod);
      if (id.ok) this.compactionCandidates.add(reservationKey(namespace, id.value.appId));
    }
    this.version++;
    return pod;
  }

  /** The informer's copy of a pod, else the one observed in extender arguments (until it expires). */
  getPod(namespace: string, name: string): PodInfo | undefined {
    const key = podKey(namespace, name);
    return this.pods.get(key) ?? this.observed.get(key)?.pod;
  }

  /** A pod counts as active when it exists and has not terminated. */
  isActive(namespace: string, name: string): boolean {
    const p = this.getPod(namespace, name);
    return p !== undefined && !p.terminated;
  }

  /**
   * Records a pod kube-scheduler asked about that the informer does not have (yet): it is visible to `getPod`
   * until the informer's copy replaces it or `expiresAtMs` passes. A known pod is left as the informer has it.
   */
  observePod(pod: PodInfo, expiresAtMs: number): void {
    const key = podKey(pod.namespace, pod.name);
    if (this.pods.has(key)) return;
    const seen = this.observed.get(key);
    if (seen && seen.pod.uid === pod.uid) {
      seen.expiresAtMs = Math.max(seen.expiresAtMs, expiresAtMs);
      return;
    }
    this.observed.set(key, { pod, expiresAtMs });
    this.version++;
  }

  /** Drops observed pods whose time is up (the informer never showed them: deleted, or never created). */
  expireObserved(nowMs: number): void {
    for (const [key, seen] of this.observed) {
      if (seen.expiresAtMs > nowMs) continue;
      this.observed.delete(key);
      if (this.reservedPodRefs.has(key)) {
        const id = classifyPod(seen.pod);
        if (id.ok) this.compactionCandidates.add(reservationKey(seen.pod.namespace, id.value.appId));
      }
      this.version++;
    }
  }

  /** How many observed pods wait for the informer. */
  get observedCount(): number {
    return this.observed.size;
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

  // ---- Spark confs: ConfigMaps and SparkApplications -----------------------------------------
  // Both size applications (context.ts shape), so a change is a state change: the version moves, and views cached
  // per version (queue verdicts, capacity) are not reused across it.

  /** ConfigMap data by namespace/name (Spark driver confs). Written through putConfigMap / removeConfigMap. */
  get configMaps(): ReadonlyMap<string, Readonly<Record<string, string>>> {
    return this.confMaps;
  }

  /**
   * Spark Operator SparkApplication objects by namespace/name (zero-configuration sizing). Written through
   * putSparkApplication / removeSparkApplication.
   */
  get sparkApplications(): ReadonlyMap<string, unknown> {
    return this.sparkApps;
  }

  /** A Spark conf ConfigMap's data; an unchanged copy (an informer resync) changes nothing. */
  putConfigMap(namespace: string, name: string, data: Readonly<Record<string, string>>): void {
    const key = podKey(namespace, name);
    const old = this.confMaps.get(key);
    if (old && sameData(old, data)) return;
    this.confMaps.set(key, { ...data });
    this.shapeVersion++;
    this.version++;
  }

  removeConfigMap(namespace: string, name: string): void {
    if (this.confMaps.delete(podKey(namespace, name))) {
      this.shapeVersion++;
      this.version++;
    }
  }

  putSparkApplication(namespace: string, name: string, app: unknown): void {
    this.sparkApps.set(podKey(namespace, name), app);
    this.shapeVersion++;
    this.version++;
  }

  removeSparkApplication(namespace: string, name: string): void {
    if (this.sparkApps.delete(podKey(namespace, name))) {
      this.shapeVersion++;
      this.version++;
    }
  }

  // ---- reservations -------------------------------------------------------------------------

  getReservation(namespace: string, appId: string): Reservation | undefined {
    return this.reservations.get(reservationKey(namespace, appId));
  }

  /**
   * The API server's copy of a reservation (informers, garbage collection, reconciliation): it replaces the
   * visible one, or only the base while the pipeline holds the reservation. Copies come in the order the server
   * stored them (the feed drops older echoes: resourceVersions are opaque, nothing here orders them).
   */
  putReservation(r: Reservation): void {
    const key = reservationKey(r.namespace, r.appId);
    const h = this.held.get(key);
    if (h) {
      if (r.resourceVersion) h.delivered.push(r.resourceVersion);
      // A copy at the version the assumed content started from (a re-delivery, or reconciliation's edit of the
      // visible copy) is not newer than the base.
      const stale = r.resourceVersion === h.base?.resourceVersion || r.resourceVersion === this.reservations.get(key)?.resourceVersion;
      if (!h.base || !stale) {
        h.base = r;
        this.recount(key);
      }
      return;
    }
    this.setVisible(key, r);
  }

  /** The server deleted a reservation: it goes, or only its base while the pipeline holds it. */
  removeReservation(namespace: string, appId: string): Reservation | undefined {
    const key = reservationKey(namespace, appId);
    const h = this.held.get(key);
    if (h) {
      const old = h.base;
      h.base = undefined;
      this.recount(key);
      return old;
    }
    return this.setVisible(key, undefined);
  }

  /** A decision's content, not stored yet: it becomes the visible reservation. */
  assumeReservation(r: Reservation): void {
    this.setVisible(reservationKey(r.namespace, r.appId), r);
  }

  /**
   * The pipeline is about to write the visible (assumed) reservation; `base` is what the API server holds
   * (undefined: nothing yet). A reservation already held keeps its base.
   */
  hold(namespace: string, appId: string, base: Reservation | undefined): void {
    const key = reservationKey(namespace, appId);
    if (this.held.has(key)) return;
    this.held.set(key, { base, delivered: [] });
    this.recount(key);
  }

  isHeld(namespace: string, appId: string): boolean {
    return this.held.has(reservationKey(namespace, appId));
  }

  /** How many reservations the pipeline holds (writes in flight). */
  get heldCount(): number {
    return this.held.size;
  }

  /**
   * A held reservation's content was stored with this resourceVersion: it is the base from now on, unless the
   * feed already delivered that version (its base is then that copy or a later one).
   */
  confirmReservation(stored: Reservation): void {
    const h = this.held.get(reservationKey(stored.namespace, stored.appId));
    if (!h) return this.putReservation(stored);
    if (!h.base || !stored.resourceVersion || !h.delivered.includes(stored.resourceVersion)) h.base = stored;
    this.recount(reservationKey(stored.namespace, stored.appId));
  }

  /** Ends a hold: the base (what the API server holds, as far as we know) becomes the visible reservation. */
  release(namespace: string, appId: string): void {
    const key = reservationKey(namespace, appId);
    const h = this.held.get(key);
    if (!h) return;
    this.held.delete(key);
    this.setVisible(key, h.base);
  }

  private setVisible(key: string, r: Reservation | undefined): Reservation | undefined {
    const old = this.reservations.get(key);
    if (!old !== !r) this.queueVersion++;
    if (r) this.reservations.set(key, r);
    else this.reservations.delete(key);
    if (r) for (const pod of r.pods.values()) this.reference(r.namespace, pod, +1);
    if (old) for (const pod of old.pods.values()) this.reference(old.namespace, pod, -1);
    this.recount(key);
    // A reservation arriving from the API server may name pods that are already gone.
    if (r) this.compactionCandidates.add(key);
    this.version++;
    return old;
  }

  /** Re-derives one reservation's per-node usage: its visible slots, or while held the larger of base and visible. */
  private recount(key: string): void {
    const old = this.contributions.get(key);
    if (old) {
      for (const [node, res] of old) {
        subInto(this.reserved.get(node)!, res);
        this.touch(node);
      }
    }
    const visible = this.reservations.get(key);
    const next = usageByNode(visible);
    const h = this.held.get(key);
    if (h && h.base && h.base !== visible) {
      for (const [node, res] of usageByNode(h.base)) {
        const cur = next.get(node);
        if (!cur) next.set(node, res);
        else {
          cur.cpu = Math.max(cur.cpu, res.cpu);
          cur.memory = Math.max(cur.memory, res.memory);
          cur.gpu = Math.max(cur.gpu, res.gpu);
        }
      }
    }
    if (next.size > 0) this.contributions.set(key, next);
    else this.contributions.delete(key);
    for (const [node, res] of next) {
      let u = this.reserved.get(node);
      if (!u) this.reserved.set(node, (u = zero()));
      addInto(u, res);
      this.touch(node);
    }
    this.version++;
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

  /** The part of a node's overhead made of pods scheduled by `schedulerName` (read it, do not change it). */
  overheadOfScheduler(schedulerName: string, node: string): Resources | undefined {
    return this.overheadByScheduler.get(schedulerName)?.get(node);
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
      subInto(this.overheadByScheduler.get(old.schedulerName)!.get(old.node)!, old.requests);
      this.overheadPods.delete(key);
      this.touch(old.node);
      if (old.app) {
        const loose = this.looseExecutors.get(old.app);
        loose?.delete(key);
        if (loose?.size === 0) this.looseExecutors.delete(old.app);
      }
    }
    const p = this.pods.get(key);
    if (!p || !p.nodeName || p.terminated || this.reservedPodRefs.has(key)) return;
    // A Terminating executor has handed its slot on (its replacement may take it): it holds none.
    // Most overhead pods are not Spark pods: the role label is read before the pod is classified.
    const identity = !p.deleting && p.labels[ROLE_LABEL] === "executor" ? classifyPod(p) : undefined;
    const app = identity?.ok ? reservationKey(p.namespace, identity.value.appId) : undefined;
    if (app) {
      let loose = this.looseExecutors.get(app);
      if (!loose) this.looseExecutors.set(app, (loose = new Map()));
      loose.set(key, p.nodeName);
    }
    this.touch(p.nodeName);
    let sum = this.overheadByNode.get(p.nodeName);
    if (!sum) this.overheadByNode.set(p.nodeName, (sum = zero()));
    addInto(sum, p.requests);
    let byNode = this.overheadByScheduler.get(p.schedulerName);
    if (!byNode) this.overheadByScheduler.set(p.schedulerName, (byNode = new Map()));
    let part = byNode.get(p.nodeName);
    if (!part) byNode.set(p.nodeName, (part = zero()));
    addInto(part, p.requests);
    this.overheadPods.set(key, { node: p.nodeName, requests: p.requests, schedulerName: p.schedulerName, app });
  }

  /** How many running executors of an application that no reservation names run on `node` (but `except`). */
  looseExecutorsOn(namespace: string, appId: string, node: string, except?: string): number {
    const loose = this.looseExecutors.get(reservationKey(namespace, appId));
    if (!loose) return 0;
    const skip = except === undefined ? undefined : podKey(namespace, except);
    let n = 0;
    for (const [key, on] of loose) if (on === node && key !== skip) n++;
    return n;
  }

  private account(slots: Iterable<Slot>, sign: 1 | -1): void {
    for (const s of slots) {
      let u = this.reserved.get(s.node);
      if (!u) this.reserved.set(s.node, (u = zero()));
      if (sign > 0) addInto(u, s.resources);
      else subInto(u, s.resources);
      this.touch(s.node);
    }
  }
}

/** How many journal entries are kept at least (see `touch`). */
const JOURNAL_KEEP = 1 << 16;

function sameNode(a: NodeInfo, b: NodeInfo): boolean {
  return (
    a.createdAtMs === b.createdAtMs &&
    a.unschedulable === b.unschedulable &&
    a.ready === b.ready &&
    a.allocatable.cpu === b.allocatable.cpu &&
    a.allocatable.memory === b.allocatable.memory &&
    a.allocatable.gpu === b.allocatable.gpu &&
    sameData(a.labels, b.labels) &&
    JSON.stringify(a.taints) === JSON.stringify(b.taints)
  );
}

function sameData(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

function usageByNode(r: Reservation | undefined): Map<string, Resources> {
  const out = new Map<string, Resources>();
  if (!r) return out;
  for (const s of r.slots.values()) {
    let u = out.get(s.node);
    if (!u) out.set(s.node, (u = zero()));
    addInto(u, s.resources);
  }
  return out;
}
