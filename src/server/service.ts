// sparkscheduler.v1.SparkSchedulerService: the engine as typed RPCs (Connect, gRPC, gRPC-Web).

import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
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
import { type AppShape, DEFAULT_MAX_EXECUTORS_PER_APP } from "../engine/app-shape.js";
import { type Outcome as EngineOutcome, isSuccess } from "../engine/decision.js";
import { type PodInfo, podFromObject } from "../engine/model.js";
import { DRIVER_SLOT, type Reservation, executorSlots } from "../engine/reservation.js";
import type { Resources } from "../engine/resources.js";
import type { Scheduler } from "../kube/scheduler.js";
import { badField, notFound } from "./errors.js";
import { checkNodeNames, podFromRequest } from "./validation.js";
import { int64, timestamp } from "./wire.js";

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
  return create(ResourcesSchema, { cpuMillis: int64(r.cpu), memoryBytes: int64(r.memory), gpus: int64(r.gpu) });
}

function resourcesFromMsg(m: ResourcesMsg | undefined, field: string): Resources {
  if (!m) throw badField(field, "is required");
  const parts = [m.cpuMillis, m.memoryBytes, m.gpus];
  if (parts.some((v) => v < 0n)) throw badField(field, "must not be negative");
  return { cpu: Number(m.cpuMillis), memory: Number(m.memoryBytes), gpu: Number(m.gpus) };
}


export function createService(scheduler: Scheduler): ServiceImpl<typeof SparkSchedulerService> {
  const engine = scheduler.engine;

  const toMsg = (r: Reservation): ReservationMsg => {
    const soft = engine.state.getSoft(r.namespace, r.appId);
    return create(ReservationSchema, {
      namespace: r.namespace,
      appId: r.appId,
      driverPod: r.driverPod,
      createdAt: timestamp(r.createdAtMs),
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
      maxExtraExecutors: Math.min(soft?.maxExtra ?? 0, 2 ** 31 - 1),
    });
  };

  return {
    async filter(req): Promise<FilterResponse> {
      const pod = podFromRequest(req.pod, "pod", scheduler.now());
      const d = await scheduler.filter(pod, checkNodeNames(req.nodeNames, "node_names"));
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
      // Required fields and bounds: RPC_RULES (validation.ts), checked before the handler runs.
      const { namespace, appId } = req;
      const r = await scheduler.read(() => engine.state.getReservation(namespace, appId));
      if (!r) throw notFound(`no reservation for application ${namespace}/${appId}`);
      return { reservation: await scheduler.read(() => toMsg(r)) };
    },

    async listReservations(req) {
      return { reservations: await scheduler.read(() => engine.listReservations(req.namespace || undefined).map(toMsg)) };
    },

    async getQueuePosition(req) {
      const { namespace, podName } = req;
      const result = await scheduler.read(() =>
        engine.state.getPod(namespace, podName) ? engine.queuePosition(namespace, podName, scheduler.now()) : undefined,
      );
      if (!result) throw notFound(`pod ${namespace}/${podName} is not known to spark-scheduler`);
      if (!result.ok) throw badField("pod_name", result.error);
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
          createdAt: timestamp(e.createdAtMs),
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
        driver = podFromRequest(req.pod, "pod", scheduler.now());
        const s = engine.ctx.shape(driver);
        if (!s.ok) throw badField("pod", s.error);
        shape = s.value;
      } else {
        const s = engine.ctx.checkShape({
          driver: resourcesFromMsg(req.driver, "driver"),
          executor: resourcesFromMsg(req.executor, "executor"),
          minExecutors: req.executorCount,
          maxExecutors: req.executorCount,
          dynamicAllocation: false,
          source: "annotations",
        });
        const overLimit = req.executorCount > (engine.config.maxExecutorsPerApp ?? DEFAULT_MAX_EXECUTORS_PER_APP);
        if (!s.ok) throw badField(overLimit ? "executor_count" : "executor", s.error, overLimit ? "LIMIT_EXCEEDED" : "INVALID_ARGUMENT");
        shape = s.value;
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
