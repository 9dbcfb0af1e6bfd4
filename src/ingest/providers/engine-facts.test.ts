/**
 * Where an entry's facts come from: JSON pointers as RFC 6901 reads them
 * (with its escapes and array indices), own properties only, and only short
 * visible text taken as ids or types.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { atPointer, describeFromEntry } from "./engine-facts.ts";

test("JSON pointers: RFC 6901's examples, array indices, and nothing through the prototype", () => {
  // RFC 6901 §5.
  const doc = JSON.parse(
    '{"foo":["bar","baz"],"":0,"a/b":1,"c%d":2,"e^f":3,"g|h":4,"i\\\\j":5,"k\\"l":6," ":7,"m~n":8}',
  );
  assert.deepEqual(atPointer(doc, ""), doc);
  assert.deepEqual(atPointer(doc, "/foo"), ["bar", "baz"]);
  assert.equal(atPointer(doc, "/foo/0"), "bar");
  assert.equal(atPointer(doc, "/"), 0);
  assert.equal(atPointer(doc, "/a~1b"), 1);
  assert.equal(atPointer(doc, "/c%d"), 2);
  assert.equal(atPointer(doc, "/i\\j"), 5);
  assert.equal(atPointer(doc, "/ "), 7);
  assert.equal(atPointer(doc, "/m~0n"), 8);
  assert.equal(atPointer(doc, "/foo/01"), undefined, "no leading zeros");
  assert.equal(atPointer(doc, "/foo/-"), undefined);
  assert.equal(atPointer(doc, "foo"), undefined, "a pointer starts with /");
  assert.equal(atPointer({}, "/__proto__"), undefined);
  assert.equal(atPointer({}, "/constructor/name"), undefined);
});

test("describe: header, pointer or constant; coded types named; garbage falls back to <prefix>.event", () => {
  const entry = {
    typePrefix: "com.example",
    eventType: { pointer: "/type" },
    eventNames: { "2": "command" },
    deliveryId: { header: "x-id" },
    idempotencyKey: { pointer: "/data/id" },
    subject: { pointer: "/data/name" },
  };
  const facts = describeFromEntry(entry, {
    headers: { "x-id": "d-1" },
    body: Buffer.alloc(0),
    json: { type: 2, data: { id: "k-1", name: "Ada Lovelace" } },
  });
  assert.deepEqual(facts, {
    type: "com.example.command",
    deliveryId: "d-1",
    idempotencyKey: "k-1",
    subject: "Ada Lovelace",
  });
  assert.equal(
    describeFromEntry(entry, { headers: {}, body: Buffer.alloc(0), json: { type: 3 } }).type,
    "com.example.3",
  );
  const junk = describeFromEntry(entry, {
    headers: { "x-id": "has space" },
    body: Buffer.alloc(0),
    json: { type: "a b", data: { id: "\u0000", name: "x\u202ey" } },
  });
  assert.deepEqual(junk, { type: "com.example.event" });
  const fixed = describeFromEntry(
    { typePrefix: "com.example", eventType: { constant: "batch" } },
    { headers: {}, body: Buffer.alloc(0), json: undefined },
  );
  assert.equal(fixed.type, "com.example.batch");
});
