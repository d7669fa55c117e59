// Quantity parsing and resource arithmetic (exact, rounding up like Kubernetes requests).

import { describe, expect, it } from "vitest";
import { podFromObject } from "../../src/engine/model.js";
import {
  fits,
  formatResources,
  parseCpu,
  parseMemory,
  parseMemoryQuantity,
  parseSparkMemory,
  resourcesFromMap,
  resourcesToMap,
} from "../../src/engine/resources.js";

const Ki = 1024;
const Mi = Ki * 1024;
const Gi = Mi * 1024;

describe("quantities", () => {
  it.each([
    ["1", 1000],
    ["500m", 500],
    ["0.1", 100],
    ["1.5", 1500],
    ["100m", 100],
    ["2.0005", 2001],
    ["1e3", 1_000_000],
    ["250000u", 250],
    ["1k", 1_000_000],
  ])("cpu %s = %i millicores", (q, m) => expect(parseCpu(q)).toBe(m));

  it.each([
    ["1", 1],
    ["2432Mi", 2432 * Mi],
    ["1Gi", Gi],
    ["1.5Gi", 1.5 * Gi],
    ["1G", 1e9],
    ["128974848", 128974848],
    ["129e6", 129e6],
    ["123Mi", 123 * Mi],
  ])("memory %s = %i bytes", (q, b) => expect(parseMemoryQuantity(q)).toBe(b));

  // Kubernetes' resource.Quantity grammar: what ParseQuantity accepts, and Value()/MilliValue() rounding up.
  it.each([
    ["2E", 2e18], // exa, not an exponent
    ["2E3", 2000],
    ["2e3", 2000],
    ["2e+3", 2000],
    ["25e-1", 3], // 2.5 rounds up to 3 bytes
    ["1Ei", 2 ** 60],
    ["7Pi", 7 * 2 ** 50],
    ["1P", 1e15],
    [".5", 1], // half a byte rounds up
    ["5.", 5],
    ["+1", 1],
    ["0", 0],
    ["000", 0],
    ["0.0Gi", 0],
    ["1.5Ki", 1536],
    ["1n", 1],
    ["1u", 1],
    ["999m", 1],
    ["1000m", 1],
    ["1001m", 2],
    ["1e-400", 1],
    ["9007199254740991", Number.MAX_SAFE_INTEGER],
    ["100Pi", 100 * 2 ** 50],
    ["7Ei", 7 * 2 ** 60],
    ["9223372036854774784", 2 ** 63 - 1024], // the largest value that still fits int64 as a double
  ])("memory %s = %d bytes (Kubernetes grammar)", (q, b) => expect(parseMemoryQuantity(q)).toBe(b));

  it.each([
    ["1P", 1e18],
    [".5", 500],
    ["+1", 1000],
    ["0.1m", 1],
    ["1n", 1],
    ["1.0001", 1001],
    ["2E-3", 2],
    ["1e0", 1000],
    ["9P", 9e18],
  ])("cpu %s = %d millicores (rounded up)", (q, m) => expect(parseCpu(q)).toBe(m));

  it.each([
    "",
    "abc",
    "1Gb",
    "4gb",
    "1.2.3",
    "--1",
    "+-1",
    "1 Gi",
    " 1",
    "1 ",
    "1\n",
    "1K", // kilo is a lowercase k
    "1e", // an exponent needs digits
    "1E+",
    "1k5",
    "1Kib",
    "0x10",
    "1_000",
    "∞",
    "1e1.5",
    "8Ei", // 2^63: Kubernetes caps it at 2^63 − 1, we refuse it
    "9223372036854775807",
    "1e41",
    "1".repeat(65), // longer than any real quantity
  ])("rejects %j", (q) => {
    expect(parseCpu(q)).toBeUndefined();
    expect(parseMemoryQuantity(q)).toBeUndefined();
  });

  it("refuses CPU beyond int64 millicores", () => {
    expect(parseCpu("10P")).toBeUndefined();
    expect(parseCpu("2E")).toBeUndefined();
  });

  it("takes negative quantities (callers refuse them) and an exponent that overflows", () => {
    expect(parseMemoryQuantity("-1Ki")).toBe(-1024);
    expect(parseMemoryQuantity("1e99999999999")).toBeUndefined();
    expect(parseMemoryQuantity("0e99999999999")).toBe(0);
  });

  it("reads Spark memory strings in binary units; bare numbers are MiB", () => {
    expect(parseSparkMemory("4g")).toBe(4 * Gi);
    expect(parseSparkMemory("512m")).toBe(512 * Mi);
    expect(parseSparkMemory("1.5g")).toBe(1.5 * Gi);
    expect(parseSparkMemory("1024")).toBe(1024 * Mi);
    expect(parseSparkMemory("1.0000000001k")).toBe(1025);
    for (const bad of ["lots", "2048mb", "4gb", "4 g", "4G", " 4g", "4g ", ".5g", "4"+"g".repeat(2)]) {
      expect(parseSparkMemory(bad), bad).toBeUndefined();
    }
  });

  it("annotation memory prefers Kubernetes quantities, then Spark strings", () => {
    expect(parseMemory("1")).toBe(1);
    expect(parseMemory("1G")).toBe(1e9);
    expect(parseMemory("1g")).toBe(Gi);
    expect(parseMemory("2E")).toBe(2e18);
    expect(parseMemory("512m")).toBe(512 * Mi); // Spark's MiB, not Kubernetes milli-bytes
    expect(parseMemory("1x")).toBeUndefined();
    expect(parseMemory("4gb")).toBeUndefined();
    expect(parseMemory(" 4g")).toBeUndefined();
  });
});

describe("resources", () => {
  it("fits only when every dimension fits; equality fits", () => {
    expect(fits({ cpu: 1, memory: 1, gpu: 1 }, { cpu: 1, memory: 1, gpu: 1 })).toBe(true);
    expect(fits({ cpu: 1, memory: 2, gpu: 0 }, { cpu: 5, memory: 1, gpu: 5 })).toBe(false);
  });

  it("round-trips the Kubernetes resource map", () => {
    const r = resourcesFromMap({ cpu: "1500m", memory: "2Gi", "nvidia.com/gpu": "2", "ephemeral-storage": "1Gi" });
    const bad: string[] = [];
    expect(resourcesFromMap({ cpu: 2, memory: "lots", "nvidia.com/gpu": "-1" }, (k) => bad.push(k))).toEqual({ cpu: 2000, memory: 0, gpu: 0 });
    expect(bad).toEqual(["memory", "nvidia.com/gpu"]);
    expect(r).toEqual({ cpu: 1500, memory: 2 * Gi, gpu: 2 });
    expect(resourcesFromMap(resourcesToMap(r))).toEqual(r);
    expect(formatResources(r)).toBe("cpu=1500m memory=2Gi gpu=2");
  });

  it("pod requests: containers summed, raised to the largest init container, plus overhead", () => {
    const p = podFromObject({
      metadata: { name: "p" },
      spec: {
        containers: [
          { resources: { requests: { cpu: "1", memory: "1Gi" } } },
          { resources: { requests: { cpu: "500m", memory: "1Gi" } } },
        ],
        initContainers: [{ resources: { requests: { cpu: "4", memory: "512Mi" } } }],
        overhead: { cpu: "100m" },
      },
      status: { phase: "Running", containerStatuses: [{ state: { running: {} } }] },
    });
    expect(p.requests).toEqual({ cpu: 4100, memory: 2 * Gi, gpu: 0 });
    expect(p.terminated).toBe(false);
    const done = podFromObject({ metadata: { name: "d" }, status: { containerStatuses: [{ state: { terminated: { exitCode: 1 } } }] } });
    expect(done.terminated).toBe(true);
  });
});
