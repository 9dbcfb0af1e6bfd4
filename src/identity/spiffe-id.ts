/**
 * SPIFFE ID parsing per the SPIFFE-ID specification (section 2: scheme,
 * trust domain, path; section 2.3 maximum length). Guards against IDs that
 * compare equal to a human but not to a machine (case, percent-encoding,
 * dot segments) and against URI parts the spec forbids (userinfo, port,
 * query, fragment), which could otherwise smuggle a second identity.
 */
import type { Result } from "../core/index.ts";

export type SpiffeIdFailure =
  | "empty"
  | "too_long"
  | "wrong_scheme"
  | "missing_trust_domain"
  | "invalid_trust_domain"
  | "userinfo"
  | "port"
  | "query"
  | "fragment"
  | "empty_segment"
  | "dot_segment"
  | "percent_encoding"
  | "invalid_path_char";

export interface SpiffeId {
  trustDomain: string;
  /** "" for the trust domain's own ID, otherwise "/a/b". */
  path: string;
}

export const MAX_SPIFFE_ID_BYTES = 2048;
export const MAX_TRUST_DOMAIN_BYTES = 255;
const SCHEME = "spiffe://";
const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const SEGMENT_CHARS = /^[A-Za-z0-9._-]+$/;

function fail(reason: SpiffeIdFailure): Result<SpiffeId, SpiffeIdFailure> {
  return { ok: false, reason };
}

/** Checks the path part ("" or "/seg/seg"). */
export function checkSpiffePath(path: string): SpiffeIdFailure | undefined {
  if (path === "") return undefined;
  if (!path.startsWith("/")) return "invalid_path_char";
  for (const segment of path.slice(1).split("/")) {
    if (segment === "") return "empty_segment";
    if (segment === "." || segment === "..") return "dot_segment";
    if (segment.includes("%")) return "percent_encoding";
    if (!SEGMENT_CHARS.test(segment)) return "invalid_path_char";
  }
  return undefined;
}

export function isValidTrustDomain(td: string): boolean {
  return td.length > 0 && td.length <= MAX_TRUST_DOMAIN_BYTES && TRUST_DOMAIN_CHARS.test(td);
}

export function parseSpiffeId(value: string): Result<SpiffeId, SpiffeIdFailure> {
  if (typeof value !== "string" || value.length === 0) return fail("empty");
  if (Buffer.byteLength(value, "utf8") > MAX_SPIFFE_ID_BYTES) return fail("too_long");
  if (!value.startsWith(SCHEME)) return fail("wrong_scheme");
  const rest = value.slice(SCHEME.length);
  const q = rest.indexOf("?");
  const h = rest.indexOf("#");
  if (q >= 0 && (h < 0 || q < h)) return fail("query");
  if (h >= 0) return fail("fragment");
  const slash = rest.indexOf("/");
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? "" : rest.slice(slash);
  if (authority.includes("@")) return fail("userinfo");
  if (authority.includes(":")) return fail("port");
  if (authority === "") return fail("missing_trust_domain");
  if (authority.includes("%")) return fail("percent_encoding");
  if (!isValidTrustDomain(authority)) return fail("invalid_trust_domain");
  const bad = checkSpiffePath(path);
  if (bad !== undefined) return fail(bad);
  return { ok: true, value: { trustDomain: authority, path } };
}

/**
 * A workload path as given to the CA ("ingester", "agent/cluster-1", an
 * optional leading "/") in its canonical "/a/b" form, or the failure.
 */
export function normalizeWorkloadPath(path: string): Result<string, SpiffeIdFailure> {
  if (typeof path !== "string" || path.length === 0 || path === "/") return { ok: false, reason: "empty" };
  const p = path.startsWith("/") ? path : `/${path}`;
  if (Buffer.byteLength(p, "utf8") > MAX_SPIFFE_ID_BYTES) return { ok: false, reason: "too_long" };
  const bad = checkSpiffePath(p);
  return bad === undefined ? { ok: true, value: p } : { ok: false, reason: bad };
}
