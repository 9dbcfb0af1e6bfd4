/**
 * One error model for the whole codebase. A ZenError carries a stable
 * SCREAMING_SNAKE code, an HTTP status, a retryable flag and a public message
 * that is safe to show to a caller. The cause is kept for logs, but the wire
 * mapping (one per transport) only ever exposes code + message + correlation id.
 */

export const ERROR_CODES = {
  VALIDATION_FAILED: 400,
  MALFORMED_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  CONFIG_INVALID: 500,
  CONFIG_INSECURE: 500,
  CRYPTO_FAILED: 500,
  KEY_UNAVAILABLE: 500,
  AUDIT_CHAIN_BROKEN: 500,
  DATA_DIR_LOCKED: 409,
  DATABASE_UNAVAILABLE: 503,
  PEER_NOT_ALLOWED: 403,
  HOP_SIGNATURE_INVALID: 401,
  HOP_REPLAYED: 401,
  HOP_STALE: 401,
  SOURCE_NOT_FOUND: 404,
  SIGNATURE_INVALID: 401,
  REPLAY_DETECTED: 409,
  PLAIN_HTTP_NOT_ALLOWED: 403,
  CLIENT_CERT_REJECTED: 403,
  MALFORMED_JSON: 400,
  CLOUDEVENT_INVALID: 400,
  // Control API authorization and input (keys, destinations, cursors, shown text).
  REVOKE_BEYOND_PERMISSIONS: 403,
  CURSOR_INVALID: 400,
  TEXT_NOT_ALLOWED: 400,
  // Mesh and roles hardening: hop keys bound to the calling workload.
  HOP_KEY_FOREIGN: 403,
  // Mesh and roles hardening: migrations run apart from the serving backend.
  MIGRATION_FAILED: 500,
  // Ingest semantics: a CloudEvents input mode the source's scheme does not authenticate.
  CLOUDEVENTS_MODE_UNAUTHENTICATED: 422,
  // Ingest admission: connections and body bytes in flight, per client and in all.
  INGEST_CLIENT_LIMITED: 429,
  INGEST_OVERLOADED: 503,
  // Quotas and fairness
  QUOTA_EXCEEDED: 409,
  // Asymmetric providers: the source's secret is the provider's public key.
  SOURCE_SECRET_REQUIRED: 400,
  // Test sends, the CLI's flags and the audit check (issue 12, the newcomer's first hour).
  // SCHEME_CANNOT_SIGN also answers sign() given a public key: only the provider signs.
  SCHEME_CANNOT_SIGN: 422,
  TEST_SEND_FAILED: 422,
  UNKNOWN_FLAG: 400,
  AUDIT_TENANT_UNKNOWN: 404,
  // Production end to end: the database server's certificate did not verify.
  DATABASE_TLS_FAILED: 500,
  // The embedded PostgreSQL server that zenmesh manages.
  EMBEDDED_DB_PACKAGE_MISSING: 500,
  EMBEDDED_DB_PGLITE_DATA_DIR: 409,
  EMBEDDED_DB_FAILED: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

const DEFAULT_MESSAGES: Record<ErrorCode, string> = {
  VALIDATION_FAILED: "The request did not pass validation.",
  MALFORMED_REQUEST: "The request could not be parsed.",
  UNAUTHENTICATED: "Authentication is required.",
  FORBIDDEN: "The credential lacks the permission for this action.",
  NOT_FOUND: "Not found.",
  METHOD_NOT_ALLOWED: "Method not allowed.",
  CONFLICT: "The request conflicts with the current state.",
  PAYLOAD_TOO_LARGE: "The request body is too large.",
  UNSUPPORTED_MEDIA_TYPE: "Unsupported content type.",
  RATE_LIMITED: "Too many requests.",
  INTERNAL: "Internal error.",
  UNAVAILABLE: "Service temporarily unavailable.",
  CONFIG_INVALID: "The configuration is invalid.",
  CONFIG_INSECURE: "The configuration is insecure for this profile.",
  CRYPTO_FAILED: "A cryptographic operation failed.",
  KEY_UNAVAILABLE: "A required key is not available.",
  AUDIT_CHAIN_BROKEN: "The audit chain does not verify.",
  DATA_DIR_LOCKED: "The data directory is in use by another process.",
  DATABASE_UNAVAILABLE: "The database is unavailable.",
  PEER_NOT_ALLOWED: "The peer's workload identity is not allowed on this endpoint.",
  HOP_SIGNATURE_INVALID: "The hop signature is missing or invalid.",
  HOP_REPLAYED: "The hop signature was already used.",
  HOP_STALE: "The hop signature is outside the allowed time window.",
  SOURCE_NOT_FOUND: "No such source.",
  SIGNATURE_INVALID: "The webhook signature is missing or invalid.",
  REPLAY_DETECTED: "This delivery was already received.",
  PLAIN_HTTP_NOT_ALLOWED: "This source accepts webhooks over HTTPS only.",
  CLIENT_CERT_REJECTED: "This source requires a pinned client certificate.",
  MALFORMED_JSON: "The body is not valid JSON.",
  CLOUDEVENT_INVALID: "The CloudEvent is not valid.",
  // Control API authorization and input (keys, destinations, cursors, shown text).
  REVOKE_BEYOND_PERMISSIONS: "Cannot revoke a key that holds permissions you do not hold.",
  CURSOR_INVALID: "The cursor is not valid for this list.",
  TEXT_NOT_ALLOWED: "The text holds invisible or control characters.",
  // Mesh and roles hardening: hop keys bound to the calling workload.
  HOP_KEY_FOREIGN: "The hop signature was made with a key that does not belong to the calling workload.",
  MIGRATION_FAILED: "The database migrations failed.",
  // Ingest semantics.
  CLOUDEVENTS_MODE_UNAUTHENTICATED:
    "This source's signature scheme does not authenticate what that CloudEvents input mode reads.",
  // Ingest admission.
  INGEST_CLIENT_LIMITED: "Too many connections or bytes in flight from this client; retry later.",
  INGEST_OVERLOADED: "The ingester is at its limit of connections or bytes in flight; retry later.",
  // Quotas and fairness
  QUOTA_EXCEEDED: "The project has reached a quota.",
  // Asymmetric providers.
  SOURCE_SECRET_REQUIRED:
    "This scheme's secret is the provider's public key, which only the provider can issue: pass it as `secret`.",
  // Test sends, the CLI's flags and the audit check.
  SCHEME_CANNOT_SIGN:
    "This source holds the provider's public key, not a signing key: only the provider can sign its webhooks, so zenmesh cannot sign a test event for it.",
  TEST_SEND_FAILED: "The ingester did not accept the test event.",
  UNKNOWN_FLAG: "The command does not take that flag.",
  AUDIT_TENANT_UNKNOWN: "No such tenant in this database.",
  // Production end to end.
  DATABASE_TLS_FAILED: "The database server's TLS certificate could not be verified.",
  // The embedded PostgreSQL server.
  EMBEDDED_DB_PACKAGE_MISSING: "The embedded PostgreSQL binaries are missing or incomplete.",
  EMBEDDED_DB_PGLITE_DATA_DIR: "The data dir holds a database this version cannot open.",
  EMBEDDED_DB_FAILED: "The embedded PostgreSQL server could not be started.",
};

const RETRYABLE: ReadonlySet<ErrorCode> = new Set([
  "RATE_LIMITED",
  "UNAVAILABLE",
  "DATABASE_UNAVAILABLE",
  "INGEST_CLIENT_LIMITED",
  "INGEST_OVERLOADED",
]);

export interface ZenErrorOptions {
  message?: string;
  cause?: unknown;
  /** Machine-readable, non-secret detail (e.g. the failing field paths). */
  details?: Record<string, unknown>;
  /** Overrides the code's default HTTP status. */
  status?: number;
  retryable?: boolean;
  /** Extra response headers, e.g. Retry-After. */
  headers?: Record<string, string>;
  /**
   * Resource ids named in the request that the caller's project does not
   * hold (another project's, another tenant's, or none): answered like any
   * invalid id, and audited by the API as probes. Never sent on the wire.
   */
  unreachable?: readonly Unreachable[];
}

/** An id a request named that its project does not hold, and the field that named it. */
export interface Unreachable {
  type: string;
  id: string;
  field: string;
}

export class ZenError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;
  readonly unreachable: readonly Unreachable[] | undefined;

  constructor(code: ErrorCode, options: ZenErrorOptions = {}) {
    super(
      options.message ?? DEFAULT_MESSAGES[code],
      options.cause === undefined ? {} : { cause: options.cause },
    );
    this.name = "ZenError";
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code];
    this.retryable = options.retryable ?? RETRYABLE.has(code);
    this.details = options.details;
    this.headers = options.headers;
    this.unreachable = options.unreachable;
  }
}

export function isZenError(value: unknown): value is ZenError {
  return value instanceof ZenError;
}

/** Exhaustiveness check for `switch` over unions. */
export function assertNever(value: never, what = "value"): never {
  throw new Error(`unexpected ${what}: ${String(value)}`);
}

/** Expected outcomes are values, not exceptions. */
export type Result<T, R extends string = string> = { ok: true; value: T } | { ok: false; reason: R };
