// Packing efficiency (reference §7.7, lib efficiency.go).
//
// Per node: used = (schedulable − available) + reserved[node]; cpu and memory are used / schedulable (a zero
// denominator counts as 1); gpu is the ratio only on nodes with schedulable GPUs, else 0; max = max of the three.
// Average over a list of node names (repeats weight a node): arithmetic means of cpu, memory and max; gpu is the
// mean over the listed nodes that have GPUs, or 1 when none has.
//
// Deviation: the reference converts quantities with Quantity.Value() (rounding CPU up to whole cores) before
// dividing. We divide our exact integer units (millicores, bytes), so 500m of 2 cores is 0.25, not 0.5.

import type { Resources } from "../resources.js";
import type { Efficiency, NodeCapacity, NodeMetadata, PackResult } from "./types.js";

function ratio(used: number, total: number): number {
  return used / (total === 0 ? 1 : total);
}

/** Efficiency of one node with `reserved` (undefined = nothing) placed on top of its existing usage. */
export function nodeEfficiency(node: NodeCapacity, reserved: Resources | undefined): Efficiency {
  const s = node.schedulable;
  const a = node.available;
  const cpu = ratio(s.cpu - a.cpu + (reserved ? reserved.cpu : 0), s.cpu);
  const memory = ratio(s.memory - a.memory + (reserved ? reserved.memory : 0), s.memory);
  const gpu = s.gpu > 0 ? (s.gpu - a.gpu + (reserved ? reserved.gpu : 0)) / s.gpu : 0;
  return { cpu, memory, gpu, max: Math.max(cpu, memory, gpu) };
}

/** Efficiency of every node in `metadata` given the reserved map (what the packers report). */
export function computeEfficiencies(
  metadata: NodeMetadata,
  reserved: ReadonlyMap<string, Resources>,
): Map<string, Efficiency> {
  const out = new Map<string, Efficiency>();
  for (const [name, node] of metadata) out.set(name, nodeEfficiency(node, reserved.get(name)));
  return out;
}

/** Efficiencies of just the named nodes (each computed once); names without metadata are skipped. */
export function efficienciesFor(
  names: Iterable<string>,
  metadata: NodeMetadata,
  reserved: ReadonlyMap<string, Resources>,
): Map<string, Efficiency> {
  const out = new Map<string, Efficiency>();
  for (const name of names) {
    if (out.has(name)) continue;
    const node = metadata.get(name);
    if (node) out.set(name, nodeEfficiency(node, reserved.get(name)));
  }
  return out;
}

/**
 * Average efficiency over `names` (a node listed k times counts k times). Names missing from `efficiencies`
 * or `metadata` are ignored. An empty list averages to 0 (gpu 1).
 */
export function averageEfficiency(
  names: Iterable<string>,
  efficiencies: ReadonlyMap<string, Efficiency>,
  metadata: NodeMetadata,
): Efficiency {
  let n = 0;
  let cpu = 0;
  let memory = 0;
  let max = 0;
  let gpuNodes = 0;
  let gpu = 0;
  for (const name of names) {
    const e = efficiencies.get(name);
    const node = metadata.get(name);
    if (!e || !node) continue;
    n += 1;
    cpu += e.cpu;
    memory += e.memory;
    max += e.max;
    if (node.schedulable.gpu > 0) {
      gpuNodes += 1;
      gpu += e.gpu;
    }
  }
  if (n === 0) return { cpu: 0, memory: 0, gpu: 1, max: 0 };
  return { cpu: cpu / n, memory: memory / n, gpu: gpuNodes === 0 ? 1 : gpu / gpuNodes, max: max / n };
}

/**
 * Efficiency of every node in `metadata` after placing a packed app (what the packers reported per pack before).
 * Read it before the app's placement is consumed from `metadata`.
 */
export function packEfficiencies(result: PackResult, metadata: NodeMetadata): Map<string, Efficiency> {
  return computeEfficiencies(metadata, result.reserved);
}
