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
//
// Kubernetes' resource.Quantity grammar (k8s.io/apimachinery pkg/api/resource, `ParseQuantity`):
//   <quantity>        ::= <signedNumber><suffix>
//   <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
//   <signedNumber>    ::= <number> | ("+" | "-") <number>
//   <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
//   <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
//   <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
//   <decimalExponent> ::= ("e" | "E") <signedNumber of digits>
// A lone "E" is exa (10^18), not an exponent; "E3" is 10^3. No spaces anywhere ("1 Gi", " 1" are refused), no
// other units ("1Gb", "1K"). Kubernetes' scanner also takes a number with no digits as zero ("Ki", "+", "."), so
// we do too. The value is computed exactly (BigInt) and rounded up to the unit asked for, as Quantity.Value() and
// MilliValue() round up. Kubernetes caps quantities at 2^63 − 1; we refuse what exceeds QUANTITY_MAX instead
// (the largest double below 2^63, so every value still fits the int64 fields of the API). Values are exact
// up to 2^53 (9 PB of memory, 9 million cores in millicores) and to 16 significant digits above.

const BINARY_EXP: Record<string, bigint> = { Ki: 10n, Mi: 20n, Gi: 30n, Ti: 40n, Pi: 50n, Ei: 60n };
const DECIMAL_EXP: Record<string, number> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

const QUANTITY_RE = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|[numkMGTPE])?$/;

/** Largest value a parsed quantity may have in the unit asked for: 2^63 − 1024, the largest double below 2^63. */
export const QUANTITY_MAX = 2 ** 63 - 1024;
/** Longest quantity string read (Kubernetes sets none; no real quantity comes close). */
export const QUANTITY_MAX_LENGTH = 64;
/** Decimal exponents beyond this cannot give a value ≤ QUANTITY_MAX unless the digits are zero. */
const MAX_EXP10 = 40;

/**
 * Parses a Kubernetes quantity ("500m", "1.5", "2Gi", "1e3", "2E") and returns ceil(value × multiplier),
 * computed exactly. Returns undefined when the string is not a quantity or the result exceeds QUANTITY_MAX
 * in magnitude.
 */
export function parseQuantityScaled(input: string, multiplier: number): number | undefined {
  if (input.length > QUANTITY_MAX_LENGTH) return undefined;
  const m = QUANTITY_RE.exec(input);
  if (!m || input === "") return undefined;
  const [, sign, intPart, fracPart = "", suffix = ""] = m;
  let digits = BigInt((intPart || "0") + fracPart);
  if (digits === 0n) return 0;
  // value = digits × 10^exp10 × 2^exp2
  let exp10 = -fracPart.length;
  let exp2 = 0n;
  if (suffix in BINARY_EXP) exp2 = BINARY_EXP[suffix];
  else if (suffix in DECIMAL_EXP) exp10 += DECIMAL_EXP[suffix];
  else {
    const e = Number(suffix.slice(1)); // [eE][+-]?digits
    if (!Number.isSafeInteger(e) || Math.abs(e) > 1_000_000) return e < 0 ? ceilTiny(sign) : undefined;
    exp10 += e;
  }
  digits = (digits << exp2) * BigInt(multiplier);
  let result: bigint;
  if (exp10 > MAX_EXP10) return undefined; // digits ≥ 1, so the value is ≥ 10^41
  if (exp10 >= 0) result = digits * 10n ** BigInt(exp10);
  else if (-exp10 > digits.toString().length + 1) result = 1n; // 0 < value < 1: rounds up to one unit
  else {
    const div = 10n ** BigInt(-exp10);
    result = digits / div + (digits % div === 0n ? 0n : 1n);
  }
  if (result > BigInt(QUANTITY_MAX)) return undefined;
  const n = Number(result);
  return sign === "-" ? -n : n;
}

/** A non-zero value too small to write out: Kubernetes rounds it away from zero. */
function ceilTiny(sign: string): number {
  return sign === "-" ? -1 : 1;
}

/** CPU quantity → millicores (rounded up, as Quantity.MilliValue()). */
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

// Spark's memory strings as the README allows them in annotations: digits, an optional fraction and one
// lowercase binary unit ("4g", "512m", "1.5g"). Nothing else: "4gb", "4 g" and "4G" (a Kubernetes quantity, 4×10^9)
// are not Spark strings here.
const SPARK_MEMORY_RE = /^([0-9]+(?:\.[0-9]+)?)([kmgtp])$/;
const SPARK_UNITS: Record<string, bigint> = { k: 10n, m: 20n, g: 30n, t: 40n, p: 50n };

/** Spark memory strings ("4g", "512m", "1.5g"), binary units, rounded up to a byte; a bare number is MiB. */
export function parseSparkMemory(input: string): number | undefined {
  if (/^[0-9]+$/.test(input)) return parseQuantityScaled(`${input}Mi`, 1);
  const m = SPARK_MEMORY_RE.exec(input);
  if (!m) return undefined;
  const exp = Number(SPARK_UNITS[m[2]]) / 10;
  return parseQuantityScaled(`${m[1]}${["Ki", "Mi", "Gi", "Ti", "Pi"][exp - 1]}`, 1);
}

/**
 * Memory as written in a spark-scheduler annotation: a Kubernetes quantity ("2432Mi", "1G", "1" = 1 byte)
 * or, when that fails, a Spark memory string ("4g", "1.5g"). A lowercase "m" suffix ("512m") is read as
 * Spark's MiB, not Kubernetes' milli-bytes, which no one means for memory.
 */
export function parseMemory(input: string): number | undefined {
  if (/^[0-9]+(\.[0-9]+)?m$/.test(input)) return parseSparkMemory(input);
  return parseMemoryQuantity(input) ?? parseSparkMemory(input);
}

/**
 * Parses a Kubernetes `resources.requests`-style map into Resources (unknown keys ignored). A value that is not a
 * quantity (Kubernetes also takes a JSON number), or is negative, counts as 0 and is reported to `onInvalid`.
 */
export function resourcesFromMap(
  map: Record<string, unknown> | undefined | null,
  onInvalid?: (key: string, value: unknown) => void,
): Resources {
  const out = zero();
  if (!map) return out;
  const read = (key: string, parse: (v: string) => number | undefined): number => {
    const v = map[key];
    if (v === undefined || v === null) return 0;
    const n = typeof v === "string" || typeof v === "number" ? parse(String(v)) : undefined;
    if (n === undefined || n < 0) {
      onInvalid?.(key, v);
      return 0;
    }
    return n;
  };
  out.cpu = read("cpu", parseCpu);
  out.memory = read("memory", parseMemoryQuantity);
  out.gpu = read(GPU_RESOURCE, parseCount);
  return out;
}

/** The inverse of resourcesFromMap: Kubernetes quantity strings (used in ResourceReservation objects). */
export function resourcesToMap(r: Resources): Record<string, string> {
  return { cpu: formatCpu(r.cpu), memory: String(r.memory), [GPU_RESOURCE]: String(r.gpu) };
}
