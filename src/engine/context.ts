// Shared helpers of the driver and executor flows: config + state, and the per-pod lookups both need.

import type { AppShape, Result } from "./app-shape.js";
import { DEFAULT_MAX_EXECUTORS_PER_APP, checkShape, err } from "./app-shape.js";
import type { EngineConfig } from "./config.js";
import type { DemandIntent, DemandUnit } from "./decision.js";
import { constraintKey, instanceGroupOf, nodeEligible } from "./eligibility.js";
import type { PodInfo } from "./model.js";
import { podKey } from "./model.js";
import { hasShapeAnnotations, shapeFromAnnotations } from "./spark-pods.js";
import { SPARK_PROPERTIES_KEY, shapeFromSparkApplication, shapeFromSparkProperties } from "./spark-conf.js";

/** Label the Spark Operator puts on the pods of a SparkApplication, naming it. */
export const SPARK_OPERATOR_APP_LABEL = "sparkoperator.k8s.io/app-name";
import { QueueWalks } from "./queue-walks.js";
import type { ClusterState } from "./state.js";

export class EngineContext {
  /** FIFO walks kept for the current state version (queue-walks.ts). */
  readonly queueWalks: QueueWalks;

  constructor(
    readonly state: ClusterState,
    readonly config: EngineConfig,
  ) {
    this.queueWalks = new QueueWalks(state, config);
  }

  /** The pod's instance group, "" when it has none. */
  instanceGroup(pod: PodInfo): string {
    return instanceGroupOf(pod, this.config.instanceGroupLabel) ?? "";
  }

  /**
   * The application's shape: from the driver's spark-scheduler annotations when it has any; otherwise from
   * the Spark Operator SparkApplication the driver belongs to (known before the driver starts), or from the
   * Spark conf ConfigMap mounted into the driver (zero-configuration support).
   */
  shape(driver: PodInfo): Result<AppShape> {
    // Kept per pod object while what sizes applications stays (a FIFO walk and the marker read every queued
    // driver's shape at each pass). Shared: callers copy what they keep.
    const known = this.shapes.get(driver);
    if (known && known.shapeVersion === this.state.shapeVersion) return known.shape;
    const r = this.readShape(driver);
    const shape = r.ok ? this.checkShape(r.value) : r;
    this.shapes.set(driver, { shapeVersion: this.state.shapeVersion, shape });
    return shape;
  }

  private readonly shapes = new WeakMap<PodInfo, { shapeVersion: number; shape: Result<AppShape> }>();

  /** Bounds every shape, whatever its source (app-shape.ts checkShape). */
  checkShape(shape: AppShape): Result<AppShape> {
    return checkShape(shape, this.config.maxExecutorsPerApp ?? DEFAULT_MAX_EXECUTORS_PER_APP);
  }

  private readShape(driver: PodInfo): Result<AppShape> {
    if (hasShapeAnnotations(driver)) return shapeFromAnnotations(driver);
    const operatorApp = driver.labels[SPARK_OPERATOR_APP_LABEL];
    const sparkApp = operatorApp ? this.state.sparkApplications.get(podKey(driver.namespace, operatorApp)) : undefined;
    if (sparkApp !== undefined) {
      const r = shapeFromSparkApplication(sparkApp);
      return r.ok ? r : err(`SparkApplication ${driver.namespace}/${operatorApp}: ${r.error}`);
    }
    if (!driver.sparkConfMap) {
      return err(
        "driver has no spark-scheduler annotations (spark-driver-cpu, spark-driver-mem, spark-executor-cpu, " +
          "spark-executor-mem, spark-executor-count) and no Spark conf volume to derive them from",
      );
    }
    const data = this.state.configMaps.get(podKey(driver.namespace, driver.sparkConfMap));
    if (!data) {
      return err(`waiting for Spark conf ConfigMap ${driver.namespace}/${driver.sparkConfMap} to appear`);
    }
    const props = data[SPARK_PROPERTIES_KEY];
    if (props === undefined) {
      return err(`Spark conf ConfigMap ${driver.namespace}/${driver.sparkConfMap} has no ${SPARK_PROPERTIES_KEY} key`);
    }
    return shapeFromSparkProperties(props);
  }

  /** A Demand for cluster autoscalers on behalf of `pod` (reference §6.2). */
  demand(pod: PodInfo, appId: string, instanceGroup: string, units: DemandUnit[], zone?: string): DemandIntent {
    return {
      op: "create",
      namespace: pod.namespace,
      podName: pod.name,
      podUid: pod.uid,
      appId,
      instanceGroup,
      units,
      enforceSingleZone: this.config.binpack.singleAz,
      zone,
    };
  }

  /**
   * Nodes the pod (or, for executor slots, its driver as a proxy) may run on, in the state's node order. Kept per
   * scheduling constraint until a node changes (eligibility reads only the node and the pod's constraint), so a
   * decision does not re-check every node. The list is shared: do not change it.
   */
  eligibleNodes(pod: PodInfo): readonly string[] {
    return this.eligible(pod).list;
  }

  /** The eligible nodes as a set (same caching as `eligibleNodes`). */
  eligibleSet(pod: PodInfo): ReadonlySet<string> {
    const e = this.eligible(pod);
    return (e.set ??= new Set(e.list));
  }

  private eligible(pod: PodInfo): { list: string[]; set?: Set<string> } {
    if (this.eligibleCache.nodesVersion !== this.state.nodesVersion) {
      this.eligibleCache = { nodesVersion: this.state.nodesVersion, byConstraint: new Map() };
    }
    const key = constraintKey(pod);
    let e = this.eligibleCache.byConstraint.get(key);
    if (!e) {
      const list: string[] = [];
      for (const node of this.state.nodes.values()) {
        if (nodeEligible(pod, node).ok) list.push(node.name);
      }
      e = { list };
      // Bounded: pods with ever new constraints must not grow it without end.
      if (this.eligibleCache.byConstraint.size >= 64) this.eligibleCache.byConstraint.clear();
      this.eligibleCache.byConstraint.set(key, e);
    }
    return e;
  }

  private eligibleCache: { nodesVersion: number; byConstraint: Map<string, { list: string[]; set?: Set<string> }> } = {
    nodesVersion: -1,
    byConstraint: new Map(),
  };
}
