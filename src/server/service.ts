// sparkscheduler.v1.SparkSchedulerService, the read-only admin API (Connect, gRPC, gRPC-Web), and
// sparkscheduler.v1.ExtenderService, the state-changing Filter RPC, kept apart so that access to each is granted
// on its own.

import { type UnknownField, create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type ExtenderService,
  type FilterResponse,
  type ListReservationsResponse,
  ListReservationsResponseSchema,
  QueueState,
  type Reservation as ReservationMsg,
  ReservationSchema,
  SparkSchedulerService,
} from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import { type AppShape, DEFAULT_MAX_EXECUTORS_PER_APP } from "../engine/app-shape.js";
import { isSuccess, nodeReason } from "../engine/decision.js";
import { type PodInfo, podFromObject } from "../engine/model.js";
import { DRIVER_SLOT, type Reservation, executorSlots } from "../engine/reservation.js";
import type { SoftReservations } from "../engine/state.js";
import type { Scheduler } from "../pipeline/scheduler.js";
import { type AdminV2Options, OUTCOMES, createAdminV2, resourcesFromMsg, resourcesMsg } from "./admin-v2.js";
import { badField, notFound } from "./errors.js";
import { paginate } from "./pagination.js";
import { checkNodeNames, podFromRequest } from "./validation.js";
import { timestamp } from "./wire.js";

/** Request content types whose responses are protobuf-encoded (Connect unary and streaming, gRPC, gRPC-Web). */
const PROTO_CONTENT_TYPES = new Set([
  "application/proto",
  "application/connect+proto",
  "application/grpc",
  "application/grpc+proto",
  "application/grpc-web",
  "application/grpc-web+proto",
]);

const QUEUE_STATES = { waiting: QueueState.WAITING, admitted: QueueState.ADMITTED, scheduled: QueueState.SCHEDULED };

export { resourcesMsg };

export type ServiceOptions = AdminV2Options;

export function createService(scheduler: Scheduler, options: ServiceOptions = {}): ServiceImpl<typeof SparkSchedulerService> {
  const engine = scheduler.engine;

  const build = (r: Reservation, slotNames: readonly string[], active: readonly boolean[], soft: SoftReservations | undefined): ReservationMsg =>
    create(ReservationSchema, {
      name: `namespaces/${r.namespace}/reservations/${r.appId}`,
      namespace: r.namespace,
      appId: r.appId,
      driverPod: r.driverPod,
      createdAt: timestamp(r.createdAtMs),
      slots: slotNames.map((name, i) => {
        const s = r.slots.get(name)!;
        return { name, node: s.node, resources: resourcesMsg(s.resources), pod: r.pods.get(name) ?? "", active: active[i] };
      }),
      softSlots: [...(soft?.executors ?? [])].map(([pod, s]) => ({ pod, node: s.node, resources: resourcesMsg(s.resources) })),
      maxExtraExecutors: Math.min(soft?.maxExtra ?? 0, 2 ** 31 - 1),
    });

  // The message of each stored reservation is kept and reused while it is still what `build` would make: the
  // engine replaces a reservation object on every change (copy-on-write), so the object, its slots' active flags
  // (its pods' state, computed afresh) and its soft reservations (mutated in place: compared entry by entry)
  // decide. Building ~100 messages per ListReservations page was about a third of the handler's CPU.
  const cache = new WeakMap<Reservation, { msg: ReservationMsg; active: boolean[]; soft: SoftReservations | undefined; softEntries: [string, unknown][]; maxExtra: number }>();
  const toMsg = (r: Reservation): ReservationMsg => {
    const soft = engine.state.getSoft(r.namespace, r.appId);
    const slotNames = [DRIVER_SLOT, ...executorSlots(r)].filter((name) => r.slots.has(name));
    const active = slotNames.map((name) => engine.slotActive(r, name));
    const c = cache.get(r);
    if (c && c.soft === soft && c.maxExtra === (soft?.maxExtra ?? 0) && sameFlags(c.active, active) && sameEntries(c.softEntries, soft)) return c.msg;
    const msg = build(r, slotNames, active, soft);
    cache.set(r, { msg, active, soft, softEntries: [...(soft?.executors ?? [])], maxExtra: soft?.maxExtra ?? 0 });
    return msg;
  };
  // The length-delimited protobuf encoding of each kept message: toBinary of ~100 messages per page was the
  // largest CPU cost of a ListReservations call left after the messages were kept.
  const encodings = new WeakMap<ReservationMsg, Uint8Array>();
  const encoded = (m: ReservationMsg): Uint8Array => {
    let b = encodings.get(m);
    if (!b) encodings.set(m, (b = new BinaryWriter().bytes(toBinary(ReservationSchema, m)).finish()));
    return b;
  };
  const v2 = createAdminV2(scheduler, toMsg, options);

  return {
    async getReservation(req) {
      // Required fields and bounds: RPC_RULES (validation.ts), checked before the handler runs.
      const { namespace, appId } = req;
      const r = await scheduler.read(() => engine.state.getReservation(namespace, appId));
      if (!r) throw notFound(`no reservation for application ${namespace}/${appId}`);
      return { reservation: await scheduler.read(() => toMsg(r)) };
    },

    async listReservations(req, ctx) {
      const binary = PROTO_CONTENT_TYPES.has((ctx.requestHeader.get("content-type") ?? "").split(";")[0].trim().toLowerCase());
      return scheduler.read((): ListReservationsResponse => {
        const all = engine.listReservations(req.namespace || undefined);
        const page = paginate(all, (r) => `${r.namespace}/${r.appId}`, req.pageSize, req.pageToken, { defaultSize: 100, maxSize: 1000 }, req.namespace);
        if (!binary) return create(ListReservationsResponseSchema, { reservations: page.items.map(toMsg), nextPageToken: page.nextPageToken });
        // A protobuf response is spliced from each message's encoding, kept with the message (see encoded): the
        // fields go out as "unknown" fields, which protobuf-es writes verbatim after the (here empty) known ones
        // (writeUnknownFields, its default: app.ts sets no binaryOptions), in field-number order — the bytes of
        // the canonical encoding of the same response.
        const fields: UnknownField[] = page.items.map((r) => ({ no: 1, wireType: WireType.LengthDelimited, data: encoded(toMsg(r)) }));
        if (page.nextPageToken) fields.push({ no: 2, wireType: WireType.LengthDelimited, data: new BinaryWriter().string(page.nextPageToken).finish() });
        return { ...create(ListReservationsResponseSchema), $unknown: fields };
      });
    },

    async getQueuePosition(req) {
      const { namespace, podName } = req;
      const result = await scheduler.read(() =>
        engine.state.getPod(namespace, podName) ? engine.queuePosition(namespace, podName, scheduler.now()) : undefined,
      );
      if (!result) throw notFound(`pod ${namespace}/${podName} is not known to spark-scheduler`);
      if (!result.ok) throw badField("pod_name", result.error);
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

    explainPod: (req) => v2.explainPod(req),
    simulateBatch: (req) => v2.simulateBatch(req),
    listQueues: (req) => v2.listQueues(req),
    watchQueue: (req, ctx) => v2.watchQueue(req, ctx),
    watchReservations: (req, ctx) => v2.watchReservations(req, ctx),
    listNodes: (req) => v2.listNodes(req),
  };
}

function sameFlags(a: readonly boolean[], b: readonly boolean[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether the soft reservations still hold exactly these (pod, slot object) entries, in this order. */
function sameEntries(entries: readonly [string, unknown][], soft: SoftReservations | undefined): boolean {
  const map = soft?.executors;
  if ((map?.size ?? 0) !== entries.length) return false;
  if (!map) return true;
  let i = 0;
  for (const [pod, slot] of map) {
    if (entries[i][0] !== pod || entries[i][1] !== slot) return false;
    i++;
  }
  return true;
}

/** ExtenderService: the typed form of `/predicates`; changes state. */
export function createExtenderService(scheduler: Scheduler): ServiceImpl<typeof ExtenderService> {
  return {
    async filter(req): Promise<FilterResponse> {
      const pod = podFromRequest(req.pod, "pod", scheduler.now());
      const d = await scheduler.filter(pod, checkNodeNames(req.nodeNames, "node_names"));
      const ok = isSuccess(d.outcome);
      const failedNodes: Record<string, string> = {};
      if (!ok) {
        const short = nodeReason(d); // the full reason is `reason`, once
        for (const n of req.nodeNames) failedNodes[n] = short;
      }
      return {
        $typeName: "sparkscheduler.v1.FilterResponse",
        nodeName: ok ? d.node! : "",
        outcome: OUTCOMES[d.outcome],
        reason: d.reason ?? "",
        failedNodes,
      };
    },
  };
}
