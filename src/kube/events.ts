// Kubernetes Events on Spark driver pods, so that `kubectl describe pod` explains what spark-scheduler decided:
//
// - Normal  ApplicationAdmitted     the driver was admitted (once per pod);
// - Warning ApplicationWaiting      the application does not fit, or an earlier driver is ahead of it;
// - Warning InvalidSparkApplication the driver's application cannot be sized.
//
// Events are written through events.k8s.io/v1 (the core/v1 Event API is the legacy one): `regarding` the pod,
// `reportingController` spark-scheduler, `reportingInstance` this host, `action` Scheduling, and `note` the
// message. Warnings are rate-limited per pod: at most one write per minute. Occurrences in between are counted,
// and a repeat of the same reason and note patches `series` (count, lastObservedTime) of the existing event, as
// client-go's event recorder does; `eventTime` stays the first occurrence. Writes are fire-and-forget: errors
// are logged, never thrown at the caller. Memory is bounded: the least recently seen pods are forgotten.

import { hostname } from "node:os";
import type * as k8s from "@kubernetes/client-node";
import { ApiException, KubeApi, V1MicroTime, objectPath } from "./client.js";
import type { Logger } from "pino";
import type { Decision } from "../engine/decision.js";
import type { PodInfo } from "../engine/model.js";
import { DRIVER_SLOT } from "../engine/reservation.js";
import { ROLE_LABEL } from "../engine/spark-pods.js";
import { kubeObserver } from "../server/metrics.js";

export const EVENT_REASONS = {
  admitted: "ApplicationAdmitted",
  waiting: "ApplicationWaiting",
  invalid: "InvalidSparkApplication",
} as const;

const REPEAT_INTERVAL_MS = 60_000;
const MAX_TRACKED = 4096;
/** Kubernetes rejects event notes longer than this. */
const MAX_MESSAGE_LENGTH = 1024;
/** Kubernetes rejects a reportingInstance longer than this. */
const MAX_INSTANCE_LENGTH = 128;
const ACTION = "Scheduling";

export interface EventRecorderOptions {
  kc: k8s.KubeConfig;
  log: Logger;
  /** reportingController of the events. Default "spark-scheduler". */
  component?: string;
  clock?: () => number;
}

interface EventSpec {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

/** The last event written for one pod and kind (admission, or warnings). */
interface Tracked {
  pod: PodInfo;
  spec: EventSpec;
  /** Name of the Event object; undefined until one exists. */
  eventName?: string;
  count: number;
  firstMs: number;
  lastWriteMs: number;
}

export class EventRecorder {
  private readonly api: KubeApi;
  private readonly log: Logger;
  private readonly component: string;
  private readonly instance = hostname().slice(0, MAX_INSTANCE_LENGTH);
  private readonly clock: () => number;
  /** By `<pod uid>/<kind>`, least recently seen first. */
  private readonly tracked = new Map<string, Tracked>();
  private readonly inFlight = new Set<Promise<void>>();
  private sequence = 0;

  constructor(opts: EventRecorderOptions) {
    this.api = new KubeApi(opts.kc);
    this.log = opts.log.child({ component: "events" });
    this.component = opts.component ?? "spark-scheduler";
    this.clock = opts.clock ?? Date.now;
  }

  /** Records the event a decision calls for, if any. Never throws. */
  record(pod: PodInfo, decision: Decision): void {
    try {
      if (pod.labels[ROLE_LABEL] !== "driver") return;
      const spec = eventFor(pod, decision);
      if (!spec) return;
      this.note(pod, spec, `${pod.uid || `${pod.namespace}/${pod.name}`}/${spec.type === "Normal" ? "admitted" : "warning"}`);
    } catch (e) {
      this.log.error({ err: e, podNamespace: pod.namespace, podName: pod.name }, "cannot record event");
    }
  }

  /** Resolves when every event write started so far has settled (for shutdown and tests). */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  private note(pod: PodInfo, spec: EventSpec, key: string): void {
    const now = this.clock();
    const entry = this.tracked.get(key);
    if (entry) {
      this.tracked.delete(key); // re-inserted below: most recently seen last
      this.tracked.set(key, entry);
      if (spec.type === "Normal") return;
      entry.count++;
      if (now - entry.lastWriteMs < REPEAT_INTERVAL_MS) return;
      entry.lastWriteMs = now;
      if (entry.eventName && sameEvent(entry.spec, spec)) {
        this.start(this.update(entry, now));
        return;
      }
    }
    const fresh: Tracked = { pod, spec, count: 1, firstMs: now, lastWriteMs: now };
    this.tracked.delete(key);
    this.tracked.set(key, fresh);
    if (this.tracked.size > MAX_TRACKED) this.tracked.delete(this.tracked.keys().next().value!);
    this.start(this.create(fresh));
  }

  private start(write: Promise<void>): void {
    const settled = write.catch((e: unknown) => this.log.warn({ err: e }, "cannot write event"));
    this.inFlight.add(settled);
    void settled.finally(() => this.inFlight.delete(settled));
  }

  private async create(entry: Tracked): Promise<void> {
    const { pod, spec } = entry;
    const name = this.eventName(pod.name);
    entry.eventName = name;
    const event: k8s.EventsV1Event = {
      metadata: { name, namespace: pod.namespace },
      regarding: { apiVersion: "v1", kind: "Pod", name: pod.name, namespace: pod.namespace, uid: pod.uid },
      type: spec.type,
      reason: spec.reason,
      note: spec.message,
      action: ACTION,
      // MicroTime: the API server parses exactly six fractional digits, which V1MicroTime serialises.
      eventTime: new V1MicroTime(entry.firstMs),
      series: entry.count > 1 ? { count: entry.count, lastObservedTime: new V1MicroTime(entry.lastWriteMs) } : undefined,
      reportingController: this.component,
      reportingInstance: this.instance,
    };
    try {
      await kubeObserver.timeWrite("events", "create", () => this.api.create(objectPath("events.k8s.io/v1", "events", pod.namespace), event));
    } catch (e) {
      if (entry.eventName === name) entry.eventName = undefined;
      throw new Error(`create event ${spec.reason} for pod ${pod.namespace}/${pod.name}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Bumps the series of the existing event; re-creates it when it has expired. */
  private async update(entry: Tracked, now: number): Promise<void> {
    const { pod, spec } = entry;
    try {
      await kubeObserver.timeWrite("events", "patch", () =>
        this.api.mergePatch(objectPath("events.k8s.io/v1", "events", pod.namespace, entry.eventName!), {
          series: { count: entry.count, lastObservedTime: new V1MicroTime(now).toISOString() },
        }),
      );
    } catch (e) {
      if (e instanceof ApiException && e.code === 404) return this.create(entry);
      throw new Error(`update event ${spec.reason} for pod ${pod.namespace}/${pod.name}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** `<pod name>.<hex nanoseconds>`, as client-go names events; a sequence number keeps names unique. */
  private eventName(podName: string): string {
    const stamp = BigInt(this.clock()) * 1_000_000n + BigInt(this.sequence++ % 1_000_000);
    return `${podName.slice(0, 235)}.${stamp.toString(16)}`;
  }
}

function sameEvent(a: EventSpec, b: EventSpec): boolean {
  return a.reason === b.reason && a.message === b.message;
}

function eventFor(pod: PodInfo, d: Decision): EventSpec | undefined {
  switch (d.outcome) {
    case "success":
      return { type: "Normal", reason: EVENT_REASONS.admitted, message: admittedMessage(pod, d) };
    case "failure-fit":
    case "failure-earlier-driver":
      return { type: "Warning", reason: EVENT_REASONS.waiting, message: truncate(d.reason ?? "application does not fit") };
    case "failure-invalid":
      return { type: "Warning", reason: EVENT_REASONS.invalid, message: truncate(d.reason ?? "invalid Spark application") };
    default:
      return undefined;
  }
}

function admittedMessage(pod: PodInfo, d: Decision): string {
  const app = d.appId ? `Spark application ${d.appId}` : "Spark application";
  const write = d.writes.find((w) => w.reservation.driverPod === pod.name && w.reservation.namespace === pod.namespace);
  if (!write) return `${app} admitted: driver reserved on node ${d.node}`;
  const executors = [...write.reservation.slots.keys()].filter((s) => s !== DRIVER_SLOT).length;
  return `${app} admitted: driver reserved on node ${d.node}, ${executors} executor slot(s) reserved`;
}

function truncate(message: string): string {
  return message.length <= MAX_MESSAGE_LENGTH ? message : `${message.slice(0, MAX_MESSAGE_LENGTH - 3)}...`;
}
