/**
 * No string inside a source's settings may hold an invisible or control
 * character, for every registered scheme: each scheme's own settings schema
 * refuses it (its string settings are probed from the schema itself, so a
 * scheme added later is covered), and checkSettings refuses it before any
 * scheme looks, naming the path, as text shown to people.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { z } from "zod";
import { isZenError } from "../../core/index.ts";
import { SCHEMES } from "../schemes/index.ts";
import type { SchemeName } from "../types.ts";
import { checkSettings } from "./scheme-rules.ts";

const TRICKS = ["ab\u202Ecd", "a\u200Bb", "x\u0007", "bo\uFEFFm"];
/** Settings a scheme requires, so that only the probed field can fail. */
const REQUIRED: Partial<Record<SchemeName, Record<string, unknown>>> = {
  "generic-hmac": { header: "x-signature" },
  meta: { verify_token: "a-verify-token" },
};

function stringSettings(name: SchemeName): string[] {
  const schema = z.toJSONSchema(SCHEMES[name].settings as z.ZodType, {
    io: "input",
    unrepresentable: "any",
  }) as {
    properties?: Record<string, { type?: string }>;
  };
  return Object.entries(schema.properties ?? {})
    .filter(([, p]) => p.type === "string")
    .map(([k]) => k);
}

test("every scheme's string settings refuse invisible and control characters", () => {
  let probed = 0;
  for (const name of Object.keys(SCHEMES) as SchemeName[]) {
    for (const field of stringSettings(name)) {
      for (const trick of TRICKS) {
        probed++;
        const settings = { ...REQUIRED[name], [field]: trick };
        assert.equal(SCHEMES[name].settings.safeParse(settings).success, false, `${name}.${field}`);
        assert.throws(
          () => checkSettings(name, settings),
          (err: unknown) =>
            isZenError(err) &&
            err.code === "TEXT_NOT_ALLOWED" &&
            JSON.stringify(err.details).includes(`"settings.${field}"`) &&
            !err.message.includes(trick),
          `${name}.${field}`,
        );
      }
    }
  }
  assert.ok(probed >= 9 * TRICKS.length, `probed ${probed}`);
});

test("checkSettings names nested paths and keeps clean settings", () => {
  assert.throws(
    () => checkSettings("generic-hmac", { header: "x-signature", extra: { list: ["ok", "b\u202Ead"] } }),
    (err: unknown) => isZenError(err) && JSON.stringify(err.details).includes('"settings.extra.list.1"'),
  );
  assert.deepEqual(checkSettings("generic-hmac", { header: "x-signature" }).header, "x-signature");
});
