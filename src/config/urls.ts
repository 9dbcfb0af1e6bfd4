/**
 * Connection-URL helpers. Database and Redis URLs carry passwords, so nothing
 * here ever returns or reports the raw URL: callers get a verdict or a
 * redacted copy.
 */

const POSTGRES_PROTOCOLS = new Set(["postgres:", "postgresql:"]);
const REDIS_PROTOCOLS = new Set(["redis:", "rediss:"]);
/** libpq query parameters whose values are credentials. */
const SECRET_PARAMS = ["password", "sslpassword"];
const KNOWN_SSLMODES = new Set([
  "disable",
  "allow",
  "prefer",
  "require",
  "verify-ca",
  "verify-full",
  "no-verify",
]);

function parse(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

export function isPostgresUrl(url: string): boolean {
  const u = parse(url);
  return u !== undefined && POSTGRES_PROTOCOLS.has(u.protocol);
}

export function isRedisUrl(url: string): boolean {
  const u = parse(url);
  return u !== undefined && REDIS_PROTOCOLS.has(u.protocol) && u.hostname !== "";
}

export function isTlsRedisUrl(url: string): boolean {
  return parse(url)?.protocol === "rediss:";
}

/**
 * Why a PostgreSQL URL does not demand a verified TLS connection, or undefined
 * when it does. Only `sslmode=verify-full` checks both the chain and the host
 * name; anything weaker allows a man in the middle.
 */
export function postgresTlsProblem(url: string): string | undefined {
  const u = parse(url);
  if (u === undefined) return "is not a valid URL";
  const modes = u.searchParams.getAll("sslmode");
  if (modes.length === 0) return "must set sslmode=verify-full (no sslmode given)";
  if (modes.length > 1) return "must set sslmode exactly once, to verify-full";
  const mode = modes[0] ?? "";
  if (mode === "verify-full") return undefined;
  const shown = KNOWN_SSLMODES.has(mode) ? `sslmode=${mode}` : "an unrecognised sslmode";
  return `must set sslmode=verify-full (got ${shown})`;
}

/** The URL with its password (userinfo and libpq query parameters) replaced by `***`. */
export function redactUrl(url: string): string {
  const u = parse(url);
  if (u === undefined) return "[unparsable URL]";
  if (u.password !== "") u.password = "***";
  for (const p of SECRET_PARAMS) {
    if (u.searchParams.has(p)) u.searchParams.set(p, "***");
  }
  // Some URL shapes (no host) refuse a password update; never hand back the original.
  if (u.password !== "" && u.password !== "***") return "[redacted URL]";
  return u.toString();
}
