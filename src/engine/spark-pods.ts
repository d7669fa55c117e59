// Recognising Spark pods (reference §2.1) and reading an application's shape from the driver's
// spark-scheduler annotations (reference §2.2).

import { type AppShape, type Result, err, ok } from "./app-shape.js";
import type { PodInfo } from "./model.js";
import { type Resources, parseCount, parseCpu, parseMemory } from "./resources.js";

export const ROLE_LABEL = "spark-role";
export const APP_ID_LABEL = "spark-app-id";
/** Spark's own application label; used when `spark-app-id` is absent. */
export const SPARK_APP_SELECTOR_LABEL = "spark-app-selector";

export const ANNOTATIONS = {
  driverCpu: "spark-driver-cpu",
  driverMem: "spark-driver-mem",
  driverGpu: "spark-driver-nvidia.com/gpu",
  executorCpu: "spark-executor-cpu",
  executorMem: "spark-executor-mem",
  executorGpu: "spark-executor-nvidia.com/gpu",
  dynamicAllocation: "spark-dynamic-allocation-enabled",
  executorCount: "spark-executor-count",
  minExecutors: "spark-dynamic-allocation-min-executor-count",
  maxExecutors: "spark-dynamic-allocation-max-executor-count",
} as const;

export type SparkRole = "driver" | "executor";

export interface SparkPodIdentity {
  role: SparkRole;
  appId: string;
}

/** Classifies a pod as a Spark driver or executor, with its application id. */
export function classifyPod(pod: PodInfo): Result<SparkPodIdentity> {
  const role = pod.labels[ROLE_LABEL];
  if (role !== "driver" && role !== "executor") {
    return err(
      role === undefined
        ? `can not schedule non spark pod: label ${ROLE_LABEL} is missing`
        : `can not schedule non spark pod: label ${ROLE_LABEL} is "${role}", expected "driver" or "executor"`,
    );
  }
  const appId = pod.labels[APP_ID_LABEL] || pod.labels[SPARK_APP_SELECTOR_LABEL];
  if (!appId) {
    return err(`spark ${role} pod has neither a ${APP_ID_LABEL} nor a ${SPARK_APP_SELECTOR_LABEL} label`);
  }
  return ok({ role, appId });
}

/** True when the driver carries any spark-scheduler sizing annotation (then annotations are the source). */
export function hasShapeAnnotations(pod: PodInfo): boolean {
  return Object.values(ANNOTATIONS).some((key) => pod.annotations[key] !== undefined);
}

const BOOL_TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const BOOL_FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/**
 * Reads the application shape from the driver's annotations, checking them in the reference's fixed order
 * (driver cpu, mem, gpu; executor cpu, mem, gpu; count; min; max). The first error wins and names the
 * annotation. Memory accepts Kubernetes quantities and Spark memory strings ("4g").
 */
export function shapeFromAnnotations(pod: PodInfo): Result<AppShape> {
  const a = pod.annotations;

  const required = (key: string, parse: (v: string) => number | undefined): Result<number> => {
    const v = a[key];
    if (v === undefined) return err(`annotation ${key} is missing from driver`);
    return parsed(key, v, parse);
  };
  const optional = (key: string, parse: (v: string) => number | undefined): Result<number> => {
    const v = a[key];
    if (v === undefined) return ok(0);
    return parsed(key, v, parse);
  };

  const driverCpu = required(ANNOTATIONS.driverCpu, parseCpu);
  if (!driverCpu.ok) return driverCpu;
  const driverMem = required(ANNOTATIONS.driverMem, parseMemory);
  if (!driverMem.ok) return driverMem;
  const driverGpu = optional(ANNOTATIONS.driverGpu, parseCount);
  if (!driverGpu.ok) return driverGpu;
  const executorCpu = required(ANNOTATIONS.executorCpu, parseCpu);
  if (!executorCpu.ok) return executorCpu;
  const executorMem = required(ANNOTATIONS.executorMem, parseMemory);
  if (!executorMem.ok) return executorMem;
  const executorGpu = optional(ANNOTATIONS.executorGpu, parseCount);
  if (!executorGpu.ok) return executorGpu;

  let dynamicAllocation = false;
  const daRaw = a[ANNOTATIONS.dynamicAllocation];
  if (daRaw !== undefined) {
    if (BOOL_TRUE.has(daRaw)) dynamicAllocation = true;
    else if (!BOOL_FALSE.has(daRaw)) {
      return err(`annotation ${ANNOTATIONS.dynamicAllocation} could not be parsed as a boolean: "${daRaw}"`);
    }
  }

  const count = optionalPresent(a, ANNOTATIONS.executorCount);
  if (!count.ok) return count;
  const min = optionalPresent(a, ANNOTATIONS.minExecutors);
  if (!min.ok) return min;
  const maxC = optionalPresent(a, ANNOTATIONS.maxExecutors);
  if (!maxC.ok) return maxC;

  let minExecutors: number;
  let maxExecutors: number;
  if (!dynamicAllocation) {
    if (count.value === undefined) {
      return err(`annotation ${ANNOTATIONS.executorCount} is required when dynamic allocation is disabled`);
    }
    minExecutors = maxExecutors = count.value;
  } else {
    if (min.value === undefined) {
      return err(`annotation ${ANNOTATIONS.minExecutors} is required when dynamic allocation is enabled`);
    }
    if (maxC.value === undefined) {
      return err(`annotation ${ANNOTATIONS.maxExecutors} is required when dynamic allocation is enabled`);
    }
    minExecutors = min.value;
    maxExecutors = maxC.value;
    if (maxExecutors < minExecutors) {
      return err(
        `annotation ${ANNOTATIONS.maxExecutors} (${maxExecutors}) is smaller than ${ANNOTATIONS.minExecutors} (${minExecutors})`,
      );
    }
  }

  const driver: Resources = { cpu: driverCpu.value, memory: driverMem.value, gpu: driverGpu.value };
  const executor: Resources = { cpu: executorCpu.value, memory: executorMem.value, gpu: executorGpu.value };
  return ok({ driver, executor, minExecutors, maxExecutors, dynamicAllocation, source: "annotations" });
}

function parsed(key: string, value: string, parse: (v: string) => number | undefined): Result<number> {
  const n = parse(value);
  if (n === undefined || n < 0) return err(`annotation ${key} does not have a parseable value "${value}"`);
  return ok(n);
}

function optionalPresent(a: Record<string, string>, key: string): Result<number | undefined> {
  const v = a[key];
  if (v === undefined) return ok(undefined);
  const r = parsed(key, v, parseCount);
  return r.ok ? ok(r.value) : r;
}
