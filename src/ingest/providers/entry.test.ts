/**
 * Where an entry's facts come from, as every engine reads them: JSON pointers
 * as RFC 6901 reads them (with its escapes and array indices), own properties
 * only, coded and fixed type names, and only short visible text taken as ids
 * or types; and the delivery id an engine reports once a request verified.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { describeFacts, type FactsEntry, jsonPointer, withDeliveryId } from "./entry.ts";

test("JSON pointers: RFC 6901's examples, array indices, and nothing through the prototype", () => {
  // RFC 6901 §5.
  const doc = JSON.parse(
    '{"foo":["bar","baz"],"":0,"a/b":1,"c%d":2,"e^f":3,"g|h":4,"i\\\\j":5,"k\\"l":6," ":7,"m~n":8}',
  );
  assert.deepEqual(jsonPointer(doc, ""), doc);
  assert.deepEqual(jsonPointer(doc, "/foo"), ["bar", "baz"]);
  assert.equal(jsonPointer(doc, "/foo/0"), "bar");
  assert.equal(jsonPointer(doc, "/"), 0);
  assert.equal(jsonPointer(doc, "/a~1b"), 1);
  assert.equal(jsonPointer(doc, "/c%d"), 2);
  assert.equal(jsonPointer(doc, "/e^f"), 3);
  assert.equal(jsonPointer(doc, "/g|h"), 4);
  assert.equal(jsonPointer(doc, "/i\\j"), 5);
  assert.equal(jsonPointer(doc, '/k"l'), 6);
  assert.equal(jsonPointer(doc, "/ "), 7);
  assert.equal(jsonPointer(doc, "/m~0n"), 8);
  assert.equal(jsonPointer(doc, "/foo/01"), undefined, "no leading zeros");
  assert.equal(jsonPointer(doc, "/foo/-"), undefined);
  assert.equal(jsonPointer(doc, "foo"), undefined, "a pointer starts with /");
  assert.equal(jsonPointer({}, "/__proto__"), undefined);
  assert.equal(jsonPointer({}, "/constructor/name"), undefined);
});

const entry: FactsEntry = {
  type: { prefix: "com.example", parts: [{ pointer: "/type", names: { "2": "command" } }] },
  deliveryId: { header: "x-id" },
  idempotencyKey: { pointer: "/data/id" },
  subject: { pointer: "/data/name" },
};

test("describe: header or pointer, coded types named, numbers as text; garbage falls back to <prefix>.event", () => {
  const facts = describeFacts(
    entry,
    { "x-id": "d-1" },
    { type: 2, data: { id: "k-1", name: "Ada Lovelace" } },
  );
  assert.deepEqual(facts, {
    type: "com.example.command",
    deliveryId: "d-1",
    idempotencyKey: "k-1",
    subject: "Ada Lovelace",
  });
  assert.equal(describeFacts(entry, {}, { type: 3 }).type, "com.example.3", "an unnamed code is kept");
  // A code is named by the entry's own names only.
  assert.equal(describeFacts(entry, {}, { type: "toString" }).type, "com.example.toString");
  assert.equal(describeFacts(entry, {}, { type: "__proto__" }).type, "com.example.__proto__");
  const junk = describeFacts(
    entry,
    { "x-id": "has space" },
    { type: "a b", data: { id: "\u0000", name: "x\u202ey" } },
  );
  assert.deepEqual(junk, { type: "com.example.event" });
  assert.deepEqual(describeFacts(entry, {}, undefined), { type: "com.example.event" });
});

test("describe: a constant type part, and no parts at all, give fixed types", () => {
  const batch: FactsEntry = { type: { prefix: "com.example", parts: [{ constant: "batch" }] } };
  assert.equal(describeFacts(batch, {}, undefined).type, "com.example.batch");
  const none: FactsEntry = { type: { prefix: "com.example", parts: [] } };
  assert.equal(describeFacts(none, {}, { type: "x" }).type, "com.example.event");
});

test("the verified delivery id: read as describe reads it, signed only when it is in a body the engine signs", () => {
  const value = { signature: "s" };
  const inBody: FactsEntry = { type: { prefix: "com.example", parts: [] }, deliveryId: { pointer: "/id" } };
  const body = Buffer.from('{"id":"1000000000000000005"}');
  assert.deepEqual(withDeliveryId(inBody, value, { headers: {}, body }, { bodySigned: true }), {
    signature: "s",
    deliveryId: "1000000000000000005",
    deliveryIdSigned: true,
  });
  assert.deepEqual(withDeliveryId(inBody, value, { headers: {}, body }, { bodySigned: false }), {
    signature: "s",
    deliveryId: "1000000000000000005",
  });
  // A header is never covered by these engines' signatures.
  assert.deepEqual(withDeliveryId(entry, value, { headers: { "x-id": "d-1" }, body }, { bodySigned: true }), {
    signature: "s",
    deliveryId: "d-1",
  });
  // An id that is not visible text, or none: nothing reported.
  const spaced = Buffer.from('{"id":"a b"}');
  assert.deepEqual(withDeliveryId(inBody, value, { headers: {}, body: spaced }, { bodySigned: true }), value);
  assert.deepEqual(
    withDeliveryId(inBody, value, { headers: {}, body: Buffer.from("x") }, { bodySigned: true }),
    value,
  );
  const noId: FactsEntry = { type: { prefix: "com.example", parts: [] } };
  assert.deepEqual(withDeliveryId(noId, value, { headers: {}, body }, { bodySigned: true }), value);
});
