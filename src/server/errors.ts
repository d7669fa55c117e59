// The error model of every route. A handler throws a RequestError: a Connect code, a stable reason (ErrorInfo
// reason, UPPER_SNAKE_CASE), a message and the malformed fields. The Connect routes turn it into a ConnectError
// with google.rpc details (ErrorInfo with reason and domain; BadRequest with one violation per field); the JSON
// routes (`/predicates`, `/convert`) into HTTP 400 `{error, reason, violations}`. Callers decide on the code and
// the reason, never on the message text.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { BadRequestSchema, BadRequest_FieldViolationSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { FieldViolation } from "../engine/model.js";

export type { FieldViolation };

/** ErrorInfo.domain of every error this service raises. */
export const ERROR_DOMAIN = "sparkscheduler.v1";

export type ErrorReason =
  /** A field is missing or malformed; BadRequest lists which. */
  | "INVALID_ARGUMENT"
  /** A request asks for more than a documented limit (executors, node names, string lengths). */
  | "LIMIT_EXCEEDED"
  /** The body is not valid JSON / protobuf for the route. */
  | "MALFORMED_BODY"
  /** The body is larger than `max-body-bytes`. */
  | "BODY_TOO_LARGE"
  /** The named application or pod is not known. */
  | "NOT_FOUND"
  /** No or an invalid bearer token. */
  | "UNAUTHENTICATED"
  /** The caller may not call this RPC (ErrorInfo metadata: the user and the access it lacks). */
  | "PERMISSION_DENIED"
  /** The caller's access could not be reviewed (the API server did not answer the TokenReview or SubjectAccessReview). */
  | "ACCESS_REVIEW_FAILED";

export class RequestError extends Error {
  constructor(
    readonly code: Code,
    readonly reason: ErrorReason,
    message: string,
    readonly violations: FieldViolation[] = [],
    /** ErrorInfo metadata. */
    readonly metadata: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** A malformed request; the message names the first violation. */
export function invalidArgument(violations: FieldViolation[], reason: ErrorReason = "INVALID_ARGUMENT"): RequestError {
  const first = violations[0];
  const more = violations.length > 1 ? ` (and ${violations.length - 1} more)` : "";
  const message = first.field ? `${first.field} ${first.description}${more}` : `${first.description}${more}`;
  return new RequestError(Code.InvalidArgument, reason, message, violations);
}

/** One malformed field. */
export function badField(field: string, description: string, reason: ErrorReason = "INVALID_ARGUMENT"): RequestError {
  return invalidArgument([{ field, description }], reason);
}

export function notFound(message: string): RequestError {
  return new RequestError(Code.NotFound, "NOT_FOUND", message);
}

/** The ConnectError for a RequestError, with ErrorInfo and (when fields are named) BadRequest details. */
export function toConnectError(e: RequestError): ConnectError {
  const details = [
    { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: e.reason, domain: ERROR_DOMAIN, metadata: e.metadata }) },
  ] as ConstructorParameters<typeof ConnectError>[3] & object[];
  if (e.violations.length > 0) {
    details.push({
      desc: BadRequestSchema,
      value: create(BadRequestSchema, {
        fieldViolations: e.violations.map((v) =>
          create(BadRequest_FieldViolationSchema, { field: v.field, description: v.description, reason: e.reason }),
        ),
      }),
    });
  }
  return new ConnectError(e.message, e.code, undefined, details, e);
}

/** Converts RequestErrors thrown by handlers into ConnectErrors with details. */
export const errorInterceptor: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (e) {
    if (e instanceof RequestError) throw toConnectError(e);
    throw e;
  }
};

/** The JSON body of an HTTP 400 on the JSON routes. */
export function jsonError(e: RequestError): { error: string; reason: ErrorReason; violations?: FieldViolation[] } {
  return e.violations.length > 0 ? { error: e.message, reason: e.reason, violations: e.violations } : { error: e.message, reason: e.reason };
}
