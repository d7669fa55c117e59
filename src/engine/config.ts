// Engine configuration: the scheduling-relevant subset of the service config (README "Configuration").

import type { BinpackAlgorithm } from "./binpack/types.js";
import type { LabelPriority } from "./node-order.js";

export type { LabelPriority };

export interface EngineConfig {
  /** Pods must name this scheduler (spec.schedulerName) to be considered by FIFO and overhead rules. */
  schedulerName: string;
  binpack: BinpackAlgorithm;
  /** Strict FIFO per instance group: an older pending driver that does not fit blocks younger ones. */
  fifo: boolean;
  /** A non-fitting earlier driver younger than this does not block (ms). */
  fifoDefaultEnforceAfterMs: number;
  /** Per instance group override of fifoDefaultEnforceAfterMs. */
  fifoEnforceAfterByInstanceGroup: Record<string, number>;
  /** Pod and node label that defines instance groups. */
  instanceGroupLabel: string;
  driverPrioritizedNodeLabel?: LabelPriority;
  executorPrioritizedNodeLabel?: LabelPriority;
  /** Keep rescheduled and extra executors in the zone the application runs in (single-AZ packers only). */
  dynamicAllocationSameAz: boolean;
  /** Most executors one application may ask for (`max-executors-per-application`); default 10,000. */
  maxExecutorsPerApp?: number;
}
