// Prometheus metrics (served at GET /metrics). Names keep the reference's meaning under a Prometheus-style
// prefix: spark_scheduler_requests_total{role,outcome,instance_group}, schedule and wait time histograms,
// reservation and soft-reservation gauges — plus what this design most needs watched: time waiting for the
// decision pipeline, API write latency and retries, informer health and lag, leadership, queue age per
// instance group, packing efficiency and fragmentation per zone, cross-zone figures of admitted applications
// (the reference's az.cross.traffic and friends) and the self-consistency check of the engine's counters.
//
// The kube layer reports through `kubeObserver` (one call per hook, no plumbing through its constructors);
// only Metrics instances created with `kube: true` (the service's own, in main.ts) listen to it.
//
// deploy/components/monitoring (alerts, dashboard) uses these names; test/deploy/monitoring.test.ts checks
// that every name there is exported here.

import type { Logger } from "pino";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { checkConsistency, type ConsistencyReport } from "../engine/consistency.js";
import type { Decision } from "../engine/decision.js";
import type { Engine } from "../engine/engine.js";
import { zoneOf } from "../engine/node-order.js";
import { DRIVER_SLOT } from "../engine/reservation.js";
import { classifyPod } from "../engine/spark-pods.js";
import type { ClusterState } from "../engine/state.js";

/** What metrics read from an informer (src/kube/informers.ts ResilientInformer). */
export interface ObservedInformer {
  readonly name: string;
  readonly synced: boolean;
  readonly restarts: number;
  /** How long the current run of failures has lasted (ms, the informer's monotonic clock); undefined while healthy. */
  failingForMs(): number | undefined;
}

interface KubeSink {
  apiWrite(resource: string, op: string, outcome: "success" | "failure", seconds: number): void;
  apiRetry(resource: string, op: string): void;
  informerDelay(informer: string, seconds: number): void;
}

/** The kube layer's hooks into metrics. */
export class KubeObserver {
  /** Informers alive now, with the time of their last event (Date.now()) and since when they are observed. */
  readonly informers = new Map<ObservedInformer, { lastEventMs: number | undefined; sinceMs: number }>();
  private readonly sinks = new Set<KubeSink>();

  /** Starts observing an informer (call when it starts; `forgetInformer` on stop). */
  watchInformer(informer: ObservedInformer): void {
    this.informers.set(informer, { lastEventMs: undefined, sinceMs: Date.now() });
  }

  /**
   * A watch event reached the informer; `createdMs` is the object's creationTimestamp for an ADDED event.
   * Informer lag: how long after its creation an object reached us (only objects created while observed).
   */
  informerEvent(informer: ObservedInformer, createdMs: number | undefined): void {
    const entry = this.informers.get(informer);
    if (!entry) return;
    const now = Date.now();
    entry.lastEventMs = now;
    if (createdMs !== undefined && createdMs >= entry.sinceMs) {
      for (const s of this.sinks) s.informerDelay(informer.name, Math.max(0, now - createdMs) / 1000);
    }
  }

  forgetInformer(informer: ObservedInformer): void {
    this.informers.delete(informer);
  }

  /** Runs one API write (with its retries), recording its latency and outcome. */
  async timeWrite<T>(resource: string, op: string, write: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let outcome: "success" | "failure" = "failure";
    try {
      const result = await write();
      outcome = "success";
      return result;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      for (const s of this.sinks) s.apiWrite(resource, op, outcome, seconds);
    }
  }

  /** One more attempt of an API write after a failed one. */
  retry(resource: string, op: string): void {
    for (const s of this.sinks) s.apiRetry(resource, op);
  }

  attach(sink: KubeSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }
}

export const kubeObserver = new KubeObserver();

/** Per zone: capacity, usage, packing efficiency and fragmentation (for the gauges below). */
export interface ZoneFigures {
  zone: string;
  nodes: number;
  allocatable: { cpu: number; memory: number };
  /** Reserved (hard + soft) plus overhead. */
  used: { cpu: number; memory: number };
  /** Mean over the zone's nodes of used / allocatable (reference §7.7); max = mean of per-node maxima. */
  efficiency: { cpu: number; memory: number; max: number };
  /** 1 − (largest free amount on one node / total free): 0 = all free space in one place, near 1 = scattered. */
  fragmentation: { cpu: number; memory: number };
}

/** Zone figures from the state (pure; one pass over the nodes). */
export function zoneFigures(state: ClusterState): ZoneFigures[] {
  type Acc = ZoneFigures & { freeMax: { cpu: number; memory: number }; freeSum: { cpu: number; memory: number } };
  const zones = new Map<string, Acc>();
  for (const node of state.nodes.values()) {
    const zone = zoneOf(node.labels);
    let z = zones.get(zone);
    if (!z) {
      z = {
        zone,
        nodes: 0,
        allocatable: { cpu: 0, memory: 0 },
        used: { cpu: 0, memory: 0 },
        efficiency: { cpu: 0, memory: 0, max: 0 },
        fragmentation: { cpu: 0, memory: 0 },
        freeMax: { cpu: 0, memory: 0 },
        freeSum: { cpu: 0, memory: 0 },
      };
      zones.set(zone, z);
    }
    const reserved = state.reservedOn(node.name);
    const overhead = state.overheadOn(node.name);
    const a = node.allocatable;
    const used = { cpu: reserved.cpu + overhead.cpu, memory: reserved.memory + overhead.memory };
    z.nodes++;
    z.allocatable.cpu += a.cpu;
    z.allocatable.memory += a.memory;
    z.used.cpu += used.cpu;
    z.used.memory += used.memory;
    const cpu = used.cpu / (a.cpu || 1);
    const memory = used.memory / (a.memory || 1);
    z.efficiency.cpu += cpu;
    z.efficiency.memory += memory;
    z.efficiency.max += Math.max(cpu, memory);
    for (const r of ["cpu", "memory"] as const) {
      const free = Math.max(0, a[r] - used[r]);
      z.freeSum[r] += free;
      z.freeMax[r] = Math.max(z.freeMax[r], free);
    }
  }
  return [...zones.values()]
    .sort((x, y) => (x.zone < y.zone ? -1 : x.zone > y.zone ? 1 : 0))
    .map(({ freeMax, freeSum, ...z }) => ({
      ...z,
      efficiency: { cpu: z.efficiency.cpu / z.nodes, memory: z.efficiency.memory / z.nodes, max: z.efficiency.max / z.nodes },
      fragmentation: {
        cpu: freeSum.cpu > 0 ? 1 - freeMax.cpu / freeSum.cpu : 0,
        memory: freeSum.memory > 0 ? 1 - freeMax.memory / freeSum.memory : 0,
      },
    }));
}

export interface MetricsOptions {
  /** Node.js process metrics. */
  defaultMetrics?: boolean;
  /** Listen to `kubeObserver` (API writes, informers). Only one Metrics per process should. */
  kube?: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"role" | "outcome" | "instance_group">;
  private readonly scheduleTime: Histogram<"role" | "outcome">;
  private readonly waitTime: Histogram<"role" | "outcome">;
  private readonly queueWait: Histogram;
  private readonly queueDepth: Gauge;
  private readonly crossZonePairs: Histogram<"instance_group">;
  private readonly podPairs: Histogram<"instance_group">;
  private readonly appZones: Histogram<"instance_group">;
  private readonly appNodes: Histogram<"instance_group">;
  private readonly executorsPerNode: Histogram<"instance_group">;
  private readonly consistencyMismatches: Gauge<"counter">;
  private readonly consistencyChecks: Counter;
  private readonly consistencyLast: Gauge;
  private readonly detach?: () => void;
  private backend?: { readiness(): { ready: boolean }; synced(): boolean };
  private consistencyTimer?: NodeJS.Timeout;

  constructor(
    private readonly engine: Engine,
    opts: MetricsOptions = {},
  ) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.requests = new Counter({
      name: "spark_scheduler_requests_total",
      help: "Extender filter decisions by Spark role, outcome and instance group",
      labelNames: ["role", "outcome", "instance_group"],
      registers,
    });
    this.scheduleTime = new Histogram({
      name: "spark_scheduler_schedule_seconds",
      help: "Time to decide one filter call, including the reservation write",
      labelNames: ["role", "outcome"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.waitTime = new Histogram({
      name: "spark_scheduler_pod_wait_seconds",
      help: "Age of the pod at each decision (creation to now)",
      labelNames: ["role", "outcome"],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    });
    this.queueWait = new Histogram({
      name: "spark_scheduler_decision_queue_wait_seconds",
      help: "Time a filter call waited for the decision pipeline (decisions are made one at a time) before its decision started",
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    });
    this.queueDepth = new Gauge({
      name: "spark_scheduler_decision_queue_depth",
      help: "Filter calls waiting for the decision pipeline",
      registers,
    });
    const perApp = (name: string, help: string, buckets: number[]) =>
      new Histogram({ name, help, labelNames: ["instance_group"], buckets, registers });
    const pairs = [0, 1, 10, 50, 100, 500, 1000, 5000, 20000, 100000];
    this.crossZonePairs = perApp(
      "spark_scheduler_app_cross_zone_pod_pairs",
      "Per admitted application: pairs of its pods (driver and executor slots) in different zones (reference az.cross.traffic)",
      pairs,
    );
    this.podPairs = perApp(
      "spark_scheduler_app_pod_pairs",
      "Per admitted application: pairs of its pods, P*(P-1)/2 with P = executors + 1 (reference total.traffic)",
      pairs,
    );
    this.appZones = perApp("spark_scheduler_app_zones", "Per admitted application: zones its slots use", [1, 2, 3, 4, 6]);
    this.appNodes = perApp("spark_scheduler_app_nodes", "Per admitted application: distinct nodes of its executor slots", [1, 2, 4, 8, 16, 32, 64, 128, 256]);
    this.executorsPerNode = perApp(
      "spark_scheduler_app_executors_per_node",
      "Per admitted application: executor slots per distinct node (reference initialexecutorspernode)",
      [1, 2, 4, 8, 16, 32, 64],
    );
    this.consistencyMismatches = new Gauge({
      name: "spark_scheduler_consistency_mismatches",
      help: "Nodes whose incremental counter (reserved or overhead) disagreed with a recomputation at the last self-consistency check",
      labelNames: ["counter"],
      registers,
    });
    for (const counter of ["reserved", "overhead"]) this.consistencyMismatches.set({ counter }, 0);
    this.consistencyChecks = new Counter({ name: "spark_scheduler_consistency_checks_total", help: "Self-consistency checks run", registers });
    this.consistencyLast = new Gauge({
      name: "spark_scheduler_consistency_last_check_timestamp_seconds",
      help: "Unix time of the last self-consistency check",
      registers,
    });
    this.stateGauges(engine);
    this.backendGauges();
    this.kubeMetrics(opts.kube === true);
    if (opts.kube) this.detach = this.attachKube();
  }

  observeDecision(d: Decision, seconds: number, podAgeMs: number): void {
    const role = d.role ?? "unknown";
    this.requests.inc({ role, outcome: d.outcome, instance_group: d.instanceGroup ?? "" });
    this.scheduleTime.observe({ role, outcome: d.outcome }, seconds);
    if (podAgeMs >= 0) this.waitTime.observe({ role, outcome: d.outcome }, podAgeMs / 1000);
    if (d.outcome === "success" && d.role === "driver") this.observeAdmission(d);
  }

  /** A filter call entered the decision pipeline; call the returned function when its decision starts. */
  pipelineEntered(): () => void {
    const started = performance.now();
    this.queueDepth.inc();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.queueWait.observe((performance.now() - started) / 1000);
      this.queueDepth.dec();
    };
  }

  /** Reads leadership and sync state from the backend at every scrape. */
  observeBackend(backend: { readiness(): { ready: boolean }; synced(): boolean }): void {
    this.backend = backend;
  }

  /** Records the result of one self-consistency check; logs the mismatches. */
  observeConsistency(report: ConsistencyReport, log?: Logger): void {
    this.consistencyChecks.inc();
    this.consistencyLast.set(Date.now() / 1000);
    for (const counter of ["reserved", "overhead"] as const) {
      this.consistencyMismatches.set({ counter }, report.mismatches.filter((m) => m.counter === counter).length);
    }
    if (report.mismatches.length > 0) {
      log?.error(
        { mismatches: report.mismatches.slice(0, 20), mismatchCount: report.mismatches.length, nodesChecked: report.nodesChecked },
        "self-consistency check: incremental counters disagree with a recomputation",
      );
    }
  }

  /**
   * Runs the self-consistency check every `intervalMs` through `read` (which must run it between decisions,
   * e.g. Scheduler.read).
   */
  startConsistencyChecks(read: <T>(fn: () => T) => Promise<T>, log: Logger, intervalMs = 60_000): void {
    clearInterval(this.consistencyTimer);
    this.consistencyTimer = setInterval(() => {
      read(() => checkConsistency(this.engine.state)).then(
        (report) => this.observeConsistency(report, log),
        (e: unknown) => log.warn({ err: e }, "self-consistency check failed"),
      );
    }, intervalMs);
    this.consistencyTimer.unref();
  }

  close(): void {
    clearInterval(this.consistencyTimer);
    this.detach?.();
  }

  private observeAdmission(d: Decision): void {
    const write = d.writes.find((w) => w.op === "create");
    if (!write) return;
    const zoneCount = new Map<string, number>();
    const executorNodes = new Map<string, number>();
    for (const [name, slot] of write.reservation.slots) {
      const zone = zoneOf(this.engine.state.nodes.get(slot.node)?.labels);
      zoneCount.set(zone, (zoneCount.get(zone) ?? 0) + 1);
      if (name !== DRIVER_SLOT) executorNodes.set(slot.node, (executorNodes.get(slot.node) ?? 0) + 1);
    }
    const p = write.reservation.slots.size;
    let sameZonePairs = 0;
    for (const n of zoneCount.values()) sameZonePairs += (n * (n - 1)) / 2;
    const labels = { instance_group: d.instanceGroup ?? "" };
    const totalPairs = (p * (p - 1)) / 2;
    this.podPairs.observe(labels, totalPairs);
    this.crossZonePairs.observe(labels, totalPairs - sameZonePairs);
    this.appZones.observe(labels, zoneCount.size);
    const executors = p - 1;
    if (executors > 0) {
      this.appNodes.observe(labels, executorNodes.size);
      this.executorsPerNode.observe(labels, Math.floor(executors / executorNodes.size));
    }
  }

  private stateGauges(engine: Engine): void {
    const state = engine.state;
    const registers = [this.registry];
    new Gauge({
      name: "spark_scheduler_reservations",
      help: "ResourceReservations held",
      registers,
      collect() {
        this.set(state.reservations.size);
      },
    });
    new Gauge({
      name: "spark_scheduler_reservations_orphaned",
      help: "ResourceReservations whose driver pod is gone or finished (garbage collection should delete them)",
      registers,
      collect() {
        let n = 0;
        for (const r of state.reservations.values()) {
          const driver = state.getPod(r.namespace, r.driverPod);
          if (!driver || driver.terminated || (r.driverUid && driver.uid && driver.uid !== r.driverUid)) n++;
        }
        this.set(n);
      },
    });
    new Gauge({
      name: "spark_scheduler_soft_reservations",
      help: "Extra executors holding a soft reservation",
      registers,
      collect() {
        let n = 0;
        for (const s of state.soft.values()) n += s.executors.size;
        this.set(n);
      },
    });
    // Pending drivers and the age of the oldest, per instance group: one pass shared by both gauges.
    let pendingAt = -1;
    let pending = new Map<string, { count: number; oldestMs: number }>();
    const pendingByGroup = () => {
      const now = Date.now();
      if (now - pendingAt < 100) return pending;
      pendingAt = now;
      pending = new Map();
      for (const key of state.drivers) {
        const p = state.pods.get(key)!;
        if (p.nodeName || p.terminated || p.deleting) continue;
        const id = classifyPod(p);
        if (!id.ok || state.getReservation(p.namespace, id.value.appId)) continue;
        const group = engine.ctx.instanceGroup(p);
        const g = pending.get(group) ?? { count: 0, oldestMs: Infinity };
        g.count++;
        g.oldestMs = Math.min(g.oldestMs, p.createdAtMs);
        pending.set(group, g);
      }
      return pending;
    };
    new Gauge({
      name: "spark_scheduler_pending_drivers",
      help: "Spark drivers waiting for admission (pending, no reservation yet), by instance group",
      labelNames: ["instance_group"],
      registers,
      collect() {
        this.reset();
        for (const [group, g] of pendingByGroup()) this.set({ instance_group: group }, g.count);
      },
    });
    new Gauge({
      name: "spark_scheduler_queue_oldest_seconds",
      help: "Age of the oldest Spark driver waiting for admission, by instance group",
      labelNames: ["instance_group"],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const [group, g] of pendingByGroup()) this.set({ instance_group: group }, Math.max(0, now - g.oldestMs) / 1000);
      },
    });
    new Gauge({
      name: "spark_scheduler_reserved",
      help: "Resources held by reservations (hard and soft): cpu in cores, memory in bytes, nvidia.com/gpu",
      labelNames: ["resource"],
      registers,
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
      registers,
      collect() {
        this.set(state.nodes.size);
      },
    });
    // Zone figures: one pass over the nodes shared by the four gauges of a scrape.
    let zonesAt = -1;
    let zones: ZoneFigures[] = [];
    const figures = () => {
      const now = Date.now();
      if (now - zonesAt >= 100) {
        zones = zoneFigures(state);
        zonesAt = now;
      }
      return zones;
    };
    const perZone = (name: string, help: string, value: (z: ZoneFigures, resource: "cpu" | "memory") => number, scaleCpu: boolean) =>
      new Gauge({
        name,
        help,
        labelNames: ["zone", "resource"],
        registers,
        collect() {
          this.reset();
          for (const z of figures()) {
            for (const r of ["cpu", "memory"] as const) this.set({ zone: z.zone, resource: r }, value(z, r) / (scaleCpu && r === "cpu" ? 1000 : 1));
          }
        },
      });
    perZone("spark_scheduler_zone_allocatable", "Allocatable resources per zone: cpu in cores, memory in bytes", (z, r) => z.allocatable[r], true);
    perZone("spark_scheduler_zone_used", "Resources used per zone by reservations (hard and soft) and overhead: cpu in cores, memory in bytes", (z, r) => z.used[r], true);
    perZone("spark_scheduler_zone_fragmentation", "Per zone: 1 - largest free amount on one node / total free (0: free space in one place)", (z, r) => z.fragmentation[r], false);
    new Gauge({
      name: "spark_scheduler_packing_efficiency",
      help: "Per zone: mean over its nodes of used / allocatable (resource cpu, memory, or max = mean of per-node maxima)",
      labelNames: ["zone", "resource"],
      registers,
      collect() {
        this.reset();
        for (const z of figures()) {
          for (const r of ["cpu", "memory", "max"] as const) this.set({ zone: z.zone, resource: r }, z.efficiency[r]);
        }
      },
    });
  }

  private backendGauges(): void {
    const self = () => this.backend;
    new Gauge({
      name: "spark_scheduler_deciding",
      help: "1 when this replica makes scheduling decisions (leader, state loaded), else 0",
      registers: [this.registry],
      collect() {
        this.set(self()?.readiness().ready ? 1 : 0);
      },
    });
    new Gauge({
      name: "spark_scheduler_synced",
      help: "1 when this replica's state is loaded from the cluster, else 0",
      registers: [this.registry],
      collect() {
        this.set(self()?.synced() ? 1 : 0);
      },
    });
  }

  private apiWriteTime?: Histogram<"resource" | "op" | "outcome">;
  private apiRetries?: Counter<"resource" | "op">;
  private informerDelay?: Histogram<"informer">;

  private kubeMetrics(listen: boolean): void {
    const registers = [this.registry];
    this.apiWriteTime = new Histogram({
      name: "spark_scheduler_api_write_seconds",
      help: "Kubernetes API writes (all attempts of one write) by resource, operation and outcome",
      labelNames: ["resource", "op", "outcome"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.apiRetries = new Counter({
      name: "spark_scheduler_api_write_retries_total",
      help: "Kubernetes API write attempts after a failed attempt, by resource and operation",
      labelNames: ["resource", "op"],
      registers,
    });
    this.informerDelay = new Histogram({
      name: "spark_scheduler_informer_delay_seconds",
      help: "Informer lag: object creation to its add event reaching this replica (objects created after the informer started)",
      labelNames: ["informer"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    const informers = () => (listen ? [...kubeObserver.informers] : []);
    const perInformer = (name: string, help: string, value: (i: ObservedInformer, lastEventMs: number | undefined, now: number) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ["informer"],
        registers,
        collect() {
          this.reset();
          const now = Date.now();
          for (const [i, e] of informers()) {
            const v = value(i, e.lastEventMs, now);
            if (v !== undefined) this.set({ informer: i.name }, v);
          }
        },
      });
    perInformer("spark_scheduler_informer_synced", "1 once the informer's initial list is applied", (i) => (i.synced ? 1 : 0));
    perInformer("spark_scheduler_informer_restarts", "Restarts of the informer after a failed list or watch", (i) => i.restarts);
    perInformer(
      "spark_scheduler_informer_watch_failing_seconds",
      "How long the informer's list/watch has been failing (0 while healthy); decisions stop above 30 s",
      (i) => (i.failingForMs() ?? 0) / 1000,
    );
    perInformer(
      "spark_scheduler_informer_last_event_age_seconds",
      "Time since the informer last delivered an event (add, update or delete)",
      (_i, last, now) => (last === undefined ? undefined : Math.max(0, now - last) / 1000),
    );
  }

  private attachKube(): () => void {
    return kubeObserver.attach({
      apiWrite: (resource, op, outcome, seconds) => this.apiWriteTime!.observe({ resource, op, outcome }, seconds),
      apiRetry: (resource, op) => this.apiRetries!.inc({ resource, op }),
      informerDelay: (informer, seconds) => this.informerDelay!.observe({ informer }, seconds),
    });
  }
}
