// AIP-158 pagination for the list RPCs: `page_size` (0 = the RPC's default, capped at its maximum) and an
// opaque `page_token` naming the last item of the previous page. Tokens are keyed by the item's sort key, not
// an offset, so a list that changes between pages neither repeats nor skips the items that stay; a token is
// bound to the request's filter so it cannot be replayed against another one.

import { badField } from "./errors.js";

export interface PageLimits {
  defaultSize: number;
  maxSize: number;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

const MAX_TOKEN_LENGTH = 2048;

function encode(after: string, filter: string): string {
  return Buffer.from(JSON.stringify({ a: after, f: filter }), "utf8").toString("base64url");
}

function decode(token: string, filter: string): string {
  const bad = () => badField("page_token", "is not a token this service issued");
  if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  const p = parsed as { a?: unknown; f?: unknown };
  if (typeof p?.a !== "string" || typeof p.f !== "string") throw bad();
  if (p.f !== filter) throw badField("page_token", "was issued for a request with other filters");
  return p.a;
}

/**
 * One page of `sorted` (ascending by `keyOf`, keys unique) after the token's key. `filter` identifies the
 * request's non-paging fields.
 */
export function paginate<T>(
  sorted: readonly T[],
  keyOf: (item: T) => string,
  pageSize: number,
  pageToken: string,
  limits: PageLimits,
  filter = "",
): Page<T> {
  if (pageSize < 0) throw badField("page_size", "must not be negative");
  const size = pageSize === 0 ? limits.defaultSize : Math.min(pageSize, limits.maxSize);
  let start = 0;
  if (pageToken !== "") {
    const after = decode(pageToken, filter);
    // First item with a key greater than the token's (binary search: the list is sorted).
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keyOf(sorted[mid]) <= after) lo = mid + 1;
      else hi = mid;
    }
    start = lo;
  }
  const items = sorted.slice(start, start + size);
  const more = start + size < sorted.length;
  return { items, nextPageToken: more && items.length > 0 ? encode(keyOf(items[items.length - 1]), filter) : "" };
}
