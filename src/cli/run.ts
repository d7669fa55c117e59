// The admin CLI's core: argument parsing (node:util parseArgs), dispatch, and error → exit status.
// runCli never touches process state, so tests run it in-process; src/cli/main.ts is the thin wrapper.

import { parseArgs } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { ERROR_DOMAIN } from "../server/errors.js";
import { type OpenClient, PROTOCOLS, type Protocol, type ViaProxy, openClient } from "./client.js";
import { COMMANDS as BASE_COMMANDS, CliError, type Command, GLOBAL_FLAGS_HELP, type OptionSpec, PROGRAM, UsageError, type Values } from "./commands.js";
import { V2_COMMANDS } from "./commands-v2.js";
import { DEFAULT_SERVICE, type PortForward, type ServiceRef, parseService, resolveKubeTarget, startPortForward } from "./kubeconfig.js";

const COMMANDS: readonly Command[] = [...BASE_COMMANDS, ...V2_COMMANDS];

export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Record<string, string | undefined>;
  /** Clock for ages (default Date.now). */
  now?: () => number;
  /** Directory relative file arguments are resolved against (default process.cwd()). */
  cwd?: string;
  /**
   * Run as the kubectl plugin (`kubectl spark`, src/cli/kubectl-spark.ts): without --server or
   * $SPARK_SCHEDULER_URL the service is reached through the kubeconfig's API server, and help says `kubectl spark`.
   */
  kubectlPlugin?: boolean;
}

export const PLUGIN_PROGRAM = "kubectl spark";

export const DEFAULT_SERVER = "http://127.0.0.1:8483";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  server: { type: "string" },
  protocol: { type: "string" },
  timeout: { type: "string" },
  token: { type: "string" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  service: { type: "string" },
  "port-forward": { type: "boolean" },
  output: { type: "string", short: "o" },
  help: { type: "boolean", short: "h" },
};

export const USAGE = `spark-scheduler admin CLI: reservations, FIFO queues and what-if placement, through the
SparkSchedulerService API (Connect, gRPC or gRPC-Web); filter calls ExtenderService.

Usage: ${PROGRAM} <command> [flags]

Commands:
${COMMANDS.map((c) => `  ${`${c.name} ${c.positionals.join(" ")}`.padEnd(33)}${c.summary}`).join("\n")}
  ${"help [COMMAND]".padEnd(33)}Show help for a command

${GLOBAL_FLAGS_HELP}

Exit status: 0 on success (also when an application does not fit), 1 when the call fails (the
error code and message go to stderr), 2 on a usage error.
Run "${PROGRAM} <command> --help" for a command's flags.
`;

/** Flags that take a value, in every spelling, so the command can be found among flags before it. */
const VALUE_FLAGS = new Set(
  [GLOBAL_OPTIONS, ...COMMANDS.map((c) => c.options)].flatMap((opts) =>
    Object.entries(opts)
      .filter(([, o]) => o.type === "string")
      .flatMap(([name, o]) => [`--${name}`, ...(o.short ? [`-${o.short}`] : [])]),
  ),
);

/** Splits off the command: the first argument that is neither a flag nor a flag's value. */
function splitCommand(argv: string[]): { name?: string; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") return argv.length > i + 1 ? { name: argv[i + 1], rest: [...argv.slice(0, i), ...argv.slice(i + 2)] } : { rest: argv };
    if (a.startsWith("-") && a !== "-") {
      if (VALUE_FLAGS.has(a)) i++;
      continue;
    }
    return { name: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { rest: argv };
}

/** Turns parseArgs' messages (which suggest `--` escapes) into short ones. */
function parseError(e: unknown): UsageError {
  const err = e as { code?: string; message: string };
  const unknown = /Unknown option '([^']+)'/.exec(err.message);
  if (unknown) return new UsageError(`unknown flag ${unknown[1]}`);
  const missing = /Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(err.message);
  if (missing) return new UsageError(`flag ${missing[1]} needs a value`);
  const bool = /Option '(?:-\w, )?(--[\w-]+)' does not take an argument/.exec(err.message);
  if (bool) return new UsageError(`flag ${bool[1]} does not take a value`);
  const ambiguous = /Option '(?:-\w, )?(--[\w-]+)' argument is ambiguous/.exec(err.message);
  if (ambiguous) return new UsageError(`flag ${ambiguous[1]} needs a value (for a value starting with "-", write ${ambiguous[1]}=VALUE)`);
  return new UsageError(err.message.split(/\.\s/)[0]);
}

function parseCommandArgs(cmd: Command, args: string[]): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options: { ...GLOBAL_OPTIONS, ...cmd.options }, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) throw parseError(e);
    throw e;
  }
}

interface Globals {
  server: string;
  /** Set when the server is reached through the kubeconfig's API server (service proxy). */
  proxy?: { kubeconfig?: string; context?: string; service: ServiceRef; portForward: boolean };
  protocol: Protocol;
  timeoutMs?: number;
  token?: string;
  output: "table" | "json" | "yaml";
}

const KUBE_FLAGS = ["kubeconfig", "context", "service", "port-forward"];

function globals(values: Values, env: CliIO["env"], plugin: boolean): Globals {
  const viaKube = KUBE_FLAGS.filter((f) => values[f] !== undefined);
  if (viaKube.length > 0 && values.server !== undefined) {
    throw new UsageError(`--server cannot be combined with ${viaKube.map((f) => `--${f}`).join(", ")} (they find the service through the API server)`);
  }
  const explicit = (values.server as string | undefined) ?? (env.SPARK_SCHEDULER_URL || undefined);
  if (viaKube.length > 0 || (plugin && explicit === undefined)) return proxyGlobals(values, env);
  const server = explicit ?? DEFAULT_SERVER;
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new UsageError(`--server: "${server}" is not a URL (e.g. ${DEFAULT_SERVER})`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--server: "${server}" must be an http:// or https:// URL`);

  const token = (values.token as string | undefined) ?? (env.SPARK_SCHEDULER_TOKEN || undefined);
  return { server: server.replace(/\/+$/, ""), token, ...common(values) };
}

/**
 * Through the service proxy --token, like kubectl's, authenticates to the API server in place of the
 * kubeconfig's credentials ($SPARK_SCHEDULER_TOKEN is the service's token and is not used): the API server
 * does not pass the Authorization header on to the service. Through --port-forward the token goes to the
 * service: --token, else $SPARK_SCHEDULER_TOKEN, else the kubeconfig's bearer token.
 */
function proxyGlobals(values: Values, env: CliIO["env"]): Globals {
  const service = parseService((values.service as string | undefined) ?? DEFAULT_SERVICE);
  const c = common(values);
  const portForward = values["port-forward"] === true;
  if (portForward) {
    const token = (values.token as string | undefined) ?? (env.SPARK_SCHEDULER_TOKEN || undefined);
    return { server: "", proxy: { kubeconfig: values.kubeconfig as string | undefined, context: values.context as string | undefined, service, portForward }, token, ...c };
  }
  if (c.protocol === "grpc") {
    throw new UsageError("--protocol grpc needs HTTP/2, which the API server's service proxy does not pass: use connect or grpcweb, or --port-forward");
  }
  return { server: "", proxy: { kubeconfig: values.kubeconfig as string | undefined, context: values.context as string | undefined, service, portForward }, token: values.token as string | undefined, ...c };
}

function common(values: Values): Pick<Globals, "protocol" | "timeoutMs" | "output"> {
  const rawProtocol = ((values.protocol as string | undefined) ?? "connect").toLowerCase();
  const protocol = (rawProtocol === "grpc-web" ? "grpcweb" : rawProtocol) as Protocol;
  if (!PROTOCOLS.includes(protocol)) throw new UsageError(`--protocol: "${rawProtocol}" is not one of ${PROTOCOLS.join(", ")}`);

  const rawTimeout = values.timeout as string | undefined;
  let timeoutMs: number | undefined;
  if (rawTimeout !== undefined) {
    timeoutMs = Number(rawTimeout);
    if (!/^\d+$/.test(rawTimeout) || timeoutMs <= 0) throw new UsageError(`--timeout: "${rawTimeout}" is not a positive number of milliseconds`);
  }

  const output = (values.output as string | undefined) ?? "table";
  if (output !== "table" && output !== "json" && output !== "yaml") throw new UsageError(`--output: "${output}" is not table, json or yaml`);
  return { protocol, timeoutMs, output };
}

/** The `Usage:` lines of a command's help, and where to find the rest. */
function synopsis(cmd: Command): string {
  return `${cmd.help.split("\n\n")[0]}\n\nRun "${PROGRAM} ${cmd.name} --help" for details.\n`;
}

/** `not_found`, `deadline_exceeded`, … as the Connect protocol spells codes. */
export function codeName(code: Code): string {
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

/**
 * Through the service proxy an error comes from the API server (no ErrorInfo of this service's domain) or from
 * the service: say which, and what usually helps.
 */
function proxyHint(e: ConnectError, via: { describe: string; namespace: string }, plugin: boolean): string {
  const fromService = e.findDetails(ErrorInfoSchema).some((d) => d.domain === ERROR_DOMAIN);
  const program = plugin ? PLUGIN_PROGRAM : PROGRAM;
  if (fromService) {
    if (e.code !== Code.Unauthenticated) return "";
    // The API server drops the caller's Authorization header once it has authenticated it.
    return (
      `hint: the service (access.rpc: kubernetes) wants a bearer token, which the API server's service proxy does not pass on;\n` +
      `      reach it through a port-forward instead, with the kubeconfig's token: ${program} --port-forward ...\n`
    );
  }
  let hint = `the API server refused the call (${via.describe})`;
  if (e.code === Code.Unauthenticated) hint += `: it did not accept the kubeconfig's credentials (expired? try kubectl get --raw /version)`;
  else if (e.code === Code.PermissionDenied) hint += `: RBAC must allow create on services/proxy (kubectl auth can-i create services/proxy -n ${via.namespace})`;
  else if (/not found/.test(e.rawMessage)) hint += `: name the service with --service NAMESPACE/NAME:PORT`;
  return `hint: ${hint}\n`;
}

/** Runs one CLI invocation; returns the exit status. */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const { name, rest } = splitCommand(argv);
  const wantsHelp = rest.includes("--help") || rest.includes("-h");
  const plugin = io.kubectlPlugin === true;
  // Help texts name the program as it was started.
  const text = (s: string) => (plugin ? s.replaceAll(PROGRAM, PLUGIN_PROGRAM) : s);
  const usageError = (message: string, usage: string) => {
    io.stderr(`error: ${message}\n\n${text(usage)}`);
    return EXIT_USAGE;
  };

  if (name === undefined) {
    if (wantsHelp) {
      io.stdout(text(USAGE));
      return EXIT_OK;
    }
    return usageError("no command given", USAGE);
  }
  if (name === "help") {
    const topic = rest.find((a) => !a.startsWith("-"));
    if (topic === undefined) {
      io.stdout(text(USAGE));
      return EXIT_OK;
    }
    const cmd = COMMANDS.find((c) => c.name === topic);
    if (!cmd) return usageError(`unknown command "${topic}"`, USAGE);
    io.stdout(text(cmd.help));
    return EXIT_OK;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) return usageError(`unknown command "${name}"`, USAGE);

  if (wantsHelp) {
    io.stdout(text(cmd.help));
    return EXIT_OK;
  }

  let open: OpenClient | undefined;
  let via: { describe: string; namespace: string } | undefined;
  let forward: PortForward | undefined;
  let tokenless = "";
  try {
    const { values, positionals } = parseCommandArgs(cmd, rest);
    if (positionals.length !== cmd.positionals.length) {
      const want = cmd.positionals.length === 0 ? "no arguments" : cmd.positionals.join(" ");
      const extra = positionals.length > cmd.positionals.length ? `unexpected argument "${positionals[cmd.positionals.length]}"` : `missing ${cmd.positionals.slice(positionals.length).join(" ")}`;
      throw new UsageError(`${extra} (${name} takes ${want})`);
    }
    if (positionals.some((p) => p === "")) throw new UsageError(`${cmd.positionals.join(" ")} must not be empty`);
    const g = globals(values, io.env, plugin);
    let server = g.server;
    let token = g.token;
    let proxy: ViaProxy | undefined;
    if (g.proxy?.portForward) {
      forward = await startPortForward(g.proxy, io.env);
      server = forward.url;
      token ??= forward.token;
      if (token === undefined) tokenless = `hint: the kubeconfig's user has no bearer token (a client certificate?), so the service cannot review it: give --token\n`;
    } else if (g.proxy) {
      const target = await resolveKubeTarget({ ...g.proxy }, io.env);
      server = target.baseUrl;
      proxy = { headers: target.headers, agentOptions: target.agentOptions };
      via = { describe: target.describe, namespace: g.proxy.service.namespace };
    }
    open = openClient(server, g.protocol, g.timeoutMs, token, proxy);
    await cmd.run(
      { client: open.client, extender: open.extender, output: g.output, now: io.now?.() ?? Date.now(), cwd: io.cwd ?? process.cwd(), write: io.stdout },
      values,
      positionals,
    );
    return EXIT_OK;
  } catch (e) {
    if (e instanceof UsageError) return usageError(e.message, synopsis(cmd));
    if (e instanceof ConnectError) {
      const hint = via !== undefined ? proxyHint(e, via, plugin) : e.code === Code.Unauthenticated ? tokenless : "";
      io.stderr(`error: ${codeName(e.code)}: ${e.rawMessage}\n${hint}`);
      return EXIT_FAILED;
    }
    if (e instanceof CliError) {
      io.stderr(`error: ${e.message}\n`);
      return EXIT_FAILED;
    }
    // A bug, not an expected failure: keep the stack.
    io.stderr(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return EXIT_FAILED;
  } finally {
    open?.close();
    await forward?.close();
  }
}
