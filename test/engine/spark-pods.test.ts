// Pod classification and the driver's spark-scheduler annotations (spec §2.1, §2.2, §13.9 TestSparkResources).

import { describe, expect, it } from "vitest";
import { podFromObject } from "../../src/engine/model.js";
import { classifyPod, hasShapeAnnotations, shapeFromAnnotations } from "../../src/engine/spark-pods.js";

const Mi = 2 ** 20;

function pod(labels: Record<string, string>, annotations: Record<string, string> = {}) {
  return podFromObject({ metadata: { name: "p", namespace: "ns", labels, annotations } });
}

const base = {
  "spark-driver-cpu": "1",
  "spark-driver-mem": "2432Mi",
  "spark-driver-nvidia.com/gpu": "1",
  "spark-executor-cpu": "2",
  "spark-executor-mem": "6758Mi",
  "spark-executor-nvidia.com/gpu": "1",
};

describe("classifyPod", () => {
  it("recognises drivers and executors with spark-app-id, falling back to spark-app-selector", () => {
    expect(classifyPod(pod({ "spark-role": "driver", "spark-app-id": "a" }))).toEqual({ ok: true, value: { role: "driver", appId: "a" } });
    expect(classifyPod(pod({ "spark-role": "executor", "spark-app-selector": "spark-123" }))).toEqual({
      ok: true,
      value: { role: "executor", appId: "spark-123" },
    });
    expect(classifyPod(pod({ "spark-role": "executor", "spark-app-id": "mine", "spark-app-selector": "spark-1" }))).toMatchObject({
      value: { appId: "mine" },
    });
  });

  it("rejects non-Spark pods and Spark pods without an application id, with reasons", () => {
    expect(classifyPod(pod({}))).toEqual({ ok: false, error: "can not schedule non spark pod: label spark-role is missing" });
    expect(classifyPod(pod({ "spark-role": "shuffle" }))).toMatchObject({ ok: false, error: expect.stringMatching(/"shuffle"/) });
    expect(classifyPod(pod({ "spark-role": "driver" }))).toMatchObject({ ok: false, error: expect.stringMatching(/spark-app-selector/) });
  });
});

describe("shapeFromAnnotations", () => {
  it("static allocation: min = max = count (TestSparkResources static)", () => {
    const r = shapeFromAnnotations(pod({}, { ...base, "spark-executor-count": "2" }));
    expect(r).toEqual({
      ok: true,
      value: {
        driver: { cpu: 1000, memory: 2432 * Mi, gpu: 1 },
        executor: { cpu: 2000, memory: 6758 * Mi, gpu: 1 },
        minExecutors: 2,
        maxExecutors: 2,
        dynamicAllocation: false,
        source: "annotations",
      },
    });
  });

  it("dynamic allocation: min and max from their annotations", () => {
    const r = shapeFromAnnotations(
      pod({}, {
        ...base,
        "spark-dynamic-allocation-enabled": "true",
        "spark-dynamic-allocation-min-executor-count": "2",
        "spark-dynamic-allocation-max-executor-count": "5",
      }),
    );
    expect(r).toMatchObject({ ok: true, value: { minExecutors: 2, maxExecutors: 5, dynamicAllocation: true } });
  });

  it("GPU annotations are optional", () => {
    const { "spark-driver-nvidia.com/gpu": _d, "spark-executor-nvidia.com/gpu": _e, ...noGpu } = base;
    const r = shapeFromAnnotations(pod({}, { ...noGpu, "spark-executor-count": "1" }));
    expect(r.ok && [r.value.driver.gpu, r.value.executor.gpu]).toEqual([0, 0]);
  });

  it("accepts Spark memory strings and fractional cpu quantities", () => {
    const r = shapeFromAnnotations(
      pod({}, { ...base, "spark-driver-mem": "4g", "spark-executor-mem": "512m", "spark-executor-cpu": "0.5", "spark-executor-count": "1" }),
    );
    expect(r.ok && r.value.driver.memory).toBe(4 * 1024 * Mi);
    expect(r.ok && r.value.executor).toEqual({ cpu: 500, memory: 512 * Mi, gpu: 1 });
  });

  it("reports the first bad annotation in the reference's order", () => {
    const bad = (over: Record<string, string | undefined>) => {
      const a: Record<string, string> = { ...base, "spark-executor-count": "2" };
      for (const [k, v] of Object.entries(over)) if (v === undefined) delete a[k];
      else a[k] = v;
      const r = shapeFromAnnotations(pod({}, a));
      return r.ok ? "ok" : r.error;
    };
    expect(bad({ "spark-driver-cpu": undefined })).toBe("annotation spark-driver-cpu is missing from driver");
    expect(bad({ "spark-driver-cpu": "x", "spark-executor-mem": "y" })).toBe('annotation spark-driver-cpu does not have a parseable value "x"');
    expect(bad({ "spark-executor-mem": "-1" })).toMatch(/spark-executor-mem does not have a parseable value/);
    expect(bad({ "spark-executor-count": undefined })).toBe("annotation spark-executor-count is required when dynamic allocation is disabled");
    expect(bad({ "spark-dynamic-allocation-enabled": "yes" })).toMatch(/could not be parsed as a boolean/);
    expect(bad({ "spark-dynamic-allocation-enabled": "True" })).toBe(
      "annotation spark-dynamic-allocation-min-executor-count is required when dynamic allocation is enabled",
    );
    expect(bad({ "spark-dynamic-allocation-enabled": "1", "spark-dynamic-allocation-min-executor-count": "3" })).toBe(
      "annotation spark-dynamic-allocation-max-executor-count is required when dynamic allocation is enabled",
    );
    expect(
      bad({
        "spark-dynamic-allocation-enabled": "t",
        "spark-dynamic-allocation-min-executor-count": "3",
        "spark-dynamic-allocation-max-executor-count": "2",
      }),
    ).toMatch(/smaller than/);
    // present but unneeded annotations must still be valid
    expect(
      bad({
        "spark-dynamic-allocation-enabled": "true",
        "spark-dynamic-allocation-min-executor-count": "1",
        "spark-dynamic-allocation-max-executor-count": "2",
        "spark-executor-count": "many",
      }),
    ).toMatch(/spark-executor-count does not have a parseable value/);
  });

  it("hasShapeAnnotations tells annotated drivers from zero-configuration ones", () => {
    expect(hasShapeAnnotations(pod({}, base))).toBe(true);
    expect(hasShapeAnnotations(pod({}, { unrelated: "x" }))).toBe(false);
  });
});
