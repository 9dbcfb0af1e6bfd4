/**
 * Providers as data: the declarative entry a provider is described by, and the
 * registry that lets the shared suites find the entry behind a scheme.
 *
 * An entry says which engine verifies the provider, what the provider names
 * things (headers, JSON pointers into the body), what it sends (content types,
 * a sample) and one or more documented examples with their expected outcome.
 * The engine-agnostic part (`ProviderEntryBase`, `FactsEntry`) is shared by
 * every engine; each engine adds its own signing part (`HmacEntry` in
 * engine-hmac.ts, `Ed25519Entry`, `EcdsaEntry`, `UrlParamsEntry`,
 * `BasicAuthEntry`, `SvixEntry` beside their engines), and every engine
 * registers the entry it built a scheme from, so one suite
 * (examples.test.ts) runs every provider's documented examples.
 *
 * Everything read from a request for `describe` is checked as the schemes
 * check it (short visible ASCII ids, CloudEvents-safe type parts, text free of
 * control characters), so an entry cannot make a scheme trust free-form input.
 */

import { ZenError } from "../../core/index.ts";
import { idText, isoTime, plainHeader, plainText, typePart } from "../schemes/common.ts";
import type { ProviderSample, RequestHeaders, SignatureScheme } from "../schemes/scheme.ts";
import type { EventFacts, SchemeName, Verified, VerifyFailure, VerifyInput } from "../types.ts";

/** A lower-case header name, or several the provider uses interchangeably (the first present is read). */
export type HeaderNames = string | readonly [string, ...string[]];

/**
 * Where a value comes from: a request header or an RFC 6901 JSON pointer into
 * the body (e.g. `/meta/event_name`, `/0/eventId`).
 */
export type FieldSource = { readonly header: HeaderNames } | { readonly pointer: string };

/** The names to try, in order; the first is the one a signer sends. */
export function headerNames(names: HeaderNames): readonly [string, ...string[]] {
  return typeof names === "string" ? [names] : names;
}

/** How a provider writes a time. */
export type TimeFormat = "unix-seconds" | "unix-milliseconds" | "iso8601";

/**
 * One part of an event type: a field, optionally with names for the codes a
 * provider sends (Discord's numeric interaction types), or a fixed name for
 * providers whose one request is always the same kind (a batch of events).
 */
export type TypePartSource =
  | (FieldSource & { readonly names?: Readonly<Record<string, string>> })
  | { readonly constant: string };

/** Where the event's facts come from; every part optional but the type's prefix. */
export interface FactsEntry {
  /**
   * CloudEvents type: `prefix` and each part joined with `.`; a part's `:` and
   * `/` become `.` (Bitbucket's `repo:push`, Shopify's `orders/create`). When a
   * part is missing or not a clean name, or there are no parts, the type is
   * `${prefix}.event`.
   */
  readonly type: { readonly prefix: string; readonly parts: readonly TypePartSource[] };
  readonly subject?: FieldSource;
  /** The provider's id for this delivery (replay key; the same on a manual redelivery where the provider keeps it). */
  readonly deliveryId?: FieldSource;
  /** The provider's id for the event, the same across its retries. */
  readonly idempotencyKey?: FieldSource;
  readonly time?: { readonly from: FieldSource; readonly format: TimeFormat };
}

/** What a documented example must give. */
export type ExampleOutcome =
  | {
      readonly ok: true;
      /** The CloudEvents type describe gives. */
      readonly type: string;
      readonly deliveryId?: string;
      readonly idempotencyKey?: string;
      readonly subject?: string;
    }
  | { readonly ok: false; readonly reason: VerifyFailure };

/** A provider's documented request (or one computed from its documented algorithm), and what zenmesh makes of it. */
export interface ProviderExample {
  /** What the example is: the documentation it is taken from, or how it was computed. */
  readonly label: string;
  readonly secret: string;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** The verifier's clock, ISO 8601. */
  readonly now: string;
  /** The URL the provider called, for providers that sign it. */
  readonly url?: string;
  /**
   * A valid secret of the provider's kind that did not sign the example
   * (another public key for public-key providers, where `secret` with a
   * character appended is no key at all); by default `secret` + `x`.
   */
  readonly otherSecret?: string;
  readonly expect: ExampleOutcome;
}

/** Who makes the secret: zenmesh generates one to paste into the provider, or the provider shows one to paste into zenmesh. */
export type SecretOrigin = "zenmesh" | "provider";

export interface ProviderEntryBase {
  readonly name: SchemeName;
  /** Which engine builds the scheme (`hmac`, or one of the asymmetric and special engines). */
  readonly engine: string;
  readonly title: string;
  /** The provider's documentation the entry follows. */
  readonly docs: string;
  /** Media types the provider sends (a source of this provider should accept these). */
  readonly contentTypes: readonly string[];
  readonly sample: ProviderSample;
  readonly facts: FactsEntry;
  readonly secret: { readonly origin: SecretOrigin; readonly generate: () => string };
  /**
   * `false` for engines that authenticate the sender but sign nothing (HTTP
   * Basic auth): the same credentials pass with any body. The examples suite
   * then checks that property instead of a changed body being refused.
   */
  readonly bindsBody?: false;
  /** At least one; the examples suite runs every one. */
  readonly examples: readonly ProviderExample[];
}

/**
 * The secret of a provider that signs with its private key: the source holds
 * the provider's public key, which zenmesh cannot make, so generating one
 * refuses with SOURCE_SECRET_REQUIRED (the operator pastes the provider's).
 */
export const PROVIDER_PUBLIC_KEY: ProviderEntryBase["secret"] = {
  origin: "provider",
  generate() {
    throw new ZenError("SOURCE_SECRET_REQUIRED");
  },
};

const ENTRIES = new WeakMap<SignatureScheme, ProviderEntryBase>();

/** Records the entry a scheme was built from, so suites can iterate the registry for entries. */
export function registerEntry<S extends SignatureScheme>(scheme: S, entry: ProviderEntryBase): S {
  if (entry.examples.length === 0)
    throw new Error(`provider ${entry.name}: an entry needs a documented example`);
  ENTRIES.set(scheme, entry);
  return scheme;
}

export function entryOf(scheme: SignatureScheme): ProviderEntryBase | undefined {
  return ENTRIES.get(scheme);
}

// ---- reading an entry's fields; every reader takes unknown and never throws ----

const ARRAY_INDEX = /^(0|[1-9][0-9]{0,8})$/;

/** RFC 6901 JSON pointer over own properties only, so `__proto__` or `constructor` read nothing. */
export function jsonPointer(doc: unknown, pointer: string): unknown {
  if (pointer === "") return doc;
  if (!pointer.startsWith("/")) return undefined;
  let at: unknown = doc;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (Array.isArray(at)) {
      if (!ARRAY_INDEX.test(key)) return undefined;
      at = at[Number(key)];
    } else if (typeof at === "object" && at !== null && Object.hasOwn(at, key)) {
      at = (at as Record<string, unknown>)[key];
    } else {
      return undefined;
    }
  }
  return at;
}

/**
 * A JSON document with the value at `pointer` (a path of object keys that
 * exists) replaced; for samples whose signed timestamp sits in the body.
 * Throws when the pointer does not name an existing member: a broken entry.
 */
export function withMember(json: string, pointer: string, value: unknown): string {
  const doc: unknown = JSON.parse(json);
  const parts = pointer.split("/");
  const last = parts.pop()?.replaceAll("~1", "/").replaceAll("~0", "~");
  const parent = jsonPointer(doc, parts.join("/"));
  if (last === undefined || parts.length === 0 || typeof parent !== "object" || parent === null) {
    throw new Error(`no member at ${pointer}`);
  }
  if (Array.isArray(parent) || !Object.hasOwn(parent, last)) throw new Error(`no member at ${pointer}`);
  (parent as Record<string, unknown>)[last] = value;
  return JSON.stringify(doc);
}

/** The body as any JSON value, or undefined; never throws. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}

/** A field's raw value: a header's text (visible ASCII only) or whatever the pointer finds. */
export function readField(source: FieldSource, headers: RequestHeaders, json: unknown): unknown {
  if ("pointer" in source) return jsonPointer(json, source.pointer);
  for (const name of headerNames(source.header)) {
    const value = plainHeader(headers, name);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** Numbers become strings (Razorpay and HubSpot ids, Discord's interaction types are JSON numbers). */
function asText(value: unknown): unknown {
  return typeof value === "number" && Number.isSafeInteger(value) ? String(value) : value;
}

const UNIX_MS = /^[0-9]{1,15}$/;

/** A time in the given format, or undefined. */
export function readTime(value: unknown, format: TimeFormat): Date | undefined {
  if (format === "iso8601") return isoTime(value);
  let n: number | undefined;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) n = value;
  else if (typeof value === "string" && (format === "unix-seconds" ? /^[0-9]{1,12}$/ : UNIX_MS).test(value)) {
    n = Number(value);
  }
  if (n === undefined) return undefined;
  const date = new Date(format === "unix-seconds" ? n * 1000 : n);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** A type part's raw name: the constant, or the field's value (a number as text) under its code's name if it has one. */
function typeName(source: TypePartSource, headers: RequestHeaders, json: unknown): unknown {
  if ("constant" in source) return source.constant;
  const raw = asText(readField(source, headers, json));
  // Own names only: a code of `__proto__` or `toString` names nothing.
  if (typeof raw === "string" && source.names !== undefined && Object.hasOwn(source.names, raw)) {
    return source.names[raw];
  }
  return raw;
}

/** EventFacts from an entry's `facts`, checked as the schemes check them. */
export function describeFacts(facts: FactsEntry, headers: RequestHeaders, json: unknown): EventFacts {
  const parts: string[] = [];
  for (const source of facts.type.parts) {
    const raw = typeName(source, headers, json);
    const part = typePart(
      typeof raw === "string" ? raw.replaceAll(":", ".").replaceAll("/", ".") : undefined,
    );
    if (part === undefined) break;
    parts.push(part);
  }
  const complete = parts.length === facts.type.parts.length && parts.length > 0;
  const out: EventFacts = { type: `${facts.type.prefix}.${complete ? parts.join(".") : "event"}` };
  if (facts.subject !== undefined) {
    const subject = plainText(asText(readField(facts.subject, headers, json)));
    if (subject !== undefined) out.subject = subject;
  }
  if (facts.deliveryId !== undefined) {
    const id = idText(asText(readField(facts.deliveryId, headers, json)));
    if (id !== undefined) out.deliveryId = id;
  }
  if (facts.idempotencyKey !== undefined) {
    const key = idText(asText(readField(facts.idempotencyKey, headers, json)));
    if (key !== undefined) out.idempotencyKey = key;
  }
  if (facts.time !== undefined) {
    const time = readTime(readField(facts.time.from, headers, json), facts.time.format);
    if (time !== undefined) out.time = time;
  }
  return out;
}

/** The delivery id as verify reports it (ids only; the same reader as describe). */
export function readId(source: FieldSource, headers: RequestHeaders, json: unknown): string | undefined {
  return idText(asText(readField(source, headers, json)));
}

/**
 * A verified request's value with the delivery id the entry names, for
 * engines that sign no id of their own. An id read from the body is covered
 * by the signature exactly when the engine signs the body (`bodySigned`); one
 * read from a header never is (these engines sign no header but a timestamp).
 */
export function withDeliveryId(
  facts: FactsEntry,
  value: Verified,
  input: Pick<VerifyInput, "headers" | "body">,
  { bodySigned }: { bodySigned: boolean },
): Verified {
  const from = facts.deliveryId;
  if (from === undefined) return value;
  const inBody = "pointer" in from;
  const id = readId(from, input.headers, inBody ? parseJson(input.body) : undefined);
  if (id === undefined) return value;
  return inBody && bodySigned
    ? { ...value, deliveryId: id, deliveryIdSigned: true }
    : { ...value, deliveryId: id };
}
