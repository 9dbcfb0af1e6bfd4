import assert from "node:assert/strict";
import { test } from "node:test";
import { newId, ZenError } from "../../core/index.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";

test("a cursor round-trips received_at at microsecond precision and the id", () => {
  const c = { receivedAt: "2030-01-01T00:00:00.123456Z", id: newId("event") };
  const text = encodeCursor(c);
  assert.match(text, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeCursor(text), c);
});

test("rejects a cursor that is not one of ours", () => {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  for (const text of [
    "",
    "!!!",
    b64({ receivedAt: "2030-01-01T00:00:00.000000Z", id: newId("event") }),
    b64(["2030-01-01T00:00:00Z", newId("event")]),
    b64(["2030-01-01T00:00:00.000000Z", newId("source")]),
    b64(["2030-01-01T00:00:00.000000Z", "evt_'; drop table events; --"]),
    b64(["2030-01-01T00:00:00.000000Z", newId("event"), 1]),
  ]) {
    assert.throws(
      () => decodeCursor(text),
      (e) => e instanceof ZenError && e.code === "VALIDATION_FAILED",
      text,
    );
  }
});
