// The monitoring component (deploy/components/monitoring): the ServiceMonitor scrapes the extender's metrics
// port, and every metric the alerts and the dashboard query is one the service really exports — by the name
// it is exported under (a histogram's _bucket/_sum/_count series, not its bare name), with the labels it has.
// A renamed metric or label in src/server/metrics.ts that the alerts or the dashboard still use fails here.

import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { configFromObject } from "../../src/config.js";
import { Engine } from "../../src/engine/engine.js";
import { Metrics } from "../../src/server/metrics.js";
import { INSTALLS, ROOT, find, kubectl, render } from "./render.js";

const OVERLAY = "deploy/overlays/monitoring";
/** Labels Prometheus adds to every series of a ServiceMonitor's targets. */
const TARGET_LABELS = new Set(["job", "namespace", "pod", "instance", "service", "endpoint", "container"]);
/** Series Prometheus itself makes per target (not exported by the service). */
const PROMETHEUS_SERIES = new Map([["up", new Set<string>()]]);
const NOT_METRICS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"]);
const GROUPING = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);

interface Selector {
  metric: string;
  labels: string[];
}

/** Metric selectors and grouping labels of a PromQL expression (a small tokenizer: enough for these queries). */
function promqlSelectors(expr: string): { selectors: Selector[]; grouping: string[] } {
  const tokens = expr.match(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[0-9][\w.]*|[A-Za-z_:][\w:]*|=~|!~|!=|==|>=|<=|\$\w+|\S/g) ?? [];
  const selectors: Selector[] = [];
  const grouping: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === "[") {
      while (tokens[i] !== "]") i++;
      continue;
    }
    if (!/^[A-Za-z_:]/.test(t)) continue;
    const next = tokens[i + 1];
    if (GROUPING.has(t)) {
      if (next === "(") {
        for (i += 2; tokens[i] !== ")"; i++) if (tokens[i] !== ",") grouping.push(tokens[i]);
      }
      continue;
    }
    // Functions and aggregations: `rate(`, `sum by (…) (`.
    if (NOT_METRICS.has(t) || next === "(" || next === "by" || next === "without") continue;
    const selector: Selector = { metric: t, labels: [] };
    if (next === "{") {
      for (i += 2; tokens[i] !== "}"; i++) {
        if (["=", "!=", "=~", "!~"].includes(tokens[i + 1])) selector.labels.push(tokens[i]);
      }
    }
    selectors.push(selector);
  }
  return { selectors, grouping };
}

/** Series the service exports (name → its labels), from the registry main.ts builds. */
async function exportedSeries(): Promise<Map<string, Set<string>>> {
  // As src/main.ts: Node.js process metrics and the kube layer's (API writes, informers).
  const metrics = new Metrics(new Engine(configFromObject({}).engine), { defaultMetrics: true, kube: true });
  try {
    const series = new Map<string, Set<string>>(PROMETHEUS_SERIES);
    for (const m of await metrics.registry.getMetricsAsJSON()) {
      const labels = new Set<string>((metrics.registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? []);
      if (String(m.type) === "histogram") {
        series.set(`${m.name}_bucket`, new Set([...labels, "le"]));
        series.set(`${m.name}_sum`, labels);
        series.set(`${m.name}_count`, labels);
      } else {
        series.set(m.name, labels);
      }
    }
    return series;
  } finally {
    metrics.close();
  }
}

/** Every PromQL query of the dashboard: panel targets and template variables (label_values(selector, label)). */
function dashboardQueries(dashboard: any): { where: string; expr: string; label?: string }[] {
  const out: { where: string; expr: string; label?: string }[] = [];
  const panels = (list: any[]): void => {
    for (const p of list) {
      for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
      panels(p.panels ?? []);
    }
  };
  panels(dashboard.panels);
  for (const v of dashboard.templating.list) {
    if (v.type !== "query") continue;
    const q: string = typeof v.query === "string" ? v.query : v.query.query;
    const m = /^label_values\((.*),\s*(\w+)\)$/.exec(q);
    expect(m, `variable ${v.name}: ${q}`).not.toBeNull();
    out.push({ where: `variable ${v.name}`, expr: m![1], label: m![2] });
  }
  return out;
}

function checkQuery(series: Map<string, Set<string>>, where: string, expr: string, extraLabel?: string): string[] {
  const problems: string[] = [];
  const { selectors, grouping } = promqlSelectors(expr);
  if (selectors.length === 0) problems.push(`${where}: no metric in ${expr}`);
  const known = new Set<string>(TARGET_LABELS);
  for (const s of selectors) {
    const labels = series.get(s.metric);
    if (!labels) {
      problems.push(`${where}: ${s.metric} is not exported`);
      continue;
    }
    for (const l of labels) known.add(l);
    for (const l of s.labels) if (!labels.has(l) && !TARGET_LABELS.has(l)) problems.push(`${where}: ${s.metric} has no label ${l}`);
  }
  for (const l of [...grouping, ...(extraLabel ? [extraLabel] : [])]) if (!known.has(l)) problems.push(`${where}: no metric of ${expr} has label ${l}`);
  return problems;
}

describe("PromQL selector extraction", () => {
  it("finds metrics and labels, not functions, aggregations, keywords, durations or strings", () => {
    const expr =
      'histogram_quantile(0.99, sum by (namespace, le) (rate(a_bucket{job="x", outcome=~"f.*"}[5m]))) > 1 and on (pod) b > 0 or time() - c{d!="by"} offset 1h';
    expect(promqlSelectors(expr)).toEqual({
      selectors: [
        { metric: "a_bucket", labels: ["job", "outcome"] },
        { metric: "b", labels: [] },
        { metric: "c", labels: ["d"] },
      ],
      grouping: ["namespace", "le", "pod"],
    });
    expect(promqlSelectors("sum(x_total{a=\"1\"}[$__rate_interval]) by (g) / max without (h) (y)")).toEqual({
      selectors: [
        { metric: "x_total", labels: ["a"] },
        { metric: "y", labels: [] },
      ],
      grouping: ["g", "h"],
    });
  });
});

describe.skipIf(!kubectl)("monitoring component (deploy/components/monitoring)", () => {
  let series: Map<string, Set<string>>;
  beforeAll(async () => {
    series = await exportedSeries();
  });
  const objects = () => render(OVERLAY);

  it("is one of the installs the install tests check", () => {
    expect(INSTALLS).toContain(OVERLAY);
  });

  it("the ServiceMonitor scrapes /metrics on the Service's port that reaches the extender", () => {
    const sm = find(objects(), "ServiceMonitor", "spark-scheduler");
    expect(sm.apiVersion).toBe("monitoring.coreos.com/v1");
    const service = find(objects(), "Service", "spark-scheduler");
    expect(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => service.metadata.labels?.[k] === v)).toBe(true);
    expect(sm.spec.namespaceSelector.matchNames).toEqual([service.metadata.namespace]);
    expect(sm.spec.endpoints).toHaveLength(1);
    const endpoint = sm.spec.endpoints[0];
    expect(endpoint.path).toBe("/metrics");
    const port = service.spec.ports.find((p: any) => p.name === endpoint.port);
    expect(port, `Service port ${endpoint.port}`).toBeDefined();
    const extender = find(objects(), "Deployment", "spark-scheduler").spec.template.spec.containers.find((c: any) => c.name === "extender");
    expect(extender.ports.map((p: any) => p.name)).toContain(port.targetPort);
    // The alerts select the job Prometheus names after the Service.
    const rule = find(objects(), "PrometheusRule", "spark-scheduler");
    expect(JSON.stringify(rule.spec)).toContain(`job=\\"${service.metadata.name}\\"`);
  });

  it("every alert has a severity, a summary and a description, and queries only exported metrics and labels", () => {
    const rule = find(objects(), "PrometheusRule", "spark-scheduler");
    const alerts = rule.spec.groups.flatMap((g: any) => g.rules);
    expect(alerts.length).toBeGreaterThanOrEqual(15);
    const names = alerts.map((a: any) => a.alert);
    expect(new Set(names).size).toBe(names.length);
    const problems: string[] = [];
    for (const a of alerts) {
      expect(a.alert, JSON.stringify(a)).toMatch(/^SparkScheduler[A-Z]\w+$/);
      expect(["critical", "warning", "info"], a.alert).toContain(a.labels?.severity);
      expect(a.annotations?.summary, a.alert).toBeTruthy();
      expect(a.annotations?.description, a.alert).toBeTruthy();
      problems.push(...checkQuery(series, `alert ${a.alert}`, a.expr));
    }
    expect(problems).toEqual([]);
  });

  it("the alerts cover what an operator must know", () => {
    const exprs = find(objects(), "PrometheusRule", "spark-scheduler")
      .spec.groups.flatMap((g: any) => g.rules)
      .map((a: any) => a.expr as string)
      .join("\n");
    for (const metric of [
      "spark_scheduler_deciding",
      "spark_scheduler_requests_total",
      "spark_scheduler_decision_queue_wait_seconds_bucket",
      "spark_scheduler_api_write_seconds_count",
      "spark_scheduler_api_write_retries_total",
      "spark_scheduler_informer_watch_failing_seconds",
      "spark_scheduler_informer_delay_seconds_bucket",
      "spark_scheduler_reservations_orphaned",
      "spark_scheduler_consistency_mismatches",
      "spark_scheduler_queue_oldest_seconds",
    ]) {
      expect(exprs, metric).toContain(metric);
    }
  });

  it("the dashboard is a Grafana dashboard in a ConfigMap for Grafana's sidecar, and queries only exported metrics and labels", () => {
    const cm = find(objects(), "ConfigMap", "spark-scheduler-dashboard");
    expect(cm.metadata.labels?.grafana_dashboard).toBe("1");
    const files = Object.keys(cm.data);
    expect(files).toEqual(["spark-scheduler.json"]);
    const dashboard = JSON.parse(cm.data[files[0]]);
    expect(dashboard).toEqual(JSON.parse(readFileSync(`${ROOT}deploy/components/monitoring/dashboard.json`, "utf8")));
    expect(dashboard.uid).toBe("spark-scheduler");
    const queries = dashboardQueries(dashboard);
    expect(queries.length).toBeGreaterThan(30);
    const problems = queries.flatMap((q) => checkQuery(series, q.where, q.expr, q.label));
    expect(problems).toEqual([]);
    const ids = (dashboard.panels as any[]).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    // What the dashboard must show (issue: queue, admissions, latencies, API writes, informers, packing, zones).
    const all = queries.map((q) => q.expr).join("\n");
    for (const metric of [
      "spark_scheduler_pending_drivers",
      "spark_scheduler_queue_oldest_seconds",
      "spark_scheduler_requests_total",
      "spark_scheduler_schedule_seconds_bucket",
      "spark_scheduler_decision_queue_wait_seconds_bucket",
      "spark_scheduler_api_write_seconds_bucket",
      "spark_scheduler_api_write_retries_total",
      "spark_scheduler_informer_delay_seconds_bucket",
      "spark_scheduler_packing_efficiency",
      "spark_scheduler_zone_fragmentation",
      "spark_scheduler_app_cross_zone_pod_pairs_sum",
    ]) {
      expect(all, metric).toContain(metric);
    }
  });

  it("a metric name or label the service does not export is caught", () => {
    expect(checkQuery(series, "q", 'rate(spark_scheduler_schedule_seconds{job="x"}[5m])')).toEqual(["q: spark_scheduler_schedule_seconds is not exported"]);
    expect(checkQuery(series, "q", 'spark_scheduler_pending_drivers{instance_groups="a"}')).toEqual(["q: spark_scheduler_pending_drivers has no label instance_groups"]);
    expect(checkQuery(series, "q", "sum by (zone) (spark_scheduler_nodes)")).toEqual(["q: no metric of sum by (zone) (spark_scheduler_nodes) has label zone"]);
  });
});
