// Admin CLI commands of the second API generation: explain (ExplainPod), queues (ListQueues) and watch
// (WatchQueue / WatchReservations).

import { type DescMessage, type MessageShape, toJson, toJsonString } from "@bufbuild/protobuf";
import { stringify as toYaml } from "yaml";
import {
  ChangeType,
  ExplainPodResponseSchema,
  ListQueuesResponseSchema,
  NodeVerdict,
  Outcome,
  type Shortfall,
  WatchQueueResponseSchema,
  WatchReservationsResponseSchema,
} from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import { type Command, GLOBAL_FLAGS_HELP, PROGRAM, UsageError, emit, list, str } from "./commands.js";
import * as fmt from "./format.js";

function amount(resource: string, v: bigint): string {
  return resource === "cpu" ? fmt.cpu(v) : resource === "memory" ? fmt.memory(v) : String(v);
}

/** The shortfall block shared by explain's output. */
export function printShortfall(s: Shortfall): string {
  let out = fmt.fields([
    ["Fits", fmt.yesNo(s.fits)],
    ["Demand", fmt.resources(s.demand)],
    ["Free (eligible)", fmt.resources(s.free)],
    ["Missing", fmt.resources(s.missing)],
    ["Executors", `${s.executorsPlaceable} of ${s.executorsRequired} placeable next to the driver`],
    ["Closest zone", s.closestZone ? `${s.closestZone.zone} (${s.closestZone.executorsPlaceable} of ${s.executorsRequired} executors)` : "-"],
  ]);
  if (s.resources.length > 0) {
    out += "\n" + fmt.table(
      ["RESOURCE", "MISSING", "NODES SHORT", "PER POD", "LARGEST FREE"],
      s.resources.map((r) => [r.resource, amount(r.resource, r.missing), String(r.nodesShort), amount(r.resource, r.perPod), amount(r.resource, r.largestFree)]),
    );
  }
  return out;
}

const explain: Command = {
  name: "explain",
  positionals: ["NAMESPACE", "POD"],
  summary: "Why a Spark pod waits: grouped node reasons, shortfall, FIFO blockers",
  help: `Usage: ${PROGRAM} explain NAMESPACE POD [--output table|json|yaml]

Explains a driver or executor pod (ExplainPod): the decision the engine would take now if every
node were offered (nothing is reserved), every node's verdict grouped by reason with node counts,
the application's shortfall per resource and the zone where it comes closest, and with FIFO the
earlier drivers that do not fit. Fails with not_found for a pod spark-scheduler has not seen.

${GLOBAL_FLAGS_HELP}
`,
  options: {},
  async run(env, _values, [namespace, podName]) {
    const x = await env.client.explainPod({ namespace, podName });
    emit(env, ExplainPodResponseSchema, x, () => {
      let out = fmt.fields([
        ["Pod", `${namespace}/${podName} (${x.role}, app ${x.appId})`],
        ["Instance group", fmt.orDash(x.instanceGroup)],
        ["Decision", Outcome[x.outcome] ?? String(x.outcome)],
        ["Node", fmt.orDash(x.nodeName)],
        ["Reason", fmt.orDash(x.reason)],
        ["Queue", x.queuePosition > 0 ? `${x.queuePosition} of ${x.queueLength}` : "-"],
      ]);
      if (x.nodeGroups.length > 0) {
        out += `\nNodes (${x.totalNodes}):\n`;
        out += fmt.table(
          ["NODES", "VERDICT", "REASON", "LARGEST FREE"],
          x.nodeGroups.map((g) => [String(g.nodeCount), NodeVerdict[g.verdict] ?? "", g.reason, g.largestFree ? fmt.resources(g.largestFree) : "-"]),
        );
      }
      if (x.shortfall) out += `\nShortfall: ${x.shortfall.summary}\n${printShortfall(x.shortfall)}`;
      if (x.blockers.length > 0) {
        out += "\nBlocked by (FIFO):\n";
        out += fmt.table(
          ["DRIVER", "CREATED", "BLOCKING", "DEMAND", "SHORTFALL"],
          x.blockers.map((b) => [
            `${b.entry?.namespace}/${b.entry?.podName}`,
            fmt.timestamp(b.entry?.createdAt),
            fmt.yesNo(b.blocking),
            fmt.resources(b.entry?.demand),
            b.shortfall?.summary ?? "-",
          ]),
        );
      }
      return out;
    });
  },
};

const queues: Command = {
  name: "queues",
  positionals: [],
  summary: "List instance-group queues: length, oldest, head and why it waits",
  help: `Usage: ${PROGRAM} queues [--output table|json|yaml]

Lists every instance group's queue (ListQueues, all pages): pending drivers, age of the oldest,
the head and why it waits, and how many drivers this replica admitted and refused.

${GLOBAL_FLAGS_HELP}
`,
  options: {},
  async run(env) {
    const res = await env.client.listQueues({ pageSize: 1000 });
    while (res.nextPageToken) {
      const next = await env.client.listQueues({ pageSize: 1000, pageToken: res.nextPageToken });
      res.queues.push(...next.queues);
      res.nextPageToken = next.nextPageToken;
    }
    emit(env, ListQueuesResponseSchema, res, () => {
      if (res.queues.length === 0) return "No queues.\n";
      return fmt.table(
        ["INSTANCE GROUP", "PENDING", "OLDEST", "HEAD", "ADMITTED", "REFUSED", "HEAD REASON"],
        res.queues.map((q) => [
          q.instanceGroup || "-",
          String(q.length),
          q.length > 0 ? fmt.age(q.oldestCreatedAt, env.now) : "-",
          q.head ? `${q.head.namespace}/${q.head.podName}` : "-",
          String(q.admittedCount),
          String(q.refusedCount),
          fmt.orDash(q.headReason),
        ]),
      );
    });
  },
};

const watch: Command = {
  name: "watch",
  positionals: ["queue|reservations"],
  summary: "Stream the pending drivers or the reservations: initial state, then changes",
  help: `Usage: ${PROGRAM} watch queue [--instance-group G ...] [--count N] [--output table|json|yaml]
       ${PROGRAM} watch reservations [--namespace NS] [--count N] [--output table|json|yaml]

Streams WatchQueue or WatchReservations: one ADDED line per object of the initial state, a SYNCED
line, then ADDED / MODIFIED / REMOVED lines as things change, until interrupted or --count messages.
With -o json every message is one line of protobuf JSON; with -o yaml one YAML document each.

Flags:
  --instance-group G               Only this instance group's queue (repeatable; "-" for drivers without one)
  -n, --namespace NS               Only reservations of this namespace
  --count N                        Stop after N messages (SYNCED included)

${GLOBAL_FLAGS_HELP}
`,
  options: { "instance-group": { type: "string", multiple: true }, namespace: { type: "string", short: "n" }, count: { type: "string" } },
  async run(env, values, [kind]) {
    if (kind !== "queue" && kind !== "reservations") throw new UsageError(`watch takes queue or reservations, not "${kind}"`);
    const rawCount = str(values, "count");
    if (rawCount !== undefined && !/^[1-9]\d*$/.test(rawCount)) throw new UsageError(`--count: "${rawCount}" is not a positive whole number`);
    const limit = rawCount === undefined ? Infinity : Number(rawCount);
    const change = (t: ChangeType) => (ChangeType[t] ?? String(t)).padEnd(8);
    let seen = 0;
    // One line (or YAML document) per message as it arrives, so a pipe sees each change at once.
    const out = <D extends DescMessage>(schema: D, msg: MessageShape<D>, line: string) => {
      if (env.output === "json") env.write(`${toJsonString(schema, msg, { alwaysEmitImplicit: true })}\n`);
      else if (env.output === "yaml") env.write(`---\n${toYaml(toJson(schema, msg, { alwaysEmitImplicit: true }))}`);
      else env.write(`${line.trimEnd()}\n`);
    };
    if (kind === "queue") {
      for await (const m of env.client.watchQueue({ instanceGroups: list(values, "instance-group") })) {
        const d = m.driver;
        const line = d ? `${change(m.type)} ${d.entry?.namespace}/${d.entry?.podName}   group=${d.instanceGroup || "-"}   position=${d.position}   ${d.reason}` : change(m.type);
        out(WatchQueueResponseSchema, m, line);
        if (++seen >= limit) break;
      }
    } else {
      for await (const m of env.client.watchReservations({ namespace: str(values, "namespace") ?? "" })) {
        const r = m.reservation;
        const line = r ? `${change(m.type)} ${r.namespace}/${r.appId}   driver=${r.driverPod}   slots=${r.slots.length}` : change(m.type);
        out(WatchReservationsResponseSchema, m, line);
        if (++seen >= limit) break;
      }
    }
  },
};

export const V2_COMMANDS: readonly Command[] = [explain, queues, watch];
