/**
 * The one place where errors become HTTP responses for the control API:
 * `{ "error": { "code", "message", "correlation_id" } }`. Only a ZenError's
 * public message and stable code leave the process; anything else is logged
 * by the caller (metadata only) and answered as INTERNAL.
 */
import { type ErrorCode, isZenError, ZenError } from "../core/index.ts";

export interface WireError {
  status: number;
  headers: Record<string, string>;
  body: {
    error: { code: ErrorCode; message: string; correlation_id: string; details?: Record<string, unknown> };
  };
}

// Fastify's own request errors, by code, mapped to ours.
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: "MALFORMED_REQUEST",
  FST_ERR_CTP_EMPTY_JSON_BODY: "MALFORMED_REQUEST",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "MALFORMED_REQUEST",
  FST_ERR_CTP_BODY_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_INVALID_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_BAD_URL: "MALFORMED_REQUEST",
  FST_ERR_ASYNC_CONSTRAINT: "MALFORMED_REQUEST",
};

export function toZenError(err: unknown): ZenError {
  if (isZenError(err)) return err;
  if (typeof err === "object" && err !== null) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string" && code in FASTIFY_CODES)
      return new ZenError(FASTIFY_CODES[code]!, { cause: err });
    // Malformed JSON surfaces as a SyntaxError with a 400 status from the parser.
    const status = (err as { statusCode?: unknown }).statusCode;
    if (status === 400) return new ZenError("MALFORMED_REQUEST", { cause: err });
    if (status === 413) return new ZenError("PAYLOAD_TOO_LARGE", { cause: err });
    if (status === 415) return new ZenError("UNSUPPORTED_MEDIA_TYPE", { cause: err });
  }
  return new ZenError("INTERNAL", { cause: err });
}

export function toWire(err: unknown, correlationId: string): WireError {
  const z = toZenError(err);
  const headers: Record<string, string> = { ...(z.headers ?? {}) };
  if (z.code === "UNAUTHENTICATED") headers["www-authenticate"] ??= 'Bearer realm="zenmesh"';
  return {
    status: z.status,
    headers,
    body: {
      error: {
        code: z.code,
        message: z.message,
        correlation_id: correlationId,
        ...(z.details && z.status < 500 ? { details: z.details } : {}),
      },
    },
  };
}
