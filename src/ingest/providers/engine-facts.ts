/**
 * What a provider entry says about where an event's facts are found: the
 * event type, the delivery id, the idempotency key and the subject, each
 * from a header or a JSON pointer (RFC 6901) into the body. Shared by the
 * asymmetric and special engines so every entry reads its facts one way.
 *
 * Never throws: describe() runs on bodies nobody verified yet (garbage in, a
 * fallback type out). Pointers follow own properties only, so `__proto__` or
 * `constructor` in a pointer read nothing, and values are only taken when
 * they are short, visible text.
 */
import { idText, isRecord, plainHeader, plainText, textHeader, typePart } from "../schemes/common.ts";
import type { DescribeInput } from "../schemes/scheme.ts";
import type { EventFacts } from "../types.ts";

/** Where a value comes from: a request header (lower-case name), a JSON pointer into the body, or a fixed value. */
export type FieldSource = { header: string } | { pointer: string } | { constant: string };

export interface FactsEntry {
  /** CloudEvents type prefix, e.g. `com.discord`; the event type is appended after a dot. */
  typePrefix: string;
  eventType?: FieldSource;
  /** Names for coded event types (Discord's numeric interaction types), applied before the prefix. */
  eventNames?: Readonly<Record<string, string>>;
  deliveryId?: FieldSource;
  idempotencyKey?: FieldSource;
  subject?: FieldSource;
}

/** The value at a JSON pointer, or undefined; `~1` and `~0` unescaped as RFC 6901 says. */
export function atPointer(json: unknown, pointer: string): unknown {
  if (pointer === "") return json;
  if (!pointer.startsWith("/")) return undefined;
  let at: unknown = json;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (Array.isArray(at)) {
      if (!/^(0|[1-9][0-9]{0,5})$/.test(key)) return undefined;
      at = at[Number(key)];
    } else if (isRecord(at) && Object.hasOwn(at, key)) {
      at = at[key];
    } else {
      return undefined;
    }
  }
  return at;
}

/** A scalar read as text: numbers are provider codes (Discord's `type: 2`). */
function asText(value: unknown): string | undefined {
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  return typeof value === "string" ? value : undefined;
}

function read(input: DescribeInput, from: FieldSource | undefined, kind: "id" | "text"): string | undefined {
  if (from === undefined) return undefined;
  if ("constant" in from) return from.constant;
  if ("header" in from) {
    return kind === "id" ? plainHeader(input.headers, from.header) : textHeader(input.headers, from.header);
  }
  const text = asText(atPointer(input.json, from.pointer));
  if (text === undefined) return undefined;
  return kind === "id" ? idText(text) : plainText(text);
}

/** The facts an entry names; `fallbackType` is `${typePrefix}.event`. */
export function describeFromEntry(entry: FactsEntry, input: DescribeInput): EventFacts {
  const raw = read(input, entry.eventType, "text");
  const named =
    raw !== undefined && entry.eventNames !== undefined && Object.hasOwn(entry.eventNames, raw)
      ? entry.eventNames[raw]
      : raw;
  const type = typePart(named);
  const facts: EventFacts = { type: `${entry.typePrefix}.${type ?? "event"}` };
  const deliveryId = read(input, entry.deliveryId, "id");
  if (deliveryId !== undefined) facts.deliveryId = deliveryId;
  const key = read(input, entry.idempotencyKey, "id");
  if (key !== undefined) facts.idempotencyKey = key;
  const subject = read(input, entry.subject, "text");
  if (subject !== undefined) facts.subject = subject;
  return facts;
}
