// A seeded storm of malformed and hostile requests on every route, over real HTTP: `/predicates`, every RPC of
// both Connect services (Connect JSON and binary, Connect streaming, gRPC-Web, gRPC over h2c) and `/convert`.
// Every input is bad (each valid template gets at least one mutation that makes it invalid), so after the storm:
// nothing crashed or logged a handler failure, no answer was a server error (HTTP 5xx, or an INTERNAL / UNKNOWN /
// DATA_LOSS / UNAVAILABLE / DEADLINE_EXCEEDED status; an unsupported compression's UNIMPLEMENTED, the protocols'
// negotiation answer, excepted) or hung, the state is exactly what it was, and the service
// still schedules. The request count is fixed by the seed, not by a clock.

import * as http2 from "node:http2";
import { Writable } from "node:stream";
import { type DescMessage, type DescService, create, toBinary } from "@bufbuild/protobuf";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExtenderService, SparkSchedulerService } from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import { type TestApp, example, postJson, startTestApp } from "./app-harness.js";

/** mulberry32: a small seeded PRNG, so a failure replays exactly. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = 20261203;
const rand = rng(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function bytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = int(256);
  return b;
}

/** Values of every JSON type, edge numbers and hostile strings. */
const PALETTE: unknown[] = [
  null, true, false, 0, -1, 1, 0.5, 1e308, -1e308, 2 ** 53 + 1, "", "x", "0", "-1", "1e10", "1e9", "2E", "1Ei", "NaN",
  "Infinity", "4 cores", "\u0000", "\ud800", "x".repeat(2000), "9".repeat(400), [], [null], [[[]]], {}, { a: {} },
  "2026-02-30T00:00:00Z", "../../etc/passwd", "<script>", "%s%n",
];

function randomJson(depth = 0): unknown {
  const r = int(depth > 3 ? 3 : 6);
  if (r === 0) return pick(PALETTE);
  if (r === 1) return int(2) ? rand() * 1e12 - 5e11 : -int(1000);
  if (r === 2) return String.fromCharCode(...Array.from({ length: int(20) }, () => int(0xffff)));
  if (r === 3) return Array.from({ length: int(4) }, () => randomJson(depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = int(4); i > 0; i--) o[pick(["Pod", "NodeNames", "pod", "nodeNames", "namespace", "appId", "kind", "request", "x", "__proto__", "constructor"])] = randomJson(depth + 1);
  return o;
}

/** A body that is not what any route expects: bytes, text, truncated or deeply nested JSON. */
function garbage(): string | Uint8Array {
  switch (int(6)) {
    case 0:
      return bytes(int(300));
    case 1:
      return JSON.stringify(randomJson());
    case 2: {
      const s = JSON.stringify(example(pick(["driver-etl", "executor-etl-1", "driver-too-big"])));
      return s.slice(0, int(s.length));
    }
    case 3:
      return "[".repeat(1 + int(5000)) + "]".repeat(int(3));
    case 4:
      return pick(["", " ", "null", "{", "}", '{"Pod":', "\u0000", "true", '"str"', "[]"]);
    default:
      return `{"Pod": ${"{".repeat(int(200))}}`;
  }
}

/** Sets `value` at a random path of a JSON object (creating nothing new below non-objects). */
function noise(obj: any): void {
  let at = obj;
  for (let d = 0; d < 4 && at && typeof at === "object"; d++) {
    const keys = Object.keys(at);
    if (keys.length === 0 || int(3) === 0) break;
    const k = pick(keys);
    if (!at[k] || typeof at[k] !== "object" || int(3) === 0) {
      // never touch what makes the pod invalid later: only `noise` runs before `breakPod`
      at[k] = pick(PALETTE);
      return;
    }
    at = at[k];
  }
}

type Pod = Record<string, any>;
const isObj = (v: unknown): v is Record<string, any> => v !== null && typeof v === "object" && !Array.isArray(v);
/** The pod's spec, made an object first. */
const spec = (p: Pod): Record<string, any> => (isObj(p.spec) ? p.spec : (p.spec = {}));
/** Changes that make any pod invalid for scheduling (each is refused: HTTP 400, or a reason for every node). */
const BREAKERS: ((pod: Pod) => void)[] = [
  (p) => (p.metadata.creationTimestamp = pick(["garbage", "0000-01-01T00:00:00Z", "2026-02-30T00:00:00Z", -1e308, 0, "2026-11-25"])),
  (p) => (p.metadata.labels = pick([["spark-role"], "driver", 5])),
  (p) => (p.spec = pick([5, "x", [], true])), // (null is Kubernetes' "unset", not malformed)
  (p) => (spec(p).nodeSelector = pick(["resource_channel=batch", 5, ["a"]])),
  (p) => (spec(p).tolerations = pick(["x", 5, {}])),
  (p) => (spec(p).affinity = { nodeAffinity: pick(["x", 5, []]) }),
  (p) => (spec(p).containers = pick([{}, "x", 5])),
  (p) => (p.metadata.namespace = pick([5, true, {}, []])),
  (p) => (p.metadata.name = pick(["", 5, null, "x".repeat(300)])),
  (p) => (p.metadata = pick([5, "x", [], null])),
  (p) => {
    // A new application's driver whose size cannot be read (never one that reads as a valid, merely large, size;
    // counts are quantities, so "1.5" is a valid count of 2). A new one: an admitted application's driver gets its
    // reserved node back whatever its annotations say.
    const app = `fuzz-${int(1e9)}`;
    p.metadata.name = `${app}-driver`;
    p.metadata.uid = `${app}-uid`;
    p.metadata.labels = { ...(isObj(p.metadata.labels) ? p.metadata.labels : {}), "spark-role": "driver", "spark-app-id": app };
    const annotations = isObj(p.metadata.annotations) ? p.metadata.annotations : {};
    const count = int(2) === 0;
    const key = count ? pick(["spark-executor-count"]) : pick(["spark-executor-cpu", "spark-executor-mem", "spark-driver-cpu", "spark-driver-mem"]);
    const value = count ? pick(["abc", "-1", "1e10", "", 5, true, null]) : pick(["abc", "4 cores", "1e", "0x10", "+-1", "", 5, true, null, "4gb"]);
    p.metadata.annotations = { ...annotations, [key]: value };
  },
];

/** A valid extender template, noised, then broken. */
function badPod(): Pod {
  const pod = clone(example(pick(["driver-etl", "executor-etl-1", "driver-too-big"])).Pod);
  for (let i = int(3); i > 0; i--) noise(pod);
  if (pod.metadata === null || typeof pod.metadata !== "object" || Array.isArray(pod.metadata)) pod.metadata = {};
  pick(BREAKERS)(pod);
  return pod;
}

/** A bad ExtenderArgs body: garbage, a broken pod, or bad NodeNames. */
function badExtenderArgs(): string | Uint8Array {
  const r = int(10);
  if (r < 3) return garbage();
  const body = clone(example("driver-etl"));
  if (r < 5) {
    body.NodeNames = pick([[], [5], "node-a1", ["x".repeat(300)], [null], {}, [""]]);
    if (int(2)) body.Pod.metadata.name = `fuzz-${int(1e6)}`;
    return JSON.stringify(body);
  }
  body.Pod = r === 5 ? pick([undefined, 5, "x", [], null]) : badPod();
  return JSON.stringify(body);
}

function badConversionReview(): string | Uint8Array {
  if (int(3) === 0) return garbage();
  const review: any = {
    apiVersion: pick(["apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1", "v1", 5]),
    kind: pick(["ConversionReview", "ConversionReview", "Pod", undefined]),
    request: {
      uid: pick(["u1", "", 5, undefined]),
      desiredAPIVersion: pick(["sparkscheduler.palantir.com/v1beta1", "sparkscheduler.palantir.com/v1beta2", "v9", "", undefined]),
      objects: Array.from({ length: int(4) }, () => (int(2) ? randomJson() : { apiVersion: "sparkscheduler.palantir.com/v1beta2", kind: "ResourceReservation", metadata: randomJson(), spec: randomJson() })),
    },
  };
  if (int(4) === 0) review.request = randomJson();
  return JSON.stringify(review);
}

// ---------------------------------------------------------------------------------------------
// RPC bodies

/** A JSON request for a method: garbage, wrong field types, unknown fields, or (Filter) a broken pod. */
function badRpcJson(svc: DescService, input: DescMessage): string | Uint8Array {
  const r = int(8);
  if (r < 2) return garbage();
  const msg: Record<string, unknown> = {};
  for (const f of input.fields) if (int(2)) msg[f.jsonName] = int(3) ? pick(PALETTE) : randomJson();
  if (r === 2) msg[pick(["unknownField", "x", "@type"])] = randomJson();
  if (svc === ExtenderService) {
    // Filter: never a valid pod with valid nodes; a broken one, or none.
    msg.pod = int(4) ? badPod() : pick([undefined, 5, "x", []]);
    if (int(2)) msg.nodeNames = pick([["node-a1"], [], [5], "node-a1"]);
  }
  return JSON.stringify(msg);
}

/** A binary request: random bytes, or a valid encoding with bytes flipped or cut (Filter: of a broken pod). */
function badRpcBinary(svc: DescService, input: DescMessage): Uint8Array {
  if (svc === ExtenderService || int(2)) return bytes(int(200));
  const valid = toBinary(input, create(input));
  const out = Uint8Array.from([...valid, ...bytes(1 + int(40))]);
  for (let i = int(4); i > 0; i--) out[int(out.length)] = int(256);
  return out.subarray(0, 1 + int(out.length));
}

/** gRPC / gRPC-Web / Connect-streaming envelopes: wrong flags, lengths past the end, garbage payloads. */
function badEnvelopes(payload: Uint8Array): Uint8Array {
  const flags = pick([0, 0, 1, 2, 0x80, 0xff]);
  const len = pick([payload.length, payload.length + 1 + int(100), 0xffffffff, int(10)]);
  const head = new Uint8Array(5);
  head[0] = flags;
  new DataView(head.buffer).setUint32(1, len >>> 0);
  const env = Uint8Array.from([...head, ...payload]);
  return int(4) === 0 ? env.subarray(0, int(env.length)) : env;
}

// ---------------------------------------------------------------------------------------------
// Sending and judging

const FORBIDDEN_CONNECT = new Set(["internal", "unknown", "data_loss", "unavailable", "deadline_exceeded"]);
/** gRPC status codes that are server errors: UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS. */
const FORBIDDEN_GRPC = new Set([2, 4, 13, 14, 15]);

interface Verdict {
  what: string;
  problem?: string;
}

/** The statuses inside a gRPC-Web or Connect-streaming body (their trailers / end-stream message). */
function bodyStatus(type: string, body: Uint8Array): string | undefined {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  for (let off = 0; off + 5 <= body.length; ) {
    const flags = body[off];
    const len = view.getUint32(off + 1);
    const payload = Buffer.from(body.subarray(off + 5, off + 5 + len)).toString("utf8");
    if (type.startsWith("application/grpc-web") && flags & 0x80) return /grpc-status:\s*(\d+)/i.exec(payload)?.[1];
    if (type.startsWith("application/connect") && flags & 0x02) {
      const code = (JSON.parse(payload) as { error?: { code?: string } }).error?.code;
      return code ?? "ok";
    }
    off += 5 + len;
  }
  return undefined;
}

async function send(base: string, what: string, path: string, contentType: string, body: string | Uint8Array, headers: Record<string, string> = {}, method = "POST"): Promise<Verdict> {
  const abort = new AbortController();
  // A watch stream that a fuzzed request happened to open legitimately is closed once its first bytes arrive.
  const timer = setTimeout(() => abort.abort(new Error("no answer within 10 s")), 10_000);
  try {
    const res = await fetch(`${base}${path}`, { method, headers: { "content-type": contentType, ...headers }, body: method === "GET" ? undefined : body, signal: abort.signal });
    if (res.status >= 500) {
      const text = await res.text();
      // The one 5xx the protocols prescribe for a client's choice: an unsupported compression is UNIMPLEMENTED
      // (HTTP 501) with the supported encodings, so that the client can negotiate.
      const negotiation = res.status === 501 && /"code":"unimplemented".*compression/.test(text);
      return negotiation ? { what } : { what, problem: `HTTP ${res.status}: ${text.slice(0, 300)}` };
    }
    const type = res.headers.get("content-type") ?? "";
    const reader = res.body?.getReader();
    const chunks: Uint8Array[] = [];
    if (reader) {
      const streaming = type.startsWith("application/connect+") || type.startsWith("application/grpc-web");
      for (;;) {
        const next = streaming ? await Promise.race([reader.read(), new Promise<"open">((r) => setTimeout(() => r("open"), 500))]) : await reader.read();
        if (next === "open") {
          abort.abort(new Error("stream open"));
          return { what };
        }
        if (next.done) break;
        chunks.push(next.value);
      }
    }
    const all = Buffer.concat(chunks);
    if (path.endsWith("/predicates") && res.status === 200) {
      const placed = (JSON.parse(all.toString("utf8")) as { NodeNames?: string[] }).NodeNames ?? [];
      if (placed.length > 0) return { what, problem: `a bad pod was placed: ${typeof body === "string" ? body.slice(0, 3000) : "(bytes)"}` };
    }
    if (type.startsWith("application/json") && res.status !== 200 && path.startsWith("/sparkscheduler.")) {
      const code = (JSON.parse(all.toString("utf8")) as { code?: string }).code;
      if (code && FORBIDDEN_CONNECT.has(code)) return { what, problem: `Connect ${code}: ${all.toString("utf8").slice(0, 300)}` };
    }
    const status = bodyStatus(type, all);
    if (status !== undefined && (FORBIDDEN_CONNECT.has(status) || FORBIDDEN_GRPC.has(Number(status)))) {
      return { what, problem: `in-body status ${status}: ${all.toString("utf8").slice(0, 300)}` };
    }
    return { what };
  } catch (e) {
    if (abort.signal.aborted && String(abort.signal.reason).includes("stream open")) return { what };
    return { what, problem: `no answer: ${(e as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

/** One gRPC call over an h2c session; judged by its grpc-status. */
function sendGrpc(session: http2.ClientHttp2Session, what: string, path: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<Verdict> {
  return new Promise((resolve) => {
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
    let status: string | undefined;
    let http: number | undefined;
    const timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      // An open server stream (a legitimate watch) answers headers at once and then waits.
      resolve(http === 200 && status === undefined ? { what } : { what, problem: "no answer within 10 s" });
    }, 10_000);
    stream.on("response", (h) => {
      http = Number(h[":status"]);
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
      if (http === 200 && status === undefined && path.includes("/Watch")) {
        clearTimeout(timer);
        stream.close(http2.constants.NGHTTP2_CANCEL);
        resolve({ what });
      }
    });
    stream.on("trailers", (t) => {
      if (t["grpc-status"] !== undefined) status = String(t["grpc-status"]);
    });
    stream.pipe(new Writable({ write: (_c, _e, cb) => cb() }));
    const done = () => {
      clearTimeout(timer);
      if (http !== undefined && http >= 500) return resolve({ what, problem: `HTTP ${http}` });
      if (status !== undefined && FORBIDDEN_GRPC.has(Number(status))) return resolve({ what, problem: `grpc-status ${status}` });
      resolve({ what });
    };
    stream.on("close", done);
    stream.on("error", () => {});
    stream.end(body);
  });
}

// ---------------------------------------------------------------------------------------------

let t: TestApp;
const errors: string[] = [];
beforeAll(async () => {
  // Every line at error level (a handler failure, "request failed") is a finding.
  const log = pino({ level: "error" }, { write: (line: string) => errors.push(line) });
  t = await startTestApp({ config: { fifo: true }, log });
});
afterAll(async () => {
  await t.close();
});

/**
 * The state bad requests must not change: reservations (slots, bindings), soft reservations, every node's
 * capacity, and the pods with where they run. The embedded cluster's pods are the ones its callers show, as a real
 * cluster's exist before kube-scheduler asks: a refused driver of a new application (`fuzz-*`, malformed size
 * annotations) is recorded there as a pending pod, so those are checked apart (never bound, never reserved for).
 */
async function snapshot(): Promise<string> {
  const read = async (method: string) => (await postJson(`${t.url}/sparkscheduler.v1.SparkSchedulerService/${method}`, {})).json;
  const state = t.engine.state;
  return JSON.stringify({
    reservations: await read("ListReservations"),
    nodes: await read("ListNodes"),
    soft: [...state.soft.keys()].sort(),
    pods: [...state.pods.values()]
      .filter((p) => !p.name.startsWith("fuzz-"))
      .map((p) => `${p.namespace}/${p.name}@${p.nodeName}`)
      .sort(),
  });
}

describe("fuzz: thousands of seeded bad requests on every route", () => {
  it("no crash, no server error, no hang, state unchanged, still schedules", async () => {
    // Some state to protect: an admitted application.
    expect((await postJson(`${t.url}/predicates`, example("driver-etl"))).json.NodeNames).toHaveLength(1);
    const before = await snapshot();

    const methods = [SparkSchedulerService, ExtenderService].flatMap((svc) => svc.methods.map((m) => ({ svc, m, path: `/${svc.typeName}/${m.name}` })));
    const jobs: (() => Promise<Verdict>)[] = [];
    const add = (n: number, make: () => () => Promise<Verdict>) => {
      for (let i = 0; i < n; i++) jobs.push(make());
    };
    const base = t.url;
    add(1200, () => {
      const path = pick(["/predicates", "/spark-scheduler/predicates"]);
      const body = badExtenderArgs();
      const type = pick(["application/json", "application/json", "text/plain", "application/x-www-form-urlencoded"]);
      return () => send(base, `extender ${path}`, path, type, body);
    });
    add(400, () => {
      const body = badConversionReview();
      return () => send(base, "convert", pick(["/convert", "/spark-scheduler/convert"]), "application/json", body);
    });
    add(1000, () => {
      const { svc, m, path } = pick(methods);
      const stream = m.methodKind === "server_streaming";
      const r = int(10);
      if (r < 4) {
        const body = badRpcJson(svc, m.input);
        const json = typeof body === "string" ? new TextEncoder().encode(body) : body;
        return stream
          ? () => send(base, `connect-stream json ${path}`, path, "application/connect+json", badEnvelopes(json))
          : () => send(base, `connect json ${path}`, path, "application/json", body);
      }
      if (r < 7) {
        const body = badRpcBinary(svc, m.input);
        return stream
          ? () => send(base, `connect-stream proto ${path}`, path, "application/connect+proto", badEnvelopes(body))
          : () => send(base, `connect proto ${path}`, path, "application/proto", body);
      }
      if (r < 9) {
        const body = badEnvelopes(badRpcBinary(svc, m.input));
        return () => send(base, `grpc-web ${path}`, path, pick(["application/grpc-web", "application/grpc-web+proto"]), body);
      }
      // Hostile headers: compression that is not, bad protocol versions and timeouts, GET, unknown types.
      const headers: Record<string, string> = pick<Record<string, string>>([
        { "content-encoding": "gzip" },
        { "content-encoding": "br" },
        { "content-encoding": "zstd" },
        { "connect-protocol-version": "7" },
        { "connect-timeout-ms": "-5" },
        { "connect-timeout-ms": "99999999999999999999" },
        {},
      ]);
      const body = int(2) ? badRpcBinary(svc, m.input) : JSON.stringify(randomJson());
      const type = pick(["application/json", "application/proto", "application/xml", "application/grpc"]);
      return () => send(base, `connect headers ${path} ${JSON.stringify(headers)} ${type}`, path, type, body, headers, pick(["POST", "POST", "GET", "PUT"]));
    });
    const session = http2.connect(t.url);
    session.on("error", () => {});
    add(400, () => {
      const { svc, m, path } = pick(methods);
      const body = badEnvelopes(badRpcBinary(svc, m.input));
      const headers = pick<Record<string, string>>([{}, {}, { "grpc-encoding": "gzip" }, { "grpc-encoding": "snappy" }, { "grpc-timeout": "garbage" }, { "grpc-timeout": "1n" }]);
      return () => sendGrpc(session, `grpc ${path} ${JSON.stringify(headers)}`, path, body, headers);
    });

    // 8 in flight at a time, the order fixed by the seed.
    const problems: Verdict[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < jobs.length) {
          const v = await jobs[next++]();
          if (v.problem) problems.push(v);
        }
      }),
    );
    session.close();

    expect(jobs.length).toBeGreaterThanOrEqual(3000);
    expect([...new Set(problems.map((p) => `${p.what.split(" ")[0]} ${p.problem!.slice(0, 140)}`))].slice(0, 30)).toEqual([]);
    expect(errors).toEqual([]);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect(await snapshot()).toBe(before);
    const fuzzPods = [...t.engine.state.pods.values()].filter((p) => p.name.startsWith("fuzz-"));
    expect(fuzzPods.filter((p) => p.nodeName !== "")).toEqual([]);
    // Still schedules: the etl application's executor binds, and a new application is admitted under FIFO
    // although the refused drivers are older (a driver whose size cannot be read blocks nobody).
    expect((await postJson(`${t.url}/predicates`, example("executor-etl-1"))).json.NodeNames).toHaveLength(1);
    const fresh = example("driver-etl");
    fresh.Pod.metadata = { ...fresh.Pod.metadata, name: "after-driver", uid: "after-uid", labels: { "spark-role": "driver", "spark-app-id": "after" } };
    delete fresh.Pod.metadata.creationTimestamp; // created now: the youngest
    fresh.Pod.metadata.annotations["spark-executor-count"] = "1";
    expect((await postJson(`${t.url}/predicates`, fresh)).json.NodeNames).toHaveLength(1);
  });
});
