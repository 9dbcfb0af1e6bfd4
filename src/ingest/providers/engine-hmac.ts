/**
 * The HMAC engine: builds a SignatureScheme from a declarative HMAC entry
 * (RFC 2104 HMAC-SHA1/SHA-256/SHA-512 over a signed-content template).
 *
 * An entry names the signature header and its shape (`<prefix><mac>`, or
 * `key=value` fields like `t=…,v1=…` / `ts=…;h1=…` that may carry several MACs
 * while the provider rolls a secret), the MAC's encoding, the template of what
 * is signed ({body} exactly once; {timestamp}, {id} and {url} as the provider
 * signs them), and where a signed timestamp sits (a header, a field of the
 * signature header, or a JSON pointer into the signed body) and its unit.
 *
 * Guards against forgery and tampering with everything the template covers
 * (every candidate MAC compared with every valid secret in constant time), and
 * where the provider signs a timestamp, against replay outside ±tolerance
 * (older: stale, newer: future), checked as the built-in schemes check it. MACs
 * are decoded strictly (canonical base64, fixed length) and reported in one
 * canonical form, so a replay cannot re-encode a signature into a second
 * accepted string. A scheme that signs the URL refuses when the ingester did
 * not say which URL was called (`bad_signature`: nothing can be shown to
 * match). Entries are checked when built: a template that does not sign the
 * body, or signs a timestamp the entry does not read, is a programming error.
 */
import { createHmac, randomUUID } from "node:crypto";
import { z } from "zod";
import {
  assertTolerance,
  checkWindow,
  decodeBase64,
  decodeBase64Url,
  decodeHex,
  fail,
  type HeaderRead,
  isoTime,
  MAX_CANDIDATES,
  MAX_PLAIN_HEADER,
  matchAny,
  parseUnixSeconds,
  pass,
  readHeader,
} from "../schemes/common.ts";
import type { DescribeInput, SignatureScheme, SignInput } from "../schemes/scheme.ts";
import type { EventFacts, Verified, VerifyInput, VerifyResult } from "../types.ts";
import {
  describeFacts,
  type FieldSource,
  type HeaderNames,
  headerNames,
  jsonPointer,
  type ProviderEntryBase,
  parseJson,
  readId,
  readTime,
  registerEntry,
  withMember,
} from "./entry.ts";

export type HmacAlgorithm = "sha1" | "sha256" | "sha512";
export type MacEncoding = "hex" | "base64" | "base64url";

/**
 * `whole`: the header is `<prefix><mac>`. `fields`: `key=value` items split on
 * `separator`, MACs under `macKey` (one or several), the timestamp (when the
 * entry reads it from here) under `timestampKey`; unknown keys are ignored.
 */
export type SignatureFormat =
  | { readonly kind: "whole"; readonly prefix?: string }
  | {
      readonly kind: "fields";
      readonly separator: "," | ";";
      readonly macKey: string;
      readonly timestampKey?: string;
    };

export type TimestampSource =
  | { readonly header: HeaderNames }
  | { readonly pointer: string }
  | { readonly field: true };

export interface HmacEntry extends ProviderEntryBase {
  readonly engine: "hmac";
  readonly algorithm: HmacAlgorithm;
  readonly encoding: MacEncoding;
  /** Lower-case header name(s); of several, the first present is read and the first is sent. */
  readonly signature: { readonly header: HeaderNames; readonly format: SignatureFormat };
  /** What is signed: `{body}` once, and `{timestamp}` (as sent), `{id}` (the delivery id header), `{url}`. */
  readonly template: string;
  /** The signed timestamp, for providers that sign one; `field` means the signature header's `timestampKey`. */
  readonly timestamp?: {
    readonly from: TimestampSource;
    readonly format: "unix-seconds" | "unix-milliseconds" | "iso8601";
  };
}

type Placeholder = "body" | "timestamp" | "id" | "url";
type Values = { body: Buffer; timestamp?: string; id?: string; url?: string };
type Part = { text: string } | { placeholder: Placeholder };

const MAC_BYTES: Record<HmacAlgorithm, number> = { sha1: 20, sha256: 32, sha512: 64 };

function parseTemplate(template: string): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const m of template.matchAll(/\{(body|timestamp|id|url)\}/g)) {
    parts.push({ text: template.slice(last, m.index) }, { placeholder: m[1] as Placeholder });
    last = m.index + m[0].length;
  }
  parts.push({ text: template.slice(last) });
  if (parts.some((p) => "text" in p && /[{}]/.test(p.text)))
    throw new Error(`unknown placeholder in "${template}"`);
  return parts.filter((p) => !("text" in p) || p.text.length > 0);
}

const uses = (parts: Part[], name: Placeholder) =>
  parts.filter((p) => "placeholder" in p && p.placeholder === name).length;

/** The entry's invariants; a broken one is a bug in the entry, refused when the module loads. */
function check(entry: HmacEntry, parts: Part[]): void {
  const broken = (why: string) => new Error(`provider ${entry.name}: ${why}`);
  if (uses(parts, "body") !== 1) throw broken("the template must sign {body} exactly once");
  const ts = entry.timestamp?.from;
  const signsTimestamp = ts !== undefined && !("pointer" in ts);
  if (signsTimestamp !== uses(parts, "timestamp") > 0) {
    throw broken("{timestamp} is signed exactly when the timestamp is read from a header or the signature");
  }
  if (ts !== undefined && "field" in ts) {
    if (entry.signature.format.kind !== "fields" || entry.signature.format.timestampKey === undefined) {
      throw broken("a timestamp in the signature header needs a fields format with a timestampKey");
    }
  }
  const id = entry.facts.deliveryId;
  if (uses(parts, "id") > 0 && (id === undefined || !("header" in id))) {
    throw broken("{id} needs a delivery id read from a header");
  }
}

type ParsedSignature = { macs: Buffer[]; timestamp?: string } | undefined;

function decodeMac(entry: HmacEntry, text: string): Buffer | undefined {
  const bytes = MAC_BYTES[entry.algorithm];
  if (entry.encoding === "hex") return decodeHex(text, bytes);
  if (entry.encoding === "base64") return decodeBase64(text, bytes);
  return decodeBase64Url(text, bytes);
}

function encodeMac(entry: HmacEntry, mac: Buffer): string {
  return mac.toString(entry.encoding);
}

const FIELD_KEY = /^[a-z0-9]{1,16}$/;
const FIELD_VALUE = /^[\x21-\x7e]+$/;

function parseSignature(entry: HmacEntry, header: string): ParsedSignature {
  const format = entry.signature.format;
  if (format.kind === "whole") {
    const prefix = format.prefix ?? "";
    if (!header.startsWith(prefix)) return undefined;
    const mac = decodeMac(entry, header.slice(prefix.length));
    return mac === undefined ? undefined : { macs: [mac] };
  }
  const items = header.split(format.separator);
  if (items.length > MAX_CANDIDATES * 2) return undefined;
  const out: { macs: Buffer[]; timestamp?: string } = { macs: [] };
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq <= 0) return undefined;
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (!FIELD_KEY.test(key) || !FIELD_VALUE.test(value)) return undefined;
    if (key === format.timestampKey) {
      if (out.timestamp !== undefined) return undefined;
      out.timestamp = value;
    } else if (key === format.macKey) {
      const mac = decodeMac(entry, value);
      if (mac === undefined) return undefined;
      out.macs.push(mac);
    }
  }
  if (out.macs.length === 0 || out.macs.length > MAX_CANDIDATES) return undefined;
  return out;
}

/** Milliseconds since the epoch from a timestamp as sent, or undefined when it is not strictly in the entry's format. */
function parseTimestamp(entry: HmacEntry, raw: unknown): number | undefined {
  const format = entry.timestamp?.format ?? "unix-seconds";
  if (typeof raw === "string" && format === "unix-seconds") {
    const seconds = parseUnixSeconds(raw);
    return seconds === undefined ? undefined : seconds * 1000;
  }
  if (typeof raw === "string" && format === "iso8601") return isoTime(raw)?.getTime();
  return readTime(raw, format)?.getTime();
}

/** ISO 8601 in whole seconds, as providers that sign an ISO time write it (`2021-07-25T10:00:00Z`). */
const isoSeconds = (at: Date) => at.toISOString().replace(/\.\d{3}Z$/, "Z");

const ALGORITHM: Record<HmacAlgorithm, string> = { sha1: "sha1", sha256: "sha256", sha512: "sha512" };

function hmac(entry: HmacEntry, secret: string, data: Buffer): Buffer {
  return createHmac(ALGORITHM[entry.algorithm], secret).update(data).digest();
}

function content(parts: Part[], values: Values): Buffer {
  return Buffer.concat(
    parts.map((p) => {
      if ("text" in p) return Buffer.from(p.text, "utf8");
      if (p.placeholder === "body") return values.body;
      return Buffer.from(values[p.placeholder] ?? "", "utf8");
    }),
  );
}

/** The header a signer sends the field in (the first name), or undefined when the field is not a header. */
const headerOf = (source: FieldSource | TimestampSource | undefined) =>
  source !== undefined && "header" in source ? headerNames(source.header)[0] : undefined;

/** The first of the names present (an oversized one counts as present: it is not skipped for the next). */
function readFirst(headers: VerifyInput["headers"], names: HeaderNames, max?: number): HeaderRead {
  for (const name of headerNames(names)) {
    const read = readHeader(headers, name, max);
    if (read.kind !== "absent") return read;
  }
  return { kind: "absent" };
}

/** Builds the scheme and records the entry it came from (see entry.ts). */
export function hmacScheme(entry: HmacEntry): SignatureScheme {
  const parts = parseTemplate(entry.template);
  check(entry, parts);
  const idHeader = headerOf(entry.facts.deliveryId);
  const idSigned =
    uses(parts, "id") > 0 || (entry.facts.deliveryId !== undefined && "pointer" in entry.facts.deliveryId);
  const needsJson = [entry.facts.deliveryId, entry.timestamp?.from].some(
    (s) => s !== undefined && "pointer" in s,
  );

  function verify(input: VerifyInput): VerifyResult {
    assertTolerance(input.toleranceSeconds);
    if (input.secrets.length === 0) return fail("no_secret");
    const header = readFirst(input.headers, entry.signature.header);
    if (header.kind === "absent") return fail("missing_signature");
    const parsed = header.kind === "value" ? parseSignature(entry, header.value) : undefined;
    if (parsed === undefined) return fail("malformed_signature");

    const values: Values = { body: input.body };
    let timestampMs: number | undefined;
    const from = entry.timestamp?.from;
    if (from !== undefined && !("pointer" in from)) {
      let raw: string;
      if ("field" in from) {
        if (parsed.timestamp === undefined) return fail("missing_timestamp");
        raw = parsed.timestamp;
      } else {
        const read = readFirst(input.headers, from.header, MAX_PLAIN_HEADER);
        if (read.kind === "absent") return fail("missing_timestamp");
        if (read.kind === "oversized") return fail("malformed_signature");
        raw = read.value;
      }
      timestampMs = parseTimestamp(entry, raw);
      if (timestampMs === undefined) return fail("malformed_signature");
      values.timestamp = raw;
    }
    if (uses(parts, "id") > 0) {
      const id =
        entry.facts.deliveryId === undefined
          ? undefined
          : readId(entry.facts.deliveryId, input.headers, undefined);
      if (id === undefined) return fail("malformed_signature");
      values.id = id;
    }
    if (uses(parts, "url") > 0) {
      if (input.url === undefined) return fail("bad_signature");
      values.url = input.url;
    }

    const data = content(parts, values);
    const expected = input.secrets.map((secret) => hmac(entry, secret, data));
    const matched = matchAny(expected, parsed.macs);
    if (matched < 0) return fail("bad_signature");

    // Read only once the body is known to be the provider's: a tampered body fails as bad_signature above.
    const json = needsJson ? parseJson(input.body) : undefined;
    if (from !== undefined && "pointer" in from) {
      const raw = jsonPointer(json, from.pointer);
      if (raw === undefined || raw === null) return fail("missing_timestamp");
      timestampMs = parseTimestamp(entry, raw);
      if (timestampMs === undefined) return fail("malformed_signature");
    }
    if (timestampMs !== undefined) {
      const window = checkWindow(Math.floor(timestampMs / 1000), input.now, input.toleranceSeconds);
      if (window !== undefined) return fail(window);
    }
    const value: Verified = { signature: encodeMac(entry, parsed.macs[matched]!) };
    // Whole seconds, as every scheme reports its timestamp (millisecond providers included).
    if (timestampMs !== undefined) value.timestamp = new Date(Math.floor(timestampMs / 1000) * 1000);
    const deliveryId =
      entry.facts.deliveryId === undefined ? undefined : readId(entry.facts.deliveryId, input.headers, json);
    if (deliveryId !== undefined) {
      value.deliveryId = deliveryId;
      if (idSigned) value.deliveryIdSigned = true;
    }
    return pass(value);
  }

  function describe(input: DescribeInput): EventFacts {
    return describeFacts(entry.facts, input.headers, input.json ?? parseJson(input.body));
  }

  /** A time as the entry writes it in the body. */
  function timeValue(now: Date): string | number {
    const format = entry.timestamp?.format ?? "unix-seconds";
    if (format === "iso8601") return isoSeconds(now);
    return format === "unix-seconds" ? Math.floor(now.getTime() / 1000) : now.getTime();
  }

  function sign(input: SignInput): Record<string, string> {
    const format = entry.timestamp?.format ?? "unix-seconds";
    const timestamp =
      format === "unix-seconds"
        ? String(Math.floor(input.now.getTime() / 1000))
        : format === "unix-milliseconds"
          ? String(input.now.getTime())
          : isoSeconds(input.now);
    const id = input.id ?? randomUUID();
    if (uses(parts, "url") > 0 && input.url === undefined) {
      throw new Error(`provider ${entry.name}: signing needs the URL the request is sent to`);
    }
    const mac = encodeMac(
      entry,
      hmac(entry, input.secret, content(parts, { body: input.body, timestamp, id, url: input.url })),
    );
    const fmt = entry.signature.format;
    const from = entry.timestamp?.from;
    const headers: Record<string, string> = {};
    const signatureHeader = headerNames(entry.signature.header)[0];
    if (fmt.kind === "whole") headers[signatureHeader] = `${fmt.prefix ?? ""}${mac}`;
    else {
      const items = [`${fmt.macKey}=${mac}`];
      if (from !== undefined && "field" in from) items.unshift(`${fmt.timestampKey}=${timestamp}`);
      headers[signatureHeader] = items.join(fmt.separator);
    }
    const timestampHeader = headerOf(from);
    if (timestampHeader !== undefined) headers[timestampHeader] = timestamp;
    if (idHeader !== undefined) headers[idHeader] = id;
    const keyHeader = headerOf(entry.facts.idempotencyKey);
    if (keyHeader !== undefined && headers[keyHeader] === undefined) headers[keyHeader] = id;
    return headers;
  }

  const bodyTime = entry.timestamp?.from;
  const sample =
    bodyTime !== undefined && "pointer" in bodyTime
      ? {
          ...entry.sample,
          bodyAt: (now: Date) => withMember(entry.sample.body, bodyTime.pointer, timeValue(now)),
        }
      : entry.sample;
  // Fails when the module loads if the sample lacks the member its timestamp is read from.
  sample.bodyAt?.(new Date(0));

  const scheme: SignatureScheme = {
    name: entry.name,
    provider: { title: entry.title, docs: entry.docs, sample },
    settings: z.strictObject({}).prefault({}),
    verify,
    describe,
    sign,
    generateSecret: entry.secret.generate,
  };
  return registerEntry(scheme, entry);
}
