/**
 * Attribute rules shared by the parsers and the envelope builder: names, the
 * CloudEvents type system's string forms, and the HTTP binding's header value
 * encoding. Everything here is a predicate or returns null for bad input; it
 * never throws on what a sender controls.
 *
 * CloudEvents 1.0 core spec, "Type System" and "Attribute Naming Convention";
 * HTTP protocol binding 1.0, section 3.1.3.2 (header value percent-encoding).
 */

export const SPEC_VERSION = "1.0";

/** Limits on what one request may make us hold or store. */
export const LIMITS = {
  batchEvents: 100,
  attributeBytes: 2048,
  extensions: 32,
  /** The spec recommends 20; longer names seen in the wild are still short. */
  nameLength: 48,
  /** Nesting depth of a JSON document; deeper input would exhaust the stack when re-serialised. */
  jsonDepth: 128,
} as const;

/** Context attributes the spec defines for 1.0, other than `data`. */
export const CORE_ATTRIBUTES = [
  "specversion",
  "id",
  "source",
  "type",
  "datacontenttype",
  "dataschema",
  "subject",
  "time",
] as const;
export type CoreAttribute = (typeof CORE_ATTRIBUTES)[number];
const CORE: ReadonlySet<string> = new Set(CORE_ATTRIBUTES);

export function isCoreAttribute(name: string): name is CoreAttribute {
  return CORE.has(name);
}

/** The extension zenmesh sets on every event it stores. */
export const CORRELATION_EXTENSION = "correlationid";

/**
 * Names a sender may not use for an extension: `data` is the JSON format's
 * payload member, `correlationid` is assigned by zenmesh and a sender-chosen
 * value would be stored as if it were ours, and `schemaurl` /
 * `datacontentencoding` are 0.3 attributes that have no meaning in 1.0.
 */
const RESERVED_EXTENSIONS: ReadonlySet<string> = new Set([
  "data",
  CORRELATION_EXTENSION,
  "schemaurl",
  "datacontentencoding",
]);

export function isReservedExtension(name: string): boolean {
  return RESERVED_EXTENSIONS.has(name);
}

const NAME = /^[a-z0-9]+$/;

export function isValidAttributeName(name: string): boolean {
  return name.length > 0 && name.length <= LIMITS.nameLength && NAME.test(name);
}

// Core spec, "Type System", String: no C0/C1 controls (nor DEL).
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control range is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** A CloudEvents String: well-formed Unicode, no control characters, within the byte cap. */
export function isValidString(value: string): boolean {
  return (
    value.isWellFormed() && !CONTROL.test(value) && Buffer.byteLength(value, "utf8") <= LIMITS.attributeBytes
  );
}

/** A CloudEvents String that must also be non-empty (id, source, type, subject, …). */
export function isValidNonEmptyString(value: string): boolean {
  return value.length > 0 && isValidString(value);
}

// RFC 3986 characters (unreserved, reserved, and `%` of a pct-encoded triple).
const URI_CHARS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;
const BAD_PERCENT = /%(?![0-9A-Fa-f]{2})/;

/** RFC 3986 URI-reference, checked by character set and percent triples. */
export function isUriReference(value: string): boolean {
  return isValidNonEmptyString(value) && URI_CHARS.test(value) && !BAD_PERCENT.test(value);
}

/** RFC 3986 absolute URI: a URI-reference with a scheme. */
export function isAbsoluteUri(value: string): boolean {
  return isUriReference(value) && /^[A-Za-z][A-Za-z0-9+.-]*:/.test(value);
}

// RFC 2046 / RFC 7231 media type: token "/" token, then parameters (printable ASCII).
const MEDIA_TYPE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ \t]*;[\x20-\x7e\t]*)?$/;

export function isMediaType(value: string): boolean {
  return value.length <= LIMITS.attributeBytes && MEDIA_TYPE.test(value);
}

/** The lower-cased `type/subtype` of a media type, without parameters. */
export function essence(mediaType: string): string {
  const semi = mediaType.indexOf(";");
  return (semi === -1 ? mediaType : mediaType.slice(0, semi)).trim().toLowerCase();
}

/** `application/json` or any `+json` structured suffix (RFC 6839). */
export function isJsonMediaType(mediaType: string): boolean {
  const e = essence(mediaType);
  return e === "application/json" || e.endsWith("+json");
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/;

/**
 * An RFC 3339 timestamp, with calendar ranges checked (Date.parse alone rolls
 * 30 February over into March). Leap seconds cannot be represented and are
 * refused.
 */
export function parseTimestamp(value: string): Date | null {
  const m = RFC3339.exec(value);
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  if (day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return null;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return null;
  const t = Date.parse(value.toUpperCase());
  return Number.isNaN(t) ? null : new Date(t);
}

/** Core spec, "Type System", Integer: a signed 32-bit value. */
export function isCeInteger(value: number): boolean {
  return Number.isInteger(value) && value >= -2147483648 && value <= 2147483647;
}

// HTTP binding 3.1.3.2: encode space, double-quote, percent, and everything outside U+0021..U+007E.
function mustEncode(byte: number): boolean {
  return byte <= 0x20 || byte >= 0x7f || byte === 0x22 || byte === 0x25;
}

/** Percent-encodes a header value per HTTP binding 3.1.3.2 (upper-case hex). */
export function percentEncode(value: string): string {
  let out = "";
  for (const byte of Buffer.from(value, "utf8")) {
    out += mustEncode(byte)
      ? `%${byte.toString(16).toUpperCase().padStart(2, "0")}`
      : String.fromCharCode(byte);
  }
  return out;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes a header value per HTTP binding 3.1.3.2: undo RFC 7230 quoted-string
 * escaping, then one round of percent-decoding. Returns null for a stray `%`,
 * a raw character outside printable ASCII, or bytes that are not valid UTF-8
 * (overlong forms included).
 */
export function percentDecode(raw: string): string | null {
  let value = raw;
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    let unquoted = "";
    const inner = value.slice(1, -1);
    for (let i = 0; i < inner.length; i++) {
      const c = inner[i]!;
      if (c === "\\") {
        const next = inner[i + 1];
        if (next === undefined) return null;
        unquoted += next;
        i++;
      } else if (c === '"') {
        return null;
      } else {
        unquoted += c;
      }
    }
    value = unquoted;
  }
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 0x25) {
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (code >= 0x20 && code <= 0x7e) {
      bytes.push(code);
    } else {
      return null;
    }
  }
  return decodeUtf8(Uint8Array.from(bytes));
}

/** Strict UTF-8 (no replacement characters, a BOM kept as text), or null. */
export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict RFC 4648 section 4 base64 (padding required, no whitespace). */
export function decodeBase64(value: string): Buffer | null {
  return BASE64.test(value) ? Buffer.from(value, "base64") : null;
}
