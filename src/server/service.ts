// sparkscheduler.v1.SparkSchedulerService: the engine as typed RPCs (Connect, gRPC, gRPC-Web).

import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  type FilterResponse,
  Outcome,
  QueueState,
  type Reservation as ReservationMsg,
  type Resources as ResourcesMsg,
  ReservationSchema,
  ResourcesSchema,
  SparkSchedulerService,
} from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import type { AppShape } from "../engine/app-shape.js";
import { type Outcome as EngineOutcome, isSuccess } from "../engine/decision.js";
import { type PodInfo, podFromObject } from "../engine/model.js";
import { DRIVER_SLOT, type Reservation, executorSlots } from "../engine/reservation.js";
import type { Resources } from "../engine/resources.js";
import type { Scheduler } from "../pipeline/scheduler.js";

const OUTCOMES: Record<EngineOutcome, Outcome> = {
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

const QUEUE_STATES = { waiting: QueueState.WAITING, admitted: QueueState.ADMITTED, scheduled: QueueState.SCHEDULED };

export function resourcesMsg(r: Resources): ResourcesMsg {
  return create(ResourcesSchema, { cpuMillis: BigInt(r.cpu), memoryBytes: BigInt(r.memory), gpus: BigInt(r.gpu) });
}

function resourcesFromMsg(m: ResourcesMsg | undefined, field: string): Resources {
  if (!m) throw new ConnectError(`${field} is required`, Code.InvalidArgument);
  const parts = [m.cpuMillis, m.memoryBytes, m.gpus];
  if (parts.some((v) => v < 0n)) throw new ConnectError(`${field} must not be negative`, Code.InvalidArgument);
  if (parts.some((v) => v > BigInt(Number.MAX_SAFE_INTEGER))) throw new ConnectError(`${field} is too large`, Code.InvalidArgument);
  return { cpu: Number(m.cpuMillis), memory: Number(m.memoryBytes), gpu: Number(m.gpus) };
}

function required(value: string, field: string): string {
  if (!value) throw new ConnectError(`${field} is required`, Code.InvalidArgument);
  return value;
}

function podFromStruct(pod: JsonObject | undefined, field: string): PodInfo {
  if (!pod) throw new ConnectError(`${field} is required`, Code.InvalidArgument);
  const meta = pod.metadata as JsonObject | undefined;
  if (!meta || typeof meta.name !== "string" || !meta.name) {
    throw new ConnectError(`${field}.metadata.name is required`, Code.InvalidArgument);
  }
  return podFromObject(pod);
}

export function createService(scheduler: Scheduler): ServiceImpl<typeof SparkSchedulerService> {
  const engine = scheduler.engine;

  const toMsg = (r: Reservation): ReservationMsg => {
    const soft = engine.state.getSoft(r.namespace, r.appId);
    return create(ReservationSchema, {
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
      return { reservations: await scheduler.read(() => engine.listReservations(req.namespace || undefined).map(toMsg)) };
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
      return {
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
  };
}
