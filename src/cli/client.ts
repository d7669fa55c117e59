// The generated clients of SparkSchedulerService (read-only admin RPCs) and ExtenderService (Filter, which changes
// state) over one of the three wire protocols the server speaks; both share the transport.

import * as http from "node:http";
import * as https from "node:https";
import { type Client, type Interceptor, type Transport, createClient } from "@connectrpc/connect";
import { Http2SessionManager, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { ExtenderService, SparkSchedulerService } from "../../gen/sparkscheduler/v1/scheduler_pb.js";

export const PROTOCOLS = ["connect", "grpc", "grpcweb"] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export type SchedulerClient = Client<typeof SparkSchedulerService>;
export type ExtenderClient = Client<typeof ExtenderService>;

export interface OpenClient {
  client: SchedulerClient;
  extender: ExtenderClient;
  /** Closes the connections the client opened, so that a one-shot CLI run exits at once. */
  close(): void;
}

/** How to reach the API server when the base URL is its service proxy (src/cli/kubeconfig.ts). */
export interface ViaProxy {
  /** The user's API server credentials (Authorization from the kubeconfig). */
  headers: Record<string, string>;
  /** TLS settings for the API server: CA, client certificate, skip-verify. */
  agentOptions: https.AgentOptions;
}

/**
 * Connect and gRPC-Web go over HTTP/1.1 (the server also takes them on h2c, but HTTP/1.1 needs no
 * preface sniffing and works through any proxy, the API server's service proxy included); gRPC needs HTTP/2
 * (cleartext h2c for `http://`).
 */
export function openClient(baseUrl: string, protocol: Protocol, timeoutMs?: number, token?: string, via?: ViaProxy): OpenClient {
  // With a bearer token, every call carries it (the server's access.rpc: kubernetes checks it with a TokenReview);
  // through the service proxy, the kubeconfig's headers authenticate the user to the API server instead.
  const headers: Record<string, string> = { ...via?.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const interceptors: Interceptor[] =
    Object.keys(headers).length > 0
      ? [
          (next) => (req) => {
            for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
            return next(req);
          },
        ]
      : [];
  if (protocol === "grpc") {
    if (via) throw new Error("gRPC (HTTP/2) does not pass the API server's service proxy");
    const sessionManager = new Http2SessionManager(baseUrl);
    const transport = createGrpcTransport({ baseUrl, sessionManager, defaultTimeoutMs: timeoutMs, interceptors });
    return { ...clients(transport), close: () => sessionManager.abort() };
  }
  const agent = new URL(baseUrl).protocol === "https:" ? new https.Agent(via?.agentOptions) : new http.Agent();
  const options = { baseUrl, httpVersion: "1.1" as const, nodeOptions: { agent }, defaultTimeoutMs: timeoutMs, interceptors };
  const transport = protocol === "connect" ? createConnectTransport(options) : createGrpcWebTransport(options);
  return { ...clients(transport), close: () => agent.destroy() };
}

function clients(transport: Transport): { client: SchedulerClient; extender: ExtenderClient } {
  return { client: createClient(SparkSchedulerService, transport), extender: createClient(ExtenderService, transport) };
}
