// Finding the service through a kubeconfig: the API server's service proxy
// (`<cluster>/api/v1/namespaces/NS/services/NAME:PORT/proxy/`) with the user's own kubeconfig credentials, so
// the cluster's RBAC (`create` on `services/proxy` for the Connect POSTs) decides who may reach the service.
// @kubernetes/client-node reads the kubeconfig (token, token file, client certificate, exec and auth-provider
// plugins, CA, skip-TLS-verify); it is imported only when this mode is used, so other CLI runs stay fast.

import { existsSync } from "node:fs";
import type { AgentOptions } from "node:https";
import { delimiter, join } from "node:path";
import { CliError, UsageError } from "./commands.js";

export const DEFAULT_SERVICE = "spark-scheduler/spark-scheduler:http";

export interface ServiceRef {
  namespace: string;
  /** As the proxy path spells it: `NAME:PORT`, or `https:NAME:PORT` for a service serving TLS. */
  nameAndPort: string;
}

/** `[NAMESPACE/]NAME[:PORT]` (namespace spark-scheduler, port `http` by default; `https:NAME:PORT` for TLS). */
export function parseService(raw: string): ServiceRef {
  const slash = raw.indexOf("/");
  const namespace = slash < 0 ? "spark-scheduler" : raw.slice(0, slash);
  const rest = slash < 0 ? raw : raw.slice(slash + 1);
  const dns = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
  const parts = rest.split(":");
  const scheme = parts[0] === "https" || parts[0] === "http" ? [parts.shift()!] : [];
  const [name, port = "http", ...extra] = parts;
  if (!dns.test(namespace) || name === undefined || !dns.test(name) || !/^[-a-z0-9]+$/.test(port) || extra.length > 0) {
    throw new UsageError(`--service: "${raw}" is not [NAMESPACE/]NAME[:PORT] (e.g. ${DEFAULT_SERVICE})`);
  }
  return { namespace, nameAndPort: [...scheme, name, port].join(":") };
}

export interface KubeTarget {
  /** The service proxy URL the RPC paths are appended to. */
  baseUrl: string;
  /** TLS settings for the API server (CA, client certificate, skip-verify, server name). */
  agentOptions: AgentOptions;
  /** Headers that authenticate the user to the API server (Authorization from a token or a plugin). */
  headers: Record<string, string>;
  /** For messages: `context "kind-dev" (https://127.0.0.1:6443)`. */
  describe: string;
}

/** The kubeconfig files kubectl would read: --kubeconfig, else every file of $KUBECONFIG, else ~/.kube/config. */
function kubeconfigFiles(flag: string | undefined, env: Record<string, string | undefined>): string[] {
  if (flag) return [flag];
  const fromEnv = (env.KUBECONFIG ?? "").split(delimiter).filter((f) => f !== "");
  if (fromEnv.length > 0) return fromEnv;
  const home = env.HOME || env.USERPROFILE;
  const def = home ? join(home, ".kube", "config") : undefined;
  if (def && existsSync(def)) return [def];
  throw new CliError("no kubeconfig: $KUBECONFIG is not set and ~/.kube/config does not exist (give --kubeconfig FILE, or --server URL)");
}

export async function resolveKubeTarget(opts: { kubeconfig?: string; context?: string; service: ServiceRef }, env: Record<string, string | undefined>): Promise<KubeTarget> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  const files = kubeconfigFiles(opts.kubeconfig, env);
  try {
    kc.loadFromFile(files[0]);
    for (const f of files.slice(1)) {
      if (!existsSync(f)) continue; // kubectl skips missing files of $KUBECONFIG too
      const more = new KubeConfig();
      more.loadFromFile(f);
      kc.mergeConfig(more, true);
    }
  } catch (e) {
    throw new CliError(`cannot read kubeconfig ${files.join(delimiter)}: ${(e as Error).message}`);
  }
  if (opts.context !== undefined) {
    if (!kc.getContextObject(opts.context)) throw new CliError(`kubeconfig has no context "${opts.context}"`);
    kc.setCurrentContext(opts.context);
  }
  const context = kc.getCurrentContext();
  const cluster = kc.getCurrentCluster();
  if (!context || !cluster) throw new CliError(`kubeconfig ${files[0]} has no current context (give --context NAME)`);
  const server = cluster.server.replace(/\/+$/, "");
  // client-node refuses a plain-http cluster unless skip-TLS-verify is set (kubectl does not); TLS settings mean
  // nothing without TLS, so set it for such a cluster only to have the credentials applied.
  if (server.startsWith("http:") && !cluster.skipTLSVerify) {
    kc.clusters = kc.clusters.map((c) => (c === cluster ? { ...c, skipTLSVerify: true } : c));
  }
  const https: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; servername?: string; auth?: string; headers?: Record<string, string> } = {};
  try {
    await kc.applyToHTTPSOptions(https);
  } catch (e) {
    // An exec or auth-provider plugin that fails (not installed, expired login).
    throw new CliError(`cannot get credentials of kubeconfig context "${context}": ${(e as Error).message}`);
  }
  const headers: Record<string, string> = { ...https.headers };
  if (https.auth) headers.Authorization = `Basic ${Buffer.from(https.auth).toString("base64")}`;
  const agentOptions: AgentOptions = {};
  for (const k of ["ca", "cert", "key", "rejectUnauthorized", "servername"] as const) {
    if (https[k] !== undefined) Object.assign(agentOptions, { [k]: https[k] });
  }
  const { namespace, nameAndPort } = opts.service;
  return {
    baseUrl: `${server}/api/v1/namespaces/${namespace}/services/${nameAndPort}/proxy`,
    agentOptions,
    headers,
    describe: `kubeconfig context "${context}" (${server}), service ${namespace}/${nameAndPort}`,
  };
}

export interface PortForward {
  /** `http://127.0.0.1:PORT`, forwarded to the service. */
  url: string;
  /** The kubeconfig user's bearer token, when its credentials are one (not for a client certificate). */
  token?: string;
  describe: string;
  /** Stops kubectl port-forward and waits for it to exit. */
  close(): Promise<void>;
}

/**
 * Runs `kubectl port-forward` to the service (kubectl authenticates the tunnel; the user needs `create` on
 * `pods/portforward`) and takes the kubeconfig's bearer token for the calls, so that the service's own
 * TokenReview / SubjectAccessReview decide (the service proxy cannot do that: the API server drops the
 * Authorization header). The token only travels through the tunnel kubectl opened to the cluster.
 */
export async function startPortForward(
  opts: { kubeconfig?: string; context?: string; service: ServiceRef },
  env: Record<string, string | undefined>,
): Promise<PortForward> {
  const { spawn } = await import("node:child_process");
  const parts = opts.service.nameAndPort.split(":");
  if (parts[0] === "https" || parts[0] === "http") {
    if (parts[0] === "https") throw new UsageError("--port-forward reaches the service over plain HTTP: give --service without https:");
    parts.shift();
  }
  const [name, port] = parts;
  const target = await resolveKubeTarget(opts, env);
  const bearer = /^Bearer\s+(\S+)$/i.exec(Object.entries(target.headers).find(([k]) => k.toLowerCase() === "authorization")?.[1] ?? "")?.[1];
  const kubectl = env.KUBECTL || "kubectl";
  const args = [
    "port-forward",
    ...(opts.kubeconfig ? ["--kubeconfig", opts.kubeconfig] : []),
    ...(opts.context ? ["--context", opts.context] : []),
    "-n",
    opts.service.namespace,
    `svc/${name}`,
    `:${port}`,
  ];
  const child = spawn(kubectl, args, { stdio: ["ignore", "pipe", "pipe"], env });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const local = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("error", (e) => reject(new CliError(`cannot run ${kubectl} port-forward: ${e.message}`)));
    child.once("close", (code) => reject(new CliError(`${kubectl} ${args.join(" ")} exited (${code}): ${stderr.trim() || out.trim()}`)));
  });
  child.stdout.resume();
  return {
    url: `http://127.0.0.1:${local}`,
    token: bearer,
    describe: `kubectl port-forward to ${opts.service.namespace}/${name}:${port} (${target.describe.split(",")[0]})`,
    close: async () => {
      child.kill();
      await exited;
    },
  };
}
