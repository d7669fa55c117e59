// The admin API's second generation on SparkSchedulerService: ExplainPod, SimulateBatch, ListQueues, the
// WatchQueue / WatchReservations streams and ListNodes. Decisions are the engine's (src/engine/explain.ts);
// this file validates requests, converts to and from the protos, paginates and streams.

import { type JsonObject, create, equals } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import {
  ChangeType,
  type ExplainPodResponse,
  NodeVerdict,
  Outcome,
  type QueueBlocker as QueueBlockerMsg,
  type QueueEntry as QueueEntryMsg,
  type QueuedDriver as QueuedDriverMsg,
  QueuedDriverSchema,
  type Reservation as ReservationMsg,
  ReservationSchema,
  type Resources as ResourcesMsg,
  ResourcesSchema,
  type Shortfall as ShortfallMsg,
  ShortfallSchema,
  type SimulatedApplication,
  type WatchQueueResponse,
  type WatchReservationsResponse,
} from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import type { AppShape } from "../engine/app-shape.js";
import type { Outcome as EngineOutcome } from "../engine/decision.js";
import {
  type BatchApp,
  type Explanation,
  type QueueBlocker,
  type QueueEntryInfo,
  type QueueVerdict,
  type Shortfall,
  explainPod,
  instanceGroups,
  queueVerdicts,
  simulateBatch,
} from "../engine/explain.js";
import { type PodInfo, podFromObject, podKey } from "../engine/model.js";
import { zoneOf } from "../engine/node-order.js";
import type { Reservation } from "../engine/reservation.js";
import { type Resources, sub } from "../engine/resources.js";
import { shapeFromSparkApplication, shapeFromSparkProperties } from "../engine/spark-conf.js";
import type { Scheduler } from "../pipeline/scheduler.js";
import { RequestError, badField, notFound } from "./errors.js";
import { paginate } from "./pagination.js";
import { int64 } from "./wire.js";
import { WatchHub, type WatchHubOptions } from "./watch-hub.js";

export const OUTCOMES: Record<EngineOutcome, Outcome> = {
  success: Outcome.SUCCESS,
  "success-already-bound": Outcome.SUCCESS_ALREADY_BOUND,
  "success-rescheduled": Outcome.SUCCESS_RESCHEDULED,
  "success-scheduled-extra-executor": Outcome.SUCCESS_SCHEDULED_EXTRA_EXECUTOR,
  "failure-fit": Outcome.FAILURE_FIT,
  "failure-earlier-driver": Outcome.FAILURE_EARLIER_DRIVER,
  "failure-unbound": Outcome.FAILURE_UNBOUND,
  "failure-non-spark-pod": Outcome.FAILURE_NON_SPARK_POD,
  "failure-invalid": Outcome.FAILURE_INVALID,
  "failure-not-ready": Outcome.FAILURE_NOT_READY,
  "failure-internal": Outcome.FAILURE_INTERNAL,
  "failure-no-reservation": Outcome.FAILURE_NO_RESERVATION,
};

/** Most applications one SimulateBatch call may hold. */
export const MAX_BATCH = 100;
/** Longest `spark_properties` text accepted (a real one is a few KiB). */
export const MAX_PROPERTIES_CHARS = 256 * 1024;

const VERDICTS = { "not-eligible": NodeVerdict.NOT_ELIGIBLE, insufficient: NodeVerdict.INSUFFICIENT, fits: NodeVerdict.FITS };

export function resourcesMsg(r: Resources): ResourcesMsg {
  return create(ResourcesSchema, { cpuMillis: int64(r.cpu), memoryBytes: int64(r.memory), gpus: int64(r.gpu) });
}

export function resourcesFromMsg(m: ResourcesMsg | undefined, field: string): Resources {
  if (!m) throw badField(field, "is required");
  const parts = [m.cpuMillis, m.memoryBytes, m.gpus];
  if (parts.some((v) => v < 0n)) throw badField(field, "must not be negative");
  if (parts.some((v) => v > BigInt(Number.MAX_SAFE_INTEGER))) throw badField(field, "is too large", "LIMIT_EXCEEDED");
  return { cpu: Number(m.cpuMillis), memory: Number(m.memoryBytes), gpu: Number(m.gpus) };
}

export function shortfallMsg(s: Shortfall | undefined): ShortfallMsg | undefined {
  if (!s) return undefined;
  return create(ShortfallSchema, {
    fits: s.fits,
    demand: resourcesMsg(s.demand),
    free: resourcesMsg(s.free),
    missing: resourcesMsg(s.missing),
    resources: s.resources.map((r) => ({
      resource: r.resource,
      missing: BigInt(r.missing),
      nodesShort: r.nodesShort,
      largestFree: BigInt(r.largestFree),
      perPod: BigInt(r.perPod),
    })),
    executorsRequired: s.executorsRequired,
    executorsPlaceable: s.executorsPlaceable,
    driverFits: s.driverFits,
    closestZone: s.closestZone && {
      zone: s.closestZone.zone,
      executorsPlaceable: s.closestZone.executorsPlaceable,
      driverFits: s.closestZone.driverFits,
      free: resourcesMsg(s.closestZone.free),
      missing: resourcesMsg(s.closestZone.missing),
    },
    eligibleNodes: s.eligibleNodes,
    summary: s.summary,
  });
}

export function queueEntryMsg(e: QueueEntryInfo): QueueEntryMsg {
  return {
    $typeName: "sparkscheduler.v1.QueueEntry",
    namespace: e.namespace,
    podName: e.podName,
    appId: e.appId,
    createdAt: timestampFromMs(e.createdAtMs),
    demand: e.demand ? resourcesMsg(e.demand) : undefined,
    fits: e.fits,
  };
}

export function blockerMsg(b: QueueBlocker): QueueBlockerMsg {
  return { $typeName: "sparkscheduler.v1.QueueBlocker", entry: queueEntryMsg(b.entry), blocking: b.blocking, shortfall: shortfallMsg(b.shortfall) };
}

function explanationMsg(x: Explanation): ExplainPodResponse {
  return {
    $typeName: "sparkscheduler.v1.ExplainPodResponse",
    name: `namespaces/${x.namespace}/pods/${x.podName}`,
    role: x.role,
    appId: x.appId,
    instanceGroup: x.instanceGroup,
    outcome: OUTCOMES[x.outcome],
    nodeName: x.node ?? "",
    reason: x.reason,
    nodeGroups: x.nodeGroups.map((g) => ({
      $typeName: "sparkscheduler.v1.NodeGroup",
      verdict: VERDICTS[g.verdict],
      reason: g.reason,
      nodeCount: g.nodeCount,
      sampleNodes: g.sampleNodes,
      largestFree: g.largestFree ? resourcesMsg(g.largestFree) : undefined,
    })),
    shortfall: shortfallMsg(x.shortfall),
    blockers: x.blockers.map(blockerMsg),
    queuePosition: x.queuePosition,
    queueLength: x.queueLength,
    totalNodes: x.totalNodes,
  };
}

/** `instanceGroups/{ig}/queue` names use `-` for drivers without instance group (no label value is `-`). */
export function groupName(group: string): string {
  return group === "" ? "-" : group;
}

function groupFromName(name: string): string {
  return name === "-" ? "" : name;
}

function queuedDriverMsg(group: string, v: QueueVerdict): QueuedDriverMsg {
  return create(QueuedDriverSchema, {
    name: `namespaces/${v.entry.namespace}/pods/${v.entry.podName}`,
    entry: queueEntryMsg(v.entry),
    instanceGroup: group,
    position: v.position,
    reason: v.reason,
    blocking: v.blocking,
  });
}

// ---------------------------------------------------------------------------------------------
// SimulateBatch input

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObject(v)) for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

function syntheticDriver(scheduler: Scheduler, name: string, namespace: string, nodeSelector: Record<string, string>, nowMs: number): PodInfo {
  return {
    ...podFromObject({
      metadata: { name: `${name}-driver`, namespace, labels: { "spark-role": "driver", "spark-app-id": name } },
      spec: { nodeSelector, schedulerName: scheduler.engine.config.schedulerName },
    }),
    createdAtMs: nowMs,
  };
}

function batchApp(scheduler: Scheduler, app: SimulatedApplication, index: number, nowMs: number): BatchApp {
  const name = app.name || `app-${index + 1}`;
  const where = `applications[${index}] (${name})`;
  const fail = (msg: string): RequestError => badField(where, msg);
  const namespace = app.namespace || "default";
  const src = app.source;
  let driver: PodInfo;
  let shape: AppShape;
  switch (src.case) {
    case "shape": {
      const s = src.value;
      if (s.executorCount < 0) throw fail("shape.executor_count must not be negative");
      shape = {
        driver: resourcesFromMsg(s.driver, `${where}: shape.driver`),
        executor: resourcesFromMsg(s.executor, `${where}: shape.executor`),
        minExecutors: s.executorCount,
        maxExecutors: s.executorCount,
        dynamicAllocation: false,
        source: "annotations",
      };
      driver = syntheticDriver(scheduler, name, namespace, app.nodeSelector, nowMs);
      break;
    }
    case "driverPod": {
      const meta = src.value.metadata;
      if (!isObject(meta) || typeof meta.name !== "string" || !meta.name) throw fail("driver_pod.metadata.name is required");
      const pod = podFromObject(src.value);
      // A submission now: it joins the end of its queue.
      driver = { ...pod, createdAtMs: nowMs, nodeName: "", schedulerName: pod.schedulerName || scheduler.engine.config.schedulerName };
      const s = scheduler.engine.ctx.shape(driver);
      if (!s.ok) throw fail(s.error);
      shape = s.value;
      break;
    }
    case "sparkProperties": {
      if (src.value.length > MAX_PROPERTIES_CHARS) throw fail(`spark_properties is longer than ${MAX_PROPERTIES_CHARS} characters`);
      const s = shapeFromSparkProperties(src.value);
      if (!s.ok) throw fail(s.error);
      shape = s.value;
      driver = syntheticDriver(scheduler, name, namespace, app.nodeSelector, nowMs);
      break;
    }
    case "sparkApplication": {
      const s = shapeFromSparkApplication(src.value);
      if (!s.ok) throw fail(s.error);
      shape = s.value;
      const spec = isObject(src.value.spec) ? src.value.spec : {};
      const driverSpec = isObject(spec.driver) ? spec.driver : {};
      const selector = { ...stringMap(spec.nodeSelector), ...stringMap(driverSpec.nodeSelector), ...app.nodeSelector };
      const meta = isObject(src.value.metadata) ? src.value.metadata : {};
      const ns = app.namespace || (typeof meta.namespace === "string" && meta.namespace) || "default";
      driver = syntheticDriver(scheduler, name, ns, selector, nowMs);
      break;
    }
    default:
      throw fail("one of shape, driver_pod, spark_properties or spark_application is required");
  }
  return { name, driver, shape };
}

// ---------------------------------------------------------------------------------------------
// Handlers

export interface AdminV2Options {
  watch?: WatchHubOptions;
}

export function createAdminV2(scheduler: Scheduler, toReservationMsg: (r: Reservation) => ReservationMsg, options: AdminV2Options = {}) {
  const engine = scheduler.engine;
  const hub = new WatchHub(scheduler, options.watch);

  /** Verdicts of every queue, shared by ListQueues and every WatchQueue stream for one state. */
  const verdicts = () => hub.snapshot("queues", true, () => queueVerdicts(engine.ctx, scheduler.now()));

  /**
   * The body of both watch streams: the initial state as ADDED events and a SYNCED marker, then the difference
   * between consecutive snapshots. Each `yield` waits for the transport to take the event, and the next
   * snapshot is loaded only after the previous diff was taken, so a slow reader is sent the latest state.
   */
  async function* watch<T, M>(
    ctx: HandlerContext,
    timed: boolean,
    load: () => Promise<{ token: string; value: Map<string, T> }>,
    same: (a: T, b: T) => boolean,
    event: (type: ChangeType, item?: T) => M,
  ): AsyncGenerator<M> {
    const release = hub.acquire();
    try {
      let sent = new Map<string, T>();
      let synced = false;
      while (!ctx.signal.aborted) {
        const { token, value } = await load();
        for (const [key, item] of value) {
          const before = sent.get(key);
          if (!before) yield event(ChangeType.ADDED, item);
          else if (!same(before, item)) yield event(ChangeType.MODIFIED, item);
        }
        for (const [key, item] of sent) if (!value.has(key)) yield event(ChangeType.REMOVED, item);
        sent = value;
        if (!synced) {
          yield event(ChangeType.SYNCED);
          synced = true;
        }
        await hub.waitForChange(token, timed, ctx.signal);
      }
    } finally {
      release();
    }
  }

  return {
    hub,

    async explainPod(req: { namespace: string; podName: string }): Promise<ExplainPodResponse> {
      // Required fields and bounds: RPC_RULES (validation.ts), checked before the handler runs.
      const { namespace, podName } = req;
      const result = await scheduler.read(() =>
        engine.state.getPod(namespace, podName) ? explainPod(engine.ctx, namespace, podName, scheduler.now()) : undefined,
      );
      if (!result) throw notFound(`pod ${namespace}/${podName} is not known to spark-scheduler`);
      if (!result.ok) throw badField("pod_name", result.error);
      return explanationMsg(result.value);
    },

    /** Structured additions of GetQueuePosition for a waiting driver. */
    async queueDetails(namespace: string, podName: string): Promise<{ shortfall?: ShortfallMsg; blockers: QueueBlockerMsg[] }> {
      const result = await scheduler.read(() => explainPod(engine.ctx, namespace, podName, scheduler.now()));
      if (!result.ok) return { blockers: [] };
      return { shortfall: shortfallMsg(result.value.shortfall), blockers: result.value.blockers.map(blockerMsg) };
    },

    async simulateBatch(req: { applications: SimulatedApplication[] }) {
      if (req.applications.length === 0) throw badField("applications", "must list at least one application");
      if (req.applications.length > MAX_BATCH) throw badField("applications", `may list at most ${MAX_BATCH} applications`, "LIMIT_EXCEEDED");
      const now = scheduler.now();
      const apps = req.applications.map((a, i) => batchApp(scheduler, a, i, now));
      const names = new Set<string>();
      for (const a of apps) {
        if (names.has(a.name)) throw badField("applications.name", `${a.name} is used twice`);
        names.add(a.name);
      }
      const results = await scheduler.read(() => simulateBatch(engine.ctx, apps, now));
      return {
        results: results.map((o) => ({
          name: o.name,
          admitted: o.admitted,
          driverNode: o.driverNode,
          executorNodes: o.executorNodes,
          instanceGroup: o.instanceGroup,
          queuePosition: o.queuePosition,
          blocks: o.blocks,
          fitsEmptyCluster: o.fitsEmptyCluster,
          reason: o.reason,
          shortfall: shortfallMsg(o.shortfall),
          demand: resourcesMsg(o.demand),
        })),
        binpack: engine.config.binpack.name,
        fifoEnforced: engine.config.fifo,
      };
    },

    async listQueues(req: { pageSize: number; pageToken: string }) {
      const now = scheduler.now();
      const { value: queues } = await verdicts();
      const groups = instanceGroups(engine.ctx, queues, hub.counts.groups());
      const page = paginate(groups, (g) => g, req.pageSize, req.pageToken, { defaultSize: 100, maxSize: 1000 });
      return {
        queues: page.items.map((group) => {
          const list = queues.get(group) ?? [];
          const head = list[0];
          return {
            name: `instanceGroups/${groupName(group)}/queue`,
            instanceGroup: group,
            length: list.length,
            oldestCreatedAt: head ? timestampFromMs(head.entry.createdAtMs) : undefined,
            oldestAgeSeconds: head ? BigInt(Math.max(0, Math.floor((now - head.entry.createdAtMs) / 1000))) : 0n,
            head: head ? queueEntryMsg(head.entry) : undefined,
            headReason: head?.reason ?? "",
            headShortfall: shortfallMsg(head?.shortfall),
            admittedCount: BigInt(hub.counts.admitted.get(group) ?? 0),
            refusedCount: BigInt(hub.counts.refused.get(group) ?? 0),
          };
        }),
        nextPageToken: page.nextPageToken,
      };
    },

    async *watchQueue(req: { instanceGroups: string[] }, ctx: HandlerContext): AsyncGenerator<WatchQueueResponse> {
      if (req.instanceGroups.length > 100) throw badField("instance_groups", "may list at most 100 groups", "LIMIT_EXCEEDED");
      const wanted = req.instanceGroups.length > 0 ? new Set(req.instanceGroups.map(groupFromName)) : undefined;
      const load = async () => {
        const { token, value } = await verdicts();
        const items = new Map<string, QueuedDriverMsg>();
        for (const [group, list] of value) {
          if (wanted && !wanted.has(group)) continue;
          for (const v of list) items.set(podKey(v.entry.namespace, v.entry.podName), queuedDriverMsg(group, v));
        }
        return { token, value: items };
      };
      yield* watch(ctx, true, load, (a, b) => equals(QueuedDriverSchema, a, b), (type, driver?: QueuedDriverMsg): WatchQueueResponse => ({
        $typeName: "sparkscheduler.v1.WatchQueueResponse",
        type,
        driver,
      }));
    },

    async *watchReservations(req: { namespace: string }, ctx: HandlerContext): AsyncGenerator<WatchReservationsResponse> {
      const load = async () =>
        hub.snapshot(`reservations/${req.namespace}`, false, () => {
          const items = new Map<string, ReservationMsg>();
          for (const r of engine.listReservations(req.namespace || undefined)) items.set(podKey(r.namespace, r.appId), toReservationMsg(r));
          return items;
        });
      yield* watch(ctx, false, load, (a, b) => equals(ReservationSchema, a, b), (type, reservation?: ReservationMsg): WatchReservationsResponse => ({
        $typeName: "sparkscheduler.v1.WatchReservationsResponse",
        type,
        reservation,
      }));
    },

    async listNodes(req: { pageSize: number; pageToken: string }) {
      return scheduler.read(() => {
        const { state, config } = engine;
        const names = [...state.nodes.keys()].sort();
        const page = paginate(names, (n) => n, req.pageSize, req.pageToken, { defaultSize: 500, maxSize: 5000 });
        return {
          nodes: page.items.map((name) => {
            const n = state.nodes.get(name)!;
            const reserved = state.reservedOn(name);
            const overhead = state.overheadOn(name);
            return {
              name: `nodes/${name}`,
              nodeName: name,
              zone: zoneOf(n.labels),
              instanceGroup: n.labels[config.instanceGroupLabel] ?? "",
              allocatable: resourcesMsg(n.allocatable),
              reserved: resourcesMsg(reserved),
              overhead: resourcesMsg(overhead),
              free: resourcesMsg(sub(sub(n.allocatable, reserved), overhead)),
              schedulable: n.ready && !n.unschedulable,
            };
          }),
          nextPageToken: page.nextPageToken,
        };
      });
    },
  };
}
