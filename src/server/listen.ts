/**
 * One cleartext port for everything: HTTP/1.1 JSON routes (kube-scheduler's extender calls), Connect
 * (HTTP/1.1 and h2c), gRPC (h2c), gRPC-Web (HTTP/1.1), gRPC reflection and gRPC health.
 *
 * A plain `net.Server` reads the first bytes of each connection. A connection that starts with the
 * HTTP/2 client preface goes to `http2.createServer`, any other to `http.createServer`; both share one
 * `connectNodeAdapter` handler whose fallback serves the non-RPC paths. Neither inner server listens
 * itself. See shared/spec/stack.md §3 for why nothing simpler works on cleartext.
 *
 * Pitfalls handled here:
 * - no `resume()` before handing a socket to http2 (http2 reads the unshifted preface itself);
 * - the inner http1 server gets a synthetic "listening" event, which starts Node's connection
 *   checker, so `headersTimeout` / `requestTimeout` are enforced (slowloris);
 * - `keepAliveTimeout` defaults to 95 s, above Go's 90 s idle-connection timeout, so kube-scheduler
 *   never reuses a socket that Node is closing;
 * - a connection that sends nothing is dropped after `firstByteTimeoutMs`;
 * - sockets and h2 sessions are tracked, so `close()` is prompt even with keep-alive clients.
 */
import { X509Certificate, createPrivateKey, randomBytes } from "node:crypto";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import { Code, ConnectError, type ConnectRouter, createConnectRouter } from "@connectrpc/connect";
import {
  type ConnectNodeAdapterOptions,
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { pino, type Logger } from "pino";

/** The server's TLS credentials (PEM), and optionally the CA bundle that client certificates are verified against. */
export interface ServerTls {
  cert: string | Buffer;
  key: string | Buffer;
  /**
   * Ask clients for a certificate and verify it against these CAs. The result is on the socket
   * (`authorized`, `getPeerCertificate()`); access.ts decides what it allows.
   */
  clientCa?: string | Buffer;
  /** With clientCa: `optional` (default) serves clients without a valid certificate too; `required` refuses their handshake. */
  clientAuth?: "optional" | "required";
}

/** The certificates of a PEM bundle; throws when it holds none, or one that does not parse. */
export function parseCaBundle(pem: string | Buffer): X509Certificate[] {
  const blocks = String(pem).match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error("the client CA bundle holds no PEM certificate");
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw new Error(`certificate ${i + 1} of the client CA bundle does not parse: ${(e as Error).message}`, { cause: e });
    }
  });
}

/** Handler for requests that match no RPC; gets an http1 or an http2 compat request/response. */
export type FallbackHandler = NonNullable<ConnectNodeAdapterOptions["fallback"]>;

export interface StartServerOptions {
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Address to bind; default: all interfaces. */
  host?: string;
  /** Registers the Connect/gRPC services. */
  routes: (router: ConnectRouter) => void;
  /** Serves every path that is not an RPC; default: 404. */
  fallback?: FallbackHandler;
  /** Default: a silent logger. */
  logger?: Logger;
  /** More Connect options (interceptors, readMaxBytes, jsonOptions, …). */
  adapterOptions?: Omit<ConnectNodeAdapterOptions, "routes" | "fallback">;
  /** Wraps every RPC handler (e.g. request-guard.ts), before any request reaches it. */
  wrapHandler?: (handler: UniversalHandler) => UniversalHandler;
  /**
   * Serve TLS (HTTP/1.1 and h2 negotiated by ALPN) instead of cleartext, e.g. for kube-scheduler's
   * `enableHTTPS` or the API server's CRD conversion webhook calls. PEM certificate chain and private key, and
   * optionally a client CA bundle (mTLS).
   */
  tls?: ServerTls;
  /** Drop a connection that has sent no byte for this long before the protocol is known. Default 10 s. */
  firstByteTimeoutMs?: number;
  /** HTTP/1.1 idle keep-alive timeout. Default 95 s (Go clients keep idle sockets for 90 s). */
  keepAliveTimeoutMs?: number;
  /** HTTP/1.1: time allowed to receive the request headers. Default 60 s. */
  headersTimeoutMs?: number;
  /** HTTP/1.1: time allowed to receive the whole request. Default 300 s. */
  requestTimeoutMs?: number;
  /** HTTP/1.1: how often the two timeouts above are checked. Default 5 s. */
  connectionsCheckingIntervalMs?: number;
  /** HTTP/2: close (GOAWAY) a session that has had no open stream and no traffic for this long. 0 disables. Default 95 s. */
  h2IdleTimeoutMs?: number;
  /**
   * On `close()`, how long in-flight requests may take before their connections are destroyed.
   * Idle connections are closed at once and streaming handlers see `ctx.signal` aborted at once.
   * Default 5 s.
   */
  shutdownGraceMs?: number;
}

export interface RunningServer {
  /** The bound port. */
  readonly port: number;
  /** Base URL for clients, e.g. "http://127.0.0.1:8080" (loopback if bound to all interfaces). */
  readonly url: string;
  /** Stops accepting, closes idle connections, lets in-flight requests finish (up to the grace), then resolves. */
  close(): Promise<void>;
  /**
   * TLS only: serve new connections with this certificate chain and key, and verify their client certificates
   * against this client CA bundle (a rotation; a field left out keeps its current value); open connections keep
   * what they negotiated. Throws when the pair or the bundle is not valid (the old ones stay in use), or when a
   * client CA is given to a server started without one.
   */
  setCredentials(cred: { cert: string | Buffer; key: string | Buffer; clientCa?: string | Buffer }): void;
  /** The listening socket server and the two inner protocol servers, for inspection. */
  readonly netServer: net.Server;
  readonly http1Server: http.Server;
  readonly http2Server: http2.Http2Server;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

const notFound: FallbackHandler = (_req, res) => {
  res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
  res.end("not found\n");
};

/**
 * connect-node's `connectNodeAdapter`, with a hook to wrap each RPC handler (connectNodeAdapter offers none) and
 * handler failures logged through pino instead of console.error.
 */
function nodeAdapter(options: ConnectNodeAdapterOptions, wrap: (h: UniversalHandler) => UniversalHandler, log: Logger): FallbackHandler {
  const router = createConnectRouter({ acceptCompression: [compressionGzip, compressionBrotli], ...options });
  options.routes(router);
  const paths = new Map<string, UniversalHandler>();
  for (const h of router.handlers) paths.set((options.requestPathPrefix ?? "") + h.requestPath, wrap(h));
  const fallback = options.fallback ?? notFound;
  return (req, res) => {
    const uHandler = paths.get(req.url?.split("?", 2)[0] ?? "");
    if (!uHandler) return fallback(req, res);
    const uReq = universalRequestFromNodeRequest(req, res, undefined, options.contextValues?.(req));
    uHandler(uReq)
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code === Code.Aborted) return;
        log.error({ err: reason, rpc: `${uHandler.service.typeName}/${uHandler.method.name}` }, "rpc handler failed");
      });
  };
}

function urlHost(host: string | undefined): string {
  if (host === undefined || host === "" || host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

export function startServer(options: StartServerOptions): Promise<RunningServer> {
  const log = (options.logger ?? pino({ level: "silent" })).child({ component: "server" });
  const firstByteTimeoutMs = options.firstByteTimeoutMs ?? 10_000;
  const h2IdleTimeoutMs = options.h2IdleTimeoutMs ?? 95_000;
  const shutdownGraceMs = options.shutdownGraceMs ?? 5_000;

  const shutdown = new AbortController();
  const userShutdownSignal = options.adapterOptions?.shutdownSignal;
  const handler = nodeAdapter(
    {
      ...options.adapterOptions,
      routes: options.routes,
      fallback: options.fallback ?? notFound,
      shutdownSignal: userShutdownSignal ? AbortSignal.any([userShutdownSignal, shutdown.signal]) : shutdown.signal,
    },
    options.wrapHandler ?? ((h) => h),
    log,
  );

  let closing = false;
  const inFlight = new Set<http.ServerResponse>(); // HTTP/1.1 responses not yet finished

  const h1 = http.createServer(
    {
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 95_000,
      headersTimeout: options.headersTimeoutMs ?? 60_000,
      requestTimeout: options.requestTimeoutMs ?? 300_000,
      connectionsCheckingInterval: options.connectionsCheckingIntervalMs ?? 5_000,
    },
    (req, res) => {
      // While shutting down, answer with "Connection: close" so keep-alive clients move on.
      if (closing) res.shouldKeepAlive = false;
      else {
        inFlight.add(res);
        res.once("close", () => inFlight.delete(res));
      }
      handler(req, res);
    },
  );
  const h2 = http2.createServer(handler);

  const sockets = new Set<net.Socket>(); // every accepted connection until it closes
  const sniffing = new Set<net.Socket>(); // accepted, protocol not known yet
  const sessions = new Set<http2.ServerHttp2Session>();
  const openStreams = new Map<http2.Http2Session, number>();

  const trackSession = (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    openStreams.set(session, 0);
    session.once("close", () => {
      sessions.delete(session);
      openStreams.delete(session);
    });
    if (h2IdleTimeoutMs > 0) {
      session.setTimeout(h2IdleTimeoutMs, () => {
        if ((openStreams.get(session) ?? 0) === 0 && !session.closed) {
          log.debug("closing idle h2 session");
          session.close();
        }
      });
    }
    if (closing) session.close();
  };
  const trackStream = (stream: http2.ServerHttp2Stream) => {
    const s = stream.session;
    if (!s) return;
    openStreams.set(s, (openStreams.get(s) ?? 0) + 1);
    stream.once("close", () => {
      if (openStreams.has(s)) openStreams.set(s, (openStreams.get(s) ?? 1) - 1);
    });
  };
  h2.on("session", trackSession);
  h2.on("stream", trackStream);
  h2.on("sessionError", (err: Error) => log.debug({ err }, "h2 session error"));

  const server: net.Server = options.tls ? secureServer(options.tls) : net.createServer((sock) => accept(sock));

  /**
   * TLS: http2's secure server negotiates h2 or http/1.1 by ALPN and serves both with the same handler;
   * no sniffing is needed. Connections and sessions are tracked like the cleartext ones for shutdown.
   */
  function secureServer(cred: ServerTls): http2.Http2SecureServer {
    if (cred.clientCa !== undefined) parseCaBundle(cred.clientCa);
    const mtls = cred.clientCa === undefined ? {} : { ca: cred.clientCa, requestCert: true, rejectUnauthorized: cred.clientAuth === "required" };
    const secure = http2.createSecureServer({ allowHTTP1: true, cert: cred.cert, key: cred.key, ...mtls }, (req, res) => {
      if (res instanceof http.ServerResponse) {
        if (closing) res.shouldKeepAlive = false;
        else {
          inFlight.add(res);
          res.once("close", () => inFlight.delete(res));
        }
      }
      handler(req, res);
    });
    secure.on("connection", (sock: net.Socket) => {
      if (closing) return sock.destroy();
      sockets.add(sock);
      sock.once("close", () => sockets.delete(sock));
    });
    secure.on("session", trackSession);
    secure.on("stream", trackStream);
    secure.on("tlsClientError", (err) => log.debug({ err }, "TLS handshake failed"));
    return secure;
  }

  /** TLS HTTP/1.1 connections with no request in flight (the secure server has no closeIdleConnections). */
  const closeIdleTls = () => {
    const busy = new Set<unknown>();
    for (const res of inFlight) busy.add(res.socket);
    for (const session of sessions) busy.add(session.socket);
    for (const sock of sockets) {
      // The tracked socket is the TCP one; requests see the TLS socket wrapping it.
      const wrapped = [...busy].some((b) => b === sock || (b as { _parent?: unknown } | null)?._parent === sock);
      if (!wrapped) sock.destroy();
    }
  };

  function accept(sock: net.Socket): void {
    if (closing) {
      sock.destroy();
      return;
    }
    sockets.add(sock);
    sniffing.add(sock);
    sock.once("close", () => {
      sockets.delete(sock);
      sniffing.delete(sock);
    });

    let buf: Buffer = Buffer.alloc(0);
    const onTimeout = () => {
      log.debug({ remote: sock.remoteAddress }, "no request bytes before timeout; dropping connection");
      sock.destroy();
    };
    const onError = (err: Error) => {
      log.debug({ err }, "socket error before protocol detection");
      sock.destroy();
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const n = Math.min(buf.length, PREFACE.length);
      const isH2 = buf.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (isH2 && buf.length < PREFACE.length) return; // a partial preface: wait for more
      sniffing.delete(sock);
      sock.off("data", onData);
      sock.off("timeout", onTimeout);
      sock.off("error", onError);
      sock.setTimeout(0);
      if (closing) {
        sock.destroy();
        return;
      }
      sock.pause();
      sock.unshift(buf);
      if (isH2) {
        h2.emit("connection", sock); // NO resume(): http2 reads the buffered bytes itself
      } else {
        h1.emit("connection", sock);
        sock.resume();
      }
    };
    sock.setTimeout(firstByteTimeoutMs, onTimeout);
    sock.on("error", onError);
    sock.on("data", onData);
  }
  server.on("error", (err) => log.error({ err }, "server error"));

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      log.info("server shutting down");
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      shutdown.abort(new Error("server shutting down"));
      // Sockets still sniffing have no request in flight.
      for (const sock of sniffing) sock.destroy();
      for (const session of sessions) session.close();
      for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
      const closeIdle = () => (options.tls ? closeIdleTls() : h1.closeIdleConnections());
      closeIdle();

      const deadline = Date.now() + shutdownGraceMs;
      while (sockets.size > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        closeIdle();
      }
      if (sockets.size > 0) log.warn({ connections: sockets.size }, "shutdown grace expired; destroying connections");
      for (const session of sessions) session.destroy();
      for (const sock of sockets) sock.destroy();
      await serverClosed;
      h1.close(); // stops the http1 connection checker interval
      h2.close();
      log.info("server closed");
    })();
    return closed;
  };

  return new Promise<RunningServer>((resolve, reject) => {
    const onListenError = (err: Error) => reject(err);
    server.once("error", onListenError);
    server.listen(options.port ?? 0, options.host, () => {
      server.off("error", onListenError);
      h1.emit("listening"); // starts http's connection checker (headersTimeout / requestTimeout)
      const address = server.address() as net.AddressInfo;
      const url = `${options.tls ? "https" : "http"}://${urlHost(options.host)}:${address.port}`;
      const protocols = options.tls ? "https: http/1.1 and h2 by ALPN" : "http/1.1, h2c";
      log.info({ address: address.address, port: address.port }, `listening (${protocols}; connect, grpc, grpc-web)`);
      let clientCa = options.tls?.clientCa;
      const setCredentials = (cred: { cert: string | Buffer; key: string | Buffer; clientCa?: string | Buffer }) => {
        if (!(server instanceof tls.Server)) throw new Error("the server does not serve TLS");
        // OpenSSL drops a key that does not match the certificate without an error (handshakes then fail), so
        // the pair is checked here.
        if (!new X509Certificate(cred.cert).checkPrivateKey(createPrivateKey(cred.key))) {
          throw new Error("the private key does not match the certificate");
        }
        if (cred.clientCa !== undefined) {
          // Requesting client certificates is decided when the server is made.
          if (clientCa === undefined) throw new Error("the server was started without a client CA");
          parseCaBundle(cred.clientCa);
        }
        const ca = cred.clientCa ?? clientCa;
        // A context replaces the whole previous one, so the client CA goes with every pair.
        server.setSecureContext({ cert: cred.cert, key: cred.key, ...(ca === undefined ? {} : { ca }) });
        if (ca !== undefined && clientCa !== undefined && !Buffer.from(ca).equals(Buffer.from(clientCa))) {
          // New session tickets: a session whose client was verified against a CA that is gone is not resumed.
          server.setTicketKeys(randomBytes(48));
        }
        clientCa = ca;
      };
      resolve({ port: address.port, url, close, setCredentials, netServer: server, http1Server: h1, http2Server: h2 });
    });
  });
}
