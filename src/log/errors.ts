/**
 * The `err` serializer. Errors often carry what caused them: a driver error
 * quotes the failing row, a JSON.parse error quotes the body, a `cause` may be
 * a whole request. Only the type, code, message, stack and scalar fields with
 * harmless names are kept.
 */
import { isSensitiveKey } from "./keys.ts";
import { scrubString } from "./strings.ts";

export interface SerializedError {
  type: string;
  message: string;
  stack?: string;
  code?: string | number;
  [key: string]: string | number | undefined;
}

/** Own fields known to quote data rather than describe the failure (pg: detail, where, query). */
const DATA_FIELDS = new Set(["detail", "where", "query", "internalquery", "parameters", "values", "cause"]);

const JSON_SNIPPET = /, "[\s\S]*" is not valid JSON/;

/** Node's JSON.parse messages quote the input; keep the verdict, drop the quote. */
function withoutQuotedInput(err: Error, text: string): string {
  const unquoted = err instanceof SyntaxError ? text.replace(JSON_SNIPPET, " is not valid JSON") : text;
  return scrubString(unquoted);
}

function keep(key: string, value: unknown): value is string | number {
  return (
    (typeof value === "string" || typeof value === "number") &&
    !DATA_FIELDS.has(key.toLowerCase()) &&
    !isSensitiveKey(key)
  );
}

export function serializeError(value: unknown): unknown {
  if (value instanceof Error) {
    const out: SerializedError = {
      type: value.constructor?.name || value.name || "Error",
      message: withoutQuotedInput(value, value.message),
    };
    if (typeof value.stack === "string") out.stack = withoutQuotedInput(value, value.stack);
    for (const [k, v] of Object.entries(value)) {
      if (k === "message" || k === "stack" || k === "type") continue;
      if (keep(k, v)) out[k] = v;
    }
    return out;
  }
  // Already serialized (the scrub walk runs before pino's serializers), or not an error at all.
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const out: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(value)) {
      if (keep(k, v) || ((k === "message" || k === "stack" || k === "type") && typeof v === "string")) {
        out[k] = v;
      }
    }
    return out;
  }
  return value;
}
