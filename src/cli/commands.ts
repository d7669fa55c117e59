// The admin CLI's commands: each builds a request from its flags, calls one SparkSchedulerService RPC (`filter`:
// ExtenderService's Filter) and prints the response as a human-readable table or as canonical protobuf JSON.

import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { type DescMessage, type JsonObject, type JsonValue, type MessageInitShape, type MessageShape, fromJson, toJson, toJsonString } from "@bufbuild/protobuf";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import {
  FilterResponseSchema,
  GetQueuePositionResponseSchema,
  GetReservationResponseSchema,
  ListReservationsResponseSchema,
  Outcome,
  QueueState,
  type Reservation,
  SimulateBatchRequestSchema,
  SimulateBatchResponseSchema,
  type SimulateRequestSchema,
  SimulateResponseSchema,
} from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import { parseCount, parseCpu, parseMemory } from "../engine/resources.js";
import type { ExtenderClient, SchedulerClient } from "./client.js";
import * as fmt from "./format.js";

/** A mistake in the command line: printed with the command's usage, exit status 2. */
export class UsageError extends Error {}

/** An expected local failure (unreadable or malformed input file): printed without a stack, exit status 1. */
export class CliError extends Error {}

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
}

export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface CommandEnv {
  client: SchedulerClient;
  /** The state-changing ExtenderService (the `filter` command only). */
  extender: ExtenderClient;
  output: "table" | "json" | "yaml";
  /** Current time in ms since the epoch (for ages). */
  now: number;
  /** Directory that relative file arguments are resolved against. */
  cwd: string;
  write(s: string): void;
}

export interface Command {
  name: string;
  /** Positional arguments, e.g. `["NAMESPACE", "APP_ID"]`; all are required. */
  positionals: string[];
  summary: string;
  /** Full `--help` text. */
  help: string;
  options: Record<string, OptionSpec>;
  run(env: CommandEnv, values: Values, positionals: string[]): Promise<void>;
}

export const PROGRAM = "npm run cli --";

export const GLOBAL_FLAGS_HELP = `Global flags:
  --server URL                     Server base URL (default: $SPARK_SCHEDULER_URL, else http://127.0.0.1:8483;
                                   as kubectl spark: through the kubeconfig's API server, see --service)
  --service [NS/]NAME[:PORT]       Reach the service through the service proxy of the kubeconfig's API server,
                                   with the kubeconfig's credentials (default for kubectl spark:
                                   spark-scheduler/spark-scheduler:http; https:NAME:PORT for a TLS service)
  --kubeconfig FILE                Kubeconfig for --service (default: $KUBECONFIG, else ~/.kube/config)
  --context NAME                   Kubeconfig context for --service (default: the current context)
  --port-forward                   Reach the --service through \`kubectl port-forward\` ($KUBECTL, default kubectl)
                                   instead of the proxy, sending the kubeconfig's bearer token to the service
                                   (unless --token or $SPARK_SCHEDULER_TOKEN), so its access review decides
  --protocol connect|grpc|grpcweb  Wire protocol (default: connect; grpc does not pass the service proxy)
  --timeout MS                     Deadline for the call in milliseconds (default: none)
  --token TOKEN                    Bearer token for a server with access.rpc: kubernetes, e.g.
                                   $(kubectl create token NAME) (default: $SPARK_SCHEDULER_TOKEN); through
                                   the service proxy it replaces the kubeconfig's credentials instead
  -o, --output table|json|yaml     Human-readable output (default) or the RPC response as canonical
                                   protobuf JSON (int64 as strings, enums by name, defaults included),
                                   or the same as YAML
  -h, --help                       Show help`;

export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

export function list(values: Values, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

export function emit<D extends DescMessage>(env: CommandEnv, schema: D, msg: MessageShape<D>, human: () => string): void {
  if (env.output === "json") env.write(`${toJsonString(schema, msg, { alwaysEmitImplicit: true, prettySpaces: 2 })}\n`);
  else if (env.output === "yaml") env.write(toYaml(toJson(schema, msg, { alwaysEmitImplicit: true })));
  else env.write(human());
}

// ---------------------------------------------------------------------------------------------
// Input files

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Go's encoding/json matches keys case-insensitively, and so does kube-scheduler's ExtenderArgs. */
function field(obj: JsonObject, name: string): unknown {
  const key = Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : obj[key];
}

export async function readJsonFile(env: CommandEnv, file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(resolve(env.cwd, file), "utf8");
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CliError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

export interface PodFile {
  pod: JsonObject;
  /** NodeNames of an ExtenderArgs file (or the names of its Nodes list); empty for a bare Pod. */
  nodeNames: string[];
}

/** Reads a Kubernetes Pod JSON, or an ExtenderArgs JSON (`{"Pod": …, "NodeNames": […]}`). */
export async function readPodFile(env: CommandEnv, file: string): Promise<PodFile> {
  const json = await readJsonFile(env, file);
  if (!isObject(json)) throw new CliError(`${file}: expected a Pod or an ExtenderArgs JSON object`);
  const pod = field(json, "pod");
  if (pod === undefined || pod === null) {
    if (!isObject(json.metadata)) throw new CliError(`${file}: expected a Pod (with metadata) or an ExtenderArgs object (with Pod)`);
    return { pod: json, nodeNames: [] };
  }
  if (!isObject(pod)) throw new CliError(`${file}: Pod must be an object`);
  let nodeNames: string[] = [];
  const names = field(json, "nodenames");
  const nodes = field(json, "nodes");
  if (Array.isArray(names)) {
    nodeNames = names.filter((n): n is string => typeof n === "string");
  } else if (isObject(nodes) && Array.isArray(nodes.items)) {
    nodeNames = nodes.items.flatMap((n) => (isObject(n) && isObject(n.metadata) && typeof n.metadata.name === "string" ? [n.metadata.name] : []));
  }
  return { pod, nodeNames };
}

function podRef(pod: JsonObject): string {
  const meta = isObject(pod.metadata) ? pod.metadata : {};
  const ns = typeof meta.namespace === "string" && meta.namespace ? meta.namespace : "default";
  return `${ns}/${typeof meta.name === "string" ? meta.name : "?"}`;
}

// ---------------------------------------------------------------------------------------------
// reservations

function executorSlots(r: Reservation) {
  return r.slots.filter((s) => s.name !== "driver");
}

function boundExecutors(r: Reservation): string {
  const execs = executorSlots(r);
  return `${execs.filter((s) => s.pod !== "").length}/${execs.length}`;
}

function softSummary(r: Reservation): string {
  return r.maxExtraExecutors === 0 && r.softSlots.length === 0 ? "-" : `${r.softSlots.length}/${r.maxExtraExecutors}`;
}

const reservations: Command = {
  name: "reservations",
  positionals: [],
  summary: "List reservations (all namespaces, or one)",
  help: `Usage: ${PROGRAM} reservations [--namespace NS] [--output table|json]

Lists every application reservation (ListReservations), ordered by namespace then application id:
the driver pod and the node its slot is on, executor slots bound/total, soft reservations of
dynamic-allocation extra executors held/max ("-" without dynamic allocation), and age.

Flags:
  -n, --namespace NS               Only this namespace (default: all namespaces)

${GLOBAL_FLAGS_HELP}
`,
  options: { namespace: { type: "string", short: "n" } },
  async run(env, values) {
    const namespace = str(values, "namespace") ?? "";
    // Every page, so the table (and the JSON) lists all reservations as before pagination.
    const res = await env.client.listReservations({ namespace, pageSize: 1000 });
    while (res.nextPageToken) {
      const next = await env.client.listReservations({ namespace, pageSize: 1000, pageToken: res.nextPageToken });
      res.reservations.push(...next.reservations);
      res.nextPageToken = next.nextPageToken;
    }
    emit(env, ListReservationsResponseSchema, res, () => {
      if (res.reservations.length === 0) return namespace ? `No reservations in namespace ${namespace}.\n` : "No reservations.\n";
      return fmt.table(
        ["APP", "NAMESPACE", "DRIVER", "NODE", "EXECUTORS", "SOFT", "AGE"],
        res.reservations.map((r) => [
          r.appId,
          r.namespace,
          r.driverPod,
          fmt.orDash(r.slots.find((s) => s.name === "driver")?.node ?? ""),
          boundExecutors(r),
          softSummary(r),
          fmt.age(r.createdAt, env.now),
        ]),
      );
    });
  },
};

// ---------------------------------------------------------------------------------------------
// reservation

const reservation: Command = {
  name: "reservation",
  positionals: ["NAMESPACE", "APP_ID"],
  summary: "Show one application's reservation: hard slots and soft slots",
  help: `Usage: ${PROGRAM} reservation NAMESPACE APP_ID [--output table|json]

Shows the reservation of one Spark application (GetReservation): every hard slot (the driver and
executor-1 … executor-N) with its node, resources, bound pod and whether that pod is active, then the
soft reservations of dynamic-allocation extra executors. APP_ID is the spark-app-id label (or Spark's
spark-app-selector). Fails with not_found when the application has no reservation.

${GLOBAL_FLAGS_HELP}
`,
  options: {},
  async run(env, _values, [namespace, appId]) {
    const res = await env.client.getReservation({ namespace, appId });
    emit(env, GetReservationResponseSchema, res, () => {
      const r = res.reservation;
      if (!r) return "No reservation.\n";
      let out = fmt.fields([
        ["Application", `${r.namespace}/${r.appId}`],
        ["Driver pod", r.driverPod],
        ["Created", `${fmt.timestamp(r.createdAt)} (${fmt.age(r.createdAt, env.now)} ago)`],
        ["Executors", `${boundExecutors(r)} bound`],
        ["Soft slots", `${r.softSlots.length} of max ${r.maxExtraExecutors} extra executors`],
      ]);
      out += "\n";
      out += fmt.table(
        ["NAME", "NODE", "CPU", "MEMORY", "GPU", "POD", "ACTIVE"],
        r.slots.map((s) => [
          s.name,
          s.node,
          fmt.cpu(s.resources?.cpuMillis),
          fmt.memory(s.resources?.memoryBytes),
          fmt.gpus(s.resources?.gpus),
          fmt.orDash(s.pod),
          fmt.yesNo(s.active),
        ]),
      );
      if (r.softSlots.length > 0) {
        out += "\nSoft slots:\n";
        out += fmt.table(
          ["POD", "NODE", "CPU", "MEMORY", "GPU"],
          r.softSlots.map((s) => [s.pod, s.node, fmt.cpu(s.resources?.cpuMillis), fmt.memory(s.resources?.memoryBytes), fmt.gpus(s.resources?.gpus)]),
        );
      }
      return out;
    });
  },
};

// ---------------------------------------------------------------------------------------------
// queue

const queue: Command = {
  name: "queue",
  positionals: ["NAMESPACE", "DRIVER_POD"],
  summary: "Show where a pending driver stands in its FIFO queue, and why it waits",
  help: `Usage: ${PROGRAM} queue NAMESPACE DRIVER_POD [--output table|json]

Shows where a driver stands in its instance group's FIFO queue (GetQueuePosition): its state
(WAITING, ADMITTED or SCHEDULED), position and queue length, instance group, whether FIFO is
enforced for it, whether it would fit right now, why it waits, and the drivers ahead of it with
their demand (driver + minimum executors) and whether each fits in what the ones before it leave.
Fails with not_found for a pod spark-scheduler has not seen.

${GLOBAL_FLAGS_HELP}
`,
  options: {},
  async run(env, _values, [namespace, podName]) {
    const q = await env.client.getQueuePosition({ namespace, podName });
    emit(env, GetQueuePositionResponseSchema, q, () => {
      let out = fmt.fields([
        ["Driver", `${namespace}/${podName}`],
        ["State", QueueState[q.state] ?? String(q.state)],
        ["Position", q.position > 0 ? `${q.position} of ${q.queueLength}` : "-"],
        ["Instance group", fmt.orDash(q.instanceGroup)],
        ["FIFO enforced", fmt.yesNo(q.fifoEnforced)],
        ["Fits now", fmt.yesNo(q.fitsNow)],
        ["Reason", fmt.orDash(q.reason)],
        ["Ahead demand", fmt.resources(q.aheadDemand)],
      ]);
      if (q.ahead.length === 0) return `${out}\nNo drivers ahead.\n`;
      out += "\nAhead:\n";
      out += fmt.table(
        ["#", "POD", "APP", "CREATED", "CPU", "MEMORY", "GPU", "FITS"],
        q.ahead.map((e, i) => [
          String(i + 1),
          `${e.namespace}/${e.podName}`,
          e.appId,
          fmt.timestamp(e.createdAt),
          e.demand ? fmt.cpu(e.demand.cpuMillis) : "-",
          e.demand ? fmt.memory(e.demand.memoryBytes) : "-",
          e.demand ? fmt.gpus(e.demand.gpus) : "-",
          e.demand ? fmt.yesNo(e.fits) : "invalid",
        ]),
      );
      return out;
    });
  },
};

// ---------------------------------------------------------------------------------------------
// simulate

const SHAPE_FLAGS = ["driver-cpu", "driver-mem", "driver-gpu", "executor-cpu", "executor-mem", "executor-gpu", "executors"];
const REQUIRED_SHAPE_FLAGS = ["driver-cpu", "driver-mem", "executor-cpu", "executor-mem", "executors"];

export function quantity(values: Values, name: string, parse: (s: string) => number | undefined, example: string): bigint {
  const raw = str(values, name);
  if (raw === undefined) return 0n;
  const v = parse(raw);
  if (v === undefined) throw new UsageError(`--${name}: "${raw}" is not a quantity (e.g. ${example})`);
  if (v < 0) throw new UsageError(`--${name} must not be negative`);
  return BigInt(v);
}

export function nodeSelector(values: Values): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list(values, "node-selector").flatMap((s) => s.split(","))) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`--node-selector: "${item}" is not KEY=VALUE`);
    out[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return out;
}

const simulate: Command = {
  name: "simulate",
  positionals: [],
  summary: "Would an application fit now, and where? (reserves nothing)",
  help: `Usage: ${PROGRAM} simulate --driver-cpu Q --driver-mem Q --executor-cpu Q --executor-mem Q --executors N
         [--driver-gpu N] [--executor-gpu N] [--node-selector KEY=VALUE ...] [--node NAME ...] [--output table|json]
       ${PROGRAM} simulate --pod FILE.json [--node NAME ...] [--output table|json]
       ${PROGRAM} simulate --batch FILE [--output table|json|yaml]

Answers "would this application fit right now, and where?" (Simulate) against the live cluster
state, existing reservations included, without reserving anything. Prints whether it fits, the
driver's node, executor placement per node, the packing efficiency, the bin-packing algorithm and,
when it does not fit, why. The application is given either by its shape or as a driver pod.

Flags:
  --driver-cpu Q                   Driver CPU, a Kubernetes quantity (1, 1.5, 500m)
  --driver-mem Q                   Driver memory (4Gi, 512Mi, 4G; Spark's 4g and 512m work too)
  --driver-gpu N                   Driver nvidia.com/gpu count (default 0)
  --executor-cpu Q                 CPU of one executor
  --executor-mem Q                 Memory of one executor
  --executor-gpu N                 nvidia.com/gpu count of one executor (default 0)
  --executors N                    Number of executors to reserve
  --node-selector KEY=VALUE        Restrict driver and executors to nodes with this label (repeatable,
                                   or comma-separated)
  --pod FILE.json                  Use this driver pod (with the usual spark-* annotations) instead of
                                   the shape flags: a Pod JSON, or an ExtenderArgs JSON whose Pod is used
  --node NAME                      Only consider NAME for the driver (repeatable; default: every
                                   eligible node)
  --batch FILE                     Several applications in submission order (SimulateBatch): a YAML or
                                   JSON file holding a list of SimulatedApplication objects in protobuf
                                   JSON form (or {"applications": [...]}), e.g.
                                   [{name: etl, shape: {driver: {cpuMillis: 4000, memoryBytes: 17179869184},
                                     executor: {...}, executorCount: 8}}, {name: b, sparkProperties: "..."}];
                                   prints one row per application: admitted, driver node, queue position,
                                   the applications it would block, whether it fits an empty cluster, why not

${GLOBAL_FLAGS_HELP}
`,
  options: {
    "driver-cpu": { type: "string" },
    "driver-mem": { type: "string" },
    "driver-gpu": { type: "string" },
    "executor-cpu": { type: "string" },
    "executor-mem": { type: "string" },
    "executor-gpu": { type: "string" },
    executors: { type: "string" },
    "node-selector": { type: "string", multiple: true },
    pod: { type: "string" },
    node: { type: "string", multiple: true },
    batch: { type: "string" },
  },
  async run(env, values) {
    const batchFile = str(values, "batch");
    if (batchFile !== undefined) return simulateBatch(env, values, batchFile);
    const req: MessageInitShape<typeof SimulateRequestSchema> = { nodeNames: list(values, "node") };
    const podFile = str(values, "pod");
    if (podFile !== undefined) {
      const extra = [...SHAPE_FLAGS, "node-selector"].filter((f) => values[f] !== undefined);
      if (extra.length > 0) throw new UsageError(`--pod cannot be combined with ${extra.map((f) => `--${f}`).join(", ")}`);
      req.pod = (await readPodFile(env, podFile)).pod;
    } else {
      const missing = REQUIRED_SHAPE_FLAGS.filter((f) => values[f] === undefined);
      if (missing.length > 0) throw new UsageError(`missing ${missing.map((f) => `--${f}`).join(", ")} (or give --pod FILE.json)`);
      const executors = str(values, "executors")!;
      if (!/^\d+$/.test(executors) || Number(executors) > 2 ** 31 - 1) throw new UsageError(`--executors: "${executors}" is not a whole number`);
      req.driver = {
        cpuMillis: quantity(values, "driver-cpu", parseCpu, "1, 1.5, 500m"),
        memoryBytes: quantity(values, "driver-mem", parseMemory, "4Gi, 512Mi"),
        gpus: quantity(values, "driver-gpu", parseCount, "1"),
      };
      req.executor = {
        cpuMillis: quantity(values, "executor-cpu", parseCpu, "1, 1.5, 500m"),
        memoryBytes: quantity(values, "executor-mem", parseMemory, "4Gi, 512Mi"),
        gpus: quantity(values, "executor-gpu", parseCount, "1"),
      };
      req.executorCount = Number(executors);
      req.nodeSelector = nodeSelector(values);
    }
    const res = await env.client.simulate(req);
    emit(env, SimulateResponseSchema, res, () =>
      fmt.fields([
        ["Fits", fmt.yesNo(res.fits)],
        ["Driver node", fmt.orDash(res.driverNode)],
        ["Executors", res.executorNodes.length === 0 ? "none" : `${res.executorNodes.length}: ${fmt.placement(res.executorNodes)}`],
        ["Efficiency", fmt.percent(res.packingEfficiency)],
        ["Binpack", fmt.orDash(res.binpack)],
        ["Reason", fmt.orDash(res.reason)],
      ]),
    );
  },
};

async function simulateBatch(env: CommandEnv, values: Values, file: string): Promise<void> {
  const extra = [...SHAPE_FLAGS, "node-selector", "pod", "node"].filter((f) => values[f] !== undefined);
  if (extra.length > 0) throw new UsageError(`--batch cannot be combined with ${extra.map((f) => `--${f}`).join(", ")}`);
  let text: string;
  try {
    text = await readFile(resolve(env.cwd, file), "utf8");
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text); // YAML 1.2 reads JSON too
  } catch (e) {
    throw new CliError(`${file} is not valid YAML or JSON: ${(e as Error).message}`);
  }
  const json = Array.isArray(doc) ? { applications: doc } : doc;
  let req;
  try {
    req = fromJson(SimulateBatchRequestSchema, json as JsonValue);
  } catch (e) {
    throw new CliError(`${file}: not a list of applications: ${(e as Error).message}`);
  }
  const res = await env.client.simulateBatch(req);
  emit(env, SimulateBatchResponseSchema, res, () =>
    fmt.table(
      ["NAME", "ADMITTED", "DRIVER NODE", "EXECUTORS", "POSITION", "BLOCKS", "FITS EMPTY", "REASON"],
      res.results.map((r) => [
        r.name,
        fmt.yesNo(r.admitted),
        fmt.orDash(r.driverNode),
        r.admitted ? fmt.placement(r.executorNodes) : "-",
        r.queuePosition > 0 ? String(r.queuePosition) : "-",
        r.blocks.length > 0 ? r.blocks.join(",") : "-",
        fmt.yesNo(r.fitsEmptyCluster),
        fmt.orDash(r.reason),
      ]),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// filter

const filter: Command = {
  name: "filter",
  positionals: ["FILE.json"],
  summary: "Run one extender filter call (CHANGES STATE: may reserve or bind)",
  help: `Usage: ${PROGRAM} filter FILE.json [--node NAME ...] [--output table|json]

Sends one kube-scheduler extender filter call (ExtenderService.Filter) and prints the outcome, the chosen node and,
on failure, the reason. FILE.json is an ExtenderArgs body as kube-scheduler posts it to
/predicates ({"Pod": {...}, "NodeNames": [...]}, e.g. examples/requests/*.json) or a bare Pod JSON.

This CHANGES STATE, exactly like a call from kube-scheduler: an admitted driver gets a
ResourceReservation and an executor is bound to a reserved slot. Use simulate for a read-only
what-if. A failed placement (e.g. FAILURE_FIT) is a normal answer and exits 0.

Flags:
  --node NAME                      Offer this node (repeatable); replaces the file's NodeNames and is
                                   required for a bare Pod

${GLOBAL_FLAGS_HELP}
`,
  options: { node: { type: "string", multiple: true } },
  async run(env, values, [file]) {
    const { pod, nodeNames: fromFile } = await readPodFile(env, file);
    const flagged = list(values, "node");
    const nodeNames = flagged.length > 0 ? flagged : fromFile;
    if (nodeNames.length === 0) throw new UsageError(`${file} lists no NodeNames: offer nodes with --node NAME`);
    const res = await env.extender.filter({ pod, nodeNames });
    emit(env, FilterResponseSchema, res, () => {
      const pairs: [string, string][] = [
        ["Pod", podRef(pod)],
        ["Outcome", Outcome[res.outcome] ?? String(res.outcome)],
        ["Node", fmt.orDash(res.nodeName)],
        ["Reason", fmt.orDash(res.reason)],
      ];
      const failed = Object.entries(res.failedNodes);
      // Every node usually carries one reason: the full one, or a short one when the full one is long.
      const sameReason = failed.every(([, why]) => why === failed[0][1]);
      if (failed.length > 0 && sameReason) {
        pairs.push(["Rejected", failed.map(([n]) => n).join(", ")]);
        if (failed[0][1] !== res.reason) pairs.push(["Node reason", failed[0][1]]);
      }
      let out = fmt.fields(pairs);
      if (failed.length > 0 && !sameReason) out += `\n${fmt.table(["NODE", "REASON"], failed)}`;
      return out;
    });
  },
};

export const COMMANDS: readonly Command[] = [reservations, reservation, queue, simulate, filter];
