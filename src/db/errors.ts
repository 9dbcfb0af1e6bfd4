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

export function sqlState(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

/** Connection-level failures become a retryable ZenError; everything else passes through. */
export function mapDriverError(err: unknown): unknown {
  const code = sqlState(err);
  const message = err instanceof Error ? err.message : "";
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
