// Resource arithmetic for the three dimensions the scheduler models.
// CPU is held in millicores, memory in bytes, GPUs (`nvidia.com/gpu`) as a whole count.
// All values are integers; every parser rounds up, as Kubernetes does for requests.

export interface Resources {
  /** CPU in millicores. */
  cpu: number;
  /** Memory in bytes. */
  memory: number;
  /** `nvidia.com/gpu` count. */
  gpu: number;
}

export const GPU_RESOURCE = "nvidia.com/gpu";

export function res(cpu: number, memory: number, gpu = 0): Resources {
  return { cpu, memory, gpu };
}

export function zero(): Resources {
  return { cpu: 0, memory: 0, gpu: 0 };
}

export function clone(r: Resources): Resources {
  return { cpu: r.cpu, memory: r.memory, gpu: r.gpu };
}

export function add(a: Resources, b: Resources): Resources {
  return { cpu: a.cpu + b.cpu, memory: a.memory + b.memory, gpu: a.gpu + b.gpu };
}

export function sub(a: Resources, b: Resources): Resources {
  return { cpu: a.cpu - b.cpu, memory: a.memory - b.memory, gpu: a.gpu - b.gpu };
}

export function scale(a: Resources, n: number): Resources {
  return { cpu: a.cpu * n, memory: a.memory * n, gpu: a.gpu * n };
}

/** In-place `target += delta`; returns target. Used on hot paths to avoid allocation. */
export function addInto(target: Resources, delta: Resources): Resources {
  target.cpu += delta.cpu;
  target.memory += delta.memory;
  target.gpu += delta.gpu;
  return target;
}

/** In-place `target -= delta`; returns target. */
export function subInto(target: Resources, delta: Resources): Resources {
  target.cpu -= delta.cpu;
  target.memory -= delta.memory;
  target.gpu -= delta.gpu;
  return target;
}

export function max(a: Resources, b: Resources): Resources {
  return { cpu: Math.max(a.cpu, b.cpu), memory: Math.max(a.memory, b.memory), gpu: Math.max(a.gpu, b.gpu) };
}

/** True when `request` fits into `available` in every dimension (equality fits). */
export function fits(request: Resources, available: Resources): boolean {
  return request.cpu <= available.cpu && request.memory <= available.memory && request.gpu <= available.gpu;
}

/** True when `a` is greater than `b` in any dimension (the reference's "GreaterThan"). */
export function greaterThanAny(a: Resources, b: Resources): boolean {
  return a.cpu > b.cpu || a.memory > b.memory || a.gpu > b.gpu;
}

export function equals(a: Resources, b: Resources): boolean {
  return a.cpu === b.cpu && a.memory === b.memory && a.gpu === b.gpu;
}

export function isZero(a: Resources): boolean {
  return a.cpu === 0 && a.memory === 0 && a.gpu === 0;
}

/** Human-readable form, e.g. `cpu=1500m memory=2Gi gpu=0`. */
export function formatResources(r: Resources): string {
  return `cpu=${formatCpu(r.cpu)} memory=${formatMemory(r.memory)} gpu=${r.gpu}`;
}

export function formatCpu(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

export function formatMemory(bytes: number): string {
  const units: [string, number][] = [
    ["Ti", 2 ** 40],
    ["Gi", 2 ** 30],
    ["Mi", 2 ** 20],
    ["Ki", 2 ** 10],
  ];
  for (const [suffix, size] of units) {
    if (bytes !== 0 && bytes % size === 0) return `${bytes / size}${suffix}`;
  }
  return String(bytes);
}

// ---------------------------------------------------------------------------------------------
// Quantity parsing

const BINARY_SUFFIX: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};
const DECIMAL_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

const QUANTITY_RE = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|n|u|m|k|M|G|T|P|E)?$/;

/**
 * Parses a Kubernetes quantity ("500m", "1.5", "2Gi", "1e3") and returns ceil(value * multiplier),
 * computed exactly (no floating-point error). Returns undefined when the string is not a quantity.
 */
export function parseQuantityScaled(input: string, multiplier: number): number | undefined {
  const m = QUANTITY_RE.exec(input.trim());
  if (!m) return undefined;
  const [, sign, num, suffix = ""] = m;
  const [intPart, fracPart = ""] = num.split(".");
  // value = digits * 10^exp10 * binary
  let digits = BigInt((intPart || "0") + fracPart);
  let exp10 = -fracPart.length;
  let binary = 1n;
  if (suffix in BINARY_SUFFIX) binary = BINARY_SUFFIX[suffix];
  else if (suffix.startsWith("e") || suffix.startsWith("E")) exp10 += Number(suffix.slice(1));
  else exp10 += DECIMAL_SUFFIX[suffix];
  digits *= binary * BigInt(multiplier);
  let result: bigint;
  if (exp10 >= 0) {
    result = digits * 10n ** BigInt(exp10);
  } else {
    const div = 10n ** BigInt(-exp10);
    result = digits / div + (digits % div === 0n ? 0n : 1n);
  }
  if (sign === "-") result = -result;
  const n = Number(result);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** CPU quantity → millicores (rounded up). */
export function parseCpu(input: string): number | undefined {
  return parseQuantityScaled(input, 1000);
}

/** Memory quantity → bytes (rounded up). A bare "1" is one byte, as in Kubernetes. */
export function parseMemoryQuantity(input: string): number | undefined {
  return parseQuantityScaled(input, 1);
}

/** GPU / integer count quantity → integer (rounded up, as Quantity.Value()). */
export function parseCount(input: string): number | undefined {
  return parseQuantityScaled(input, 1);
}

const SPARK_MEMORY_RE = /^(\d+(?:\.\d+)?)\s*([kmgtp])b?$/i;
const SPARK_UNITS: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/**
 * Spark's JVM memory strings ("4g", "512m", "1.5g", "2048mb"), binary units.
 * A bare number is MiB, as Spark reads `spark.executor.memory`.
 */
export function parseSparkMemory(input: string): number | undefined {
  const s = input.trim();
  if (/^\d+$/.test(s)) return Number(s) * 2 ** 20;
  const m = SPARK_MEMORY_RE.exec(s);
  if (!m) return undefined;
  return Math.ceil(Number(m[1]) * SPARK_UNITS[m[2].toLowerCase()]);
}

/**
 * Memory as written in a spark-scheduler annotation: a Kubernetes quantity ("2432Mi", "1G", "1" = 1 byte)
 * or, when that fails, a Spark memory string ("4g", "1.5g"). A lowercase "m" suffix ("512m") is read as
 * Spark's MiB, not Kubernetes' milli-bytes, which no one means for memory.
 */
export function parseMemory(input: string): number | undefined {
  const s = input.trim();
  if (/^\d+(\.\d+)?m$/.test(s)) return parseSparkMemory(s);
  return parseMemoryQuantity(s) ?? parseSparkMemory(s);
}

/** Parses a Kubernetes `resources.requests`-style map into Resources (unknown keys ignored). */
export function resourcesFromMap(map: Record<string, unknown> | undefined | null): Resources {
  const out = zero();
  if (!map) return out;
  const cpu = map.cpu;
  const memory = map.memory;
  const gpu = map[GPU_RESOURCE];
  if (cpu !== undefined && cpu !== null) out.cpu = parseCpu(String(cpu)) ?? 0;
  if (memory !== undefined && memory !== null) out.memory = parseMemoryQuantity(String(memory)) ?? 0;
  if (gpu !== undefined && gpu !== null) out.gpu = parseCount(String(gpu)) ?? 0;
  return out;
}

/** The inverse of resourcesFromMap: Kubernetes quantity strings (used in ResourceReservation objects). */
export function resourcesToMap(r: Resources): Record<string, string> {
  return { cpu: formatCpu(r.cpu), memory: String(r.memory), [GPU_RESOURCE]: String(r.gpu) };
}
