/**
 * Admission of one ingest item before anything touches the database. The
 * ingester is trusted but its batch crosses a process boundary, so every
 * field is checked for shape and bounds here: a malformed item is rejected on
 * its own and never fails the rest of the batch.
 */
import { isId, type Result } from "../../core/index.ts";
import { hasInvisibleOrControl } from "../../core/validation.ts";
import {
  CORE_ATTRIBUTES,
  CORRELATION_EXTENSION,
  isValidAttributeName,
  isValidNonEmptyString,
  LIMITS,
} from "../cloudevents/index.ts";
import type { IngestItem } from "../types.ts";

/** The largest body any source may accept (sources.max_body_bytes is capped at this). */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;
const MAX_BODY_BASE64 = Math.ceil(MAX_BODY_BYTES / 3) * 4;
export const MAX_TYPE_LENGTH = 256;
const MAX_ATTRIBUTE = LIMITS.attributeBytes;
const MAX_CONTENT_TYPE = 256;
// A CloudEvent's replay key is its (source, id) pair, JSON-encoded: two attributes' worth.
const MAX_DELIVERY_ID = 3 * LIMITS.attributeBytes;
const MAX_SIGNATURE = 8192;

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const CORRELATION_ID = /^[\x21-\x7e]{1,128}$/;
const IDENTITY = /^[0-9a-f]{64}$/;
// Names an extension may not take: core attributes, the JSON format's payload member, the
// correlation id zenmesh assigns itself, and 0.3 attributes. Dropped as the envelope builder does.
const NOT_EXTENSIONS: ReadonlySet<string> = new Set([
  ...CORE_ATTRIBUTES,
  "data",
  CORRELATION_EXTENSION,
  "schemaurl",
  "datacontentencoding",
]);
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const CONTROL = /[\u0000-\u001f\u007f]/;

/** An item whose every field has been checked, in the forms the store writes. */
export interface ValidItem {
  sourceId: string;
  receivedAt: Date;
  correlationId: string;
  contentType: string | null;
  body: Buffer;
  deliveryId: string | null;
  signature: string | null;
  idempotencyKey: string | null;
  signatureTimestamped: boolean;
  identity: string | null;
  type: string;
  subject: string | null;
  time: Date;
  dataschema: string | null;
  extensions: Record<string, string>;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function text(v: unknown, max: number, min = 1): v is string {
  return typeof v === "string" && v.length >= min && v.length <= max && !CONTROL.test(v) && v.isWellFormed();
}

function nullableText(v: unknown, max: number): v is string | null {
  return v === null || text(v, max);
}

/** Text people read in lists (types, subjects): no bidi overrides or zero-width characters either. */
function shownText(v: unknown, max: number): v is string {
  return text(v, max) && !hasInvisibleOrControl(v);
}

function timestamp(v: unknown): Date | undefined {
  if (typeof v !== "string" || !RFC3339.test(v)) return undefined;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}

/** Canonical base64 only, so one body has one encoding. */
function decodeBody(v: unknown): Buffer | undefined {
  if (typeof v !== "string" || v.length > MAX_BODY_BASE64 || v.length % 4 !== 0 || !BASE64.test(v)) {
    return undefined;
  }
  const bytes = Buffer.from(v, "base64");
  if (bytes.length > MAX_BODY_BYTES || bytes.toString("base64") !== v) return undefined;
  return bytes;
}

function extensionsOf(v: unknown): Record<string, string> | undefined {
  if (!isObject(v)) return undefined;
  const entries = Object.entries(v);
  if (entries.length > LIMITS.extensions) return undefined;
  const out: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (
      !isValidAttributeName(name) ||
      typeof value !== "string" ||
      (value !== "" && !isValidNonEmptyString(value)) ||
      hasInvisibleOrControl(value)
    )
      return undefined;
    if (!NOT_EXTENSIONS.has(name)) out[name] = value;
  }
  return out;
}

export function validateItem(raw: IngestItem): Result<ValidItem, "invalid"> {
  const bad = { ok: false, reason: "invalid" } as const;
  // The static type is what the ingester promises; the checks below are what holds.
  const item: unknown = raw;
  if (!isObject(item) || !isObject(item.ce)) return bad;
  const { ce } = item;
  if (!isId("source", item.sourceId)) return bad;
  const receivedAt = timestamp(item.receivedAt);
  const time = timestamp(ce.time);
  if (receivedAt === undefined || time === undefined) return bad;
  if (typeof item.correlationId !== "string" || !CORRELATION_ID.test(item.correlationId)) return bad;
  if (!nullableText(item.contentType, MAX_CONTENT_TYPE)) return bad;
  if (!nullableText(item.deliveryId, MAX_DELIVERY_ID)) return bad;
  if (!nullableText(item.signature, MAX_SIGNATURE)) return bad;
  const idempotencyKey = item.idempotencyKey ?? null;
  if (!nullableText(idempotencyKey, MAX_DELIVERY_ID)) return bad;
  if (item.signatureTimestamped !== undefined && typeof item.signatureTimestamped !== "boolean") return bad;
  const identity = item.identity ?? null;
  if (identity !== null && (typeof identity !== "string" || !IDENTITY.test(identity))) return bad;
  if (!shownText(ce.type, MAX_TYPE_LENGTH)) return bad;
  if (ce.subject !== null && !shownText(ce.subject, MAX_ATTRIBUTE)) return bad;
  if (!nullableText(ce.dataschema, MAX_ATTRIBUTE)) return bad;
  const extensions = extensionsOf(ce.extensions);
  if (extensions === undefined) return bad;
  const body = decodeBody(item.body);
  if (body === undefined) return bad;
  return {
    ok: true,
    value: {
      sourceId: item.sourceId,
      receivedAt,
      correlationId: item.correlationId,
      contentType: item.contentType,
      body,
      deliveryId: item.deliveryId,
      signature: item.signature,
      idempotencyKey,
      signatureTimestamped: item.signatureTimestamped === true,
      identity,
      type: ce.type,
      subject: ce.subject,
      time,
      dataschema: ce.dataschema,
      extensions,
    },
  };
}
