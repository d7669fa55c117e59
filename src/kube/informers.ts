// Informers that keep the engine's ClusterState in step with the API server: the one cache of the Kubernetes
// side. There is no second copy of the objects: each object is converted (stripped to what the engine reads)
// as it arrives, the converted value goes into the engine's state, and the informer itself keeps only each
// object's key, resourceVersion and that same converted value (to tell deletions after a re-list).
//
// ResilientInformer lists and watches one collection the way kube-apiserver expects a well-behaved client to:
// - lists are paginated (`limit`, `continue`); a continue token that expired (410) restarts the list; the
//   first list is a consistent read, a re-list after a lost watch asks for `resourceVersionMatch=NotOlderThan`
//   the last version seen, which the API server may serve from its watch cache without going back in time;
// - watches ask for a server-side `timeoutSeconds` (spread over [min, 2·min) so that replicas do not re-watch
//   in step) and for bookmarks, so that a quiet collection still advances the resourceVersion to resume from;
// - a watch that delivers nothing (not even a bookmark) for `idleMs`, or outlives its own timeoutSeconds by
//   `idleMs`, is half-open: it is abandoned and re-established from the last resourceVersion. A silent
//   connection therefore can never leave the state stale without the failure being seen;
// - a watch that ends cleanly resumes from the last resourceVersion; 410 Gone re-lists; any other failure is
//   retried with backoff (`backoffMs`, the one retry policy of src/kube/), and counted in `failingSinceMs`
//   (on the injected monotonic clock) until a list or watch succeeds again.
// The informers treat resourceVersions as opaque strings: they resume from them and compare them for
// equality, never for order.
//
// Events are applied through a serialiser (the scheduler's mutex), in the order they arrived, so the state
// never changes while a decision is being made, and an informer counts as synced only once its initial list
// has been applied. A list is applied a page at a time (no single step holds the event loop for the whole
// cluster); deletions found by a re-list are applied after its last page.
//
// The feeds below convert objects with the engine's converters and apply them:
// - nodes and pods: upsert / remove; an executor deleted or terminated releases its soft reservation for good;
//   pods that are neither Spark pods nor pods for this scheduler keep only what capacity needs (no labels,
//   annotations or placement constraints);
// - ResourceReservations: an event is applied unless the engine already holds that same resourceVersion or it
//   was committed before a write of ours the watch has not delivered yet (our own writes echo back; an old copy
//   must never replace a newer one; resourceVersions are opaque, so reservation-echoes.ts orders copies by the
//   watch), and an update never replaces content the pipeline holds assumed (state.putReservation decides); a
//   deletion removes the reservation and the application's soft reservations, unless it is older than a
//   write of ours (a newer incarnation);
// - Spark conf ConfigMaps are not watched at all (src/kube/spark-conf-maps.ts fetches the few that drivers
//   name).

import { KubeApi, type KubeConfig, Watch } from "./client.js";
import type { Logger } from "pino";
import { type PodInfo, nodeFromObject, podFromObject } from "../engine/model.js";
import { RR_GROUP, RR_PLURAL, RR_VERSION, type Reservation, reservationFromObject, reservationKey } from "../engine/reservation.js";
import { classifyPod } from "../engine/spark-pods.js";
import type { ClusterState } from "../engine/state.js";
import { ReservationEchoes } from "./reservation-echoes.js";
import { kubeObserver } from "../server/metrics.js";
import { apiErrorCode, apiErrorMessage, backoffMs } from "./reservation-writer.js";

export type Serializer = <T>(fn: () => Promise<T>) => Promise<T>;

export interface InformerHandlers<V> {
  /** `listed`: the copy comes from a list (not in watch order with the events), not from a watch event. */
  upsert(value: V, listed: boolean): void;
  remove(value: V, listed: boolean): void;
}

/** One page of a list: what the API client answers (typed clients and custom-object calls alike). */
export interface ListPage {
  items?: unknown[];
  metadata?: { resourceVersion?: string; _continue?: string; continue?: string };
}

export interface ListOptions {
  limit: number;
  _continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface WatchTiming {
  /** Server-side watch timeout: each watch asks for a value in [min, 2·min) seconds. Default 300. */
  minTimeoutSeconds: number;
  /** A watch that delivers nothing (bookmarks included) for this long is abandoned. Default 90 s. */
  idleMs: number;
  /** Page size of lists. Default 500. */
  pageSize: number;
}

export const DEFAULT_WATCH_TIMING: WatchTiming = { minTimeoutSeconds: 300, idleMs: 90_000, pageSize: 500 };

export interface ResilientInformerOptions<V> {
  /** Short name for logs and readiness reasons, e.g. "pods". */
  name: string;
  kc: KubeConfig;
  /** Collection path, e.g. /api/v1/pods. */
  path: string;
  list: (options: ListOptions) => Promise<ListPage>;
  /** The engine's value for an object; a string is a reason to ignore the object (logged once per version). */
  decode: (obj: unknown) => V | string;
  handlers: InformerHandlers<V>;
  serialize: Serializer;
  log: Logger;
  backoff?: { initialMs: number; maxMs: number };
  timing?: Partial<WatchTiming>;
  /** Monotonic clock (ms) for failure durations; default performance.now. */
  monotonic?: () => number;
}

const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 };

/** How a watch ended, when it did not fail. */
type WatchEnd = "ended" | "expired" | "idle" | "stopped";

class WatchFailure extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
  }
}

interface Known<V> {
  resourceVersion: string;
  value: V;
}

export class ResilientInformer<V> {
  readonly name: string;
  /** True once the initial list has been applied (stays true across restarts: the state is kept). */
  synced = false;
  /** How many times the list/watch was re-established after a failure. */
  restarts = 0;
  /** Watches abandoned because they delivered nothing for `idleMs`. */
  idleWatches = 0;
  /** The last error, until the next successful list or watch. */
  lastError: string | undefined;
  /** When the current run of failures began (monotonic clock), undefined while healthy. */
  failingSinceMs: number | undefined;
  /** The last resourceVersion seen (list, event or bookmark); opaque. */
  resourceVersion = "";
  private readonly known = new Map<string, Known<V>>();
  private readonly log: Logger;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly timing: WatchTiming;
  private readonly monotonic: () => number;
  private readonly syncedListeners: (() => void)[] = [];
  /** Callers of start() still waiting: released when synced, or when stopped first. */
  private readonly startWaiters: (() => void)[] = [];
  private failures = 0;
  private stopped = true;
  private running: Promise<void> | undefined;
  /** Aborts the current watch or the backoff sleep. */
  private interrupt: (() => void) | undefined;
  /** Keys whose undecodable version was already logged. */
  private readonly rejected = new Map<string, string>();

  constructor(private readonly options: ResilientInformerOptions<V>) {
    this.name = options.name;
    this.log = options.log.child({ informer: options.name });
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.timing = { ...DEFAULT_WATCH_TIMING, ...options.timing };
    this.monotonic = options.monotonic ?? (() => performance.now());
  }

  /** How long the current run of failures has lasted (ms), or undefined while healthy. */
  failingForMs(): number | undefined {
    return this.failingSinceMs === undefined ? undefined : Math.max(0, this.monotonic() - this.failingSinceMs);
  }

  /** How many objects the informer knows. */
  get size(): number {
    return this.known.size;
  }

  /** Calls `listener` once the informer is synced (at once when it already is). */
  onSynced(listener: () => void): void {
    if (this.synced) listener();
    else this.syncedListeners.push(listener);
  }

  /**
   * Starts the informer; resolves once it is synced (retrying failed lists with backoff meanwhile), or when it
   * is stopped before that.
   */
  start(): Promise<void> {
    const synced = new Promise<void>((resolve) => (this.synced ? resolve() : this.startWaiters.push(resolve)));
    if (this.stopped) {
      this.stopped = false;
      kubeObserver.watchInformer(this);
      this.running = this.run();
    }
    return synced;
  }

  async stop(): Promise<void> {
    kubeObserver.forgetInformer(this);
    this.stopped = true;
    this.interrupt?.();
    for (const release of this.startWaiters.splice(0)) release();
    await this.running;
  }

  private async run(): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          if (this.stopped) return;
          needList = false;
          this.healthy();
          await this.markSynced();
        }
        const end = await this.watchOnce();
        if (end === "expired") needList = true;
        if (end === "idle") {
          this.idleWatches++;
          this.log.warn({ idleMs: this.timing.idleMs, resourceVersion: this.resourceVersion }, "watch delivered nothing; re-watching");
        }
      } catch (e) {
        if (this.stopped) return;
        if (apiErrorCode(e) === 410) {
          needList = true;
          continue;
        }
        await this.failed(e);
      }
    }
  }

  private healthy(): void {
    if (this.failures > 0) this.log.info({ restarts: this.restarts }, "informer watching again");
    this.failures = 0;
    this.lastError = undefined;
    this.failingSinceMs = undefined;
  }

  private async markSynced(): Promise<void> {
    if (this.synced) return;
    await this.options.serialize(async () => undefined);
    if (this.stopped || this.synced) return;
    this.synced = true;
    this.log.info({ objects: this.known.size }, "informer synced");
    for (const listener of [...this.syncedListeners.splice(0), ...this.startWaiters.splice(0)]) listener();
  }

  private async failed(err: unknown): Promise<void> {
    this.lastError = apiErrorMessage(err);
    this.failingSinceMs ??= this.monotonic();
    this.failures++;
    const delayMs = backoffMs({ initialBackoffMs: this.backoff.initialMs, maxBackoffMs: this.backoff.maxMs }, this.failures);
    this.log.warn({ err: this.lastError, attempt: this.failures, delayMs }, "informer failed; restarting");
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delayMs);
      this.interrupt = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.interrupt = undefined;
    if (!this.stopped) this.restarts++;
  }

  /** Lists the collection page by page, applying each page; then removes what the list no longer holds. */
  private async relist(): Promise<void> {
    const seen = new Set<string>();
    const resume = this.resourceVersion;
    let token: string | undefined;
    for (;;) {
      const options: ListOptions = { limit: this.timing.pageSize };
      if (token) options._continue = token;
      else if (resume) Object.assign(options, { resourceVersion: resume, resourceVersionMatch: "NotOlderThan" });
      let page: ListPage;
      try {
        page = await this.options.list(options);
      } catch (e) {
        // An expired continue token: the list restarts from its first page.
        if (token && apiErrorCode(e) === 410) {
          seen.clear();
          token = undefined;
          continue;
        }
        throw e;
      }
      if (this.stopped) return;
      const items = (page.items ?? []).map((obj) => ({ obj, key: keyOf(obj), rv: versionOf(obj) }));
      await this.options.serialize(async () => {
        for (const item of items) {
          seen.add(item.key);
          this.apply("upsert", item.obj, item.key, item.rv, true);
        }
      });
      token = page.metadata?._continue ?? page.metadata?.continue ?? undefined;
      if (!token) {
        this.resourceVersion = page.metadata?.resourceVersion ?? this.resourceVersion;
        break;
      }
    }
    const gone = [...this.known.keys()].filter((k) => !seen.has(k));
    if (gone.length > 0) {
      await this.options.serialize(async () => {
        for (const key of gone) this.forget(key, undefined, true);
      });
    }
  }

  /** Applies one object (inside the serialiser). */
  private apply(type: "upsert" | "remove", obj: unknown, key: string, rv: string, listed = false): void {
    if (type === "remove") {
      this.forget(key, obj, listed);
      return;
    }
    const held = this.known.get(key);
    if (held && held.resourceVersion === rv && rv !== "") return;
    const value = this.options.decode(obj);
    if (typeof value === "string") {
      if (this.rejected.get(key) !== rv) this.log.warn({ key, resourceVersion: rv, err: value }, "ignoring object");
      this.rejected.set(key, rv);
      if (held) this.forget(key, undefined, listed);
      return;
    }
    this.rejected.delete(key);
    this.known.set(key, { resourceVersion: rv, value });
    this.options.handlers.upsert(value, listed);
  }

  /** Removes an object: with the final state the watch delivered, or the last value known (a re-list). */
  private forget(key: string, obj?: unknown, listed = false): void {
    this.rejected.delete(key);
    const held = this.known.get(key);
    this.known.delete(key);
    const decoded = obj === undefined ? undefined : this.options.decode(obj);
    const value = decoded !== undefined && typeof decoded !== "string" ? decoded : held?.value;
    if (value !== undefined) this.options.handlers.remove(value, listed);
  }

  /** One watch from the last resourceVersion, until it ends, expires, goes idle, fails or is stopped. */
  private watchOnce(): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve, reject) => {
      const timeoutSeconds = Math.floor(this.timing.minTimeoutSeconds * (1 + Math.random()));
      const watch = new Watch(this.options.kc);
      // client-node's own inactivity timer (a private field, 30 s by default) would end a quiet watch sooner
      // than the API server's bookmarks (about a minute) keep it busy, and reports that like a clean end: it
      // is pushed beyond the idle detector below, which is ours.
      (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 2 * this.timing.idleMs;
      let controller: AbortController | undefined;
      let outcome: WatchEnd | WatchFailure | undefined;
      let settled = false;
      let started = false;
      // The watch is live once its response started (client-node resolves then) or its first event came.
      const markStarted = () => {
        if (started) return;
        started = true;
        this.healthy();
      };
      const finish = (end: WatchEnd | Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        clearTimeout(idle);
        this.interrupt = undefined;
        controller?.abort();
        if (end instanceof Error) reject(end);
        else resolve(end);
      };
      // A watch the server should have closed by now (its timeoutSeconds passed) is as suspect as a silent one.
      const deadline = setTimeout(() => finish("idle"), timeoutSeconds * 1000 + this.timing.idleMs);
      // The idle detector: every event (bookmarks included) re-arms it.
      let idle = setTimeout(() => finish("idle"), this.timing.idleMs);
      this.interrupt = () => finish("stopped");
      const onEvent = (type: string, obj: unknown) => {
        if (settled) return;
        clearTimeout(idle);
        idle = setTimeout(() => finish("idle"), this.timing.idleMs);
        markStarted();
        if (type === "ERROR") {
          const status = obj as { code?: number; message?: string } | undefined;
          outcome = status?.code === 410 ? "expired" : new WatchFailure(`watch error: ${status?.message ?? "unknown"}`, status?.code);
          return;
        }
        const rv = versionOf(obj);
        if (rv) this.resourceVersion = rv;
        if (type === "BOOKMARK") return;
        if (type !== "ADDED" && type !== "MODIFIED" && type !== "DELETED") return;
        const key = keyOf(obj);
        const op = type === "DELETED" ? "remove" : "upsert";
        kubeObserver.informerEvent(this, type === "ADDED" ? creationMs(obj) : undefined);
        this.options
          .serialize(async () => this.apply(op, obj, key, rv))
          .catch((e: unknown) => this.log.error({ err: e, key, op }, "applying informer event failed"));
      };
      const onDone = (err: unknown) => {
        if (err) {
          const name = (err as { name?: unknown }).name;
          if (name === "TimeoutError") return finish(started ? "idle" : new WatchFailure("watch did not start in time"));
          if (name === "AbortError" && settled) return;
          return finish(err instanceof Error ? err : new WatchFailure(String(err)));
        }
        finish(outcome ?? "ended");
      };
      const query: Record<string, string | number | boolean> = { allowWatchBookmarks: true, timeoutSeconds };
      if (this.resourceVersion) query.resourceVersion = this.resourceVersion;
      watch.watch(this.options.path, query, onEvent, onDone).then(
        (c) => {
          controller = c;
          if (settled) c.abort();
          else markStarted();
        },
        (e: unknown) => finish(e instanceof Error ? e : new WatchFailure(String(e))),
      );
    });
  }
}

function metaOf(obj: unknown): Record<string, unknown> {
  const meta = (obj as { metadata?: unknown } | null)?.metadata;
  return meta !== null && typeof meta === "object" ? (meta as Record<string, unknown>) : {};
}

function keyOf(obj: unknown): string {
  const meta = metaOf(obj);
  const ns = typeof meta.namespace === "string" ? meta.namespace : "";
  return `${ns}/${String(meta.name ?? "")}`;
}

function versionOf(obj: unknown): string {
  const rv = metaOf(obj).resourceVersion;
  return typeof rv === "string" ? rv : "";
}

function creationMs(obj: unknown): number | undefined {
  const t = metaOf(obj).creationTimestamp;
  const ms = t instanceof Date ? t.getTime() : typeof t === "string" ? Date.parse(t) : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * One page of a collection, decoded as plain JSON. client-node's typed list calls run every object through its
 * ObjectSerializer (class instances, Dates) on top of the parsed JSON and the response text: at 50,000 pods that
 * is two transient copies of each page more than the informer needs, and the decoders read plain JSON anyway
 * (watch events arrive that way).
 */
export function listRaw(api: KubeApi, path: string, options: ListOptions): Promise<ListPage> {
  return api.get<ListPage>(path, {
    limit: options.limit,
    continue: options._continue || undefined,
    resourceVersion: options.resourceVersion,
    resourceVersionMatch: options.resourceVersionMatch || undefined,
  });
}

// ---- feeds ----------------------------------------------------------------------------------

export interface FeedHooks {
  /** A driver pod was deleted, or has finished (Succeeded / Failed). Called inside the serialiser. */
  driverEnded?(pod: PodInfo, deleted: boolean): void;
  /** A pod was added or changed (inside the serialiser), after the state has it. */
  podSeen?(pod: PodInfo): void;
}

export interface ClusterInformers {
  nodes: ResilientInformer<ReturnType<typeof nodeFromObject>>;
  pods: ResilientInformer<PodInfo>;
  reservations: ResilientInformer<Reservation>;
}

export interface ClusterInformerOptions {
  kc: KubeConfig;
  state: ClusterState;
  serialize: Serializer;
  log: Logger;
  /** The scheduler name of this extender: its pods keep their labels, annotations and constraints. */
  schedulerName?: string;
  hooks?: FeedHooks;
  /** Shared with the reservation writer, which reports its writes (a fresh one when there is no writer). */
  echoes?: ReservationEchoes;
  backoff?: { initialMs: number; maxMs: number };
  timing?: Partial<WatchTiming>;
  monotonic?: () => number;
}

/** The three informers that feed the engine: Nodes, Pods and ResourceReservations, all namespaces. */
export function clusterInformers(options: ClusterInformerOptions): ClusterInformers {
  const { kc, state, serialize, log, backoff, timing, monotonic } = options;
  const common = { kc, serialize, log, backoff, timing, monotonic };
  const api = new KubeApi(kc);
  const interner = new PodInterner();
  return {
    nodes: new ResilientInformer({
      ...common,
      name: "nodes",
      path: "/api/v1/nodes",
      list: (o) => listRaw(api, "/api/v1/nodes", o),
      decode: (obj) => nodeFromObject(obj),
      handlers: {
        upsert: (node) => state.upsertNode(node),
        remove: (node) => state.removeNode(node.name),
      },
    }),
    pods: new ResilientInformer<PodInfo>({
      ...common,
      name: "pods",
      path: "/api/v1/pods",
      list: (o) => listRaw(api, "/api/v1/pods", o),
      decode: (obj) => interner.pod(leanPod(podFromObject(obj), options.schedulerName)),
      handlers: podHandlers(state, options.hooks ?? {}),
    }),
    reservations: new ResilientInformer<Reservation>({
      ...common,
      name: "resourcereservations",
      path: `/apis/${RR_GROUP}/${RR_VERSION}/${RR_PLURAL}`,
      list: (o) => listRaw(api, `/apis/${RR_GROUP}/${RR_VERSION}/${RR_PLURAL}`, o),
      decode: (obj) => reservationFromObject(obj),
      handlers: reservationHandlers(state, options.echoes ?? new ReservationEchoes()),
    }),
  };
}

/**
 * Shares what many pods repeat, in the values the pod informer keeps: strings (namespaces, node names, label
 * and annotation values) and placement constraints (the node selector, node-affinity terms and tolerations,
 * the same for every pod of a Spark application, otherwise one copy per pod). The state never mutates a pod's
 * values, so equal parts can be one object. Bounded: past `limit` entries a table starts afresh (what was
 * shared stays shared).
 */
export class PodInterner {
  private strings = new Map<string, string>();
  private shapes = new Map<string, unknown>();

  constructor(private readonly limit = 100_000) {}

  str(s: string): string {
    const held = this.strings.get(s);
    if (held !== undefined) return held;
    if (this.strings.size >= this.limit) this.strings = new Map();
    this.strings.set(s, s);
    return s;
  }

  /** One object for JSON-equal plain data. */
  shape<T>(value: T): T {
    const key = JSON.stringify(value);
    const held = this.shapes.get(key);
    if (held !== undefined) return held as T;
    if (this.shapes.size >= this.limit) this.shapes = new Map();
    this.shapes.set(key, value);
    return value;
  }

  pod(pod: PodInfo): PodInfo {
    const values = (r: Record<string, string>) => {
      const out: Record<string, string> = {};
      for (const k in r) out[k] = this.str(r[k]);
      return out;
    };
    return {
      ...pod,
      namespace: this.str(pod.namespace),
      nodeName: this.str(pod.nodeName),
      schedulerName: this.str(pod.schedulerName),
      labels: values(pod.labels),
      annotations: values(pod.annotations),
      nodeSelector: this.shape(pod.nodeSelector),
      requiredNodeTerms: this.shape(pod.requiredNodeTerms),
      tolerations: this.shape(pod.tolerations),
    };
  }
}

/**
 * A pod as the engine needs it. Pods that are neither Spark pods nor addressed to this scheduler only count
 * for capacity (node, requests, phase): their labels, annotations and placement constraints are dropped, which
 * is most of a pod's size at 50,000 pods.
 */
export function leanPod(pod: PodInfo, schedulerName: string | undefined): PodInfo {
  if ((schedulerName !== undefined && pod.schedulerName === schedulerName) || classifyPod(pod).ok) return pod;
  if (Object.keys(pod.labels).some((k) => k.startsWith("spark"))) return pod;
  return { ...pod, labels: {}, annotations: {}, nodeSelector: {}, requiredNodeTerms: [], tolerations: [], sparkConfMap: undefined };
}

function podHandlers(state: ClusterState, hooks: FeedHooks): InformerHandlers<PodInfo> {
  const ended = (pod: PodInfo, deleted: boolean) => {
    const id = classifyPod(pod);
    if (!id.ok) return;
    if (id.value.role === "executor") {
      state.removeSoft(pod.namespace, id.value.appId, pod.name, true);
    } else {
      state.dropSoftApp(pod.namespace, id.value.appId);
      hooks.driverEnded?.(pod, deleted);
    }
  };
  // A Terminating executor (deletionTimestamp set, containers still stopping) gives up its soft reservation as
  // its reservation slot is given up (isUnbound): Spark has asked for its replacement already. It still
  // occupies its node, as node overhead, until it is gone. A Terminating driver keeps its reservation until it
  // is gone or has terminated: its executors may still run.
  const terminating = (pod: PodInfo) => {
    const id = classifyPod(pod);
    if (id.ok && id.value.role === "executor") state.removeSoft(pod.namespace, id.value.appId, pod.name, true);
  };
  return {
    upsert: (pod) => {
      const before = state.getPod(pod.namespace, pod.name);
      const same = before?.uid === pod.uid;
      state.upsertPod(pod);
      if (pod.terminated && !(before?.terminated && same)) ended(pod, false);
      else if (pod.deleting && !pod.terminated && !(before?.deleting && same)) terminating(pod);
      hooks.podSeen?.(pod);
    },
    remove: (pod) => {
      const known = state.getPod(pod.namespace, pod.name);
      // A newer pod of the same name may already have replaced the deleted one.
      if (known && pod.uid && known.uid && known.uid !== pod.uid) return;
      state.removePod(pod.namespace, pod.name);
      ended(pod, true);
    },
  };
}

function reservationHandlers(state: ClusterState, echoes: ReservationEchoes): InformerHandlers<Reservation> {
  return {
    upsert: (r, listed) => {
      const key = reservationKey(r.namespace, r.appId);
      // Our own writes echo back, possibly after a later write of ours was acknowledged: an older copy must
      // never replace a newer one. resourceVersions are opaque, so the watch's order tells (ReservationEchoes).
      if (!echoes.current(key, r.resourceVersion ?? "", listed)) return;
      const held = state.getReservation(r.namespace, r.appId);
      if (held && held.resourceVersion === r.resourceVersion) return;
      state.putReservation(r);
    },
    remove: (r, listed) => {
      const key = reservationKey(r.namespace, r.appId);
      // A deletion committed before a write of ours the watch has not delivered yet belongs to an earlier
      // incarnation of this application's reservation.
      if (!echoes.current(key, r.resourceVersion ?? "", listed)) return;
      echoes.forget(key);
      if (!state.getReservation(r.namespace, r.appId)) return;
      state.removeReservation(r.namespace, r.appId);
      state.dropSoftApp(r.namespace, r.appId);
    },
  };
}
