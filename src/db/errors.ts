import { ZenError } from "../core/index.ts";

// SQLSTATE classes that mean "the database is not there right now".
const UNAVAILABLE_CODES = new Set([
  "57P01",
  "57P02",
  "57P03",
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
  "53300",
]);
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
]);

/**
 * Node's codes for a server certificate that did not verify (OpenSSL's
 * X509_V_ERR_* names, and the host-name check); ERR_SSL_* is a failed
 * handshake. Either is a wrong CA, a wrong name or someone in between, which
 * retrying does not fix: it is never reported as the database being away.
 */
const TLS_VERIFY_CODES = new Set([
  "CERT_SIGNATURE_FAILURE",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "HOSTNAME_MISMATCH",
]);

function tlsFailure(code: string | undefined, message: string): string | undefined {
  if (code !== undefined && (TLS_VERIFY_CODES.has(code) || code.startsWith("ERR_SSL_"))) return code;
  // pg's answer when the server refuses the SSLRequest: with sslmode=verify-full, never downgrade.
  if (/server does not support SSL connections/i.test(message)) return "server refused TLS";
  return undefined;
}

export function sqlState(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

/**
 * Connection-level failures become a retryable ZenError, a server certificate
 * that does not verify a DATABASE_TLS_FAILED that is not; everything else
 * passes through.
 */
export function mapDriverError(err: unknown): unknown {
  const code = sqlState(err);
  const message = err instanceof Error ? err.message : "";
  const tls = tlsFailure(code, message);
  if (tls !== undefined) {
    return new ZenError("DATABASE_TLS_FAILED", {
      message: `The PostgreSQL server's certificate could not be verified (${tls}): check ZENMESH_DATABASE_CA_FILE and that the host in the database URL is a name the certificate was issued for.`,
      cause: err,
    });
  }
  if (
    (code !== undefined && (UNAVAILABLE_CODES.has(code) || NETWORK_CODES.has(code))) ||
    /Connection terminated|connection timeout|timeout expired|Client has encountered a connection error/i.test(
      message,
    )
  ) {
    return new ZenError("DATABASE_UNAVAILABLE", { cause: err, headers: { "retry-after": "1" } });
  }
  return err;
}

export function isUniqueViolation(err: unknown): boolean {
  return sqlState(err) === "23505";
}
