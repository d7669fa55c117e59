// Who may use the port. Two policies:
//
// - The Connect services (SparkSchedulerService, ExtenderService), by `access.rpc`:
//   `kubernetes`: the caller is identified by a client certificate the TLS server verified against
//     `tls.client-ca-file` (as kube-apiserver's x509 authenticator does it: user = the subject's CN, groups = its
//     O values), else by a bearer token (`Authorization: Bearer <token>`) checked with a TokenReview; then the
//     user's access is checked with a SubjectAccessReview for RPC_ACCESS below, so RBAC decides: reading the
//     admin API is `list` on resourcereservations (what `kubectl get resourcereservations -A` needs), the
//     state-changing ExtenderService is `create` on them. Answers are cached for `access.cache-ttl` (bounded to
//     `access.cache-size` entries, one review in flight per token or certificate and verb) so that a burst of
//     calls does not become a burst of reviews; a failed review is not cached.
//   `loopback`: only callers on a loopback address (the embedded quick start); `none`: anyone.
//   gRPC health and reflection stay open (probes, schema only).
// - The extender route (`/predicates`): kube-scheduler runs in the same pod and calls over localhost, so only
//   loopback callers, plus the addresses and CIDRs listed in `access.extender-allowed-sources`, plus (with
//   `access.rpc: kubernetes`) callers whose verified client certificate names a user who may call ExtenderService
//   (a kube-scheduler elsewhere, with a client certificate in its extender tlsConfig).
//
// Refusals are RequestErrors (errors.ts): UNAUTHENTICATED (no, or an invalid token, and no verified client
// certificate with a CN; HTTP 401 with a bearer challenge, see challengeUnauthenticated), PERMISSION_DENIED (with the
// user and the access it lacks in ErrorInfo metadata), ACCESS_REVIEW_FAILED (the API server did not answer).

import { createHash } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { BlockList, isIP } from "node:net";
import { Code, type Interceptor, createContextKey } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";
import { ExtenderService, SparkSchedulerService } from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import { RR_GROUP, RR_PLURAL } from "../engine/reservation.js";
import { RequestError } from "./errors.js";

export interface ReviewedUser {
  username: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

/** The SubjectAccessReview resource attributes an RPC needs (cluster-wide). */
export interface AccessAttributes {
  verb: string;
  group: string;
  resource: string;
}

/** Asks the cluster (src/kube/access-review.ts); a rejected promise means the review itself failed. */
export interface AccessReviewer {
  /** The user a bearer token belongs to; undefined when the token is not valid. */
  authenticate(token: string): Promise<ReviewedUser | undefined>;
  authorize(user: ReviewedUser, attrs: AccessAttributes): Promise<{ allowed: boolean; reason: string }>;
}

/** Access each Connect service needs; services not listed (health, reflection) are open. */
export const RPC_ACCESS: Record<string, AccessAttributes> = {
  [SparkSchedulerService.typeName]: { verb: "list", group: RR_GROUP, resource: RR_PLURAL },
  [ExtenderService.typeName]: { verb: "create", group: RR_GROUP, resource: RR_PLURAL },
};

export const RPC_ACCESS_MODES = ["kubernetes", "loopback", "none"] as const;
export type RpcAccessMode = (typeof RPC_ACCESS_MODES)[number];

export interface AccessOptions {
  rpc: RpcAccessMode;
  /** Required with `rpc: kubernetes`. */
  reviewer?: AccessReviewer;
  /** How long a review's answer is reused. Default 10 s. */
  cacheTtlMs?: number;
  /** Most cached answers; the oldest go first. Default 1000. */
  cacheSize?: number;
  /** Addresses and CIDRs besides loopback that may call the extender route. */
  extenderAllowedSources?: readonly string[];
  /** Clock of the cache (ms). Default Date.now. */
  now?: () => number;
}

/** The remote address of the connection a request came on, set per request by the server (app.ts). */
export const REMOTE_ADDRESS = createContextKey<string | undefined>(undefined, { description: "remote address" });

/** The certificate a TLS client presented, as the handshake left it (see clientCertificate). */
export interface ClientCertificate {
  /** Whether it chains to `tls.client-ca-file` (and is valid now, and fit for client authentication). */
  verified: boolean;
  /** OpenSSL's reason when it is not verified, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE. */
  error?: string;
  subject: PeerCertificate["subject"];
  fingerprint256: string;
}

/** The client certificate of the connection a request came on, set per request by the server (app.ts). */
export const CLIENT_CERTIFICATE = createContextKey<ClientCertificate | undefined>(undefined, { description: "client certificate" });

/** What clientCertificate needs of a socket (a TLSSocket; HTTP/2 requests see a proxy of one). */
interface PeerSocket {
  authorized?: boolean;
  authorizationError?: Error | string;
  getPeerCertificate?: () => PeerCertificate;
}

/** The certificate the client of a TLS socket presented; undefined for cleartext or when it presented none. */
export function clientCertificate(socket: unknown): ClientCertificate | undefined {
  const s = socket as PeerSocket | undefined;
  if (typeof s?.getPeerCertificate !== "function") return undefined;
  const peer = s.getPeerCertificate();
  // No certificate: an empty object (or null once the socket is gone).
  if (!peer?.fingerprint256) return undefined;
  const error = s.authorizationError === undefined || s.authorizationError === null ? undefined : String(s.authorizationError);
  return { verified: s.authorized === true, error, subject: peer.subject, fingerprint256: peer.fingerprint256 };
}

/** The group kube-apiserver adds to every authenticated user, so that RBAC bindings to it apply here too. */
export const AUTHENTICATED_GROUP = "system:authenticated";

/**
 * The user a verified client certificate names, as kube-apiserver's x509 authenticator reads it: the subject's
 * common name is the user name, its organisations are the groups. Undefined when the subject has no CN.
 */
export function certificateUser(cert: ClientCertificate): ReviewedUser | undefined {
  const values = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  // Go's pkix.Name keeps the last CN when a subject has several; so does this.
  const username = values(cert.subject?.CN).at(-1);
  if (!username) return undefined;
  return { username, groups: [...values(cert.subject?.O), AUTHENTICATED_GROUP], extra: {} };
}

// ---------------------------------------------------------------------------------------------
// Addresses

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** An address as BlockList checks it: IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as IPv4. */
function normalise(address: string): { address: string; family: "ipv4" | "ipv6" } | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1], family: "ipv4" };
  const v = isIP(address);
  return v === 4 ? { address, family: "ipv4" } : v === 6 ? { address, family: "ipv6" } : undefined;
}

export function isLoopback(address: string | undefined): boolean {
  const a = address === undefined ? undefined : normalise(address);
  return a !== undefined && LOOPBACK.check(a.address, a.family);
}

/** Parses `10.0.0.0/8`, `10.1.2.3`, `fd00::/8`; throws an Error naming the bad entry. */
export function parseSources(sources: readonly string[]): BlockList {
  const list = new BlockList();
  for (const s of sources) {
    const [addr, prefix, ...rest] = s.split("/");
    const family = isIP(addr) === 4 ? "ipv4" : isIP(addr) === 6 ? "ipv6" : undefined;
    const max = family === "ipv4" ? 32 : 128;
    if (!family || rest.length > 0 || (prefix !== undefined && !(/^\d+$/.test(prefix) && Number(prefix) <= max))) {
      throw new Error(`"${s}" is not an IP address or CIDR (e.g. 10.0.0.0/8, fd00::/8)`);
    }
    if (prefix === undefined) list.addAddress(addr, family);
    else list.addSubnet(addr, Number(prefix), family);
  }
  return list;
}

/** Whether a caller at `address` may use the extender route. */
export function extenderSourceFilter(allowed: readonly string[] = []): (address: string | undefined) => boolean {
  const list = parseSources(allowed);
  return (address) => {
    if (isLoopback(address)) return true;
    const a = address === undefined ? undefined : normalise(address);
    return a !== undefined && list.check(a.address, a.family);
  };
}

// ---------------------------------------------------------------------------------------------
// Reviews and their cache

/** A bounded, expiring cache of promises: concurrent callers of one key share one load; failed loads are dropped. */
export class ReviewCache<T> {
  private readonly entries = new Map<string, { value: Promise<T>; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string, load: () => Promise<T>): Promise<T> {
    const now = this.now();
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > now) return hit.value;
    this.entries.delete(key);
    const value = load();
    this.entries.set(key, { value, expiresAt: now + this.ttlMs });
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    // Map iteration is insertion order: the first key is the oldest entry.
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }
}

type Verdict = { kind: "allowed"; user: string } | { kind: "unauthenticated" } | { kind: "denied"; user: string; reason: string };

/** The realm of the bearer challenge on a 401. */
export const AUTH_REALM = "spark-scheduler";

/**
 * The `WWW-Authenticate` challenge of a 401 (RFC 6750 §3): `error="invalid_token"` when the request presented a
 * bearer token that was rejected, none when it presented no token (the client is told only that one is needed).
 */
export function bearerChallenge(authorization: string | null): string {
  const presented = bearerToken(authorization) !== undefined;
  return `Bearer realm="${AUTH_REALM}"${presented ? ', error="invalid_token"' : ""}`;
}

/**
 * Wraps a Connect handler so that every 401 it answers (UNAUTHENTICATED on the Connect protocol) carries the
 * bearer challenge, as HTTP requires of a 401. gRPC and gRPC-Web answer HTTP 200 with the status in trailers.
 */
export function challengeUnauthenticated(handler: UniversalHandler): UniversalHandler {
  const challenged = async (req: UniversalServerRequest) => {
    const res = await handler(req);
    if (res.status === 401) {
      const header = new Headers(res.header);
      header.set("www-authenticate", bearerChallenge(req.header.get("authorization")));
      return { ...res, header };
    }
    return res;
  };
  return Object.assign(challenged, {
    requestPath: handler.requestPath,
    method: handler.method,
    service: handler.service,
    protocolNames: handler.protocolNames,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  }) as UniversalHandler;
}

/** The bearer token of an `Authorization` header; undefined when there is none. */
export function bearerToken(header: string | null): string | undefined {
  const m = header === null ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

function denied(message: string, metadata: Record<string, string> = {}): RequestError {
  return new RequestError(Code.PermissionDenied, "PERMISSION_DENIED", message, [], metadata);
}

function unauthenticated(message: string): RequestError {
  return new RequestError(Code.Unauthenticated, "UNAUTHENTICATED", message);
}

/** What identifies a caller: where it calls from, its `Authorization` header and its client certificate. */
export interface Caller {
  remoteAddress?: string;
  authorization: string | null;
  certificate?: ClientCertificate;
}

export interface AccessChecker {
  /** Resolves when the caller may use the service (a Connect service's type name); throws a RequestError if not. */
  check(service: string, caller: Caller): Promise<void>;
  /** Whether the caller may use the extender route; throws a RequestError when it presented a credential that is refused. */
  extender(caller: Caller): Promise<boolean>;
}

/** Enforces `access.rpc` on the Connect services and the extender route (see the top of this file). */
export function accessChecker(opts: AccessOptions): AccessChecker {
  const { rpc, reviewer } = opts;
  if (rpc === "kubernetes" && !reviewer) throw new Error("access.rpc kubernetes needs a reviewer (a Kubernetes backend)");
  const cache = new ReviewCache<Verdict>(opts.cacheTtlMs ?? 10_000, opts.cacheSize ?? 1000, opts.now);
  const extenderAllowed = extenderSourceFilter(opts.extenderAllowedSources);

  const authorize = async (user: ReviewedUser, attrs: AccessAttributes): Promise<Verdict> => {
    const { allowed, reason } = await reviewer!.authorize(user, attrs);
    return allowed ? { kind: "allowed", user: user.username } : { kind: "denied", user: user.username, reason };
  };
  const review = async (token: string, attrs: AccessAttributes): Promise<Verdict> => {
    const user = await reviewer!.authenticate(token);
    return user ? authorize(user, attrs) : { kind: "unauthenticated" };
  };

  /** Authenticates and authorises a caller for `attrs` (access.rpc: kubernetes); throws a RequestError if refused. */
  const kubernetes = async (service: string, attrs: AccessAttributes, caller: Caller): Promise<void> => {
    // As in kube-apiserver, a verified client certificate is tried first, then a bearer token.
    const cert = caller.certificate;
    const certUser = cert?.verified ? certificateUser(cert) : undefined;
    const token = certUser ? undefined : bearerToken(caller.authorization);
    if (!certUser && !token) {
      if (cert && !cert.verified) {
        throw unauthenticated(`the client certificate is not verified against tls.client-ca-file (${cert.error ?? "not verified"}), and no bearer token was sent`);
      }
      if (cert) throw unauthenticated("the client certificate's subject has no common name (CN, the user name), and no bearer token was sent");
      throw unauthenticated("a bearer token is required (Authorization: Bearer <token>)");
    }
    // Tokens are kept only as a hash; a certificate by its fingerprint (it names the same user for as long as it is valid).
    const key = certUser
      ? `x509 ${cert!.fingerprint256} ${attrs.verb}`
      : `token ${createHash("sha256").update(token!).digest("base64")} ${attrs.verb}`;
    let verdict: Verdict;
    try {
      verdict = await cache.get(key, () => (certUser ? authorize(certUser, attrs) : review(token!, attrs)));
    } catch (e) {
      throw new RequestError(Code.Unavailable, "ACCESS_REVIEW_FAILED", `cannot review the caller's access: ${(e as Error).message}`);
    }
    if (verdict.kind === "unauthenticated") throw unauthenticated("the bearer token is not valid (TokenReview)");
    if (verdict.kind === "denied") {
      const what = `${attrs.verb} ${attrs.resource}.${attrs.group}`;
      throw denied(`user "${verdict.user}" may not call ${service}: it needs ${what} (cluster-wide)${verdict.reason ? `: ${verdict.reason}` : ""}`, {
        user: verdict.user,
        verb: attrs.verb,
        group: attrs.group,
        resource: attrs.resource,
      });
    }
  };

  return {
    async check(service, caller) {
      const attrs = RPC_ACCESS[service];
      if (!attrs || rpc === "none") return;
      if (rpc === "loopback") {
        if (isLoopback(caller.remoteAddress)) return;
        throw denied(`${service} is served to loopback callers only (access.rpc: loopback)`);
      }
      await kubernetes(service, attrs, caller);
    },
    async extender(caller) {
      if (extenderAllowed(caller.remoteAddress)) return true;
      // Elsewhere, a client certificate can identify kube-scheduler; a bearer token is not asked for here
      // (kube-scheduler's extender client sends none).
      if (rpc !== "kubernetes" || !caller.certificate) return false;
      const service = ExtenderService.typeName;
      await kubernetes(service, RPC_ACCESS[service], { ...caller, authorization: null });
      return true;
    },
  };
}

/** The interceptor enforcing `access.rpc` on the Connect services (see the top of this file). */
export function accessInterceptor(checker: AccessChecker): Interceptor {
  return (next) => async (req) => {
    await checker.check(req.service.typeName, {
      remoteAddress: req.contextValues.get(REMOTE_ADDRESS),
      authorization: req.header.get("authorization"),
      certificate: req.contextValues.get(CLIENT_CERTIFICATE),
    });
    return next(req);
  };
}
