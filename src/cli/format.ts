// Human-readable output for the admin CLI: aligned tables, key/value blocks, quantities and ages.

import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Resources } from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import { formatCpu, formatMemory } from "../engine/resources.js";

/** Left-aligned columns separated by three spaces (as kubectl prints them), one line per row. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join("   ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

/** `Key:  value` lines with the values aligned. */
export function fields(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${v}`.trimEnd()).join("\n") + "\n";
}

export function cpu(millis: bigint | undefined): string {
  return formatCpu(Number(millis ?? 0n));
}

export function memory(bytes: bigint | undefined): string {
  return formatMemory(Number(bytes ?? 0n));
}

export function gpus(n: bigint | undefined): string {
  return String(n ?? 0n);
}

/** `cpu=4 memory=16Gi gpu=0`, or `-` when unset. */
export function resources(r: Resources | undefined): string {
  if (!r) return "-";
  return `cpu=${cpu(r.cpuMillis)} memory=${memory(r.memoryBytes)} gpu=${gpus(r.gpus)}`;
}

export function yesNo(b: boolean): string {
  return b ? "yes" : "no";
}

export function orDash(s: string): string {
  return s === "" ? "-" : s;
}

/** RFC 3339 in UTC without milliseconds, e.g. `2026-11-25T00:00:00Z`; `-` when unset. */
export function timestamp(ts: Timestamp | undefined): string {
  if (!ts) return "-";
  return new Date(timestampMs(ts)).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** kubectl-style age: `45s`, `5m`, `3h`, `2d` (a time in the future counts as `0s`). */
export function age(ts: Timestamp | undefined, nowMs: number): string {
  if (!ts) return "-";
  const s = Math.max(0, Math.floor((nowMs - timestampMs(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

export function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

/** Executor placement per node in first-use order: `node-a1 ×3, node-b1 ×2`. */
export function placement(nodes: readonly string[]): string {
  if (nodes.length === 0) return "none";
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(n, (counts.get(n) ?? 0) + 1);
  return [...counts].map(([n, c]) => `${n} ×${c}`).join(", ");
}
