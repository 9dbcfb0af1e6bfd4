/** The guards on a reflected challenge and the constant-time token match the handshakes share. */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { challengeText, jsonAnswer, MAX_CHALLENGE, matchesAnyToken, plainTextAnswer } from "./handshake.ts";

test("a challenge is reflected only when it is token characters, under the cap", () => {
  for (const ok of [
    "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    "qgg8vlvZRS6UYooatFL8Aw",
    "1158201444",
    "pogchamp-kappa-360noscope-vohiyo",
    "a+b/c==",
  ]) {
    assert.equal(challengeText(ok), ok);
  }
  for (const bad of [
    "",
    "<script>",
    "a b",
    "a\nb",
    "a\u0000",
    "ключ",
    "a\u202eb",
    42,
    null,
    undefined,
    "x".repeat(MAX_CHALLENGE + 1),
  ]) {
    assert.equal(challengeText(bad), undefined, JSON.stringify(bad));
  }
  assert.equal(challengeText("x".repeat(257), { max: 256 }), undefined);
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 80 }), (s) => {
      const out = challengeText(s);
      // Only visible ASCII, never markup, quoting or spaces.
      if (out !== undefined) assert.ok(/^[\x21-\x7e]+$/.test(out) && !/[<>&"'`\\ ]/.test(out), out);
    }),
    { numRuns: 500 },
  );
});

test("plain-text and JSON answers are 200, typed and marked nosniff", () => {
  assert.deepEqual(plainTextAnswer("abc"), {
    status: 200,
    headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" },
    body: "abc",
  });
  const j = jsonAnswer({ challenge: "abc" });
  assert.equal(j.headers["content-type"], "application/json");
  assert.equal(j.headers["x-content-type-options"], "nosniff");
  assert.deepEqual(JSON.parse(j.body), { challenge: "abc" });
});

test("a token matches only itself, whatever its length, among every expected one", () => {
  assert.equal(matchesAnyToken("verify-token-1234", ["other", "verify-token-1234"]), true);
  for (const given of ["verify-token-123", "verify-token-12345", "Verify-token-1234", ""]) {
    assert.equal(matchesAnyToken(given, ["verify-token-1234"]), false, given);
  }
  assert.equal(matchesAnyToken("anything", []), false);
});
