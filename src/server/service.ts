// sparkscheduler.v1.SparkSchedulerService: the engine as typed RPCs (Connect, gRPC, gRPC-Web).

import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  type FilterResponse,
  QueueState,
  type Reservation as ReservationMsg,
  ReservationSchema,
  SparkSchedulerService,
} from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import type { AppShape } from "../engine/app-shape.js";
import { isSuccess } from "../engine/decision.js";
import { type PodInfo, podFromObject } from "../engine/model.js";
import { DRIVER_SLOT, type Reservation, executorSlots } from "../engine/reservation.js";
import type { Scheduler } from "../kube/scheduler.js";
import { type AdminV2Options, OUTCOMES, createAdminV2, required, resourcesFromMsg, resourcesMsg } from "./admin-v2.js";
import { paginate } from "./pagination.js";

const QUEUE_STATES = { waiting: QueueState.WAITING, admitted: QueueState.ADMITTED, scheduled: QueueState.SCHEDULED };

export { resourcesMsg };

function podFromStruct(pod: JsonObject | undefined, field: string): PodInfo {
  if (!pod) throw new ConnectError(`${field} is required`, Code.InvalidArgument);
  const meta = pod.metadata as JsonObject | undefined;
  if (!meta || typeof meta.name !== "string" || !meta.name) {
    throw new ConnectError(`${field}.metadata.name is required`, Code.InvalidArgument);
  }
  return podFromObject(pod);
}

export type ServiceOptions = AdminV2Options;

export function createService(scheduler: Scheduler, options: ServiceOptions = {}): ServiceImpl<typeof SparkSchedulerService> {
  const engine = scheduler.engine;

  const toMsg = (r: Reservation): ReservationMsg => {
    const soft = engine.state.getSoft(r.namespace, r.appId);
    return create(ReservationSchema, {
      name: `namespaces/${r.namespace}/reservations/${r.appId}`,
      namespace: r.namespace,
      appId: r.appId,
      driverPod: r.driverPod,
      createdAt: timestampFromMs(r.createdAtMs),
      slots: [DRIVER_SLOT, ...executorSlots(r)]
        .filter((name) => r.slots.has(name))
        .map((name) => {
          const s = r.slots.get(name)!;
          return {
            name,
            node: s.node,
            resources: resourcesMsg(s.resources),
            pod: r.pods.get(name) ?? "",
            active: engine.slotActive(r, name),
          };
        }),
      softSlots: [...(soft?.executors ?? [])].map(([pod, s]) => ({ pod, node: s.node, resources: resourcesMsg(s.resources) })),
      maxExtraExecutors: soft?.maxExtra ?? 0,
    });
  };
  const v2 = createAdminV2(scheduler, toMsg, options);

  return {
    async filter(req): Promise<FilterResponse> {
      const pod = podFromStruct(req.pod, "pod");
      if (req.nodeNames.length === 0) throw new ConnectError("node_names must list at least one node", Code.InvalidArgument);
      const d = await scheduler.filter(pod, req.nodeNames);
      const ok = isSuccess(d.outcome);
      const failedNodes: Record<string, string> = {};
      if (!ok) for (const n of req.nodeNames) failedNodes[n] = d.reason ?? d.outcome;
      return {
        $typeName: "sparkscheduler.v1.FilterResponse",
        nodeName: ok ? d.node! : "",
        outcome: OUTCOMES[d.outcome],
        reason: d.reason ?? "",
        failedNodes,
      };
    },

    async getReservation(req) {
      const namespace = required(req.namespace, "namespace");
      const appId = required(req.appId, "app_id");
      const r = await scheduler.read(() => engine.state.getReservation(namespace, appId));
      if (!r) throw new ConnectError(`no reservation for application ${namespace}/${appId}`, Code.NotFound);
      return { reservation: await scheduler.read(() => toMsg(r)) };
    },

    async listReservations(req) {
      return scheduler.read(() => {
        const all = engine.listReservations(req.namespace || undefined);
        const page = paginate(all, (r) => `${r.namespace}/${r.appId}`, req.pageSize, req.pageToken, { defaultSize: 100, maxSize: 1000 }, req.namespace);
        return { reservations: page.items.map(toMsg), nextPageToken: page.nextPageToken };
      });
    },

    async getQueuePosition(req) {
      const namespace = required(req.namespace, "namespace");
      const podName = required(req.podName, "pod_name");
      const result = await scheduler.read(() => engine.queuePosition(namespace, podName, scheduler.now()));
      if (!result.ok) {
        const notFound = result.error.includes("not known");
        throw new ConnectError(result.error, notFound ? Code.NotFound : Code.InvalidArgument);
      }
      const q = result.value;
      const details = q.state === "waiting" ? await v2.queueDetails(namespace, podName) : { blockers: [] };
      return {
        ...details,
        state: QUEUE_STATES[q.state],
        position: q.position,
        queueLength: q.queueLength,
        instanceGroup: q.instanceGroup,
        ahead: q.ahead.map((e) => ({
          namespace: e.namespace,
          podName: e.podName,
          appId: e.appId,
          createdAt: timestampFromMs(e.createdAtMs),
          demand: e.demand ? resourcesMsg(e.demand) : undefined,
          fits: e.fits,
        })),
        reason: q.reason,
        fitsNow: q.fitsNow,
        aheadDemand: resourcesMsg(q.aheadDemand),
        fifoEnforced: q.fifoEnforced,
      };
    },

    async simulate(req) {
      let driver: PodInfo;
      let shape: AppShape;
      if (req.pod) {
        driver = podFromStruct(req.pod, "pod");
        const s = engine.ctx.shape(driver);
        if (!s.ok) throw new ConnectError(s.error, Code.InvalidArgument);
        shape = s.value;
      } else {
        if (req.executorCount < 0) throw new ConnectError("executor_count must not be negative", Code.InvalidArgument);
        shape = {
          driver: resourcesFromMsg(req.driver, "driver"),
          executor: resourcesFromMsg(req.executor, "executor"),
          minExecutors: req.executorCount,
          maxExecutors: req.executorCount,
          dynamicAllocation: false,
          source: "annotations",
        };
        driver = podFromObject({
          metadata: { name: "simulated-driver", namespace: "default", labels: { "spark-role": "driver" } },
          spec: { nodeSelector: req.nodeSelector },
        });
      }
      const report = await scheduler.read(() => engine.simulate(driver, shape, req.nodeNames, scheduler.now()));
      return report;
    },

    explainPod: (req) => v2.explainPod(req),
    simulateBatch: (req) => v2.simulateBatch(req),
    listQueues: (req) => v2.listQueues(req),
    watchQueue: (req, ctx) => v2.watchQueue(req, ctx),
    watchReservations: (req, ctx) => v2.watchReservations(req, ctx),
    listNodes: (req) => v2.listNodes(req),
  };
}
