/**
 * What a request's headers alone say about its signature, before its body is
 * read: absent, malformed, or (for schemes that sign one) without its
 * timestamp. The answer comes from the scheme's own `verify`, run on an
 * empty body with a probe secret, so the rule is exactly the one full
 * verification applies (every scheme checks its headers before any MAC) and
 * no scheme keeps a second parser. Costs one HMAC over a few bytes. A
 * scheme that carries its proof in the body (`signBody`) is never refused here.
 */
import type { SchemeName, VerifyFailure } from "../types.ts";
import { getScheme } from "./index.ts";
import type { RequestHeaders, SchemeSettings } from "./scheme.ts";

const EMPTY = Buffer.alloc(0);
/** Not a secret: a value no source's secret is compared with; only the headers' shape matters here. */
const PROBE = ["header-check"];
const HEADER_FAILURES: ReadonlySet<VerifyFailure> = new Set([
  "missing_signature",
  "malformed_signature",
  "missing_timestamp",
]);

export function headerFailure(
  scheme: SchemeName,
  headers: RequestHeaders,
  settings: SchemeSettings,
  now: Date,
  toleranceSeconds: number,
): VerifyFailure | undefined {
  // A scheme whose proof travels in the body (Graph's clientState) has nothing to refuse before it.
  if (getScheme(scheme).signBody !== undefined) return undefined;
  const r = getScheme(scheme).verify({
    headers,
    body: EMPTY,
    secrets: PROBE,
    settings,
    now,
    toleranceSeconds,
  });
  return !r.ok && HEADER_FAILURES.has(r.reason) ? r.reason : undefined;
}
