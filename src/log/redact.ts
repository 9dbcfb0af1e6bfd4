/**
 * Keeps secrets, credentials and webhook payloads out of log lines
 * (ARCHITECTURE.md section 8). Two layers: pino redact paths for the named
 * top-level and header locations, and a walk over everything logged (plain
 * objects, arrays, toJSON output, class instances' own data fields) that
 * censors sensitive keys at any depth and in any spelling, turns errors into
 * safe summaries, hides binary data and masks credentials inside strings.
 */
import { serializeError } from "./errors.ts";
import { CENSOR, isSensitiveKey, SENSITIVE_KEYS } from "./keys.ts";
import { scrubString } from "./strings.ts";

export { CENSOR } from "./keys.ts";

function pathSegment(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
}

/**
 * pino redact paths: the sensitive keys at the top level as written and in
 * lower case, plus the HTTP header locations. Deeper levels and other
 * spellings are the walk's job: @pinojs/redact wildcard paths cost tens of
 * microseconds per line, the walk a few.
 */
export const REDACT_PATHS: readonly string[] = [
  ...new Set(SENSITIVE_KEYS.flatMap((k) => [k, k.toLowerCase()])),
]
  .map(pathSegment)
  .concat(["req.headers.authorization", "req.headers.cookie", 'res.headers["set-cookie"]']);

const MAX_DEPTH = 8;
const BINARY = (n: number) => `[binary, ${n} bytes]`;

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** What JSON.stringify would see of a class instance, minus accessors, which may have side effects. */
function ownData(value: object): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const key of Object.keys(value)) {
    const d = Object.getOwnPropertyDescriptor(value, key);
    if (d !== undefined && "value" in d) out.push([key, d.value]);
  }
  return out;
}

/**
 * A log-safe copy of `value`, as JSON will see it: sensitive keys censored at
 * any depth, errors summarised, binary data replaced by its size, credentials
 * in strings masked, cycles and excessive depth cut.
 */
export function scrubValue(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === "string") return scrubString(value);
  if (typeof value !== "object" || value === null) return value;
  if (value instanceof Error) return serializeError(value);
  if (ArrayBuffer.isView(value)) return BINARY(value.byteLength);
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) return BINARY(value.byteLength);
  if (seen.has(value)) return "[circular]";
  if (depth >= MAX_DEPTH) return "[too deep]";
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => scrubValue(v, depth + 1, seen));
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") {
      return scrubValue(toJSON.call(value), depth + 1, seen);
    }
    const entries = isPlainObject(value) ? Object.entries(value) : ownData(value);
    const out: Record<string, unknown> = {};
    for (const [k, v] of entries) out[k] = isSensitiveKey(k) ? CENSOR : scrubValue(v, depth + 1, seen);
    return out;
  } finally {
    seen.delete(value);
  }
}

/**
 * The top-level merging object. Values under `passThrough` keys (req, res) go
 * untouched to their serializers, which read only what they need, often
 * through accessors the walk would not call.
 */
export function scrubRecord(
  obj: Record<string, unknown>,
  passThrough: ReadonlySet<string>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (isSensitiveKey(k)) out[k] = CENSOR;
    else out[k] = passThrough.has(k) ? v : scrubValue(v, 1);
  }
  return out;
}
