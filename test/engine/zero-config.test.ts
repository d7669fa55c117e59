// Zero-configuration sizing (a driver without spark-scheduler annotations) and resource profiles.

import { describe, expect, it } from "vitest";
import { podFromObject } from "../../src/engine/model.js";
import { Harness, driverPod, executorPod, node } from "./harness.js";

const Mi = 2 ** 20;

function plainDriver(app: string, opts: { confMap?: string; operatorApp?: string } = {}) {
  return podFromObject({
    metadata: {
      name: `${app}-driver`,
      namespace: "spark",
      uid: `${app}-uid`,
      labels: {
        "spark-role": "driver",
        "spark-app-selector": `spark-${app}`,
        ...(opts.operatorApp ? { "sparkoperator.k8s.io/app-name": opts.operatorApp } : {}),
      },
      creationTimestamp: new Date(0).toISOString(),
    },
    spec: {
      schedulerName: "spark-scheduler",
      volumes: opts.confMap ? [{ name: "spark-conf-volume-driver", configMap: { name: opts.confMap } }] : [],
    },
  });
}

const PROPS = ["spark.executor.instances=3", "spark.executor.cores=2", "spark.executor.memory=4g", "spark.driver.memory=1g"].join("\n");

describe("zero-configuration drivers", () => {
  it("wait for the Spark conf ConfigMap, then are sized from spark.properties with Spark's overhead rules", () => {
    const h = new Harness([node("n1", { cpu: "16", memory: "64Gi" }), node("n2", { cpu: "16", memory: "64Gi" })], { binpack: "tightly-pack" });
    const driver = plainDriver("etl", { confMap: "spark-drv-abc-conf-map" });
    const waiting = h.schedule(driver, ["n1", "n2"]);
    expect(waiting.outcome).toBe("failure-invalid");
    expect(waiting.reason).toBe("waiting for Spark conf ConfigMap spark/spark-drv-abc-conf-map to appear");

    h.state.putConfigMap("spark", "spark-drv-abc-conf-map", { "spark.properties": PROPS });
    const admitted = h.schedule(driver, ["n1", "n2"]);
    expect(admitted.outcome).toBe("success");
    const r = h.state.getReservation("spark", "spark-etl")!;
    expect(r.slots.size).toBe(4);
    expect(r.slots.get("driver")!.resources).toEqual({ cpu: 1000, memory: 1408 * Mi, gpu: 0 });
    expect(r.slots.get("executor-1")!.resources).toEqual({ cpu: 2000, memory: (4096 + 409) * Mi, gpu: 0 });

    // executors recognised by Spark's own label
    const exec = { ...executorPod("x", 1, { namespace: "spark" }), labels: { "spark-role": "executor", "spark-app-selector": "spark-etl" } };
    expect(h.schedule(exec, ["n1", "n2"]).outcome).toBe("success");
  });

  it("without annotations or a conf volume, say what is missing", () => {
    const h = new Harness([node("n1")]);
    const d = h.schedule(plainDriver("bare"), ["n1"]);
    expect(d.outcome).toBe("failure-invalid");
    expect(d.reason).toMatch(/no spark-scheduler annotations .* and no Spark conf volume/);
  });

  it("use the Spark Operator SparkApplication when the driver belongs to one", () => {
    const h = new Harness([node("n1", { cpu: "16", memory: "64Gi" })]);
    h.state.putSparkApplication("spark", "pi", {
      apiVersion: "sparkoperator.k8s.io/v1beta2",
      kind: "SparkApplication",
      metadata: { name: "pi", namespace: "spark" },
      spec: { type: "Scala", mainApplicationFile: "local:///opt/spark/pi.jar", driver: { cores: 1, memory: "512m" }, executor: { instances: 2, cores: 1, memory: "512m" } },
    });
    const d = h.schedule(plainDriver("pi", { operatorApp: "pi", confMap: "not-yet-there" }), ["n1"]);
    expect(d.outcome).toBe("success");
    const r = h.state.getReservation("spark", "spark-pi")!;
    expect(r.slots.size).toBe(3);
    expect(r.slots.get("executor-2")!.resources.memory).toBe((512 + 384) * Mi);
  });

  it("annotations still override the Spark conf", () => {
    const h = new Harness([node("n1", { cpu: "16", memory: "64Gi" })]);
    h.state.putConfigMap("spark", "cm", { "spark.properties": PROPS });
    const d = { ...plainDriver("ann", { confMap: "cm" }) };
    d.annotations = { "spark-driver-cpu": "1", "spark-driver-mem": "1Gi", "spark-executor-cpu": "1", "spark-executor-mem": "1Gi", "spark-executor-count": "1" };
    expect(h.schedule(d, ["n1"]).outcome).toBe("success");
    expect(h.state.getReservation("spark", "spark-ann")!.slots.size).toBe(2);
  });
});

describe("Spark resource profiles", () => {
  function profileExecutor(i: number, cpu: string, memory: string) {
    return podFromObject({
      metadata: { name: `app-exec-${i}`, namespace: "namespace", labels: { "spark-role": "executor", "spark-app-id": "app", "spark-exec-resourceprofile-id": "1" } },
      spec: { containers: [{ resources: { requests: { cpu, memory } } }] },
    });
  }

  it("an executor of another profile that fits the reserved size uses a slot; a larger one is refused clearly", () => {
    const h = new Harness([node("n1"), node("n2")]);
    h.schedule(driverPod("app", { count: 2, executorCpu: "2", executorMem: "2Gi" }), ["n1", "n2"]);
    expect(h.schedule(profileExecutor(1, "1", "1Gi"), ["n1", "n2"]).outcome).toBe("success");
    const big = h.schedule(profileExecutor(2, "4", "1Gi"), ["n1", "n2"]);
    expect(big.outcome).toBe("failure-invalid");
    expect(big.reason).toMatch(/resource profile 1 with requests cpu=4 memory=1Gi gpu=0, larger than the reserved executor size cpu=2 memory=2Gi/);
  });
});
