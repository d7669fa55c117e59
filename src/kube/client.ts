// The Kubernetes client of src/kube/: @kubernetes/client-node loads the kubeconfig (or the in-cluster config),
// authenticates and sets up TLS, and runs the watches; requests are plain JSON over its HTTP library.
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

/**
 * Plain-JSON requests to the API server of a KubeConfig. A non-2xx answer throws client-node's ApiException
 * with the HTTP status as `code` and the response text as `body` (a Status object, usually), as its typed
 * APIs do, so apiErrorCode / apiErrorMessage read both alike.
 */
export class KubeApi {
  private readonly http = new IsomorphicFetchHttpLibrary();

  constructor(readonly kc: KubeConfig) {}

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
    const ctx = new RequestContext(url.toString(), METHODS[method]);
    ctx.setHeaderParam("Accept", "application/json");
    if (options.body !== undefined) {
      ctx.setHeaderParam("Content-Type", options.contentType ?? "application/json");
      ctx.setBody(JSON.stringify(options.body));
    }
    await this.kc.applySecurityAuthentication(ctx);
    const response = await new Promise<ResponseContext>((resolve, reject) => {
      this.http.send(ctx).toPromise().then(resolve, reject);
    });
    const text = await response.body.text();
    if (response.httpStatusCode < 200 || response.httpStatusCode > 299) {
      throw new ApiException(response.httpStatusCode, `HTTP ${response.httpStatusCode} ${method} ${path}`, text, response.headers);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }
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
