// Zero-configuration Spark support: derive an application's shape (driver and executor pod sizes, executor
// count, dynamic allocation) from the SparkConf, exactly as Spark itself sizes its pods.
//
// Inputs:
//   - the `spark.properties` key of the driver's conf ConfigMap (Java properties text) → shapeFromSparkProperties;
//   - a Spark Operator (kubeflow, sparkoperator.k8s.io/v1beta2) `SparkApplication` → shapeFromSparkApplication.
//
// The rules are those of spec/spark-on-kubernetes.md §2 and §2.1 (BasicDriverFeatureStep, BasicExecutorFeatureStep,
// ResourceProfile.getResourcesForClusterManager, Utils.getDynamicAllocationInitialExecutors):
//
//   driver cpu     = spark.kubernetes.driver.request.cores (k8s quantity) ?: spark.driver.cores (int, default 1)
//   driver memory  = spark.driver.memory (default 1g) + overhead
//   executor cpu   = spark.kubernetes.executor.request.cores ?: spark.executor.cores (int, default 1)
//   executor mem   = spark.executor.memory (default 1g) + overhead + off-heap (if enabled) + pyspark memory (Python)
//   overhead       = spark.<role>.memoryOverhead
//                    ?: max(trunc(factor × heapMiB), spark.<role>.minMemoryOverhead (default 384m))
//   factor         = spark.<role>.memoryOverheadFactor ?: spark.kubernetes.memoryOverheadFactor
//                    ?: (non-JVM ? 0.4 : 0.1)
//   gpu            = spark.<role>.resource.gpu.amount when spark.<role>.resource.gpu.vendor is nvidia.com
//   executors      = spark.executor.instances (default 2); with dynamic allocation see below.
//
// All memory arithmetic is done in whole MiB, as Spark does (the pod request is "<N>Mi"); values are parsed with
// Spark's own byte-string rules (JavaUtils.byteStringAs: integer + optional b/k/kb/m/mb/g/gb/t/tb/p/pb suffix,
// fractions rejected, conversion to MiB truncates). Invalid values are reported as errors naming the property,
// because Spark would fail the application on them too.
//
// Dynamic allocation choice: AppShape.minExecutors (the executors reserved at admission) is Spark's *initial
// target* max(minExecutors, initialExecutors, spark.executor.instances (unset → 0)), not the bare DA minimum.
// Spark requests exactly that many executors at start and waits for 80 % of them before running tasks
// (spec §0.5, §3.5, §4.4), so reserving fewer would stall every DA app for up to 30 s. maxExecutors defaults to
// Spark's Int.MaxValue (2147483647, SPARK_INT_MAX): finite, JSON-safe, and exactly what Spark uses. Spark's own
// validation is mirrored: max must be > 0, min ≤ max, initial target ≤ max.
//
// Pure and synchronous: no I/O, no clock.

import type { AppShape, Result } from "./app-shape.js";
import { err, ok } from "./app-shape.js";
import type { PodInfo } from "./model.js";
import { GPU_RESOURCE, parseCpu, res } from "./resources.js";

/** The key of the driver's conf ConfigMap that holds the SparkConf (Java properties). */
export const SPARK_PROPERTIES_KEY = "spark.properties";

/** Java's Integer.MAX_VALUE: Spark's default for spark.dynamicAllocation.maxExecutors. */
export const SPARK_INT_MAX = 2147483647;

/** Label Spark (3.1+) puts on executor pods: the ResourceProfile id, "0" for the default profile. */
export const RESOURCE_PROFILE_LABEL = "spark-exec-resourceprofile-id";

const MIB = 2 ** 20;
const DEFAULT_MIN_OVERHEAD_MIB = 384;
const JVM_OVERHEAD_FACTOR = 0.1;
const NON_JVM_OVERHEAD_FACTOR = 0.4;
const DEFAULT_EXECUTOR_INSTANCES = 2;

// ---------------------------------------------------------------------------------------------
// Java properties parsing (java.util.Properties.load semantics)

const PROP_WS = new Set([" ", "\t", "\f"]);

function skipWs(s: string, from: number): number {
  let i = from;
  while (i < s.length && PROP_WS.has(s[i])) i++;
  return i;
}

/** Number of consecutive backslashes at the end of s. */
function trailingBackslashes(s: string): number {
  let n = 0;
  for (let i = s.length - 1; i >= 0 && s[i] === "\\"; i--) n++;
  return n;
}

/** Resolves escapes: \t \n \r \f, \uXXXX, and `\c` → c for any other character. */
function unescapeProperty(s: string, lineNo: number): string {
  if (!s.includes("\\")) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== "\\") {
      out += c;
      continue;
    }
    const e = s[++i];
    if (e === undefined) break; // cannot happen: a trailing backslash is a line continuation
    if (e === "u") {
      const hex = s.slice(i + 1, i + 5);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
        throw new Error(`malformed \\uxxxx escape on line ${lineNo} of the properties text`);
      }
      out += String.fromCharCode(parseInt(hex, 16));
      i += 4;
    } else if (e === "t") out += "\t";
    else if (e === "n") out += "\n";
    else if (e === "r") out += "\r";
    else if (e === "f") out += "\f";
    else out += e;
  }
  return out;
}

/**
 * Parses Java properties text as `java.util.Properties.load` does: `key=value`, `key: value` and `key value`
 * separators; `#` / `!` comment lines; logical lines continued by an odd number of trailing backslashes (leading
 * whitespace of the continuation line dropped; comments are never continued); escapes `\t \n \r \f \uXXXX` and
 * `\c` → `c` in keys and values; trailing whitespace of values kept; the last duplicate key wins.
 * Throws an Error on a malformed `\uXXXX` escape, as Java does.
 */
export function parseJavaProperties(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.split(/\r\n|\r|\n/);
  let i = 0;
  while (i < lines.length) {
    const lineNo = i + 1;
    const first = lines[i++];
    const start = skipWs(first, 0);
    if (start === first.length) continue; // blank
    if (first[start] === "#" || first[start] === "!") continue; // comment
    let logical = first.slice(start);
    while (trailingBackslashes(logical) % 2 === 1) {
      logical = logical.slice(0, -1);
      if (i >= lines.length) break; // continuation at end of input: the backslash is dropped
      const next = lines[i++];
      logical += next.slice(skipWs(next, 0));
    }

    // Key: up to the first unescaped '=', ':' or whitespace.
    let keyEnd = 0;
    let escaped = false;
    let hasSep = false;
    let valueStart = logical.length;
    for (; keyEnd < logical.length; keyEnd++) {
      const c = logical[keyEnd];
      if (!escaped && (c === "=" || c === ":")) {
        valueStart = keyEnd + 1;
        hasSep = true;
        break;
      }
      if (!escaped && PROP_WS.has(c)) {
        valueStart = keyEnd + 1;
        break;
      }
      escaped = c === "\\" ? !escaped : false;
    }
    // Value: skip whitespace, and at most one '=' or ':' if the key was ended by whitespace.
    while (valueStart < logical.length) {
      const c = logical[valueStart];
      if (!PROP_WS.has(c)) {
        if (!hasSep && (c === "=" || c === ":")) hasSep = true;
        else break;
      }
      valueStart++;
    }
    out.set(unescapeProperty(logical.slice(0, keyEnd), lineNo), unescapeProperty(logical.slice(valueStart), lineNo));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Typed access to a SparkConf, with Spark's parsing rules and errors that name the property

class ConfError extends Error {}

class Conf {
  constructor(
    private readonly values: ReadonlyMap<string, string>,
    /** Optional display names for error messages (e.g. a SparkApplication field), by Spark key. */
    private readonly origins: ReadonlyMap<string, string> = new Map(),
  ) {}

  get(key: string): string | undefined {
    return this.values.get(key);
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  fail(key: string, expected: string): never {
    const name = this.origins.get(key) ?? key;
    throw new ConfError(`${name}: invalid value ${JSON.stringify(this.values.get(key) ?? "")} (${expected})`);
  }

  /** Java Integer.parseInt of the trimmed value (Spark's intConf), with a lower bound. */
  int(key: string, dflt: number, min: number): number {
    const raw = this.get(key);
    if (raw === undefined) return dflt;
    const s = raw.trim();
    const n = /^[+-]?\d+$/.test(s) ? Number(s) : NaN;
    if (!Number.isInteger(n) || n > SPARK_INT_MAX || n < -SPARK_INT_MAX - 1) this.fail(key, "expected an integer");
    if (n < min) this.fail(key, `expected an integer >= ${min}`);
    return n;
  }

  /** Spark's booleanConf: "true" / "false", case-insensitive, trimmed. */
  bool(key: string, dflt: boolean): boolean {
    const raw = this.get(key);
    if (raw === undefined) return dflt;
    const s = raw.trim().toLowerCase();
    if (s === "true") return true;
    if (s === "false") return false;
    return this.fail(key, "expected true or false");
  }

  /** A memory-overhead factor (Spark's doubleConf, checked > 0); undefined when unset. */
  factor(key: string): number | undefined {
    const raw = this.get(key);
    if (raw === undefined) return undefined;
    const s = raw.trim();
    const n = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[fFdD]?$/.test(s) ? Number(s.replace(/[fFdD]$/, "")) : NaN;
    if (!Number.isFinite(n)) this.fail(key, "expected a number");
    if (n <= 0) this.fail(key, "expected a number greater than 0");
    return n;
  }

  /**
   * A Spark byte string converted to whole MiB (JavaUtils.byteStringAs): `<digits>[b|k|kb|m|mb|g|gb|t|tb|p|pb]`,
   * case-insensitive; a bare number is in `bareUnit` bytes; conversion to MiB truncates; fractions are rejected.
   */
  mib(key: string, dflt: number | undefined, bareUnit: number): number | undefined {
    const raw = this.get(key);
    if (raw === undefined) return dflt;
    const bytes = sparkByteString(raw, bareUnit);
    if (bytes === undefined) {
      this.fail(key, "expected a whole amount with an optional unit such as 512m or 4g; fractions are not supported");
    }
    const mib = bytes / BigInt(MIB);
    if (mib * BigInt(MIB) > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(key, "amount too large");
    return Number(mib);
  }

  /** A Kubernetes CPU quantity ("500m", "0.5", "2") → millicores, rounded up. */
  cpu(key: string): number {
    const m = parseCpu(this.get(key) ?? "");
    if (m === undefined) this.fail(key, 'expected a Kubernetes CPU quantity such as "500m", "0.5" or "2"');
    if (m < 0) this.fail(key, "expected a non-negative CPU quantity");
    return m;
  }
}

const BYTE_SUFFIXES: Record<string, bigint> = {
  b: 1n,
  k: 1n << 10n,
  kb: 1n << 10n,
  m: 1n << 20n,
  mb: 1n << 20n,
  g: 1n << 30n,
  gb: 1n << 30n,
  t: 1n << 40n,
  tb: 1n << 40n,
  p: 1n << 50n,
  pb: 1n << 50n,
};

/** Spark's byte string → bytes, or undefined when Spark would reject it. */
function sparkByteString(input: string, bareUnit: number): bigint | undefined {
  const m = /^(\d+)([a-z]+)?$/.exec(input.trim().toLowerCase());
  if (!m) return undefined;
  const [, digits, suffix] = m;
  if (suffix !== undefined && !(suffix in BYTE_SUFFIXES)) return undefined;
  return BigInt(digits) * (suffix !== undefined ? BYTE_SUFFIXES[suffix] : BigInt(bareUnit));
}

// ---------------------------------------------------------------------------------------------
// The shape

export interface SparkConfOptions {
  /**
   * The application's main resource (e.g. the path after `--class …` in the driver's args), used to recognise
   * Python (`.py`) and R (`.R`/`.r`) applications when `spark.kubernetes.resource.type` is absent.
   */
  mainResource?: string;
}

type AppType = "java" | "python" | "r";

function appType(conf: Conf, options: SparkConfOptions): AppType {
  const declared = conf.get("spark.kubernetes.resource.type");
  if (declared !== undefined) {
    // Spark's checkValues is exact (case-sensitive); the driver step always writes one of these three.
    if (declared === "java" || declared === "python" || declared === "r") return declared;
    conf.fail("spark.kubernetes.resource.type", "expected java, python or r");
  }
  // Spark 2.4 carried the main resource in these confs.
  if (conf.has("spark.kubernetes.python.mainAppResource")) return "python";
  if (conf.has("spark.kubernetes.r.mainAppResource")) return "r";
  return options.mainResource !== undefined ? resourceTypeOfMainResource(options.mainResource) : "java";
}

/** spark-submit's rule (SparkSubmit.isPython / isR): `.py` → python, `.R` / `.r` → r, anything else → java. */
function resourceTypeOfMainResource(path: string): AppType {
  const p = path.trim();
  if (p.endsWith(".py")) return "python";
  if (p.endsWith(".R") || p.endsWith(".r")) return "r";
  return "java";
}

/** Heap + overhead in MiB for one role, per spec §2.1. */
function heapAndOverheadMiB(conf: Conf, role: "driver" | "executor", defaultFactor: number): number {
  const heap = conf.mib(`spark.${role}.memory`, 1024, MIB)!;
  if (heap <= 0) conf.fail(`spark.${role}.memory`, "expected a positive amount");
  const explicit = conf.mib(`spark.${role}.memoryOverhead`, undefined, MIB);
  if (explicit !== undefined) return heap + explicit;
  const factor =
    conf.factor(`spark.${role}.memoryOverheadFactor`) ??
    conf.factor("spark.kubernetes.memoryOverheadFactor") ??
    defaultFactor;
  const minOverhead = conf.mib(`spark.${role}.minMemoryOverhead`, DEFAULT_MIN_OVERHEAD_MIB, MIB)!;
  // Java's (long)(factor * mib): truncation of the same IEEE-754 product.
  return heap + Math.max(Math.trunc(factor * heap), minOverhead);
}

/** nvidia.com/gpu count requested through spark.<role>.resource.gpu.{amount,vendor}. */
function gpus(conf: Conf, role: "driver" | "executor"): number {
  const amountKey = `spark.${role}.resource.gpu.amount`;
  const vendorKey = `spark.${role}.resource.gpu.vendor`;
  const amount = conf.int(amountKey, 0, 0);
  if (amount === 0) return 0;
  const vendor = conf.get(vendorKey)?.trim();
  if (vendor === undefined || vendor === "") {
    throw new ConfError(
      `${amountKey}=${amount} needs ${vendorKey} (e.g. nvidia.com); Spark refuses a resource without a vendor`,
    );
  }
  // Spark requests "<vendor>/gpu"; only nvidia.com/gpu is modelled, other vendors' GPUs are not counted.
  return `${vendor}/gpu` === GPU_RESOURCE ? amount : 0;
}

function cpuMillis(conf: Conf, role: "driver" | "executor"): number {
  const requestKey = `spark.kubernetes.${role}.request.cores`;
  if (conf.has(requestKey)) return conf.cpu(requestKey);
  return conf.int(`spark.${role}.cores`, 1, 1) * 1000;
}

function executorCounts(conf: Conf): { min: number; max: number; dynamicAllocation: boolean } {
  const dynamicAllocation = conf.bool("spark.dynamicAllocation.enabled", false);
  if (!dynamicAllocation) {
    const n = conf.int("spark.executor.instances", DEFAULT_EXECUTOR_INSTANCES, 0);
    return { min: n, max: n, dynamicAllocation };
  }
  const min = conf.int("spark.dynamicAllocation.minExecutors", 0, 0);
  const max = conf.int("spark.dynamicAllocation.maxExecutors", SPARK_INT_MAX, 0);
  if (max === 0) conf.fail("spark.dynamicAllocation.maxExecutors", "must not be 0 with dynamic allocation");
  if (min > max) {
    throw new ConfError(
      `spark.dynamicAllocation.minExecutors (${min}) must not exceed spark.dynamicAllocation.maxExecutors (${max})`,
    );
  }
  const initial = conf.int("spark.dynamicAllocation.initialExecutors", min, -SPARK_INT_MAX - 1);
  const instances = conf.int("spark.executor.instances", 0, 0);
  const target = Math.max(min, initial, instances);
  if (target > max) {
    throw new ConfError(
      `initial executor number ${target} (max of spark.dynamicAllocation.minExecutors, ` +
        `spark.dynamicAllocation.initialExecutors, spark.executor.instances) exceeds ` +
        `spark.dynamicAllocation.maxExecutors ${max}`,
    );
  }
  return { min: target, max, dynamicAllocation };
}

function computeShape(conf: Conf, options: SparkConfOptions, source: AppShape["source"]): AppShape {
  const type = appType(conf, options);
  const defaultFactor = type === "java" ? JVM_OVERHEAD_FACTOR : NON_JVM_OVERHEAD_FACTOR;

  const driverMiB = heapAndOverheadMiB(conf, "driver", defaultFactor);

  let executorMiB = heapAndOverheadMiB(conf, "executor", defaultFactor);
  if (conf.bool("spark.memory.offHeap.enabled", false)) {
    // spark.memory.offHeap.size is a *bytes* conf: a bare number is bytes (Utils.executorOffHeapMemorySizeAsMb).
    const offHeap = conf.mib("spark.memory.offHeap.size", 0, 1)!;
    if (offHeap <= 0) {
      throw new ConfError("spark.memory.offHeap.size must be > 0 when spark.memory.offHeap.enabled=true");
    }
    executorMiB += offHeap;
  }
  if (type === "python") executorMiB += conf.mib("spark.executor.pyspark.memory", 0, MIB)!;

  const counts = executorCounts(conf);
  return {
    driver: res(cpuMillis(conf, "driver"), driverMiB * MIB, gpus(conf, "driver")),
    executor: res(cpuMillis(conf, "executor"), executorMiB * MIB, gpus(conf, "executor")),
    minExecutors: counts.min,
    maxExecutors: counts.max,
    dynamicAllocation: counts.dynamicAllocation,
    source,
  };
}

function run(fn: () => AppShape): Result<AppShape> {
  try {
    return ok(fn());
  } catch (e) {
    if (e instanceof ConfError) return err(e.message);
    throw e;
  }
}

/** Derives the shape from a SparkConf given as a map or a plain record (source "spark-conf"). */
export function shapeFromSparkConf(
  conf: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
  options: SparkConfOptions = {},
): Result<AppShape> {
  const values = conf instanceof Map ? conf : new Map(Object.entries(conf));
  return run(() => computeShape(new Conf(values), options, "spark-conf"));
}

/** Derives the shape from the `spark.properties` text of the driver's conf ConfigMap (source "spark-conf"). */
export function shapeFromSparkProperties(text: string, options: SparkConfOptions = {}): Result<AppShape> {
  let conf: Map<string, string>;
  try {
    conf = parseJavaProperties(text);
  } catch (e) {
    return err(`spark.properties: ${(e as Error).message}`);
  }
  return shapeFromSparkConf(conf, options);
}

// ---------------------------------------------------------------------------------------------
// Spark Operator SparkApplication (sparkoperator.k8s.io/v1beta2)

type Obj = Record<string, unknown>;

function asObj(v: unknown): Obj | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : undefined;
}

function scalar(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

/**
 * Derives the shape from a kubeflow Spark Operator `SparkApplication` (source "spark-application").
 *
 * The operator turns the CR into spark-submit `--conf`s; this function rebuilds the same SparkConf and applies the
 * SparkConf rules. Precedence follows the operator's argument order (later wins): spec.memoryOverheadFactor, then
 * spec.sparkConf, then the typed driver/executor fields, then spec.dynamicAllocation (only when enabled). The app
 * type (JVM vs Python/R, for the 0.1/0.4 overhead factor and pyspark memory) comes from spec.mainApplicationFile's
 * extension, because Spark sets spark.kubernetes.resource.type from the main resource itself; spec.type
 * (Python/R/Java/Scala) is used when there is no main file. spec.{driver,executor}.gpu is added to the pods'
 * limits by the operator; a gpu named nvidia.com/gpu overrides the conf-derived GPU count.
 * Errors name the CR field (e.g. `spec.executor.memory`) or the sparkConf entry.
 */
export function shapeFromSparkApplication(input: unknown): Result<AppShape> {
  const app = asObj(input);
  const spec = asObj(app?.spec);
  if (!app || !spec) return err("SparkApplication has no spec");
  if (app.kind !== undefined && app.kind !== "SparkApplication") {
    return err(`expected a SparkApplication, got kind ${JSON.stringify(app.kind)}`);
  }

  const values = new Map<string, string>();
  const origins = new Map<string, string>();
  const put = (key: string, v: unknown, origin: string): void => {
    const s = scalar(v);
    if (s === undefined) return;
    values.set(key, s);
    origins.set(key, origin);
  };

  put("spark.kubernetes.memoryOverheadFactor", spec.memoryOverheadFactor, "spec.memoryOverheadFactor");
  for (const [k, v] of Object.entries(asObj(spec.sparkConf) ?? {})) put(k, v, `spec.sparkConf[${JSON.stringify(k)}]`);

  const driver = asObj(spec.driver) ?? {};
  const executor = asObj(spec.executor) ?? {};
  put("spark.driver.cores", driver.cores, "spec.driver.cores");
  put("spark.kubernetes.driver.request.cores", driver.coreRequest, "spec.driver.coreRequest");
  put("spark.driver.memory", driver.memory, "spec.driver.memory");
  put("spark.driver.memoryOverhead", driver.memoryOverhead, "spec.driver.memoryOverhead");
  put("spark.executor.instances", executor.instances, "spec.executor.instances");
  put("spark.executor.cores", executor.cores, "spec.executor.cores");
  put("spark.kubernetes.executor.request.cores", executor.coreRequest, "spec.executor.coreRequest");
  put("spark.executor.memory", executor.memory, "spec.executor.memory");
  put("spark.executor.memoryOverhead", executor.memoryOverhead, "spec.executor.memoryOverhead");

  const da = asObj(spec.dynamicAllocation);
  if (da?.enabled === true) {
    put("spark.dynamicAllocation.enabled", "true", "spec.dynamicAllocation.enabled");
    put("spark.dynamicAllocation.initialExecutors", da.initialExecutors, "spec.dynamicAllocation.initialExecutors");
    put("spark.dynamicAllocation.minExecutors", da.minExecutors, "spec.dynamicAllocation.minExecutors");
    put("spark.dynamicAllocation.maxExecutors", da.maxExecutors, "spec.dynamicAllocation.maxExecutors");
  }

  // Spark sets spark.kubernetes.resource.type from the main resource itself, overriding any user value.
  const mainFile = typeof spec.mainApplicationFile === "string" ? spec.mainApplicationFile.trim() : "";
  const type = typeof spec.type === "string" ? spec.type.toLowerCase() : "";
  if (mainFile !== "") {
    put("spark.kubernetes.resource.type", resourceTypeOfMainResource(mainFile), "spec.mainApplicationFile");
  } else if (type === "python" || type === "r") {
    put("spark.kubernetes.resource.type", type, "spec.type");
  } else if (type === "java" || type === "scala") {
    put("spark.kubernetes.resource.type", "java", "spec.type");
  }

  return run(() => {
    const conf = new Conf(values, origins);
    const shape = computeShape(conf, {}, "spark-application");
    shape.driver.gpu = operatorGpu(driver.gpu, "spec.driver.gpu") ?? shape.driver.gpu;
    shape.executor.gpu = operatorGpu(executor.gpu, "spec.executor.gpu") ?? shape.executor.gpu;
    return shape;
  });
}

/**
 * The part of a SparkApplication that shapeFromSparkApplication reads, and nothing else: what the Kubernetes
 * side keeps of each SparkApplication (the rest of an application — volumes, pod templates, arguments,
 * status — can be large and is never read). shapeFromSparkApplication(sparkApplicationSizing(app)) equals
 * shapeFromSparkApplication(app).
 */
export function sparkApplicationSizing(input: unknown): unknown {
  const app = asObj(input);
  const spec = asObj(app?.spec);
  if (!app || !spec) return app ? { kind: app.kind } : input;
  const pick = (o: unknown, keys: string[]): Record<string, unknown> | undefined => {
    const src = asObj(o);
    if (!src) return undefined;
    const out: Record<string, unknown> = {};
    for (const k of keys) if (src[k] !== undefined) out[k] = src[k];
    return out;
  };
  const role = ["cores", "coreRequest", "memory", "memoryOverhead", "instances", "gpu"];
  return {
    kind: app.kind,
    spec: {
      memoryOverheadFactor: spec.memoryOverheadFactor,
      sparkConf: spec.sparkConf,
      driver: pick(spec.driver, role),
      executor: pick(spec.executor, role),
      dynamicAllocation: pick(spec.dynamicAllocation, ["enabled", "initialExecutors", "minExecutors", "maxExecutors"]),
      mainApplicationFile: spec.mainApplicationFile,
      type: spec.type,
    },
  };
}

/** spec.<role>.gpu {name, quantity}: the nvidia.com/gpu count, or undefined when absent or another resource. */
function operatorGpu(v: unknown, field: string): number | undefined {
  const gpu = asObj(v);
  if (!gpu || gpu.name !== GPU_RESOURCE) return undefined;
  const q = gpu.quantity;
  const n = typeof q === "number" ? q : typeof q === "string" && /^\d+$/.test(q.trim()) ? Number(q) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ConfError(`${field}.quantity: invalid value ${JSON.stringify(q ?? null)} (expected an integer >= 0)`);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------

/**
 * The executor's ResourceProfile id from the `spark-exec-resourceprofile-id` label. Missing (Spark < 3.1) or
 * malformed labels read as 0, the default profile, whose size is the one derived from the conf.
 */
export function executorResourceProfileId(pod: PodInfo): number {
  const v = pod.labels[RESOURCE_PROFILE_LABEL]?.trim();
  if (v === undefined || !/^\d+$/.test(v)) return 0;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : 0;
}
