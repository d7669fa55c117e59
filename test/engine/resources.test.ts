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

  it.each(["", "abc", "1Gb", "1.2.3", "--1", "1 Gi"])("rejects %j", (q) => {
    expect(parseCpu(q)).toBeUndefined();
    expect(parseMemoryQuantity(q)).toBeUndefined();
  });

  it("reads Spark memory strings in binary units; bare numbers are MiB", () => {
    expect(parseSparkMemory("4g")).toBe(4 * Gi);
    expect(parseSparkMemory("512m")).toBe(512 * Mi);
    expect(parseSparkMemory("1.5g")).toBe(1.5 * Gi);
    expect(parseSparkMemory("2048mb")).toBe(2048 * Mi);
    expect(parseSparkMemory("1024")).toBe(1024 * Mi);
    expect(parseSparkMemory("lots")).toBeUndefined();
  });

  it("annotation memory prefers Kubernetes quantities, then Spark strings", () => {
    expect(parseMemory("1")).toBe(1);
    expect(parseMemory("1G")).toBe(1e9);
    expect(parseMemory("1g")).toBe(Gi);
    expect(parseMemory("512m")).toBe(512 * Mi); // Spark's MiB, not Kubernetes milli-bytes
    expect(parseMemory("1x")).toBeUndefined();
  });
});

describe("resources", () => {
  it("fits only when every dimension fits; equality fits", () => {
    expect(fits({ cpu: 1, memory: 1, gpu: 1 }, { cpu: 1, memory: 1, gpu: 1 })).toBe(true);
    expect(fits({ cpu: 1, memory: 2, gpu: 0 }, { cpu: 5, memory: 1, gpu: 5 })).toBe(false);
  });

  it("round-trips the Kubernetes resource map", () => {
    const r = resourcesFromMap({ cpu: "1500m", memory: "2Gi", "nvidia.com/gpu": "2", "ephemeral-storage": "1Gi" });
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
