/**
 * Defensive parsing shared by the schemes: capped header reads, strict
 * timestamps and encodings, and MAC matching that compares every candidate
 * against every secret so timing shows neither which secret nor which
 * candidate matched.
 *
 * Encodings are decoded strictly and only canonical forms are accepted (or, for
 * hex, normalized to lower case), so a signature cannot be re-encoded into a
 * different string that slips past "the same signature seen twice".
 */
import { hasInvisibleOrControl } from "../../core/validation.ts";
import { timingSafeEqualBytes } from "../../crypto/index.ts";
import type { Verified, VerifyFailure, VerifyResult } from "../types.ts";
import type { RequestHeaders } from "./scheme.ts";

/** Longest signature header any scheme accepts; longer ones are refused before any parsing. */
export const MAX_SIGNATURE_HEADER = 4096;
/** Longest id, event type or other plain header value read. */
export const MAX_PLAIN_HEADER = 256;
/** How many signatures one header may carry (rotation on the sender's side). */
export const MAX_CANDIDATES = 8;

export function fail(reason: VerifyFailure): VerifyResult {
  return { ok: false, reason };
}

export function pass(value: Verified): VerifyResult {
  return { ok: true, value };
}

export type HeaderRead = { kind: "absent" } | { kind: "oversized" } | { kind: "value"; value: string };

/** An empty header counts as absent. */
export function readHeader(headers: RequestHeaders, name: string, max = MAX_SIGNATURE_HEADER): HeaderRead {
  const value = Object.hasOwn(headers, name) ? headers[name] : undefined;
  if (typeof value !== "string" || value.length === 0) return { kind: "absent" };
  if (value.length > max) return { kind: "oversized" };
  return { kind: "value", value };
}

/** A short visible-ASCII header value (ids, nonces), or undefined. */
export function plainHeader(headers: RequestHeaders, name: string): string | undefined {
  const read = readHeader(headers, name, MAX_PLAIN_HEADER);
  return read.kind === "value" ? idText(read.value) : undefined;
}

/** A short header value without control characters (event names with spaces), or undefined. */
export function textHeader(headers: RequestHeaders, name: string): string | undefined {
  const read = readHeader(headers, name, MAX_PLAIN_HEADER);
  return read.kind === "value" ? plainText(read.value) : undefined;
}

const UNIX_SECONDS = /^[0-9]{1,12}$/;

/** Integer seconds only: no sign, fraction, exponent or whitespace. */
export function parseUnixSeconds(raw: string): number | undefined {
  return UNIX_SECONDS.test(raw) ? Number(raw) : undefined;
}

export function assertTolerance(toleranceSeconds: number): void {
  // A NaN tolerance would make every window comparison false and accept any timestamp.
  if (!Number.isFinite(toleranceSeconds) || toleranceSeconds < 0) {
    throw new Error("signature verification: tolerance must be a finite, non-negative number of seconds");
  }
}

/** Outside `now ± tolerance`: older is stale, newer is future. */
export function checkWindow(
  timestamp: number,
  now: Date,
  toleranceSeconds: number,
): "stale" | "future" | undefined {
  const nowSeconds = Math.floor(now.getTime() / 1000);
  if (timestamp < nowSeconds - toleranceSeconds) return "stale";
  if (timestamp > nowSeconds + toleranceSeconds) return "future";
  return undefined;
}

const HEX = /^[0-9a-fA-F]+$/;

export function decodeHex(text: string, bytes: number): Buffer | undefined {
  if (text.length !== bytes * 2 || !HEX.test(text)) return undefined;
  return Buffer.from(text, "hex");
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Padded, canonical base64 of exactly `bytes` bytes (any bytes when omitted). */
export function decodeBase64(text: string, bytes?: number): Buffer | undefined {
  if (text.length % 4 !== 0 || !BASE64.test(text)) return undefined;
  const out = Buffer.from(text, "base64");
  if (out.toString("base64") !== text) return undefined;
  if (bytes !== undefined && out.byteLength !== bytes) return undefined;
  return out;
}

/** Unpadded, canonical base64url of exactly `bytes` bytes. */
export function decodeBase64Url(text: string, bytes: number): Buffer | undefined {
  if (!BASE64URL.test(text)) return undefined;
  const out = Buffer.from(text, "base64url");
  if (out.byteLength !== bytes || out.toString("base64url") !== text) return undefined;
  return out;
}

/**
 * Index of the first candidate equal to an expected MAC, or -1. Every
 * candidate is compared with every expected MAC, whatever matched earlier.
 */
export function matchAny(expected: readonly Uint8Array[], candidates: readonly Uint8Array[]): number {
  let found = -1;
  for (let c = 0; c < candidates.length; c++) {
    const candidate = candidates[c]!;
    let hit = false;
    for (const e of expected) {
      const equal = timingSafeEqualBytes(e, candidate);
      hit = hit || equal;
    }
    if (hit && found < 0) found = c;
  }
  return found;
}

/** `key=value` items split on commas, as in Stripe-Signature and X-Zen-Signature; no whitespace anywhere. */
export function parseKeyValueList(header: string, maxItems: number): [string, string][] | undefined {
  const items = header.split(",");
  if (items.length > maxItems) return undefined;
  const out: [string, string][] = [];
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq <= 0) return undefined;
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (!/^[a-z0-9]{1,16}$/.test(key) || !/^[\x21-\x7e]+$/.test(value)) return undefined;
    out.push([key, value]);
  }
  return out;
}

// ---- describe helpers: every one takes unknown and never throws ----

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Own properties only, so `__proto__` or `constructor` in a path read nothing. */
export function pick(value: unknown, ...path: string[]): unknown {
  let at: unknown = value;
  for (const key of path) {
    if (!isRecord(at) || !Object.hasOwn(at, key)) return undefined;
    at = at[key];
  }
  return at;
}

const TYPE_PART = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** A provider's event name usable inside a CloudEvents type, or undefined. */
export function typePart(value: unknown): string | undefined {
  if (typeof value !== "string" || value.length === 0 || value.length > 128) return undefined;
  return TYPE_PART.test(value) ? value : undefined;
}

/** Short visible ASCII (delivery ids, nonces). */
export function idText(value: unknown): string | undefined {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_PLAIN_HEADER) return undefined;
  return /^[\x21-\x7e]+$/.test(value) ? value : undefined;
}

/** Free text without control, bidi-override or zero-width characters (subjects), else undefined: it is shown to people. */
export function plainText(value: unknown, max = MAX_PLAIN_HEADER): string | undefined {
  if (typeof value !== "string" || value.length === 0 || value.length > max) return undefined;
  return hasInvisibleOrControl(value) ? undefined : value;
}

/** Unix seconds as a JSON number or a strict digit string. */
export function unixTime(value: unknown): Date | undefined {
  let seconds: number | undefined;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) seconds = value;
  else if (typeof value === "string") seconds = parseUnixSeconds(value);
  if (seconds === undefined) return undefined;
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export function isoTime(value: unknown): Date | undefined {
  if (typeof value !== "string" || !ISO_TIME.test(value)) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** The body as JSON when it is a JSON object, else undefined; never throws. */
export function jsonObject(body: Buffer): Record<string, unknown> | undefined {
  let i = 0;
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x0d || body[i] === 0x09))
    i++;
  if (body[i] !== 0x7b) return undefined;
  try {
    const value: unknown = JSON.parse(body.toString("utf8"));
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
