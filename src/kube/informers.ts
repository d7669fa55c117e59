// Informers that keep the engine's ClusterState in step with the API server.
//
// ResilientInformer wraps client-node's ListWatch. In client-node 2.0 a ListWatch still STOPS on any watch or list
// error other than 410 Gone and its own 30 s inactivity timeout (it re-lists after 410 and re-watches after a
// clean end or that timeout); this wrapper restarts
// it with exponential backoff (500 ms doubling to 30 s, reset after a successful restart). A restart resumes the
// watch from the last resourceVersion, or re-lists when that is gone; the ListWatch then reports what changed
// meanwhile (including deletions) as ordinary events.
//
// Events are applied through a serialiser (the scheduler's mutex), so the state never changes while a decision
// is being made or persisted, and an informer counts as synced only once its initial list has been applied.
//
// The feeds below convert objects with the engine's converters and apply them:
// - nodes and pods: upsert / remove; an executor deleted or terminated releases its soft reservation for good;
// - ResourceReservations: an event is applied unless the engine already holds the same or a newer
//   resourceVersion (our own writes echo back; an old copy must never replace a newer one); a deletion removes
//   the reservation and the application's soft reservations, unless the engine holds a newer incarnation;
// - ConfigMaps: only those with a `spark.properties` key are kept (Spark driver confs), keyed namespace/name.

import * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { type PodInfo, nodeFromObject, podFromObject } from "../engine/model.js";
import { RR_GROUP, RR_PLURAL, RR_VERSION, reservationFromObject } from "../engine/reservation.js";
import { SPARK_PROPERTIES_KEY } from "../engine/spark-conf.js";
import { classifyPod } from "../engine/spark-pods.js";
import type { ClusterState } from "../engine/state.js";
import { kubeObserver } from "../server/metrics.js";
import { apiErrorMessage } from "./reservation-writer.js";

export type Serializer = <T>(fn: () => Promise<T>) => Promise<T>;

export interface InformerHandlers<T> {
  upsert(obj: T): void;
  remove(obj: T): void;
}

export interface ResilientInformerOptions<T extends k8s.KubernetesObject> {
  /** Short name for logs and readiness reasons, e.g. "pods". */
  name: string;
  kc: k8s.KubeConfig;
  /** Watch path, e.g. /api/v1/pods. */
  path: string;
  list: () => Promise<k8s.KubernetesListObject<T>>;
  handlers: InformerHandlers<T>;
  serialize: Serializer;
  log: Logger;
  backoff?: { initialMs: number; maxMs: number };
}

const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 };

export class ResilientInformer<T extends k8s.KubernetesObject> {
  readonly name: string;
  /** True once the initial list has been applied (stays true across restarts: the state is kept). */
  synced = false;
  /** How many times the informer was restarted after an error. */
  restarts = 0;
  /** The last error, until the next successful (re)start. */
  lastError: string | undefined;
  /** When the current run of failures began (Date.now()), undefined while healthy. */
  failingSinceMs: number | undefined;
  private readonly informer: k8s.ListWatch<T>;
  private readonly log: Logger;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly syncedListeners: (() => void)[] = [];
  /** Callers of start() still waiting: released when synced, or when stopped first. */
  private readonly startWaiters: (() => void)[] = [];
  private failures = 0;
  private stopped = true;
  private errorInAttempt = false;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ResilientInformerOptions<T>) {
    this.name = options.name;
    this.log = options.log.child({ informer: options.name });
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.informer = new k8s.ListWatch<T>(options.path, new k8s.Watch(options.kc), options.list, false);
    const apply = (what: "upsert" | "remove") => (obj: T) => {
      options
        .serialize(async () => options.handlers[what](obj))
        .catch((e: unknown) => {
          const meta = obj.metadata ?? {};
          this.log.error({ err: e, namespace: meta.namespace, name: meta.name, op: what }, "applying informer event failed");
        });
    };
    this.informer.on("add", apply("upsert"));
    this.informer.on("update", apply("upsert"));
    this.informer.on("delete", apply("remove"));
    this.informer.on("error", (err: unknown) => this.failed(err));
    kubeObserver.watchInformer(this, this.informer);
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
      void this.attempt();
    }
    return synced;
  }

  async stop(): Promise<void> {
    kubeObserver.forgetInformer(this);
    this.stopped = true;
    clearTimeout(this.restartTimer);
    for (const release of this.startWaiters.splice(0)) release();
    await this.informer.stop();
  }

  private async attempt(): Promise<void> {
    this.errorInAttempt = false;
    try {
      await this.informer.start();
    } catch (e) {
      this.failed(e);
      return;
    }
    if (this.stopped) return;
    if (!this.errorInAttempt) {
      if (this.failures > 0) this.log.info({ restarts: this.restarts }, "informer watching again");
      this.failures = 0;
      this.lastError = undefined;
      this.failingSinceMs = undefined;
    }
    // A resourceVersion means the list succeeded and its events were handed to the serialiser.
    if (!this.synced && this.informer.latestResourceVersion() !== "") {
      await this.options.serialize(async () => undefined);
      if (this.stopped || this.synced) return;
      this.synced = true;
      this.log.info({ objects: this.informer.list().length }, "informer synced");
      for (const listener of [...this.syncedListeners.splice(0), ...this.startWaiters.splice(0)]) listener();
    }
  }

  private failed(err: unknown): void {
    if (this.stopped) return; // stop() aborts the watch, which the ListWatch may report as an error
    this.errorInAttempt = true;
    this.lastError = apiErrorMessage(err);
    this.failingSinceMs ??= Date.now();
    if (this.restartTimer) return;
    this.failures++;
    const delayMs = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** (this.failures - 1));
    this.log.warn({ err: this.lastError, attempt: this.failures, delayMs }, "informer failed; restarting");
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      this.restarts++;
      void this.attempt();
    }, delayMs).unref();
  }
}

// ---- feeds ----------------------------------------------------------------------------------

export interface FeedHooks {
  /** A driver pod was deleted, or has finished (Succeeded / Failed). Called inside the serialiser. */
  driverEnded?(pod: PodInfo, deleted: boolean): void;
}

export interface ClusterInformers {
  nodes: ResilientInformer<k8s.V1Node>;
  pods: ResilientInformer<k8s.V1Pod>;
  reservations: ResilientInformer<k8s.KubernetesObject>;
  configMaps: ResilientInformer<k8s.V1ConfigMap>;
}

export interface ClusterInformerOptions {
  kc: k8s.KubeConfig;
  state: ClusterState;
  serialize: Serializer;
  log: Logger;
  hooks?: FeedHooks;
  backoff?: { initialMs: number; maxMs: number };
}

/** The four informers that feed the engine: Nodes, Pods, ResourceReservations and ConfigMaps, all namespaces. */
export function clusterInformers(options: ClusterInformerOptions): ClusterInformers {
  const { kc, state, serialize, log, backoff } = options;
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const common = { kc, serialize, log, backoff };
  return {
    nodes: new ResilientInformer<k8s.V1Node>({
      ...common,
      name: "nodes",
      path: "/api/v1/nodes",
      list: () => core.listNode(),
      handlers: {
        upsert: (obj) => state.upsertNode(nodeFromObject(obj)),
        remove: (obj) => state.removeNode(obj.metadata?.name ?? ""),
      },
    }),
    pods: new ResilientInformer<k8s.V1Pod>({
      ...common,
      name: "pods",
      path: "/api/v1/pods",
      list: () => core.listPodForAllNamespaces(),
      handlers: podHandlers(state, options.hooks ?? {}),
    }),
    reservations: new ResilientInformer<k8s.KubernetesObject>({
      ...common,
      name: "resourcereservations",
      path: `/apis/${RR_GROUP}/${RR_VERSION}/${RR_PLURAL}`,
      list: () => custom.listClusterCustomObject({ group: RR_GROUP, version: RR_VERSION, plural: RR_PLURAL }),
      handlers: reservationHandlers(state, log),
    }),
    configMaps: new ResilientInformer<k8s.V1ConfigMap>({
      ...common,
      name: "configmaps",
      path: "/api/v1/configmaps",
      list: () => core.listConfigMapForAllNamespaces(),
      handlers: {
        upsert: (obj) => {
          const namespace = obj.metadata?.namespace ?? "default";
          const name = obj.metadata?.name ?? "";
          if (obj.data && Object.hasOwn(obj.data, SPARK_PROPERTIES_KEY)) state.putConfigMap(namespace, name, obj.data);
          else state.removeConfigMap(namespace, name);
        },
        remove: (obj) => state.removeConfigMap(obj.metadata?.namespace ?? "default", obj.metadata?.name ?? ""),
      },
    }),
  };
}

function podHandlers(state: ClusterState, hooks: FeedHooks): InformerHandlers<k8s.V1Pod> {
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
  return {
    upsert: (obj) => {
      const pod = podFromObject(obj);
      const before = state.getPod(pod.namespace, pod.name);
      state.upsertPod(pod);
      if (pod.terminated && !(before?.terminated && before.uid === pod.uid)) ended(pod, false);
    },
    remove: (obj) => {
      const pod = podFromObject(obj);
      const known = state.getPod(pod.namespace, pod.name);
      // A newer pod of the same name may already have replaced the deleted one (extender arguments are fresher).
      if (known && pod.uid && known.uid && known.uid !== pod.uid) return;
      state.removePod(pod.namespace, pod.name);
      ended(pod, true);
    },
  };
}

function reservationHandlers(state: ClusterState, log: Logger): InformerHandlers<k8s.KubernetesObject> {
  return {
    upsert: (obj) => {
      const r = reservationFromObject(obj);
      if (typeof r === "string") {
        log.warn({ informer: "resourcereservations", err: r }, "ignoring malformed ResourceReservation");
        return;
      }
      const held = state.getReservation(r.namespace, r.appId);
      if (held && !isNewer(r.resourceVersion, held.resourceVersion)) return;
      state.putReservation(r);
    },
    remove: (obj) => {
      const r = reservationFromObject(obj);
      if (typeof r === "string") return;
      const held = state.getReservation(r.namespace, r.appId);
      if (!held) return;
      // A deletion older than what we hold belongs to an earlier incarnation of this application's reservation.
      if (held.resourceVersion && r.resourceVersion && isNewer(held.resourceVersion, r.resourceVersion)) return;
      state.removeReservation(r.namespace, r.appId);
      state.dropSoftApp(r.namespace, r.appId);
    },
  };
}

/** Whether resourceVersion `a` is newer than `b` (numeric, as etcd assigns them; unknown `b` is older). */
function isNewer(a: string | undefined, b: string | undefined): boolean {
  if (!b) return true;
  if (!a) return false;
  const na = Number(a);
  const nb = Number(b);
  if (Number.isFinite(na) && Number.isFinite(nb)) return na > nb;
  return a !== b;
}
