import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkWindow,
  decodeBase64,
  decodeHex,
  matchAny,
  parseUnixSeconds,
  pick,
  readHeader,
  typePart,
} from "./common.ts";

test("timestamps are integer seconds only", () => {
  assert.equal(parseUnixSeconds("1700000000"), 1_700_000_000);
  for (const bad of ["", "1.5", "1e9", "-1", "+1", " 1", "1 ", "0x1", "１", "1".repeat(13)]) {
    assert.equal(parseUnixSeconds(bad), undefined, bad);
  }
});

test("the window is inclusive at ±tolerance", () => {
  const now = new Date(1_000_000 * 1000 + 999);
  assert.equal(checkWindow(1_000_000 - 5, now, 5), undefined);
  assert.equal(checkWindow(1_000_000 + 5, now, 5), undefined);
  assert.equal(checkWindow(1_000_000 - 6, now, 5), "stale");
  assert.equal(checkWindow(1_000_000 + 6, now, 5), "future");
});

test("encodings are exact: hex length, canonical padded base64", () => {
  assert.equal(decodeHex("ab".repeat(32), 32)?.length, 32);
  assert.equal(decodeHex("ab".repeat(31), 32), undefined);
  assert.equal(decodeHex("zz".repeat(32), 32), undefined);
  assert.deepEqual(decodeBase64("AAAA"), Buffer.alloc(3));
  assert.equal(decodeBase64("AAA"), undefined);
  assert.equal(decodeBase64("AB=="), undefined, "non-zero padding bits");
  assert.deepEqual(decodeBase64("AA=="), Buffer.alloc(1));
  assert.equal(decodeBase64("A-_A"), undefined);
});

test("matchAny finds a match wherever it is and compares every pair", () => {
  const a = Buffer.from("a");
  const b = Buffer.from("b");
  const c = Buffer.from("c");
  assert.equal(matchAny([a, b], [c, b]), 1);
  assert.equal(matchAny([a], [a, a]), 0);
  assert.equal(matchAny([a, b], [c]), -1);
  assert.equal(matchAny([], [a]), -1);
});

test("headers and paths read own properties only", () => {
  const headers = Object.create({ inherited: "x" }) as Record<string, string>;
  assert.deepEqual(readHeader(headers, "inherited"), { kind: "absent" });
  assert.deepEqual(readHeader({ __proto__: "x" } as Record<string, string>, "__proto__"), { kind: "absent" });
  assert.equal(pick({ a: { b: 1 } }, "a", "b"), 1);
  assert.equal(pick({}, "constructor"), undefined);
  assert.equal(pick([1], "0"), undefined);
});

test("event names are dotted tokens", () => {
  assert.equal(typePart("payment_intent.succeeded"), "payment_intent.succeeded");
  for (const bad of ["", "a..b", ".a", "a.", "a b", "a/b", "x".repeat(129), 5, null]) {
    assert.equal(typePart(bad), undefined, String(bad));
  }
});
