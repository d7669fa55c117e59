// Values leaving through the API's fixed-width fields. The edge refuses requests that would not fit, but a stored
// object (a ResourceReservation written by another tool, a pod from the informer) is not ours to refuse: one bad
// value must never make a read fail for everyone, so out-of-range values are clamped here.

import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
const TIMESTAMP_MIN_MS = new Date(0).setUTCFullYear(1, 0, 1);
const TIMESTAMP_MAX_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** A number as int64: truncated to an integer, clamped to the int64 range; NaN is 0. */
export function int64(n: number): bigint {
  if (Number.isNaN(n)) return 0n;
  if (n === Infinity) return INT64_MAX;
  if (n === -Infinity) return INT64_MIN;
  const b = BigInt(Math.trunc(n));
  return b > INT64_MAX ? INT64_MAX : b < INT64_MIN ? INT64_MIN : b;
}

/** Milliseconds since the epoch as a Timestamp, clamped to the Timestamp range; NaN is the epoch. */
export function timestamp(ms: number): Timestamp {
  const v = Number.isNaN(ms) ? 0 : Math.min(Math.max(Math.trunc(ms), TIMESTAMP_MIN_MS), TIMESTAMP_MAX_MS);
  return timestampFromMs(v);
}
