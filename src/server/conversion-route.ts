// The ResourceReservation CRD conversion webhook: `POST /convert` (and `<context-path>/convert`), as the
// reference served it (reference §1.1, §5.1), so a CRD that still stores v1beta1 and points its webhook here keeps
// working. Request: a `ConversionReview` (apiextensions.k8s.io/v1 or v1beta1 — the same shape) with
// request.uid, request.desiredAPIVersion and request.objects. Response: a ConversionReview of the same apiVersion
// with response.uid, the converted objects in order and result.status "Success"; or, when any object cannot be
// converted, result {status: "Failure", message} (HTTP 200, as the API server expects). A body that is not a
// ConversionReview (malformed JSON, wrong kind, no uid or desiredAPIVersion) or is too large gets HTTP 400.

import { RR_API_VERSIONS, convertReservationObject } from "../engine/rr-conversion.js";
import { RequestError, jsonError } from "./errors.js";
import { BadRequest, type Req, type Res, readBody, sendJson } from "./extender-route.js";

export const CONVERSION_REVIEW_API_VERSIONS: readonly string[] = ["apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1"];
export const CONVERSION_REVIEW_KIND = "ConversionReview";

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);

export interface ConversionRequest {
  /** The review's own apiVersion, answered in kind. */
  apiVersion: string;
  uid: string;
  desiredAPIVersion: string;
  objects: unknown[];
}

/** Validates a ConversionReview body; throws BadRequest naming what is wrong. */
export function parseConversionReview(body: Buffer): ConversionRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString("utf8"));
  } catch (e) {
    throw new BadRequest(`malformed JSON: ${(e as Error).message}`);
  }
  if (!isObj(raw)) throw new BadRequest("ConversionReview must be a JSON object");
  if (raw.kind !== CONVERSION_REVIEW_KIND) {
    throw new BadRequest(`kind must be ${CONVERSION_REVIEW_KIND}, not ${JSON.stringify(raw.kind)}`);
  }
  const apiVersion = raw.apiVersion;
  if (typeof apiVersion !== "string" || !CONVERSION_REVIEW_API_VERSIONS.includes(apiVersion)) {
    throw new BadRequest(
      `unsupported ConversionReview apiVersion ${JSON.stringify(apiVersion)} (supported: ${CONVERSION_REVIEW_API_VERSIONS.join(", ")})`,
    );
  }
  const request = raw.request;
  if (!isObj(request)) throw new BadRequest("ConversionReview.request is required");
  if (typeof request.uid !== "string" || request.uid === "") throw new BadRequest("ConversionReview.request.uid is required");
  if (typeof request.desiredAPIVersion !== "string" || request.desiredAPIVersion === "") {
    throw new BadRequest("ConversionReview.request.desiredAPIVersion is required");
  }
  const objects = request.objects ?? [];
  if (!Array.isArray(objects)) throw new BadRequest("ConversionReview.request.objects must be a list");
  return { apiVersion, uid: request.uid, desiredAPIVersion: request.desiredAPIVersion, objects };
}

/** Converts every object of a review; the first object that fails turns the whole review into a Failure. */
export function conversionResponse(review: ConversionRequest): Obj {
  const answer = (response: Obj): Obj => ({ apiVersion: review.apiVersion, kind: CONVERSION_REVIEW_KIND, response });
  const failure = (message: string) => answer({ uid: review.uid, result: { status: "Failure", message } });
  if (!RR_API_VERSIONS.includes(review.desiredAPIVersion)) {
    return failure(
      `unsupported desiredAPIVersion ${JSON.stringify(review.desiredAPIVersion)}: this webhook converts ResourceReservations between ${RR_API_VERSIONS.join(" and ")}`,
    );
  }
  const convertedObjects: Obj[] = [];
  for (const [i, obj] of review.objects.entries()) {
    const r = convertReservationObject(obj, review.desiredAPIVersion);
    if (!r.ok) return failure(`object ${i + 1} of ${review.objects.length}: ${r.error}`);
    convertedObjects.push(r.value);
  }
  return answer({ uid: review.uid, convertedObjects, result: { status: "Success" } });
}

/** Handles one conversion webhook call end to end. */
export async function handleConversion(req: Req, res: Res, maxBodyBytes: number): Promise<void> {
  let review: ConversionRequest;
  try {
    review = parseConversionReview(await readBody(req, maxBodyBytes));
  } catch (e) {
    if (e instanceof RequestError) {
      sendJson(res, 400, jsonError(e));
      return;
    }
    throw e;
  }
  sendJson(res, 200, conversionResponse(review));
}
