// The spark-scheduler service, started by src/main.ts: `npm start [-- --config file.yaml] [--port N] [--kube-config path]
// [--embedded-cluster file.yaml]`. Without a kubeconfig and outside a cluster it runs on the embedded
// simulated cluster (examples/cluster.yaml), so it works on a fresh machine.

import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { ConfigError, type ServiceConfig, loadConfig } from "./config.js";
import { Engine } from "./engine/engine.js";
import { type ClusterBackend, chooseBackend } from "./kube/backend.js";
import { EmbeddedCluster } from "./kube/embedded-cluster.js";
import { Mutex } from "./pipeline/mutex.js";
import { Scheduler } from "./pipeline/scheduler.js";
import { createKubeBackend } from "./kube/start.js";
import type { Decision } from "./engine/decision.js";
import type { PodInfo } from "./engine/model.js";
import { startApp } from "./server/app.js";
import { Metrics } from "./server/metrics.js";
import { parseCaBundle } from "./server/listen.js";
import { TlsReloader } from "./server/tls-reload.js";
import type { AccessOptions } from "./server/access.js";
import { KubeAccessReviewer } from "./kube/access-review.js";

const USAGE = `Usage: npm start -- [--config FILE] [--port N] [--kube-config PATH] [--embedded-cluster FILE] [--log-level LEVEL]

  --config FILE            YAML/JSON service configuration (also $SPARK_SCHEDULER_CONFIG); see examples/config.yaml
  --port N                 listen port (also $PORT; default 8483)
  --kube-config PATH       talk to this cluster; without it: in-cluster config inside a pod (refuses to start without
                           a service-account token), the embedded simulated cluster only where no Kubernetes is detected
  --embedded-cluster FILE  run on the embedded cluster described by FILE (default examples/cluster.yaml)
  --log-level LEVEL        trace, debug, info, warn or error (also $LOG_LEVEL)
  -h, --help               show this help`;

function readConfig(): ServiceConfig {
  const { values } = parseArgs({
    options: {
      help: { type: "boolean", short: "h" },
      config: { type: "string" },
      port: { type: "string" },
      "kube-config": { type: "string" },
      "embedded-cluster": { type: "string" },
      "log-level": { type: "string" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const overrides: Record<string, unknown> = {};
  const port = values.port ?? process.env.PORT;
  if (port !== undefined) overrides.port = port;
  if (values["kube-config"]) overrides["kube-config"] = values["kube-config"];
  if (values["embedded-cluster"]) {
    overrides["embedded-cluster-file"] = values["embedded-cluster"];
    overrides.embedded = true;
  }
  const level = values["log-level"] ?? process.env.LOG_LEVEL;
  if (level) overrides["log-level"] = level;
  return loadConfig(values.config ?? process.env.SPARK_SCHEDULER_CONFIG, overrides);
}

interface Backend {
  backend: ClusterBackend;
  /** Reviews callers' tokens and access (Kubernetes mode only). */
  reviewer?: KubeAccessReviewer;
  onDecision?: (pod: PodInfo, decision: Decision) => void;
  startExtras: () => Promise<void>;
  stopExtras: () => Promise<void>;
}

/** Longest a shutdown waits for reservation writes in flight (a write's retries take up to ~10 s). */
const SHUTDOWN_DRAIN_MS = 10_000;

function createBackend(config: ServiceConfig, engine: Engine, mutex: Mutex, log: pino.Logger): Backend {
  const choice = chooseBackend({
    embedded: config.embedded,
    kubeConfig: config.kubeConfig,
    env: process.env,
    exists: existsSync,
    read: (path) => {
      try {
        return readFileSync(path, "utf8");
      } catch {
        return undefined;
      }
    },
  });
  if (choice.kind === "refuse") {
    log.fatal(choice.message);
    console.error(`spark-scheduler: ${choice.message}`);
    process.exit(1);
  }
  if (choice.kind === "embedded") {
    log.info({ file: config.embeddedClusterFile, why: choice.why }, "running on the embedded simulated cluster");
    const backend = EmbeddedCluster.fromFile(engine, config.embeddedClusterFile, log);
    return { backend, startExtras: async () => {}, stopExtras: async () => {} };
  }
  const kube = createKubeBackend({ config, engine, mutex, log, identity: `${hostname()}-${process.pid}` });
  return { ...kube, reviewer: new KubeAccessReviewer(kube.kc) };
}

/**
 * `access.rpc` unset: Kubernetes mode authenticates and authorises every admin call; the embedded cluster (a
 * quick start with no API server to ask) serves loopback callers only.
 */
function accessOptions(config: ServiceConfig, reviewer: KubeAccessReviewer | undefined): AccessOptions {
  const rpc = config.access.rpc ?? (reviewer ? "kubernetes" : "loopback");
  if (rpc === "kubernetes" && !reviewer) {
    throw new ConfigError("access.rpc: kubernetes needs a Kubernetes backend (TokenReview); the embedded cluster has none");
  }
  return {
    rpc,
    reviewer,
    cacheTtlMs: config.access.cacheTtlMs,
    cacheSize: config.access.cacheSize,
    extenderAllowedSources: config.access.extenderAllowedSources,
  };
}


async function main(): Promise<void> {
  let config: ServiceConfig;
  try {
    config = readConfig();
  } catch (e) {
    if (e instanceof ConfigError || (e as NodeJS.ErrnoException).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      console.error(`spark-scheduler: configuration error: ${(e as Error).message}\n\n${USAGE}`);
      process.exit(2);
    }
    throw e;
  }
  // Asynchronous writes to stdout: a line per decision written synchronously was ~5 % of the service's CPU under
  // 64 concurrent callers (a write(2) each); lines logged while a write is in flight go out together. pino flushes
  // what is left synchronously when the process exits.
  const log = pino({ level: config.logLevel, base: { service: "spark-scheduler" } }, pino.destination({ dest: 1, sync: false }));
  const engine = new Engine(config.engine);
  const mutex = new Mutex();
  const metrics = new Metrics(engine, { defaultMetrics: true, kube: true });
  const { backend, reviewer, onDecision, startExtras, stopExtras } = createBackend(config, engine, mutex, log);
  let access: AccessOptions;
  try {
    access = accessOptions(config, reviewer);
  } catch (e) {
    console.error(`spark-scheduler: configuration error: ${(e as Error).message}`);
    process.exit(2);
  }
  const scheduler = new Scheduler(engine, backend, log.child({ component: "scheduler" }), {
    mutex,
    metrics,
    onDecision,
    earlyExecutorBinds: config.earlyExecutorBinds,
  });
  metrics.observeBackend(backend);
  metrics.startConsistencyChecks((fn) => scheduler.read(fn), log.child({ component: "consistency" }));
  const tls = config.tls && {
    cert: readFileSync(config.tls.certFile),
    key: readFileSync(config.tls.keyFile),
    ...(config.tls.clientCaFile ? { clientCa: readFileSync(config.tls.clientCaFile), clientAuth: config.tls.clientAuth } : {}),
  };
  if (tls?.clientCa) {
    try {
      parseCaBundle(tls.clientCa);
    } catch (e) {
      console.error(`spark-scheduler: configuration error: tls.client-ca-file ${config.tls!.clientCaFile}: ${(e as Error).message}`);
      process.exit(2);
    }
  }
  const app = await startApp({
    scheduler,
    metrics,
    log, // startApp's server names itself (component "server")
    host: config.host,
    port: config.port,
    contextPath: config.contextPath,
    maxBodyBytes: config.maxBodyBytes,
    tls,
    access,
  });
  // Rotated certificates (cert-manager) are picked up without a restart.
  // So is a rotated client CA bundle (mTLS).
  const tlsReloader =
    config.tls &&
    new TlsReloader({
      certFile: config.tls.certFile,
      keyFile: config.tls.keyFile,
      clientCaFile: config.tls.clientCaFile,
      initial: tls,
      apply: (c) => app.server.setCredentials(c),
      log,
    });
  tlsReloader?.start();
  // The server is up first so /readyz and health report progress while the state is rebuilt.
  await backend.start();
  await startExtras();
  app.refreshHealth();
  const healthTimer = setInterval(() => app.refreshHealth(), 1000);
  healthTimer.unref();
  log.info(
    {
      url: app.server.url,
      backend: backend.kind,
      binpack: config.engine.binpack.name,
      fifo: config.engine.fifo,
      extenderRoutes: ["/predicates", `${config.contextPath}/predicates`],
      access: { rpc: access.rpc, extenderAllowedSources: access.extenderAllowedSources, clientAuth: config.tls?.clientAuth ?? "off" },
    },
    "spark-scheduler listening",
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, deadlineMs: config.shutdownTimeoutMs }, "shutting down");
    // A step waiting on an API server that no longer answers (a lease renewal or release whose request hangs
    // in a partition) must not keep the pod Terminating until the kubelet's SIGKILL: exit at the deadline
    // (`shutdown-timeout`: the server's 5 s grace, up to 10 s for writes in flight, then the backend).
    let step = "closing the server";
    setTimeout(() => {
      log.error({ signal, deadlineMs: config.shutdownTimeoutMs, step }, "shutdown did not finish in time; exiting");
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    clearInterval(healthTimer);
    tlsReloader?.stop();
    metrics.close();
    await app.close();
    // Writes still in flight (executor binds answered before their write, a rollout's SIGTERM) go out before
    // the process ends, within a bound: what does not land is re-attached by the next leader's reconciliation.
    step = "waiting for reservation writes in flight";
    const drained = await Promise.race([
      scheduler.pipeline.idle().then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), SHUTDOWN_DRAIN_MS).unref()),
    ]);
    if (!drained) log.warn({ reservations: scheduler.pipeline.busy, waitedMs: SHUTDOWN_DRAIN_MS }, "reservation writes still in flight at exit");
    step = "stopping the extras (marker, demands, SparkApplications)";
    await stopExtras();
    step = "stopping the backend (leader election, informers)";
    await backend.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((e: unknown) => {
  console.error("spark-scheduler failed to start:", e);
  process.exit(1);
});
