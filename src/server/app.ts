// Wires every transport onto one port: the extender JSON route, the CRD conversion webhook, the Connect
// service (Connect, gRPC, gRPC-Web), gRPC reflection and health, plus plain HTTP health and metrics endpoints.

import { type ConnectRouter, createContextValues } from "@connectrpc/connect";
import type { Logger } from "pino";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ExtenderService, SparkSchedulerService } from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import type { Scheduler } from "../pipeline/scheduler.js";
import { Code } from "@connectrpc/connect";
import {
  type AccessOptions,
  type Caller,
  CLIENT_CERTIFICATE,
  REMOTE_ADDRESS,
  accessChecker,
  accessInterceptor,
  bearerChallenge,
  challengeUnauthenticated,
  clientCertificate,
} from "./access.js";
import { uncompressedOnLoopback } from "./compression.js";
import { handleConversion } from "./conversion-route.js";
import { handleFilter, sendJson } from "./extender-route.js";
import { HealthService, ServingStatus, registerHealth } from "./health.js";
import { type FallbackHandler, type RunningServer, type ServerTls, startServer } from "./listen.js";
import type { Metrics } from "./metrics.js";
import { registerReflection } from "./reflection.js";
import { RequestError, errorInterceptor, jsonError } from "./errors.js";
import { guardRequests } from "./request-guard.js";
import { type ServiceOptions, createExtenderService, createService } from "./service.js";
import { validationInterceptor } from "./validation.js";
import { handleWeb, isWebPath } from "./web-route.js";

export interface AppOptions {
  scheduler: Scheduler;
  metrics: Metrics;
  log: Logger;
  host?: string;
  port: number;
  contextPath: string;
  maxBodyBytes: number;
  /** PEM certificate chain and key: serve TLS instead of cleartext; with a client CA, verify client certificates. */
  tls?: ServerTls;
  /** Options of the admin service (watch stream limits). */
  service?: ServiceOptions;
  /** Who may call the Connect services and the extender route; default: loopback callers only. */
  access?: AccessOptions;
}

export interface RunningApp {
  server: RunningServer;
  health: HealthService;
  /** Re-reads the backend's readiness into the gRPC health status. */
  refreshHealth(): void;
  close(): Promise<void>;
}

export const SERVICE_NAME = SparkSchedulerService.typeName;

export async function startApp(opts: AppOptions): Promise<RunningApp> {
  const { scheduler, metrics } = opts;
  // The listener names its logger "server" itself; so does this module, for its own lines only.
  const log = opts.log.child({ component: "server" });
  const health = new HealthService();
  // SERVING once the state is loaded: a synced follower serves reads and stands by for leadership.
  const refreshHealth = () => {
    health.setStatus(SERVICE_NAME, scheduler.backend.synced() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  };
  refreshHealth();

  const routes = (router: ConnectRouter) => {
    router.service(SparkSchedulerService, createService(scheduler, opts.service));
    router.service(ExtenderService, createExtenderService(scheduler));
    registerHealth(router, health);
    registerReflection(router, [SparkSchedulerService, ExtenderService, Health]);
  };

  const access = opts.access ?? { rpc: "loopback" };
  const checker = accessChecker(access);
  const caller = (req: Parameters<FallbackHandler>[0]): Caller => ({
    remoteAddress: req.socket.remoteAddress,
    authorization: req.headers.authorization ?? null,
    certificate: clientCertificate(req.socket),
  });
  const filterPaths = new Set(["/predicates", `${opts.contextPath}/predicates`]);
  const conversionPaths = new Set(["/convert", `${opts.contextPath}/convert`]);
  const fallback: FallbackHandler = (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const handle = async () => {
      if (filterPaths.has(path)) {
        if (req.method !== "POST") return sendJson(res, 405, { error: "use POST with an ExtenderArgs body" });
        let allowed: boolean;
        try {
          allowed = await checker.extender(caller(req));
        } catch (e) {
          if (!(e instanceof RequestError)) throw e;
          const status = e.code === Code.Unauthenticated ? 401 : e.code === Code.PermissionDenied ? 403 : 503;
          if (status === 401) res.setHeader("www-authenticate", bearerChallenge(null));
          return sendJson(res, status, jsonError(e));
        }
        if (!allowed) {
          return sendJson(res, 403, {
            error:
              "the extender route is served to loopback callers (kube-scheduler in the same pod), access.extender-allowed-sources and, with access.rpc: kubernetes, verified client certificates only",
            reason: "PERMISSION_DENIED",
          });
        }
        return handleFilter(req, res, scheduler, opts.maxBodyBytes);
      }
      if (conversionPaths.has(path)) {
        if (req.method !== "POST") return sendJson(res, 405, { error: "use POST with a ConversionReview body" });
        return handleConversion(req, res, opts.maxBodyBytes);
      }
      if (isWebPath(path)) return handleWeb(req, res, path);
      if (path === "/healthz" || path === "/livez") return sendJson(res, 200, { status: "ok" });
      if (path === "/readyz") {
        const r = scheduler.backend.readiness();
        if (r.ready) return sendJson(res, 200, { status: "ready", schedules: true });
        if (scheduler.backend.synced()) return sendJson(res, 200, { status: "standby", schedules: false, reason: r.reason });
        return sendJson(res, 503, { status: "not ready", schedules: false, reason: r.reason });
      }
      if (path === "/metrics") {
        const text = await metrics.registry.metrics();
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(text);
        return;
      }
      sendJson(res, 404, { error: `no route for ${req.method} ${path}` });
    };
    handle().catch((e: unknown) => {
      log.error({ err: e, path }, "request failed");
      if (!res.headersSent) sendJson(res, 500, { error: (e as Error).message });
      else res.end();
    });
  };

  const server = await startServer({
    host: opts.host,
    port: opts.port,
    routes,
    fallback,
    logger: opts.log,
    tls: opts.tls,
    adapterOptions: {
      readMaxBytes: opts.maxBodyBytes,
      // errorInterceptor is the outermost; access is checked before the request is validated.
      interceptors: [errorInterceptor, accessInterceptor(checker), validationInterceptor],
      contextValues: (req) => createContextValues().set(REMOTE_ADDRESS, req.socket.remoteAddress).set(CLIENT_CERTIFICATE, clientCertificate(req.socket)),
    },
    wrapHandler: (h) => uncompressedOnLoopback(challengeUnauthenticated(guardRequests(h, opts.maxBodyBytes))),
  });
  return {
    server,
    health,
    refreshHealth,
    async close() {
      health.shutdown();
      await server.close();
    },
  };
}
