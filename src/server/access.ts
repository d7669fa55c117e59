// Who may use the port. Two policies:
//
// - The Connect services (SparkSchedulerService, ExtenderService), by `access.rpc`:
//   `kubernetes`: a bearer token (`Authorization: Bearer <token>`) checked with a TokenReview, then the user's
//     access checked with a SubjectAccessReview for RPC_ACCESS below, so RBAC decides: reading the admin API is
//     `list` on resourcereservations (what `kubectl get resourcereservations -A` needs), the state-changing
//     ExtenderService is `create` on them. Answers are cached for `access.cache-ttl` (bounded to
//     `access.cache-size` entries, one review in flight per token and verb) so that a burst of calls does not
//     become a burst of reviews; a failed review is not cached.
//   `loopback`: only callers on a loopback address (the embedded quick start); `none`: anyone.
//   gRPC health and reflection stay open (probes, schema only).
// - The extender route (`/predicates`): kube-scheduler runs in the same pod and calls over localhost, so only
//   loopback callers, plus the addresses and CIDRs listed in `access.extender-allowed-sources`.
//
// Refusals are RequestErrors (errors.ts): UNAUTHENTICATED (no, or an invalid token; HTTP 401 with a bearer
// challenge, see challengeUnauthenticated), PERMISSION_DENIED (with the
// user and the access it lacks in ErrorInfo metadata), ACCESS_REVIEW_FAILED (the API server did not answer).

import { createHash } from "node:crypto";
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

/** The interceptor enforcing `access.rpc` on the Connect services (see the top of this file). */
export function accessInterceptor(opts: AccessOptions): Interceptor {
  const { rpc, reviewer } = opts;
  if (rpc === "kubernetes" && !reviewer) throw new Error("access.rpc kubernetes needs a reviewer (a Kubernetes backend)");
  const cache = new ReviewCache<Verdict>(opts.cacheTtlMs ?? 10_000, opts.cacheSize ?? 1000, opts.now);

  const review = async (token: string, attrs: AccessAttributes): Promise<Verdict> => {
    const user = await reviewer!.authenticate(token);
    if (!user) return { kind: "unauthenticated" };
    const { allowed, reason } = await reviewer!.authorize(user, attrs);
    return allowed ? { kind: "allowed", user: user.username } : { kind: "denied", user: user.username, reason };
  };

  return (next) => async (req) => {
    const attrs = RPC_ACCESS[req.service.typeName];
    if (!attrs || rpc === "none") return next(req);
    if (rpc === "loopback") {
      if (isLoopback(req.contextValues.get(REMOTE_ADDRESS))) return next(req);
      throw denied(`${req.service.typeName} is served to loopback callers only (access.rpc: loopback)`);
    }
    const token = bearerToken(req.header.get("authorization"));
    if (!token) throw unauthenticated("a bearer token is required (Authorization: Bearer <token>)");
    // The token is kept only as a hash.
    const key = `${createHash("sha256").update(token).digest("base64")} ${attrs.verb}`;
    let verdict: Verdict;
    try {
      verdict = await cache.get(key, () => review(token, attrs));
    } catch (e) {
      throw new RequestError(Code.Unavailable, "ACCESS_REVIEW_FAILED", `cannot review the caller's access: ${(e as Error).message}`);
    }
    if (verdict.kind === "unauthenticated") throw unauthenticated("the bearer token is not valid (TokenReview)");
    if (verdict.kind === "denied") {
      const what = `${attrs.verb} ${attrs.resource}.${attrs.group}`;
      throw denied(`user "${verdict.user}" may not call ${req.service.typeName}: it needs ${what} (cluster-wide)${verdict.reason ? `: ${verdict.reason}` : ""}`, {
        user: verdict.user,
        verb: attrs.verb,
        group: attrs.group,
        resource: attrs.resource,
      });
    }
    return next(req);
  };
}
