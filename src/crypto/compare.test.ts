import assert from "node:assert/strict";
import { test } from "node:test";
import { timingSafeEqualBytes, timingSafeEqualString } from "./index.ts";

test("equal byte arrays compare equal and any difference compares unequal", () => {
  const a = Buffer.from("0123456789abcdef");
  assert.equal(timingSafeEqualBytes(a, Buffer.from(a)), true);
  assert.equal(timingSafeEqualBytes(new Uint8Array(0), new Uint8Array(0)), true);
  for (let i = 0; i < a.length; i++) {
    const b = Buffer.from(a);
    b[i] = (b[i] ?? 0) ^ 0x80;
    assert.equal(timingSafeEqualBytes(a, b), false);
  }
});

test("byte arrays of different lengths compare unequal instead of throwing", () => {
  assert.equal(timingSafeEqualBytes(Buffer.from("abc"), Buffer.from("abcd")), false);
  assert.equal(timingSafeEqualBytes(Buffer.from("abcd"), Buffer.from("abc")), false);
  assert.equal(timingSafeEqualBytes(new Uint8Array(0), Buffer.from("a")), false);
});

test("byte comparison works on views into larger buffers", () => {
  const big = Buffer.from("xxsecretyy");
  assert.equal(timingSafeEqualBytes(big.subarray(2, 8), Buffer.from("secret")), true);
});

test("strings compare by content, whatever their lengths", () => {
  assert.equal(timingSafeEqualString("whsec_abc", "whsec_abc"), true);
  assert.equal(timingSafeEqualString("", ""), true);
  assert.equal(timingSafeEqualString("whsec_abc", "whsec_abd"), false);
  assert.equal(timingSafeEqualString("whsec_abc", "whsec_ab"), false);
  assert.equal(timingSafeEqualString("", "a"), false);
  assert.equal(timingSafeEqualString("é", "e\u0301"), false);
});
