// Spark conf ConfigMaps, fetched one by one for the drivers that need them (zero-configuration sizing).
//
// Watching every ConfigMap of the cluster would keep all their data (often megabytes each) in memory for the
// few that matter. A driver names its conf ConfigMap in the `spark-conf-volume-driver` volume, so this fetcher
// GETs exactly those, and keeps only their `spark.properties` value:
// - a driver pod without shape annotations, for this scheduler, that is neither bound nor finished, and whose
//   ConfigMap the state lacks, is *wanted*;
// - Spark creates the ConfigMap just after the pod (spec: "the ConfigMap is created after the pod"), so a 404
//   is retried with backoff (`backoffMs`, from 100 ms up to 1 s: a driver that waits for its ConfigMap is
//   sized within about a second of it appearing) for as long as the driver still wants it; other failures are
//   retried the same way, up to 30 s apart;
// - Spark marks that ConfigMap immutable, so a fetched value is kept (and not re-read) until no live driver
//   names it any more (its driver finished or was deleted);
// - at most `concurrency` GETs are in flight; the state changes through the serialiser.
// Needs RBAC `get` on configmaps (no list or watch).

import type * as k8s from "@kubernetes/client-node";
import { KubeApi, objectPath } from "./client.js";
import type { Logger } from "pino";
import { type PodInfo, podKey } from "../engine/model.js";
import { SPARK_PROPERTIES_KEY } from "../engine/spark-conf.js";
import { classifyPod, hasShapeAnnotations } from "../engine/spark-pods.js";
import type { ClusterState } from "../engine/state.js";
import type { Serializer } from "./informers.js";
import { apiErrorCode, apiErrorMessage, backoffMs } from "./reservation-writer.js";

export interface SparkConfMapsOptions {
  kc: k8s.KubeConfig;
  state: ClusterState;
  serialize: Serializer;
  log: Logger;
  schedulerName: string;
  /** Concurrent GETs; default 4. */
  concurrency?: number;
  /** Backoff while a ConfigMap does not exist yet; default 100 ms doubling to 1 s. */
  missingBackoff?: { initialBackoffMs: number; maxBackoffMs: number };
  /** Backoff after other failures; default 500 ms doubling to 30 s. */
  errorBackoff?: { initialBackoffMs: number; maxBackoffMs: number };
}

interface Want {
  namespace: string;
  name: string;
  attempts: number;
  timer?: NodeJS.Timeout;
}

/** Whether a driver still needs its conf ConfigMap's data to be sized. */
export function needsConfMap(pod: PodInfo, schedulerName: string): boolean {
  if (!pod.sparkConfMap || pod.terminated || pod.deleting || pod.schedulerName !== schedulerName) return false;
  const id = classifyPod(pod);
  return id.ok && id.value.role === "driver" && !hasShapeAnnotations(pod);
}

export class SparkConfMaps {
  /** GETs made (for tests and logs). */
  fetches = 0;
  private readonly wanted = new Map<string, Want>();
  private readonly queue: string[] = [];
  private inFlight = 0;
  private stopped = false;
  private readonly log: Logger;
  private readonly api: KubeApi;

  constructor(private readonly opts: SparkConfMapsOptions) {
    this.log = opts.log.child({ component: "spark-conf-maps" });
    this.api = new KubeApi(opts.kc);
  }

  /** A pod was added or changed (inside the serialiser): fetch its conf ConfigMap when it needs one. */
  podSeen(pod: PodInfo): void {
    if (this.stopped || !needsConfMap(pod, this.opts.schedulerName)) return;
    const key = podKey(pod.namespace, pod.sparkConfMap!);
    if (this.opts.state.configMaps.has(key) || this.wanted.has(key)) return;
    this.wanted.set(key, { namespace: pod.namespace, name: pod.sparkConfMap!, attempts: 0 });
    this.enqueue(key);
  }

  /**
   * A driver ended or was removed (inside the serialiser): its ConfigMap's data goes, unless another live
   * driver names the same ConfigMap.
   */
  driverGone(pod: PodInfo): void {
    if (!pod.sparkConfMap) return;
    const key = podKey(pod.namespace, pod.sparkConfMap);
    const { state } = this.opts;
    for (const driverKey of state.drivers) {
      const other = state.pods.get(driverKey);
      if (other && other.uid !== pod.uid && needsConfMap(other, this.opts.schedulerName) && podKey(other.namespace, other.sparkConfMap!) === key) return;
    }
    state.removeConfigMap(pod.namespace, pod.sparkConfMap);
    const want = this.wanted.get(key);
    if (want) clearTimeout(want.timer);
    this.wanted.delete(key);
  }

  stop(): void {
    this.stopped = true;
    for (const want of this.wanted.values()) clearTimeout(want.timer);
    this.wanted.clear();
    this.queue.length = 0;
  }

  private enqueue(key: string): void {
    this.queue.push(key);
    this.drain();
  }

  private drain(): void {
    const limit = this.opts.concurrency ?? 4;
    while (!this.stopped && this.inFlight < limit && this.queue.length > 0) {
      const key = this.queue.shift()!;
      const want = this.wanted.get(key);
      if (!want) continue;
      this.inFlight++;
      void this.fetch(key, want).finally(() => {
        this.inFlight--;
        this.drain();
      });
    }
  }

  private async fetch(key: string, want: Want): Promise<void> {
    this.fetches++;
    try {
      const cm = await this.api.get<k8s.V1ConfigMap>(objectPath("v1", "configmaps", want.namespace, want.name));
      if (this.stopped || this.wanted.get(key) !== want) return;
      const data = cm.data ?? {};
      // Only the key the engine reads: the rest of the ConfigMap (other files Spark mounts) is not kept.
      const kept: Record<string, string> = {};
      if (Object.hasOwn(data, SPARK_PROPERTIES_KEY)) kept[SPARK_PROPERTIES_KEY] = data[SPARK_PROPERTIES_KEY];
      await this.opts.serialize(async () => {
        if (this.wanted.get(key) !== want) return;
        this.wanted.delete(key);
        this.opts.state.putConfigMap(want.namespace, want.name, kept);
      });
    } catch (e) {
      if (this.stopped || this.wanted.get(key) !== want) return;
      const missing = apiErrorCode(e) === 404;
      const policy = missing
        ? (this.opts.missingBackoff ?? { initialBackoffMs: 100, maxBackoffMs: 1000 })
        : (this.opts.errorBackoff ?? { initialBackoffMs: 500, maxBackoffMs: 30_000 });
      const delayMs = backoffMs(policy, ++want.attempts);
      if (!missing) this.log.warn({ configMap: key, err: apiErrorMessage(e), attempt: want.attempts, delayMs }, "cannot read a Spark conf ConfigMap; retrying");
      want.timer = setTimeout(() => {
        want.timer = undefined;
        if (this.wanted.get(key) === want) this.enqueue(key);
      }, delayMs);
      want.timer.unref();
    }
  }
}
