/**
 * Test helpers around the `cloudevents` package, used only as an independent
 * oracle: it emits messages for our parser and judges envelopes we produce.
 */
import assert from "node:assert/strict";
import type { CloudEvent } from "cloudevents";
import type { IncomingEvent } from "./parse.ts";

const CORE = new Set([
  "specversion",
  "id",
  "source",
  "type",
  "datacontenttype",
  "dataschema",
  "subject",
  "time",
  "data",
  "data_base64",
]);

/** The package's view of an event's data as bytes (it decodes data_base64 into a Uint32Array of bytes). */
export function oracleBytes(event: CloudEvent<unknown>): Buffer {
  const data = event.data;
  if (data === undefined || data === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(data)) return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(Array.from(data as unknown as ArrayLike<number>));
  if (
    typeof data === "string" &&
    event.datacontenttype !== undefined &&
    !/json/i.test(event.datacontenttype)
  ) {
    return Buffer.from(data, "utf8");
  }
  return Buffer.from(JSON.stringify(data), "utf8");
}

export function oracleExtensions(event: CloudEvent<unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(event)) {
    if (!CORE.has(k) && v !== undefined) out[k] = String(v);
  }
  return out;
}

/** Our parse of a message agrees with the package's parse of the same message. */
export function assertSameEvent(ours: IncomingEvent, theirs: CloudEvent<unknown>): void {
  assertSameAttributes(ours, theirs);
  assert.deepEqual(ours.data, oracleBytes(theirs));
}

/** The context attributes agree (data aside). */
export function assertSameAttributes(ours: IncomingEvent, theirs: CloudEvent<unknown>): void {
  assert.equal(ours.id, theirs.id);
  assert.equal(ours.source, theirs.source);
  assert.equal(ours.type, theirs.type);
  assert.equal(ours.subject, theirs.subject);
  assert.equal(ours.dataschema, theirs.dataschema);
  assert.equal(
    ours.time?.toISOString(),
    theirs.time === undefined ? undefined : new Date(theirs.time).toISOString(),
  );
  assert.deepEqual(ours.extensions, oracleExtensions(theirs));
}
