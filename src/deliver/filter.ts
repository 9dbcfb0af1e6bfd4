/**
 * Which events a subscription receives: CloudEvents type patterns (CloudEvents
 * 1.0 `type`) and conditions on the JSON payload, all of which must hold.
 *
 * Both are tenant input evaluated for every event, so validation bounds them
 * (counts, lengths, depth, value sizes) and matching never throws, whatever it
 * is given. Payload paths follow own properties only: `__proto__` or
 * `constructor` reach a payload's own data or nothing, never a prototype, and
 * nothing here ever writes to the payload.
 */
import type { Result } from "../core/index.ts";
import { assertNever, hasInvisibleOrControl, SHOWN_TEXT_MESSAGE } from "../core/index.ts";

export const MAX_TYPE_PATTERNS = 50;
export const MAX_TYPE_PATTERN_LENGTH = 256;
export const MAX_CONDITIONS = 20;
export const MAX_PATH_DEPTH = 16;
export const MAX_IN_VALUES = 100;
/** The JSON encodings of all condition values together, in UTF-8 bytes. */
export const MAX_CONDITION_VALUE_BYTES = 4096;
// Comparisons recurse no deeper than this, whatever a caller passes (cycles included).
const MAX_VALUE_DEPTH = 32;

export const CONDITION_OPS = [
  "eq",
  "ne",
  "in",
  "nin",
  "exists",
  "not_exists",
  "contains",
  "prefix",
  "gt",
  "gte",
  "lt",
  "lte",
] as const;
export type ConditionOp = (typeof CONDITION_OPS)[number];

/**
 * `path` is `$` (the whole payload) or dotted segments (`data.object.amount`,
 * `items.0.sku`); a segment that is a decimal index reads an array element.
 */
export type Condition = { path: string; op: ConditionOp; value?: unknown };

const OPS: ReadonlySet<string> = new Set(CONDITION_OPS);
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;
const SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;
const INDEX = /^(0|[1-9][0-9]*)$/;

// ---- type patterns ----

/**
 * Each pattern is an exact type, `*` (every type), or a prefix ending in `*`
 * (`com.github.*`, `com.stripe.inv*`); `*` anywhere else is refused.
 */
export function validateTypePatterns(patterns: unknown): Result<string[], string> {
  if (!Array.isArray(patterns)) return { ok: false, reason: "types: must be an array of strings" };
  if (patterns.length > MAX_TYPE_PATTERNS) {
    return { ok: false, reason: `types: at most ${MAX_TYPE_PATTERNS} patterns` };
  }
  const out: string[] = [];
  for (let i = 0; i < patterns.length; i++) {
    const p: unknown = patterns[i];
    const at = `types[${i}]`;
    if (typeof p !== "string") return { ok: false, reason: `${at}: must be a string` };
    if (p.length === 0) return { ok: false, reason: `${at}: must not be empty` };
    if (p.length > MAX_TYPE_PATTERN_LENGTH) {
      return { ok: false, reason: `${at}: at most ${MAX_TYPE_PATTERN_LENGTH} characters` };
    }
    if (hasInvisibleOrControl(p)) return { ok: false, reason: `${at}: ${SHOWN_TEXT_MESSAGE}` };
    if (!PRINTABLE_ASCII.test(p)) return { ok: false, reason: `${at}: printable ASCII only` };
    if (p.slice(0, -1).includes("*")) return { ok: false, reason: `${at}: "*" is allowed only at the end` };
    out.push(p);
  }
  return { ok: true, value: out };
}

/** An empty list matches every type. */
export function matchesType(patterns: readonly string[], type: string): boolean {
  if (patterns.length === 0) return true;
  return patterns.some((p) => (p.endsWith("*") ? type.startsWith(p.slice(0, -1)) : p === type));
}

// ---- conditions ----

/** The path's segments ([] for `$`), or undefined when it is not a valid path. */
function parsePath(path: unknown): string[] | undefined {
  if (typeof path !== "string") return undefined;
  if (path === "$") return [];
  if (path.length > MAX_PATH_DEPTH * 65) return undefined;
  const segments = path.split(".");
  if (segments.length > MAX_PATH_DEPTH || !segments.every((s) => SEGMENT.test(s))) return undefined;
  return segments;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

type Lookup = { found: true; value: unknown } | { found: false };
const MISSING: Lookup = { found: false };

/** Own properties and in-range array indexes only. `undefined` (not JSON) reads as missing. */
function lookup(payload: unknown, segments: readonly string[]): Lookup {
  let at = payload;
  for (const seg of segments) {
    if (Array.isArray(at)) {
      if (!INDEX.test(seg)) return MISSING;
      const i = Number(seg);
      if (i >= at.length || !Object.hasOwn(at, i)) return MISSING;
      at = at[i];
    } else if (isRecord(at) && Object.hasOwn(at, seg)) {
      at = at[seg];
    } else {
      return MISSING;
    }
  }
  return at === undefined ? MISSING : { found: true, value: at };
}

/** JSON equality: same scalars, arrays element by element, objects with the same own keys. */
function deepEqual(a: unknown, b: unknown, depth = 0): boolean {
  if (a === b) return true;
  if (
    depth >= MAX_VALUE_DEPTH ||
    typeof a !== "object" ||
    typeof b !== "object" ||
    a === null ||
    b === null
  ) {
    return false;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i], depth + 1)) return false;
    return true;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = Object.keys(ra);
  if (keys.length !== Object.keys(rb).length) return false;
  return keys.every((k) => Object.hasOwn(rb, k) && deepEqual(ra[k], rb[k], depth + 1));
}

/** Numbers numerically, strings by UTF-16 code units; mixed types never compare. */
function ordered(a: unknown, b: unknown, test: (sign: number) => boolean): boolean {
  const comparable =
    (typeof a === "number" && typeof b === "number") || (typeof a === "string" && typeof b === "string");
  if (!comparable) return false;
  return test(a < b ? -1 : a > b ? 1 : 0);
}

function holds(op: ConditionOp, found: Lookup, value: unknown): boolean {
  // Only not_exists can hold for a missing path: a condition about a value needs one.
  if (op === "not_exists") return !found.found;
  if (!found.found) return false;
  const v = found.value;
  switch (op) {
    case "exists":
      return true;
    case "eq":
      return deepEqual(v, value);
    case "ne":
      return !deepEqual(v, value);
    case "in":
      return Array.isArray(value) && value.some((m) => deepEqual(v, m));
    case "nin":
      return Array.isArray(value) && !value.some((m) => deepEqual(v, m));
    case "contains":
      if (typeof v === "string") return typeof value === "string" && v.includes(value);
      return Array.isArray(v) && v.some((m) => deepEqual(m, value));
    case "prefix":
      return typeof v === "string" && typeof value === "string" && v.startsWith(value);
    case "gt":
      return ordered(v, value, (sign) => sign > 0);
    case "gte":
      return ordered(v, value, (sign) => sign >= 0);
    case "lt":
      return ordered(v, value, (sign) => sign < 0);
    case "lte":
      return ordered(v, value, (sign) => sign <= 0);
    default:
      return assertNever(op, "condition operator");
  }
}

/**
 * Whether every condition holds for `payload` (the parsed JSON, or undefined
 * when the payload is not JSON: then only not_exists holds). An empty list
 * holds. A condition that never passed validation fails rather than throws.
 */
export function matchesConditions(conditions: readonly Condition[], payload: unknown): boolean {
  return conditions.every((c) => {
    if (typeof c !== "object" || c === null || typeof c.op !== "string" || !OPS.has(c.op)) return false;
    const segments = parsePath(c.path);
    if (segments === undefined) return false;
    const found = payload === undefined ? MISSING : lookup(payload, segments);
    return holds(c.op, found, c.value);
  });
}

type JsonCheck = "ok" | "not_json" | "too_deep" | "too_large";

/**
 * Whether `value` is plain JSON data: null, booleans, finite numbers, strings,
 * dense arrays and plain objects of data properties (getters are never run).
 * Sizes are bounded before anything is walked, so a huge input costs nothing.
 */
function checkJson(value: unknown, depth: number, budget: { nodes: number }): JsonCheck {
  if (--budget.nodes < 0) return "too_large";
  if (value === null || typeof value === "boolean") return "ok";
  if (typeof value === "number") return Number.isFinite(value) ? "ok" : "not_json";
  if (typeof value === "string") return value.length > MAX_CONDITION_VALUE_BYTES ? "too_large" : "ok";
  if (typeof value !== "object") return "not_json";
  if (depth >= MAX_VALUE_DEPTH) return "too_deep";
  if (Array.isArray(value)) {
    if (value.length > MAX_CONDITION_VALUE_BYTES) return "too_large";
    for (let i = 0; i < value.length; i++) {
      if (!Object.hasOwn(value, i)) return "not_json";
      const r = checkJson(value[i], depth + 1, budget);
      if (r !== "ok") return r;
    }
    return "ok";
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return "not_json";
  const keys = Object.keys(value);
  if (keys.length > MAX_CONDITION_VALUE_BYTES) return "too_large";
  for (const k of keys) {
    const d = Object.getOwnPropertyDescriptor(value, k);
    if (d === undefined || !("value" in d)) return "not_json";
    const r = checkJson(d.value, depth + 1, budget);
    if (r !== "ok") return r;
  }
  return "ok";
}

const isScalar = (v: unknown) =>
  v === null ||
  typeof v === "string" ||
  typeof v === "boolean" ||
  (typeof v === "number" && Number.isFinite(v));

/** Why `op` cannot take `value` (its kind, not yet whether it is JSON), or undefined when it can. */
function valueProblem(op: ConditionOp, value: unknown): string | undefined {
  switch (op) {
    case "eq":
    case "ne":
    case "contains":
    case "exists":
    case "not_exists":
      return undefined;
    case "in":
    case "nin":
      return Array.isArray(value) && value.length <= MAX_IN_VALUES && value.every(isScalar)
        ? undefined
        : `${op} takes an array of at most ${MAX_IN_VALUES} strings, numbers, booleans or nulls`;
    case "prefix":
      return typeof value === "string" ? undefined : "prefix takes a string";
    case "gt":
    case "gte":
    case "lt":
    case "lte":
      return typeof value === "number" || typeof value === "string"
        ? undefined
        : `${op} takes a number or a string`;
    default:
      return assertNever(op, "condition operator");
  }
}

const FIELDS: ReadonlySet<string> = new Set(["path", "op", "value"]);

/** Checks conditions from a tenant and returns clean copies (values re-parsed as plain JSON). */
export function validateConditions(input: unknown): Result<Condition[], string> {
  if (!Array.isArray(input)) return { ok: false, reason: "conditions: must be an array" };
  if (input.length > MAX_CONDITIONS)
    return { ok: false, reason: `conditions: at most ${MAX_CONDITIONS} conditions` };
  const out: Condition[] = [];
  let bytes = 0;
  for (let i = 0; i < input.length; i++) {
    const c: unknown = input[i];
    const at = `conditions[${i}]`;
    if (!isRecord(c)) return { ok: false, reason: `${at}: must be an object` };
    const extra = Object.keys(c).find((k) => !FIELDS.has(k));
    if (extra !== undefined)
      return { ok: false, reason: `${at}: unknown field ${JSON.stringify(extra.slice(0, 64))}` };
    if (typeof c.path !== "string") return { ok: false, reason: `${at}.path: must be a string` };
    if (parsePath(c.path) === undefined) {
      return {
        ok: false,
        reason: `${at}.path: must be "$" or up to ${MAX_PATH_DEPTH} dot-separated segments of 1 to 64 letters, digits, "_" or "-"`,
      };
    }
    if (typeof c.op !== "string" || !OPS.has(c.op))
      return { ok: false, reason: `${at}.op: unknown operator` };
    const op = c.op as ConditionOp;
    const hasValue = Object.hasOwn(c, "value") && c.value !== undefined;
    if (op === "exists" || op === "not_exists") {
      if (hasValue) return { ok: false, reason: `${at}.value: not allowed with ${op}` };
      out.push({ path: c.path, op });
      continue;
    }
    if (!hasValue) return { ok: false, reason: `${at}.value: required with ${op}` };
    const problem = valueProblem(op, c.value);
    if (problem !== undefined) return { ok: false, reason: `${at}.value: ${problem}` };
    const tooLarge = `${at}.value: the values together exceed ${MAX_CONDITION_VALUE_BYTES} bytes of JSON`;
    const json = checkJson(c.value, 0, { nodes: MAX_CONDITION_VALUE_BYTES });
    switch (json) {
      case "ok":
        break;
      case "not_json":
        return {
          ok: false,
          reason: `${at}.value: must be JSON (null, booleans, finite numbers, strings, arrays, objects)`,
        };
      case "too_deep":
        return { ok: false, reason: `${at}.value: nested more than ${MAX_VALUE_DEPTH} levels` };
      case "too_large":
        return { ok: false, reason: tooLarge };
      default:
        return assertNever(json);
    }
    const text = JSON.stringify(c.value);
    bytes += Buffer.byteLength(text, "utf8");
    if (bytes > MAX_CONDITION_VALUE_BYTES) return { ok: false, reason: tooLarge };
    // A fresh copy: nothing the caller still holds can change a stored condition.
    out.push({ path: c.path, op, value: JSON.parse(text) });
  }
  return { ok: true, value: out };
}
