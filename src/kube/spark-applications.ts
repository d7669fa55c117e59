// Spark Operator SparkApplications, for zero-configuration sizing: the SparkApplication exists before its
// driver pod, so a driver launched by the operator can be sized at once, without waiting for Spark's conf
// ConfigMap. Watched only when the operator's CRD is installed (checked at start, then every `crdPollMs`);
// never part of readiness — without it drivers fall back to the ConfigMap.

import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { sparkApplicationSizing } from "../engine/spark-conf.js";
import type { ClusterState } from "../engine/state.js";
import { KubeApi, objectPath } from "./client.js";
import { ResilientInformer, type Serializer, listRaw } from "./informers.js";
import { apiErrorCode } from "./reservation-writer.js";

export const SPARK_APP_GROUP = "sparkoperator.k8s.io";
export const SPARK_APP_VERSION = "v1beta2";
export const SPARK_APP_PLURAL = "sparkapplications";
export const SPARK_APP_CRD = `${SPARK_APP_PLURAL}.${SPARK_APP_GROUP}`;

interface SizedApp {
  namespace: string;
  name: string;
  sizing: unknown;
}

export interface SparkApplicationWatcherOptions {
  kc: k8s.KubeConfig;
  state: ClusterState;
  serialize: Serializer;
  log: Logger;
  crdPollMs?: number;
}

export class SparkApplicationWatcher {
  private informer: ResilientInformer<SizedApp> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly opts: SparkApplicationWatcherOptions) {
    this.log = opts.log.child({ component: "spark-applications" });
  }

  get watching(): boolean {
    return this.informer !== undefined;
  }

  /** Checks for the CRD and starts watching when it is there; never rejects. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.check();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.informer?.stop();
  }

  private async check(): Promise<void> {
    if (this.stopped) return;
    if (await this.crdServed()) {
      this.startInformer();
      return;
    }
    this.timer = setTimeout(() => void this.check(), this.opts.crdPollMs ?? 60_000).unref();
  }

  private async crdServed(): Promise<boolean> {
    try {
      const crd = await new KubeApi(this.opts.kc).get<k8s.V1CustomResourceDefinition>(objectPath("apiextensions.k8s.io/v1", "customresourcedefinitions", undefined, SPARK_APP_CRD));
      return (crd.spec?.versions ?? []).some((v) => v.name === SPARK_APP_VERSION && v.served);
    } catch (e) {
      if (apiErrorCode(e) !== 404) this.log.warn({ err: e, crd: SPARK_APP_CRD }, "cannot read the SparkApplication CRD");
      return false;
    }
  }

  private startInformer(): void {
    const { kc, state, serialize } = this.opts;
    const api = new KubeApi(kc);
    // Only the sizing fields are kept (sparkApplicationSizing).
    this.informer = new ResilientInformer<SizedApp>({
      name: "sparkapplications",
      kc,
      path: `/apis/${SPARK_APP_GROUP}/${SPARK_APP_VERSION}/${SPARK_APP_PLURAL}`,
      list: (o) => listRaw(api, `/apis/${SPARK_APP_GROUP}/${SPARK_APP_VERSION}/${SPARK_APP_PLURAL}`, o),
      decode: (o) => {
        const meta = (o as k8s.KubernetesObject).metadata;
        return { namespace: meta?.namespace ?? "default", name: meta?.name ?? "", sizing: sparkApplicationSizing(o) };
      },
      handlers: {
        upsert: (a) => state.putSparkApplication(a.namespace, a.name, a.sizing),
        remove: (a) => state.removeSparkApplication(a.namespace, a.name),
      },
      serialize,
      log: this.log,
    });
    this.log.info("SparkApplication CRD found: watching SparkApplications");
    void this.informer.start();
  }
}
