// The live web view: nodes per zone coloured by reserved / overhead / free, the queue of every instance group
// with each driver's reason, and the reservations. It uses the generated SparkSchedulerService client over the
// Connect protocol on the page's own origin, keeps WatchReservations and WatchQueue open, and re-reads the
// node capacities (ListNodes) after reservation changes. Built into web/dist/app.js by `npm run build:web`.

import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import {
  ChangeType,
  type NodeUsage,
  type QueuedDriver,
  type Reservation,
  type Resources,
  SparkSchedulerService,
} from "../gen/sparkscheduler/v1/scheduler_pb.js";

// With `access.rpc: kubernetes` every call needs a bearer token: open the page as `/ui#token=<token>`. The token
// is moved from the address bar into this tab's sessionStorage (so it is not left in the history) and sent as
// `Authorization: Bearer` on every call.
const fragmentToken = new URLSearchParams(location.hash.slice(1)).get("token");
if (fragmentToken) {
  sessionStorage.setItem("spark-scheduler-token", fragmentToken);
  history.replaceState(null, "", location.pathname + location.search);
}
const token = sessionStorage.getItem("spark-scheduler-token");
const transport = createConnectTransport({
  baseUrl: location.origin,
  interceptors: token
    ? [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${token}`);
          return next(req);
        },
      ]
    : [],
});
const client = createClient(SparkSchedulerService, transport);

const nodes = new Map<string, NodeUsage>();
const reservations = new Map<string, Reservation>();
const queued = new Map<string, QueuedDriver>();

function $(id: string): HTMLElement {
  return document.getElementById(id)!;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function setStatus(state: "connecting" | "live" | "error", text: string): void {
  const s = $("status");
  s.dataset.state = state;
  s.textContent = text;
}

const GiB = 2 ** 30;
function cpu(m: bigint | undefined): string {
  const v = Number(m ?? 0n) / 1000;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}
function mem(b: bigint | undefined): string {
  const v = Number(b ?? 0n) / GiB;
  return `${Number.isInteger(v) ? v : v.toFixed(1)}Gi`;
}
function demand(r: Resources | undefined): string {
  return r ? `${cpu(r.cpuMillis)} cpu, ${mem(r.memoryBytes)}${r.gpus > 0n ? `, ${r.gpus} gpu` : ""}` : "-";
}
function age(seconds: bigint | number): string {
  const s = Number(seconds);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** One stacked bar: share of allocatable that is reserved, overhead, free. */
function bar(label: string, alloc: bigint, reserved: bigint, overhead: bigint, fmt: (v: bigint) => string): HTMLElement {
  const total = Number(alloc) || 1;
  const pct = (v: bigint) => `${Math.min(100, Math.max(0, (Number(v) / total) * 100)).toFixed(1)}%`;
  const r = el("div", { class: "reserved" });
  r.style.width = pct(reserved);
  const o = el("div", { class: "overhead" });
  o.style.width = pct(overhead);
  return el(
    "div",
    { title: `${label}: ${fmt(reserved)} reserved, ${fmt(overhead)} overhead, ${fmt(alloc - reserved - overhead)} free of ${fmt(alloc)}` },
    el("div", { class: "bar-label" }, `${label} ${fmt(reserved + overhead)}/${fmt(alloc)}`),
    el("div", { class: "bar" }, r, o),
  );
}

function renderNodes(): void {
  const byZone = new Map<string, NodeUsage[]>();
  for (const n of [...nodes.values()].sort((a, b) => (a.nodeName < b.nodeName ? -1 : 1))) {
    const list = byZone.get(n.zone) ?? [];
    list.push(n);
    byZone.set(n.zone, list);
  }
  const zones = $("zones");
  zones.replaceChildren();
  for (const zone of [...byZone.keys()].sort()) {
    const grid = el("div", { class: "grid" });
    for (const n of byZone.get(zone)!) {
      grid.append(
        el(
          "div",
          { class: "node", "data-node": n.nodeName, "data-schedulable": String(n.schedulable) },
          el("div", { class: "name", title: n.instanceGroup ? `instance group ${n.instanceGroup}` : "" }, n.nodeName),
          bar("cpu", n.allocatable?.cpuMillis ?? 0n, n.reserved?.cpuMillis ?? 0n, n.overhead?.cpuMillis ?? 0n, cpu),
          bar("mem", n.allocatable?.memoryBytes ?? 0n, n.reserved?.memoryBytes ?? 0n, n.overhead?.memoryBytes ?? 0n, mem),
        ),
      );
    }
    zones.append(el("h3", {}, `zone ${zone} (${byZone.get(zone)!.length} nodes)`), grid);
  }
}

function renderQueues(): void {
  const groups = new Map<string, QueuedDriver[]>();
  for (const d of queued.values()) {
    const list = groups.get(d.instanceGroup) ?? [];
    list.push(d);
    groups.set(d.instanceGroup, list);
  }
  const box = $("queue-groups");
  box.replaceChildren();
  if (groups.size === 0) box.append(el("p", { class: "empty" }, "No pending drivers."));
  const now = Date.now() / 1000;
  for (const group of [...groups.keys()].sort()) {
    const rows = groups.get(group)!.sort((a, b) => a.position - b.position);
    const body = el("tbody");
    for (const d of rows) {
      const e = d.entry!;
      const created = e.createdAt ? Number(e.createdAt.seconds) : now;
      body.append(
        el(
          "tr",
          { "data-pod": `${e.namespace}/${e.podName}`, "data-blocking": String(d.blocking) },
          el("td", {}, String(d.position)),
          el("td", {}, `${e.namespace}/${e.podName}`),
          el("td", {}, e.appId),
          el("td", {}, age(Math.max(0, Math.floor(now - created)))),
          el("td", {}, demand(e.demand)),
          el("td", { class: "reason" }, d.reason),
        ),
      );
    }
    const table = el(
      "table",
      { "data-instance-group": group },
      el("thead", {}, el("tr", {}, ...["#", "Driver", "Application", "Age", "Demand", "Reason"].map((h) => el("th", {}, h)))),
      body,
    );
    box.append(el("h3", {}, `instance group ${group || "(none)"}: ${rows.length} pending`), table);
  }
}

function renderReservations(): void {
  const body = $("reservation-rows");
  body.replaceChildren();
  const list = [...reservations.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  $("no-reservations").hidden = list.length > 0;
  for (const r of list) {
    const execs = r.slots.filter((s) => s.name !== "driver");
    const bound = execs.filter((s) => s.pod !== "").length;
    const nodeSet = new Set(r.slots.map((s) => s.node));
    body.append(
      el(
        "tr",
        { "data-app": `${r.namespace}/${r.appId}` },
        el("td", {}, r.appId),
        el("td", {}, r.namespace),
        el("td", {}, r.driverPod),
        el("td", {}, r.slots.find((s) => s.name === "driver")?.node ?? "-"),
        el("td", {}, `${bound}/${execs.length} bound${r.softSlots.length > 0 ? `, ${r.softSlots.length} soft` : ""}`),
        el("td", {}, [...nodeSet].sort().join(", ")),
      ),
    );
  }
}

async function loadNodes(): Promise<void> {
  const next = new Map<string, NodeUsage>();
  let pageToken = "";
  do {
    const page = await client.listNodes({ pageSize: 5000, pageToken });
    for (const n of page.nodes) next.set(n.nodeName, n);
    pageToken = page.nextPageToken;
  } while (pageToken);
  nodes.clear();
  for (const [k, v] of next) nodes.set(k, v);
  renderNodes();
}

/** Re-reads node capacity at most every 500 ms while reservations change. */
let nodesTimer: ReturnType<typeof setTimeout> | undefined;
function refreshNodesSoon(): void {
  nodesTimer ??= setTimeout(() => {
    nodesTimer = undefined;
    loadNodes().catch(() => setStatus("error", "cannot read nodes"));
  }, 500);
}

/** Keeps a watch open, re-opening it after an error with a growing delay (1 s to 30 s). */
async function keepWatching(name: string, run: () => Promise<void>): Promise<void> {
  let delay = 1000;
  for (;;) {
    try {
      await run();
      delay = 1000;
    } catch (e) {
      setStatus("error", `${name}: ${(e as Error).message}; reconnecting`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(30_000, delay * 2);
  }
}

async function watchReservations(): Promise<void> {
  let synced = false;
  for await (const ev of client.watchReservations({})) {
    if (ev.type === ChangeType.SYNCED) {
      synced = true;
      setStatus("live", "live");
    } else if (ev.reservation) {
      const key = ev.reservation.name;
      if (ev.type === ChangeType.REMOVED) reservations.delete(key);
      else reservations.set(key, ev.reservation);
    }
    if (synced) {
      renderReservations();
      refreshNodesSoon();
    }
  }
}

async function watchQueue(): Promise<void> {
  let synced = false;
  for await (const ev of client.watchQueue({})) {
    if (ev.type === ChangeType.SYNCED) synced = true;
    else if (ev.driver) {
      if (ev.type === ChangeType.REMOVED) queued.delete(ev.driver.name);
      else queued.set(ev.driver.name, ev.driver);
    }
    if (synced) renderQueues();
  }
}

// A re-opened watch starts with the full state again: forget the old one on each (re)connect.
void loadNodes().catch(() => setStatus("error", "cannot read nodes"));
void keepWatching("reservations", () => {
  reservations.clear();
  return watchReservations();
});
void keepWatching("queue", () => {
  queued.clear();
  return watchQueue();
});
