// What a Spark application asks for: its driver, its executors, and how many of them.

import type { Resources } from "./resources.js";

export interface AppShape {
  driver: Resources;
  executor: Resources;
  /** Executors that must be reserved at admission (the static count, or the DA minimum). */
  minExecutors: number;
  /** Upper bound of executors (equal to min without dynamic allocation). */
  maxExecutors: number;
  dynamicAllocation: boolean;
  /** Where the shape was read from. */
  source: "annotations" | "spark-conf" | "spark-application";
}

/** A result that carries a clear, user-facing reason on failure. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function err<T = never>(error: string): Result<T> {
  return { ok: false, error };
}

// ---------------------------------------------------------------------------------------------
// Bounds. Every shape, whatever it was read from (annotations, Spark conf, SparkApplication, a Simulate request),
// passes through checkShape before the engine packs it: packing cost grows with the executor count, and every
// total must stay inside the API's int64 fields.

/** Default of `max-executors-per-application`. */
export const DEFAULT_MAX_EXECUTORS_PER_APP = 10_000;
/** The highest value `max-executors-per-application` may be configured to (fits the API's int32 fields). */
export const MAX_EXECUTORS_PER_APP_LIMIT = 1_000_000;
/** Largest total of one dimension an application may ask for: 2^63 − 1024 (see QUANTITY_MAX in resources.ts). */
const TOTAL_MAX = 2 ** 63 - 1024;

/**
 * Refuses a shape the engine must not pack: more executors than `maxExecutors` (static count, minimum or
 * maximum), executors that request no CPU or no memory (a zero-sized executor would make any count fit on
 * one node), negative or non-integer sizes, or totals (driver + maximum executors) beyond int64.
 */
export function checkShape(shape: AppShape, maxExecutors: number): Result<AppShape> {
  const counts: [string, number][] = [
    ["minimum executor count", shape.minExecutors],
    ["maximum executor count", shape.maxExecutors],
  ];
  for (const [what, n] of counts) {
    if (!Number.isSafeInteger(n) || n < 0) return err(`${what} ${n} is not a non-negative integer`);
    if (n > maxExecutors) {
      return err(`${what} ${n} exceeds the limit of ${maxExecutors} executors per application (max-executors-per-application)`);
    }
  }
  if (shape.maxExecutors < shape.minExecutors) {
    return err(`maximum executor count (${shape.maxExecutors}) is smaller than the minimum (${shape.minExecutors})`);
  }
  for (const [role, r] of [["driver", shape.driver], ["executor", shape.executor]] as const) {
    for (const dim of ["cpu", "memory", "gpu"] as const) {
      const v = r[dim];
      if (!Number.isFinite(v) || !Number.isInteger(v) || v < 0 || v > TOTAL_MAX) {
        return err(`${role} ${dim} ${v} is not a non-negative integer within int64`);
      }
    }
  }
  if (shape.maxExecutors > 0 && (shape.executor.cpu === 0 || shape.executor.memory === 0)) {
    return err(
      `executors must request CPU and memory (got cpu=${shape.executor.cpu}m memory=${shape.executor.memory} bytes): ` +
        "a zero-sized executor is an error",
    );
  }
  for (const dim of ["cpu", "memory", "gpu"] as const) {
    const total = shape.driver[dim] + shape.executor[dim] * shape.maxExecutors;
    if (total > TOTAL_MAX) {
      return err(`the application's total ${dim} (driver + ${shape.maxExecutors} executors) exceeds the int64 range`);
    }
  }
  return ok(shape);
}
