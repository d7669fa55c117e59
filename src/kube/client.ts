// The Kubernetes client of src/kube/: @kubernetes/client-node loads the kubeconfig (or the in-cluster config),
// authenticates and sets up TLS, and runs the watches; requests are plain JSON (KubeApi below).
//
// Why not its typed APIs: every generated API class runs through its ObjectSerializer, which imports all of
// its ~900 model classes, and its Promise/Observable API layers are ~14 MB of source. Loading that surface
// costs ~50 MB of resident memory and ~24 MB of V8 heap before the first object is listed (measured: an idle
// Node takes 48 MB RSS; importing client-node's KubeConfig alone 136 MB, with the models left out 84 MB). The
// service reads and writes a handful of kinds as plain JSON (the informers always did), so it imports only
// the modules below, which do not pull the generated surface in, and src/kube/lean-client-node.ts keeps
// KubeConfig's own module from importing it too (see there).
//
// Dates: responses are plain JSON (timestamps are RFC 3339 strings, as in watch events); request bodies are
// serialised with JSON.stringify, so a V1MicroTime (a Date whose ISO form has microseconds) goes out in the
// wire form a MicroTime field needs, as through the typed API.

import * as http from "node:http";
import * as https from "node:https";
import { KubeConfig } from "@kubernetes/client-node/dist/config.js";
import { ApiException } from "@kubernetes/client-node/dist/gen/apis/exception.js";
import { HttpMethod, RequestContext, type ResponseContext } from "@kubernetes/client-node/dist/gen/http/http.js";
import { IsomorphicFetchHttpLibrary } from "@kubernetes/client-node/dist/gen/http/isomorphic-fetch.js";
import { V1MicroTime } from "@kubernetes/client-node/dist/types.js";
import { Watch } from "@kubernetes/client-node/dist/watch.js";

export { ApiException, KubeConfig, V1MicroTime, Watch };

/** Content type of a JSON merge patch (RFC 7386). */
export const MERGE_PATCH = "application/merge-patch+json";

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  /** Serialised with JSON.stringify. */
  body?: unknown;
  /** Content-Type of the body; default application/json. */
  contentType?: string;
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

const METHODS: Record<Method, HttpMethod> = {
  GET: HttpMethod.GET,
  POST: HttpMethod.POST,
  PUT: HttpMethod.PUT,
  PATCH: HttpMethod.PATCH,
  DELETE: HttpMethod.DELETE,
};

/** The kept-alive agent per kubeconfig and the TLS material it was made with (KubeApi.agentFor). */
const agents = new WeakMap<KubeConfig, { key: string; agent: http.Agent }>();

/** Longest a request may take before it fails as a network error (retried like one); watches are not requests. */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Plain-JSON requests to the API server of a KubeConfig. A non-2xx answer throws client-node's ApiException
 * with the HTTP status as `code` and the response text as `body` (a Status object, usually), as its typed
 * APIs do, so apiErrorCode / apiErrorMessage read both alike.
 *
 * Requests go over Node's http/https with one kept-alive agent: client-node 2's HTTP library builds a new
 * undici Agent for every request to a TLS cluster (a new connection and TLS handshake per request), and a
 * reservation write is on a decision's path. The kubeconfig still supplies the TLS material and credentials per
 * request (applyToHTTPSOptions: CA, client certificate, bearer or exec-plugin token, so rotated credentials are
 * used). A cluster reached through a proxy (proxy-url) uses client-node's HTTP library, which handles proxies.
 * A request with no answer within `timeoutMs` fails as a network error: an API server that stopped answering
 * (a partition) must not hold a write, and the decisions queued behind it, forever.
 */
export class KubeApi {
  private readonly http = new IsomorphicFetchHttpLibrary();

  constructor(
    readonly kc: KubeConfig,
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {}

  get<T = unknown>(path: string, query?: RequestOptions["query"]): Promise<T> {
    return this.request<T>("GET", path, { query });
  }

  /** POST: creates an object (or a review) in the collection at `path`. */
  create<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.request<T>("POST", path, { body });
  }

  /** PUT: replaces the object at `path` (optimistic concurrency through body.metadata.resourceVersion). */
  replace<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PUT", path, { body });
  }

  /** PATCH with a JSON merge patch. */
  mergePatch<T = unknown>(path: string, patch: unknown): Promise<T> {
    return this.request<T>("PATCH", path, { body: patch, contentType: MERGE_PATCH });
  }

  /** DELETE, with optional DeleteOptions (e.g. preconditions) as the body. */
  delete<T = unknown>(path: string, options?: unknown): Promise<T> {
    return this.request<T>("DELETE", path, { body: options });
  }

  async request<T>(method: Method, path: string, options: RequestOptions = {}): Promise<T> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error("no current cluster in the kubeconfig");
    const url = new URL(cluster.server.replace(/\/+$/, "") + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const contentType = options.contentType ?? "application/json";
    const { status, text, headers } = cluster.proxyUrl
      ? await this.viaClientNode(method, url, body, contentType)
      : await this.direct(method, url, body, contentType);
    if (status < 200 || status > 299) throw new ApiException(status, `HTTP ${status} ${method} ${path}`, text, headers);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  private async direct(method: Method, url: URL, body: string | undefined, contentType: string): Promise<Answer> {
    const opts: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(opts);
    const secure = url.protocol === "https:";
    const headers: Record<string, string> = { accept: "application/json", "user-agent": "spark-scheduler" };
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = String(v);
    if (body !== undefined) {
      headers["content-type"] = contentType;
      headers["content-length"] = String(Buffer.byteLength(body));
    }
    const request: https.RequestOptions = {
      method,
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ""),
      port: url.port,
      path: url.pathname + url.search,
      headers,
      auth: opts.auth,
      agent: this.agentFor(secure, opts),
      timeout: this.timeoutMs,
    };
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(request, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const responseHeaders: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) responseHeaders[k] = String(v);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8"), headers: responseHeaders });
        });
      });
      req.on("timeout", () =>
        req.destroy(Object.assign(new Error(`${method} ${url.pathname}: no answer within ${this.timeoutMs} ms`), { code: "ETIMEDOUT" })),
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  /**
   * The kept-alive agent of this kubeconfig, shared by every KubeApi made from it (the informers, writers,
   * leader election, events, …: one connection pool to the API server, not one per module); replaced when the
   * TLS material changes (a rotated client certificate or CA).
   */
  private agentFor(secure: boolean, opts: https.RequestOptions): http.Agent {
    const tls = secure
      ? { ca: opts.ca, cert: opts.cert, key: opts.key, pfx: opts.pfx, passphrase: opts.passphrase, rejectUnauthorized: opts.rejectUnauthorized, servername: opts.servername }
      : {};
    const key = `${secure}|${[tls.ca, tls.cert, tls.key, tls.pfx].map((b) => (b === undefined ? "" : String(b))).join("|")}|${tls.passphrase ?? ""}|${tls.rejectUnauthorized ?? ""}|${tls.servername ?? ""}`;
    const known = agents.get(this.kc);
    if (known && known.key === key) return known.agent;
    // The old agent is not destroyed: requests in flight on it finish; its idle connections are closed by the
    // server's idle timeout.
    const defined = Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined));
    const agent = secure ? new https.Agent({ keepAlive: true, ...defined }) : new http.Agent({ keepAlive: true });
    agents.set(this.kc, { key, agent });
    return agent;
  }

  private async viaClientNode(method: Method, url: URL, body: string | undefined, contentType: string): Promise<Answer> {
    const ctx = new RequestContext(url.toString(), METHODS[method]);
    ctx.setHeaderParam("Accept", "application/json");
    if (body !== undefined) {
      ctx.setHeaderParam("Content-Type", contentType);
      ctx.setBody(body);
    }
    await this.kc.applySecurityAuthentication(ctx);
    const signal = AbortSignal.timeout(this.timeoutMs);
    ctx.setSignal?.(signal);
    const response = await new Promise<ResponseContext>((resolve, reject) => {
      this.http.send(ctx).toPromise().then(resolve, reject);
    });
    return { status: response.httpStatusCode, text: await response.body.text(), headers: response.headers };
  }
}

interface Answer {
  status: number;
  text: string;
  headers: Record<string, string>;
}

/**
 * `/api/v1` or `/apis/GROUP/VERSION`, then the namespace and the plural, then the name and subresource when
 * given. Call sites pass the group/version and plural as literals or exported constants: test/deploy/rbac.test.ts
 * reads them from the source to check the RBAC against every call.
 */
export function objectPath(groupVersion: string, plural: string, namespace?: string, name?: string, subresource?: string): string {
  const base = groupVersion === "v1" ? "/api/v1" : `/apis/${groupVersion}`;
  const ns = namespace === undefined ? "" : `/namespaces/${encodeURIComponent(namespace)}`;
  const named = name === undefined ? "" : `/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ""}`;
  return `${base}${ns}/${plural}${named}`;
}
