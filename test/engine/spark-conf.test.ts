import { describe, expect, it } from "vitest";
import type { AppShape, Result } from "../../src/engine/app-shape.js";
import { podFromObject } from "../../src/engine/model.js";
import {
  SPARK_INT_MAX,
  executorResourceProfileId,
  parseJavaProperties,
  shapeFromSparkApplication,
  shapeFromSparkConf,
  shapeFromSparkProperties,
} from "../../src/engine/spark-conf.js";

const MI = 2 ** 20;

function shape(r: Result<AppShape>): AppShape {
  if (!r.ok) throw new Error(`expected ok, got error: ${r.error}`);
  return r.value;
}

function error(r: Result<AppShape>): string {
  if (r.ok) throw new Error(`expected an error, got ${JSON.stringify(r.value)}`);
  return r.error;
}

const conf = (c: Record<string, string>, mainResource?: string) =>
  shape(shapeFromSparkConf(c, mainResource === undefined ? {} : { mainResource }));

describe("parseJavaProperties", () => {
  it("parses =, : and whitespace separators, trimming around them", () => {
    const p = parseJavaProperties("a=1\nb: 2\nc 3\n  d   =   4\ne\t:\tfive six\nf=\ng\n");
    expect(Object.fromEntries(p)).toEqual({ a: "1", b: "2", c: "3", d: "4", e: "five six", f: "", g: "" });
  });

  it("keeps trailing whitespace of values and a second separator as value text", () => {
    const p = parseJavaProperties("a = x  \nb = = y\nc  :=z");
    expect(p.get("a")).toBe("x  ");
    expect(p.get("b")).toBe("= y");
    expect(p.get("c")).toBe("=z");
  });

  it("skips # and ! comments (after leading whitespace) and blank lines", () => {
    const p = parseJavaProperties("# c1\n   ! c2\n\n   \t\nk=v # not a comment\n");
    expect([...p]).toEqual([["k", "v # not a comment"]]);
  });

  it("joins continuation lines, dropping the continuation's leading whitespace", () => {
    const p = parseJavaProperties("list = a,\\\n     b,\\\n\tc\nnext=1");
    expect(p.get("list")).toBe("a,b,c");
    expect(p.get("next")).toBe("1");
  });

  it("does not continue on an even number of backslashes, and a comment never continues", () => {
    const p = parseJavaProperties("a=x\\\\\nb=y\n# comment \\\nc=z");
    expect(p.get("a")).toBe("x\\");
    expect(p.get("b")).toBe("y");
    expect(p.get("c")).toBe("z");
  });

  it("a continuation line starting with # is content, and a blank continuation ends the value", () => {
    const p = parseJavaProperties("a=1\\\n  #2\nb=3\\\n\nc=4\nd=5\\");
    expect(p.get("a")).toBe("1#2");
    expect(p.get("b")).toBe("3");
    expect(p.get("c")).toBe("4");
    expect(p.get("d")).toBe("5"); // trailing backslash at end of input is dropped
  });

  it("handles CRLF and CR line endings", () => {
    const p = parseJavaProperties("a=1\r\nb=2\rc=3\r\n");
    expect(Object.fromEntries(p)).toEqual({ a: "1", b: "2", c: "3" });
  });

  it("resolves escapes in keys and values", () => {
    const p = parseJavaProperties(
      "spark.master=k8s\\://https\\://10.0.0.1\\:6443\nkey\\ with\\=sep=v\\tw\\nx\\u0041\\\\\\q\n",
    );
    expect(p.get("spark.master")).toBe("k8s://https://10.0.0.1:6443");
    expect(p.get("key with=sep")).toBe("v\tw\nxA\\q");
  });

  it("last duplicate wins", () => {
    expect(parseJavaProperties("a=1\na=2").get("a")).toBe("2");
  });

  it("rejects a malformed \\u escape", () => {
    expect(() => parseJavaProperties("a=\\u12")).toThrow(/malformed/);
    expect(error(shapeFromSparkProperties("a=\\uzzzz"))).toMatch(/^spark\.properties: malformed/);
  });
});

describe("shapeFromSparkConf: spec §2.1 worked examples", () => {
  it("defaults: 1 core, 1g + 384Mi overhead = 1408Mi, 2 executors", () => {
    expect(conf({})).toEqual({
      driver: { cpu: 1000, memory: 1408 * MI, gpu: 0 },
      executor: { cpu: 1000, memory: 1408 * MI, gpu: 0 },
      minExecutors: 2,
      maxExecutors: 2,
      dynamicAllocation: false,
      source: "spark-conf",
    });
  });

  it("4g with factor 0.1 → 4505Mi", () => {
    const s = conf({ "spark.driver.memory": "4g", "spark.executor.memory": "4g" });
    expect(s.driver.memory).toBe(4505 * MI);
    expect(s.executor.memory).toBe(4505 * MI);
  });

  it("PySpark 4g with factor 0.4 → 5734Mi (from resource type, written factor, or .py main resource)", () => {
    const c = { "spark.driver.memory": "4g", "spark.executor.memory": "4g" };
    for (const s of [
      conf({ ...c, "spark.kubernetes.resource.type": "python" }),
      conf({ ...c, "spark.kubernetes.memoryOverheadFactor": "0.4" }),
      conf(c, "local:///opt/app/main.py"),
    ]) {
      expect(s.driver.memory).toBe(5734 * MI);
      expect(s.executor.memory).toBe(5734 * MI);
    }
  });

  it("R apps are non-JVM too; a jar main resource is not", () => {
    expect(conf({ "spark.executor.memory": "4g", "spark.kubernetes.resource.type": "r" }).executor.memory).toBe(
      5734 * MI,
    );
    expect(conf({ "spark.executor.memory": "4g" }, "local:///app.R").executor.memory).toBe(5734 * MI);
    expect(conf({ "spark.executor.memory": "4g" }, "local:///app.jar").executor.memory).toBe(4505 * MI);
  });

  it("a real ConfigMap's spark.properties (escaped master URL, written factor)", () => {
    const text = [
      "#Java properties built from Kubernetes config map with name: spark-drv-3ba9488626b0e079-conf-map",
      "#Mon Feb 06 21:26:11 KST 2023",
      "spark.driver.port=7078",
      "spark.master=k8s\\://https\\://example.eks.amazonaws.com",
      "spark.submit.pyFiles=",
      "spark.kubernetes.resource.type=java",
      "spark.kubernetes.memoryOverheadFactor=0.1",
      "spark.executor.instances=5",
      "spark.executor.memory=8g",
      "spark.executor.cores=4",
      "spark.driver.memory=2g",
    ].join("\n");
    const s = shape(shapeFromSparkProperties(text));
    expect(s.driver).toEqual({ cpu: 1000, memory: (2048 + 384) * MI, gpu: 0 });
    expect(s.executor).toEqual({ cpu: 4000, memory: (8192 + 819) * MI, gpu: 0 });
    expect([s.minExecutors, s.maxExecutors]).toEqual([5, 5]);
  });
});

describe("shapeFromSparkConf: memory", () => {
  it("explicit memoryOverhead replaces factor and minimum (bare number = MiB)", () => {
    const s = conf({ "spark.driver.memoryOverhead": "100", "spark.executor.memoryOverhead": "1g" });
    expect(s.driver.memory).toBe((1024 + 100) * MI);
    expect(s.executor.memory).toBe((1024 + 1024) * MI);
  });

  it("role factor beats spark.kubernetes.memoryOverheadFactor", () => {
    const s = conf({
      "spark.executor.memory": "10g",
      "spark.driver.memory": "10g",
      "spark.kubernetes.memoryOverheadFactor": "0.2",
      "spark.executor.memoryOverheadFactor": "0.3",
    });
    expect(s.driver.memory).toBe((10240 + 2048) * MI);
    expect(s.executor.memory).toBe((10240 + 3072) * MI);
  });

  it("minMemoryOverhead (Spark 4) raises or lowers the floor", () => {
    const s = conf({ "spark.driver.minMemoryOverhead": "1g", "spark.executor.minMemoryOverhead": "0" });
    expect(s.driver.memory).toBe((1024 + 1024) * MI);
    expect(s.executor.memory).toBe((1024 + 102) * MI);
  });

  it("truncates factor × MiB like Java's (long) cast and units convert to whole MiB", () => {
    // 0.1 × 5000 = 500.00000000000006 → 500; 3999m → 399.9 → 399 (above 384).
    expect(conf({ "spark.executor.memory": "5000m" }).executor.memory).toBe(5500 * MI);
    expect(conf({ "spark.executor.memory": "3999M" }).executor.memory).toBe((3999 + 399) * MI);
    expect(conf({ "spark.executor.memory": "2097152k" }).executor.memory).toBe((2048 + 384) * MI);
    expect(conf({ "spark.executor.memory": "1536kb" }).executor.memory).toBe((1 + 384) * MI); // 1.5 MiB → 1
    expect(conf({ "spark.executor.memory": "2GB" }).executor.memory).toBe((2048 + 384) * MI);
  });

  it("adds off-heap when enabled (size is a bytes conf: bare number = bytes)", () => {
    expect(conf({ "spark.memory.offHeap.enabled": "true", "spark.memory.offHeap.size": "2g" }).executor.memory).toBe(
      (1408 + 2048) * MI,
    );
    expect(
      conf({ "spark.memory.offHeap.enabled": "TRUE", "spark.memory.offHeap.size": String(3 * MI) }).executor.memory,
    ).toBe((1408 + 3) * MI);
    expect(conf({ "spark.memory.offHeap.enabled": "false", "spark.memory.offHeap.size": "2g" }).executor.memory).toBe(
      1408 * MI,
    );
    // The driver never gets off-heap added.
    expect(conf({ "spark.memory.offHeap.enabled": "true", "spark.memory.offHeap.size": "2g" }).driver.memory).toBe(
      1408 * MI,
    );
  });

  it("off-heap enabled with no size is an error, as in Spark", () => {
    expect(error(shapeFromSparkConf({ "spark.memory.offHeap.enabled": "true" }))).toMatch(
      /spark\.memory\.offHeap\.size must be > 0/,
    );
  });

  it("adds pyspark memory for Python apps only", () => {
    const c = { "spark.executor.pyspark.memory": "512m" };
    expect(conf({ ...c, "spark.kubernetes.resource.type": "python" }).executor.memory).toBe(
      (1024 + 409 + 512) * MI, // overhead trunc(0.4 × 1024) = 409 ≥ 384
    );
    expect(conf({ ...c, "spark.kubernetes.resource.type": "java" }).executor.memory).toBe(1408 * MI);
    expect(conf({ ...c, "spark.kubernetes.resource.type": "r" }).executor.memory).toBe((1024 + 409) * MI);
  });
});

describe("shapeFromSparkConf: cpu and gpu", () => {
  it("request.cores accepts Kubernetes quantities and overrides spark.*.cores for the request", () => {
    const s = conf({
      "spark.driver.cores": "2",
      "spark.kubernetes.driver.request.cores": "500m",
      "spark.executor.cores": "4",
      "spark.kubernetes.executor.request.cores": "3.5",
    });
    expect(s.driver.cpu).toBe(500);
    expect(s.executor.cpu).toBe(3500);
  });

  it("spark.*.cores are integers", () => {
    const s = conf({ "spark.driver.cores": " 3 ", "spark.executor.cores": "8" });
    expect([s.driver.cpu, s.executor.cpu]).toEqual([3000, 8000]);
  });

  it("counts nvidia.com GPUs only", () => {
    const s = conf({
      "spark.driver.resource.gpu.amount": "1",
      "spark.driver.resource.gpu.vendor": "nvidia.com",
      "spark.executor.resource.gpu.amount": "2",
      "spark.executor.resource.gpu.vendor": "nvidia.com",
    });
    expect([s.driver.gpu, s.executor.gpu]).toEqual([1, 2]);
    const amd = conf({ "spark.executor.resource.gpu.amount": "2", "spark.executor.resource.gpu.vendor": "amd.com" });
    expect(amd.executor.gpu).toBe(0);
  });

  it("a GPU amount without a vendor is an error naming both properties", () => {
    expect(error(shapeFromSparkConf({ "spark.executor.resource.gpu.amount": "1" }))).toMatch(
      /spark\.executor\.resource\.gpu\.amount=1 needs spark\.executor\.resource\.gpu\.vendor/,
    );
    expect(conf({ "spark.driver.resource.gpu.amount": "0" }).driver.gpu).toBe(0);
  });
});

describe("shapeFromSparkConf: executor counts and dynamic allocation", () => {
  it("static: spark.executor.instances (default 2)", () => {
    expect(conf({ "spark.executor.instances": "10" })).toMatchObject({
      minExecutors: 10,
      maxExecutors: 10,
      dynamicAllocation: false,
    });
    expect(conf({ "spark.executor.instances": "0" }).minExecutors).toBe(0);
    // DA keys are ignored when DA is off.
    const off = conf({ "spark.dynamicAllocation.enabled": "false", "spark.dynamicAllocation.maxExecutors": "x" });
    expect(off).toMatchObject({ minExecutors: 2, maxExecutors: 2, dynamicAllocation: false });
  });

  it("DA defaults: min 0, max Int.MaxValue, instances not defaulted to 2", () => {
    expect(conf({ "spark.dynamicAllocation.enabled": "true" })).toMatchObject({
      minExecutors: 0,
      maxExecutors: SPARK_INT_MAX,
      dynamicAllocation: true,
    });
  });

  it("DA reserves Spark's initial target max(min, initial, instances)", () => {
    const base = { "spark.dynamicAllocation.enabled": "true", "spark.dynamicAllocation.maxExecutors": "20" };
    expect(conf({ ...base, "spark.dynamicAllocation.minExecutors": "3" })).toMatchObject({
      minExecutors: 3,
      maxExecutors: 20,
    });
    expect(
      conf({ ...base, "spark.dynamicAllocation.minExecutors": "3", "spark.dynamicAllocation.initialExecutors": "5" })
        .minExecutors,
    ).toBe(5);
    expect(
      conf({ ...base, "spark.dynamicAllocation.initialExecutors": "5", "spark.executor.instances": "8" }).minExecutors,
    ).toBe(8);
    expect(
      conf({ ...base, "spark.dynamicAllocation.minExecutors": "4", "spark.dynamicAllocation.initialExecutors": "1" })
        .minExecutors,
    ).toBe(4);
  });

  it("DA validation mirrors Spark", () => {
    const on = { "spark.dynamicAllocation.enabled": "true" };
    expect(error(shapeFromSparkConf({ ...on, "spark.dynamicAllocation.maxExecutors": "0" }))).toMatch(
      /spark\.dynamicAllocation\.maxExecutors: invalid value "0"/,
    );
    expect(
      error(
        shapeFromSparkConf({
          ...on,
          "spark.dynamicAllocation.minExecutors": "5",
          "spark.dynamicAllocation.maxExecutors": "2",
        }),
      ),
    ).toMatch(/minExecutors \(5\) must not exceed spark\.dynamicAllocation\.maxExecutors \(2\)/);
    expect(
      error(
        shapeFromSparkConf({ ...on, "spark.executor.instances": "9", "spark.dynamicAllocation.maxExecutors": "4" }),
      ),
    ).toMatch(/initial executor number 9 .* exceeds spark\.dynamicAllocation\.maxExecutors 4/);
  });
});

describe("shapeFromSparkConf: bad values name the property and value", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ "spark.executor.memory": "4x" }, /^spark\.executor\.memory: invalid value "4x"/],
    [{ "spark.executor.memory": "1.5g" }, /^spark\.executor\.memory: invalid value "1\.5g".*fractions/],
    [{ "spark.driver.memory": "0" }, /^spark\.driver\.memory: invalid value "0"/],
    [{ "spark.driver.memoryOverhead": "-1" }, /^spark\.driver\.memoryOverhead: invalid value "-1"/],
    [{ "spark.executor.cores": "1.5" }, /^spark\.executor\.cores: invalid value "1\.5" \(expected an integer\)/],
    [{ "spark.executor.cores": "0" }, /^spark\.executor\.cores: invalid value "0" \(expected an integer >= 1\)/],
    [
      { "spark.kubernetes.driver.request.cores": "lots" },
      /^spark\.kubernetes\.driver\.request\.cores: invalid value "lots"/,
    ],
    [{ "spark.executor.instances": "two" }, /^spark\.executor\.instances: invalid value "two"/],
    [{ "spark.executor.instances": "-1" }, /^spark\.executor\.instances: invalid value "-1"/],
    [{ "spark.executor.instances": "99999999999" }, /^spark\.executor\.instances: invalid value/],
    [
      { "spark.dynamicAllocation.enabled": "yes" },
      /^spark\.dynamicAllocation\.enabled: invalid value "yes" \(expected true or false\)/,
    ],
    [{ "spark.kubernetes.memoryOverheadFactor": "0" }, /^spark\.kubernetes\.memoryOverheadFactor: invalid value "0"/],
    [{ "spark.executor.memoryOverheadFactor": "abc" }, /^spark\.executor\.memoryOverheadFactor: invalid value "abc"/],
    [{ "spark.kubernetes.resource.type": "scala" }, /^spark\.kubernetes\.resource\.type: invalid value "scala"/],
    [{ "spark.executor.resource.gpu.amount": "1.5" }, /^spark\.executor\.resource\.gpu\.amount: invalid value "1\.5"/],
  ];
  for (const [c, re] of cases) {
    it(`${Object.entries(c)[0].join("=")}`, () => {
      expect(error(shapeFromSparkConf(c))).toMatch(re);
    });
  }

  it("accepts a Map as well as a record", () => {
    expect(shape(shapeFromSparkConf(new Map([["spark.executor.instances", "3"]]))).minExecutors).toBe(3);
  });
});

describe("shapeFromSparkApplication", () => {
  const app = (spec: Record<string, unknown>) => ({
    apiVersion: "sparkoperator.k8s.io/v1beta2",
    kind: "SparkApplication",
    metadata: { name: "pi", namespace: "spark" },
    spec,
  });

  it("maps the typed driver/executor fields", () => {
    const s = shape(
      shapeFromSparkApplication(
        app({
          type: "Scala",
          mainApplicationFile: "local:///opt/spark/examples/jars/spark-examples.jar",
          driver: { cores: 1, coreRequest: "500m", memory: "2g", memoryOverhead: "512m" },
          executor: { instances: 4, cores: 2, memory: "4g", gpu: { name: "nvidia.com/gpu", quantity: 1 } },
        }),
      ),
    );
    expect(s).toEqual({
      driver: { cpu: 500, memory: (2048 + 512) * MI, gpu: 0 },
      executor: { cpu: 2000, memory: 4505 * MI, gpu: 1 },
      minExecutors: 4,
      maxExecutors: 4,
      dynamicAllocation: false,
      source: "spark-application",
    });
  });

  it("Python apps get the 0.4 factor; typed fields beat sparkConf; sparkConf fills the gaps", () => {
    const s = shape(
      shapeFromSparkApplication(
        app({
          type: "Python",
          mainApplicationFile: "local:///opt/app/main.py",
          sparkConf: {
            "spark.executor.memory": "1g",
            "spark.executor.pyspark.memory": "1g",
            "spark.kubernetes.executor.request.cores": "1500m",
          },
          executor: { instances: 2, memory: "4g" },
        }),
      ),
    );
    expect(s.executor).toEqual({ cpu: 1500, memory: (5734 + 1024) * MI, gpu: 0 });
    expect(s.driver.memory).toBe((1024 + 409) * MI); // 1g driver, non-JVM: max(trunc(0.4 × 1024), 384) = 409
  });

  it("dynamic allocation from spec.dynamicAllocation", () => {
    const s = shape(
      shapeFromSparkApplication(
        app({ dynamicAllocation: { enabled: true, initialExecutors: 2, minExecutors: 1, maxExecutors: 10 } }),
      ),
    );
    expect(s).toMatchObject({ minExecutors: 2, maxExecutors: 10, dynamicAllocation: true });
    // Disabled typed DA leaves sparkConf in charge.
    const off = shape(
      shapeFromSparkApplication(
        app({
          dynamicAllocation: { enabled: false, minExecutors: 7 },
          sparkConf: { "spark.dynamicAllocation.enabled": "true", "spark.dynamicAllocation.maxExecutors": "6" },
        }),
      ),
    );
    expect(off).toMatchObject({ minExecutors: 0, maxExecutors: 6, dynamicAllocation: true });
  });

  it("errors name the CR field", () => {
    expect(error(shapeFromSparkApplication(app({ executor: { memory: "4 GiB" } })))).toMatch(
      /^spec\.executor\.memory: invalid value "4 GiB"/,
    );
    expect(error(shapeFromSparkApplication(app({ executor: { cores: 1.5 } })))).toMatch(
      /^spec\.executor\.cores: invalid value "1\.5"/,
    );
    expect(error(shapeFromSparkApplication(app({ sparkConf: { "spark.executor.instances": "x" } })))).toMatch(
      /^spec\.sparkConf\["spark\.executor\.instances"\]: invalid value "x"/,
    );
    expect(
      error(shapeFromSparkApplication(app({ executor: { gpu: { name: "nvidia.com/gpu", quantity: -1 } } }))),
    ).toMatch(/^spec\.executor\.gpu\.quantity/);
    expect(error(shapeFromSparkApplication({ kind: "SparkApplication" }))).toMatch(/no spec/);
    expect(error(shapeFromSparkApplication({ kind: "Pod", spec: {} }))).toMatch(/expected a SparkApplication/);
  });

  it("spec.memoryOverheadFactor is overridden by sparkConf, as in the operator's argument order", () => {
    const base = { executor: { memory: "10g" } };
    expect(shape(shapeFromSparkApplication(app({ ...base, memoryOverheadFactor: "0.2" }))).executor.memory).toBe(
      (10240 + 2048) * MI,
    );
    expect(
      shape(
        shapeFromSparkApplication(
          app({ ...base, memoryOverheadFactor: "0.2", sparkConf: { "spark.kubernetes.memoryOverheadFactor": "0.3" } }),
        ),
      ).executor.memory,
    ).toBe((10240 + 3072) * MI);
  });
});

describe("executorResourceProfileId", () => {
  const pod = (labels: Record<string, string>) => podFromObject({ metadata: { name: "e", labels } });

  it("reads the label, defaulting to 0", () => {
    expect(executorResourceProfileId(pod({ "spark-exec-resourceprofile-id": "3" }))).toBe(3);
    expect(executorResourceProfileId(pod({ "spark-exec-resourceprofile-id": "0" }))).toBe(0);
    expect(executorResourceProfileId(pod({}))).toBe(0);
    expect(executorResourceProfileId(pod({ "spark-exec-resourceprofile-id": "abc" }))).toBe(0);
  });
});
