/**
 * The CloudEvents envelope zenmesh stores and exposes for every event, and its
 * renderings for delivery: the JSON event format 1.0 (section 3, `data` versus
 * `data_base64` per section 3.1) and the HTTP protocol binding 1.0 binary mode
 * (section 3.1: Content-Type from datacontenttype, `ce-` headers percent-encoded
 * per 3.1.3.2). Attributes follow the CloudEvents 1.0 core spec, "Context
 * Attributes": the id is zenmesh's opaque event id and the source names the
 * zenmesh source, so neither reveals or trusts a sender's identifiers.
 */
import type { IngestItem } from "../types.ts";
import {
  CORRELATION_EXTENSION,
  decodeUtf8,
  isAbsoluteUri,
  isCoreAttribute,
  isJsonMediaType,
  isMediaType,
  isReservedExtension,
  isUriReference,
  isValidAttributeName,
  isValidNonEmptyString,
  isValidString,
  LIMITS,
  percentEncode,
  SPEC_VERSION,
} from "./attributes.ts";
import { parseJson } from "./json.ts";
import type { IncomingEvent } from "./parse.ts";

export interface CloudEventEnvelope {
  readonly specversion: "1.0";
  readonly id: string;
  readonly source: string;
  readonly type: string;
  /** RFC 3339, UTC, millisecond precision. */
  readonly time: string;
  readonly datacontenttype?: string;
  readonly subject?: string;
  readonly dataschema?: string;
  readonly correlationid: string;
  /** Extensions carried from an incoming CloudEvent; never a core attribute or `correlationid`. */
  readonly extensions: Readonly<Record<string, string>>;
}

export interface EnvelopeInput {
  eventId: string;
  projectId: string;
  sourceId: string;
  type: string;
  subject?: string | null;
  time: Date;
  datacontenttype?: string | null;
  dataschema?: string | null;
  correlationId: string;
  extensions?: Readonly<Record<string, string>>;
}

/** The `source` attribute naming a zenmesh source: a URI-reference scoped to its project. */
export function sourceUri(projectId: string, sourceId: string): string {
  return `/projects/${encodeURIComponent(projectId)}/sources/${encodeURIComponent(sourceId)}`;
}

/**
 * Builds the stored envelope. Identifiers and the type are zenmesh's own or
 * already checked by the scheme or parser, so an invalid one is a bug and
 * throws. Optional attributes that come from a provider's headers or body
 * (subject, datacontenttype, dataschema) are left out when they are not
 * valid CloudEvents values, rather than failing a verified event.
 */
export function buildEnvelope(input: EnvelopeInput): CloudEventEnvelope {
  const source = sourceUri(input.projectId, input.sourceId);
  for (const [what, value] of [
    ["eventId", input.eventId],
    ["type", input.type],
    ["correlationId", input.correlationId],
  ] as const) {
    if (!isValidNonEmptyString(value)) throw new Error(`buildEnvelope: invalid ${what}`);
  }
  if (!isUriReference(source)) throw new Error("buildEnvelope: invalid projectId or sourceId");
  if (Number.isNaN(input.time.getTime())) throw new Error("buildEnvelope: invalid time");
  const subject = keep(input.subject, isValidNonEmptyString);
  const datacontenttype = keep(input.datacontenttype, isMediaType);
  const dataschema = keep(input.dataschema, isAbsoluteUri);
  const extensions: Record<string, string> = {};
  const carried = Object.entries(input.extensions ?? {});
  if (carried.length > LIMITS.extensions) throw new Error("buildEnvelope: too many extensions");
  for (const [name, value] of carried) {
    if (!isValidAttributeName(name) || !isValidString(value)) {
      throw new Error(`buildEnvelope: invalid extension ${JSON.stringify(name.slice(0, 64))}`);
    }
    if (isCoreAttribute(name) || isReservedExtension(name)) continue;
    extensions[name] = value;
  }
  return {
    specversion: SPEC_VERSION,
    id: input.eventId,
    source,
    type: input.type,
    time: input.time.toISOString(),
    ...(datacontenttype === undefined ? {} : { datacontenttype }),
    ...(subject === undefined ? {} : { subject }),
    ...(dataschema === undefined ? {} : { dataschema }),
    correlationid: input.correlationId,
    extensions,
  };
}

function keep(value: string | null | undefined, valid: (v: string) => boolean): string | undefined {
  return value === null || value === undefined || !valid(value) ? undefined : value;
}

/** Every context attribute by name, extensions included, in canonical string form. */
export function envelopeAttributes(envelope: CloudEventEnvelope): Record<string, string> {
  const out: Record<string, string> = {
    specversion: envelope.specversion,
    id: envelope.id,
    source: envelope.source,
    type: envelope.type,
    time: envelope.time,
  };
  if (envelope.datacontenttype !== undefined) out.datacontenttype = envelope.datacontenttype;
  if (envelope.subject !== undefined) out.subject = envelope.subject;
  if (envelope.dataschema !== undefined) out.dataschema = envelope.dataschema;
  for (const [name, value] of Object.entries(envelope.extensions)) {
    if (!isCoreAttribute(name) && !isReservedExtension(name)) out[name] = value;
  }
  out[CORRELATION_EXTENSION] = envelope.correlationid;
  return out;
}

/**
 * The event in the JSON event format: `data` as JSON when datacontenttype is
 * JSON and the bytes parse (numbers keep their exact text), otherwise
 * `data_base64`; neither member when there are no data bytes.
 */
export function toStructured(envelope: CloudEventEnvelope, data: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = envelopeAttributes(envelope);
  if (data.length === 0) return out;
  if (envelope.datacontenttype !== undefined && isJsonMediaType(envelope.datacontenttype)) {
    const text = decodeUtf8(data);
    const parsed = text === null ? null : parseJson(text, 0);
    if (parsed?.ok) {
      out.data = parsed.value;
      return out;
    }
  }
  out.data_base64 = data.toString("base64");
  return out;
}

/** Headers for binary-mode delivery; the body is the data bytes as they are. */
export function toBinaryHeaders(envelope: CloudEventEnvelope): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(envelopeAttributes(envelope))) {
    if (name === "datacontenttype") headers["content-type"] = value;
    else headers[`ce-${name}`] = percentEncode(value);
  }
  return headers;
}

/**
 * What the ingester hands the backend for one incoming CloudEvent. The
 * sender's `source` and `id` identify the occurrence (core spec: unique per
 * source), so together they are the replay key; the event's time falls back
 * to when zenmesh received it.
 */
export function ingestFields(
  event: IncomingEvent,
  receivedAt: Date,
): Pick<IngestItem, "contentType" | "body" | "deliveryId" | "ce"> {
  return {
    contentType: event.datacontenttype ?? null,
    body: event.data.toString("base64"),
    deliveryId: JSON.stringify([event.source, event.id]),
    ce: {
      type: event.type,
      subject: event.subject ?? null,
      time: (event.time ?? receivedAt).toISOString(),
      dataschema: event.dataschema ?? null,
      extensions: { ...event.extensions },
    },
  };
}
