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
