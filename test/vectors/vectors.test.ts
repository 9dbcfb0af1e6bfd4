import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";
import { VECTORS_PATH } from "../support/vectors.ts";

/** The original, where the repository was given it beside itself; a clone has none. */
const ORIGINAL = resolve(import.meta.dirname, "..", "..", "..", "shared", "test-vectors", "vectors.json");

test("the repository's vectors are a byte-identical copy of the original, where it exists", (t) => {
  const copy = readFileSync(VECTORS_PATH);
  assert.ok(copy.length > 0);
  JSON.parse(copy.toString("utf8"));
  if (!existsSync(ORIGINAL)) {
    t.diagnostic(`no original at ${ORIGINAL}: nothing to compare`);
    return;
  }
  assert.ok(copy.equals(readFileSync(ORIGINAL)), "test/vectors/vectors.json differs from the original");
});
