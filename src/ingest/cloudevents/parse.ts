/**
 * CloudEvents accepted on the ingest endpoint, in the three content modes of
 * the HTTP protocol binding 1.0: binary (section 3.1), structured (3.2) and
 * batched (3.3), the last two in the JSON event format 1.0 (sections 3 and 4).
 *
 * Every failure is a value with a stable reason. Guards, beyond the spec's
 * MUSTs: strict specversion "1.0"; at most 100 events per batch; attribute
 * values at most 2048 UTF-8 bytes; at most 32 extensions; attribute names
 * a-z0-9 of at most 48 characters; no duplicate attribute names (a JSON
 * object with a repeated member reads differently in different parsers); no
 * sender-set `correlationid`; JSON nesting at most 128 deep; no bidi
 * overrides, zero-width or control characters in the attributes people read
 * (id, source, type, subject and extension values), which could make one
 * event look like another in a list.
 *
 * An empty batch (`[]`) is valid (JSON format section 4.3) and yields zero
 * events. A `null` attribute is treated as absent (JSON format section 2.2).
 */
import type { Result } from "../../core/index.ts";
import { hasInvisibleOrControl } from "../../core/validation.ts";
import {
  CORRELATION_EXTENSION,
  type CoreAttribute,
  decodeBase64,
  decodeUtf8,
  essence,
  isAbsoluteUri,
  isCeInteger,
  isCoreAttribute,
  isJsonMediaType,
  isMediaType,
  isReservedExtension,
  isUriReference,
  isValidAttributeName,
  isValidNonEmptyString,
  isValidString,
  LIMITS,
  parseTimestamp,
  percentDecode,
  SPEC_VERSION,
} from "./attributes.ts";
import { isPlainObject, isRawJson, parseJson } from "./json.ts";

export type ContentMode = "structured" | "batch" | "binary" | "none";

export type CeParseFailure =
  | "malformed_json"
  | "not_an_object"
  | "missing_attribute"
  | "bad_specversion"
  | "invalid_attribute"
  | "too_many_events"
  | "data_and_data_base64"
  | "reserved_extension"
  | "invisible_character";

export interface IncomingEvent {
  id: string;
  source: string;
  type: string;
  subject?: string;
  time?: Date;
  datacontenttype?: string;
  dataschema?: string;
  /** Extension attributes by lower-case name, in their canonical string form. */
  extensions: Record<string, string>;
  /**
   * The event's data as bytes: JSON `data` re-serialised once with
   * JSON.stringify (a string `data` with a non-JSON datacontenttype is its
   * UTF-8 text), `data_base64` decoded, the body as-is in binary mode; empty
   * when the event has no data.
   */
  data: Buffer;
}

export type CeParseResult = Result<IncomingEvent[], CeParseFailure>;

type Headers = Readonly<Record<string, string | undefined>>;

/**
 * Which content mode a request uses (HTTP binding section 3). Header names
 * are lower-case. `none` is a plain provider webhook.
 */
export function detectMode(headers: Headers): ContentMode {
  const contentType = headers["content-type"];
  if (contentType !== undefined) {
    const e = essence(contentType);
    if (e === "application/cloudevents+json") return "structured";
    if (e === "application/cloudevents-batch+json") return "batch";
  }
  return headers["ce-specversion"] !== undefined ? "binary" : "none";
}

/** Parses a request already classified by `detectMode`. `none` yields zero events. */
export function parseIncoming(mode: ContentMode, headers: Headers, body: Buffer): CeParseResult {
  switch (mode) {
    case "binary":
      return wrap(parseBinary(headers, body));
    case "structured":
      return parseStructured(body);
    case "batch":
      return parseBatch(body);
    case "none":
      return { ok: true, value: [] };
    default: {
      const never: never = mode;
      throw new Error(`unknown content mode ${String(never)}`);
    }
  }
}

type One = Result<IncomingEvent, CeParseFailure>;

function wrap(r: One): CeParseResult {
  return r.ok ? { ok: true, value: [r.value] } : r;
}

function fail(reason: CeParseFailure): { ok: false; reason: CeParseFailure } {
  return { ok: false, reason };
}

// RFC 8259 section 8.1: JSON text is UTF-8; lossy decoding would silently alter the data.
function jsonText(body: Buffer, objectDepth: number): ReturnType<typeof parseJson> {
  const text = decodeUtf8(body);
  return text === null ? { ok: false } : parseJson(text, objectDepth);
}

function parseStructured(body: Buffer): CeParseResult {
  const parsed = jsonText(body, 1);
  if (!parsed.ok) return fail("malformed_json");
  if (!isPlainObject(parsed.value)) return fail("not_an_object");
  if (parsed.scan.duplicateKey) return fail("invalid_attribute");
  return wrap(fromJsonObject(parsed.value));
}

function parseBatch(body: Buffer): CeParseResult {
  const parsed = jsonText(body, 2);
  if (!parsed.ok) return fail("malformed_json");
  if (!Array.isArray(parsed.value)) return fail("not_an_object");
  const items: unknown[] = parsed.value;
  if (items.length > LIMITS.batchEvents) return fail("too_many_events");
  if (parsed.scan.duplicateKey) return fail("invalid_attribute");
  const events: IncomingEvent[] = [];
  for (const item of items) {
    if (!isPlainObject(item)) return fail("not_an_object");
    const r = fromJsonObject(item);
    if (!r.ok) return r;
    events.push(r.value);
  }
  return { ok: true, value: events };
}

/** Attribute values as read from either mode, before type checks. */
type RawAttributes = Partial<Record<CoreAttribute, string>>;

function fromJsonObject(obj: Record<string, unknown>): One {
  const version = specVersionCheck(obj.specversion ?? undefined);
  if (version !== null) return fail(version);
  const core: RawAttributes = {};
  const extensions: Record<string, string> = {};
  let extensionCount = 0;
  let data: unknown;
  let dataBase64: unknown;
  for (const [name, value] of Object.entries(obj)) {
    if (value === null) continue;
    if (name === "data") {
      data = value;
      continue;
    }
    if (name === "data_base64") {
      dataBase64 = value;
      continue;
    }
    if (!isValidAttributeName(name)) return fail("invalid_attribute");
    if (isCoreAttribute(name)) {
      if (typeof value !== "string") {
        return fail(name === "specversion" ? "bad_specversion" : "invalid_attribute");
      }
      core[name] = value;
      continue;
    }
    // zenmesh assigns its own correlation id; a relayed event's (zenmesh → zenmesh) is dropped, not trusted.
    if (name === CORRELATION_EXTENSION) continue;
    if (isReservedExtension(name)) return fail("reserved_extension");
    if (++extensionCount > LIMITS.extensions) return fail("invalid_attribute");
    const text = extensionText(value);
    if (text === null) return fail("invalid_attribute");
    if (hasInvisibleOrControl(text)) return fail("invisible_character");
    extensions[name] = text;
  }
  if (data !== undefined && dataBase64 !== undefined) return fail("data_and_data_base64");
  const attrs = checkCore(core);
  if (!attrs.ok) return attrs;
  let bytes: Buffer;
  let datacontenttype = attrs.value.datacontenttype;
  if (dataBase64 !== undefined) {
    const decoded = typeof dataBase64 === "string" ? decodeBase64(dataBase64) : null;
    if (decoded === null) return fail("invalid_attribute");
    bytes = decoded;
  } else if (data === undefined) {
    bytes = Buffer.alloc(0);
  } else if (typeof data === "string" && datacontenttype !== undefined && !isJsonMediaType(datacontenttype)) {
    bytes = Buffer.from(data, "utf8");
  } else {
    // JSON format 3.1: `data` without a datacontenttype is JSON.
    datacontenttype ??= "application/json";
    bytes = Buffer.from(JSON.stringify(data), "utf8");
  }
  return {
    ok: true,
    value: { ...attrs.value, ...optional("datacontenttype", datacontenttype), extensions, data: bytes },
  };
}

/** An extension's canonical string form (core spec, "Type System"), or null. */
function extensionText(value: unknown): string | null {
  if (typeof value === "string") return isValidString(value) ? value : null;
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return isCeInteger(value) ? String(value) : null;
  if (isRawJson(value)) {
    // A number written in a non-canonical form (`1.0`, `1e2`): an Integer only if it is one.
    const n = Number(value.rawJSON);
    return isCeInteger(n) ? String(n) : null;
  }
  return null;
}

function parseBinary(headers: Headers, body: Buffer): One {
  const raw = headers["ce-specversion"];
  const version = specVersionCheck(raw === undefined ? undefined : (percentDecode(raw) ?? raw));
  if (version !== null) return fail(version);
  const core: RawAttributes = {};
  const extensions: Record<string, string> = {};
  let extensionCount = 0;
  for (const [header, raw] of Object.entries(headers)) {
    if (raw === undefined || !header.startsWith("ce-")) continue;
    const name = header.slice(3);
    if (!isValidAttributeName(name)) return fail("invalid_attribute");
    const value = percentDecode(raw);
    if (value === null) return fail(name === "specversion" ? "bad_specversion" : "invalid_attribute");
    // HTTP binding 3.1.1: datacontenttype travels only as Content-Type.
    if (name === "datacontenttype") return fail("invalid_attribute");
    if (isCoreAttribute(name)) {
      core[name] = value;
      continue;
    }
    // zenmesh assigns its own correlation id; a relayed event's (zenmesh → zenmesh) is dropped, not trusted.
    if (name === CORRELATION_EXTENSION) continue;
    if (isReservedExtension(name)) return fail("reserved_extension");
    if (++extensionCount > LIMITS.extensions) return fail("invalid_attribute");
    if (hasInvisibleOrControl(value)) return fail("invisible_character");
    if (!isValidString(value)) return fail("invalid_attribute");
    extensions[name] = value;
  }
  const contentType = headers["content-type"];
  if (contentType !== undefined) core.datacontenttype = contentType;
  const attrs = checkCore(core);
  if (!attrs.ok) return attrs;
  return { ok: true, value: { ...attrs.value, extensions, data: body } };
}

/** The version is judged first, so an event of another version fails as such, whatever else it holds. */
function specVersionCheck(value: unknown): CeParseFailure | null {
  if (value === undefined) return "missing_attribute";
  return value === SPEC_VERSION ? null : "bad_specversion";
}

type CoreChecked = Omit<IncomingEvent, "extensions" | "data">;

function checkCore(a: RawAttributes): Result<CoreChecked, CeParseFailure> {
  if (a.specversion === undefined) return fail("missing_attribute");
  if (a.specversion !== SPEC_VERSION) return fail("bad_specversion");
  if (a.id === undefined || a.source === undefined || a.type === undefined) return fail("missing_attribute");
  for (const shown of [a.id, a.source, a.type, a.subject]) {
    if (shown !== undefined && hasInvisibleOrControl(shown)) return fail("invisible_character");
  }
  if (!isValidNonEmptyString(a.id) || !isUriReference(a.source) || !isValidNonEmptyString(a.type)) {
    return fail("invalid_attribute");
  }
  if (a.subject !== undefined && !isValidNonEmptyString(a.subject)) return fail("invalid_attribute");
  if (a.datacontenttype !== undefined && !isMediaType(a.datacontenttype)) return fail("invalid_attribute");
  if (a.dataschema !== undefined && !isAbsoluteUri(a.dataschema)) return fail("invalid_attribute");
  let time: Date | undefined;
  if (a.time !== undefined) {
    const t = parseTimestamp(a.time);
    if (t === null) return fail("invalid_attribute");
    time = t;
  }
  return {
    ok: true,
    value: {
      id: a.id,
      source: a.source,
      type: a.type,
      ...optional("subject", a.subject),
      ...optional("time", time),
      ...optional("datacontenttype", a.datacontenttype),
      ...optional("dataschema", a.dataschema),
    },
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
