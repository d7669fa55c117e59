// Prometheus metrics (served at GET /metrics). Names keep the reference's meaning under a Prometheus-style
// prefix: spark_scheduler_requests_total{role,outcome,instance_group}, schedule and wait time histograms,
// reservation and soft-reservation gauges.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Decision } from "../engine/decision.js";
import type { Engine } from "../engine/engine.js";
import { classifyPod } from "../engine/spark-pods.js";

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"role" | "outcome" | "instance_group">;
  private readonly scheduleTime: Histogram<"role" | "outcome">;
  private readonly waitTime: Histogram<"role" | "outcome">;

  constructor(engine: Engine, opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: "spark_scheduler_requests_total",
      help: "Extender filter decisions by Spark role, outcome and instance group",
      labelNames: ["role", "outcome", "instance_group"],
      registers: [this.registry],
    });
    this.scheduleTime = new Histogram({
      name: "spark_scheduler_schedule_seconds",
      help: "Time to decide one filter call, including the reservation write",
      labelNames: ["role", "outcome"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.waitTime = new Histogram({
      name: "spark_scheduler_pod_wait_seconds",
      help: "Age of the pod at each decision (creation to now)",
      labelNames: ["role", "outcome"],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers: [this.registry],
    });
    const state = engine.state;
    new Gauge({
      name: "spark_scheduler_reservations",
      help: "ResourceReservations held",
      registers: [this.registry],
      collect() {
        this.set(state.reservations.size);
      },
    });
    new Gauge({
      name: "spark_scheduler_soft_reservations",
      help: "Extra executors holding a soft reservation",
      registers: [this.registry],
      collect() {
        let n = 0;
        for (const s of state.soft.values()) n += s.executors.size;
        this.set(n);
      },
    });
    new Gauge({
      name: "spark_scheduler_pending_drivers",
      help: "Spark drivers waiting for admission (pending, no reservation yet), by instance group",
      labelNames: ["instance_group"],
      registers: [this.registry],
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const key of state.drivers) {
          const p = state.pods.get(key)!;
          if (p.nodeName || p.terminated || p.deleting) continue;
          const id = classifyPod(p);
          if (!id.ok || state.getReservation(p.namespace, id.value.appId)) continue;
          const group = engine.ctx.instanceGroup(p);
          counts.set(group, (counts.get(group) ?? 0) + 1);
        }
        for (const [group, n] of counts) this.set({ instance_group: group }, n);
      },
    });
    new Gauge({
      name: "spark_scheduler_reserved",
      help: "Resources held by reservations (hard and soft): cpu in cores, memory in bytes, nvidia.com/gpu",
      labelNames: ["resource"],
      registers: [this.registry],
      collect() {
        const total = { cpu: 0, memory: 0, gpu: 0 };
        for (const name of state.nodes.keys()) {
          const r = state.reservedOn(name);
          total.cpu += r.cpu;
          total.memory += r.memory;
          total.gpu += r.gpu;
        }
        this.set({ resource: "cpu" }, total.cpu / 1000);
        this.set({ resource: "memory" }, total.memory);
        this.set({ resource: "nvidia.com/gpu" }, total.gpu);
      },
    });
    new Gauge({
      name: "spark_scheduler_nodes",
      help: "Nodes known to the scheduler",
      registers: [this.registry],
      collect() {
        this.set(state.nodes.size);
      },
    });
  }

  observeDecision(d: Decision, seconds: number, podAgeMs: number): void {
    const role = d.role ?? "unknown";
    this.requests.inc({ role, outcome: d.outcome, instance_group: d.instanceGroup ?? "" });
    this.scheduleTime.observe({ role, outcome: d.outcome }, seconds);
    if (podAgeMs >= 0) this.waitTime.observe({ role, outcome: d.outcome }, podAgeMs / 1000);
  }
}
