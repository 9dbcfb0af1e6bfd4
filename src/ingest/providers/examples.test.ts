/**
 * Every provider entry in the registry, whichever engine builds it, against
 * its documented examples: the example's request verifies (or is refused)
 * exactly as the entry says, describe gives the documented facts, and a
 * one-byte change to an accepted example's body is refused (or, for an
 * engine that signs no body, still authenticates). An entry joins this suite
 * by being registered; nothing here names a provider, and every scheme but
 * the hand-written ones must be an entry, so a provider added later cannot
 * skip its documented example.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SCHEMES } from "../schemes/index.ts";
import { SCHEME_NAMES, type VerifyResult } from "../types.ts";
import { entryOf, type ProviderExample, parseJson } from "./entry.ts";

const TOLERANCE = 300;
const entries = Object.values(SCHEMES).flatMap((scheme) => {
  const entry = entryOf(scheme);
  return entry === undefined ? [] : [{ scheme, entry }];
});
const reason = (r: VerifyResult) => (r.ok ? "ok" : r.reason);

function run(name: keyof typeof SCHEMES, example: ProviderExample, body = Buffer.from(example.body)) {
  return SCHEMES[name].verify({
    headers: example.headers,
    body,
    secrets: [example.secret],
    settings: {},
    now: new Date(example.now),
    toleranceSeconds: TOLERANCE,
    ...(example.url === undefined ? {} : { url: example.url }),
  });
}

/** Schemes written by hand rather than described by an entry. */
const HAND_WRITTEN: ReadonlySet<string> = new Set([
  // The original seven, each with its own tests and the repository's shared vectors.
  "github",
  "gitlab",
  "stripe",
  "slack",
  "shopify",
  "standard-webhooks",
  "generic-hmac",
  // zenmesh's own signature, on requests zenmesh sends.
  "zenmesh",
  // Providers with an endpoint handshake, written as schemes alongside this suite; each
  // becomes an entry once it has landed.
  "zoom",
  "twitch",
  "meta",
  // Its secret is every item's clientState, inside the body: no entry engine reads a proof
  // there, and its handshake carries no secret at all.
  "microsoft-graph",
]);

test("every scheme in the registry but the hand-written ones is an entry with a documented example", () => {
  const missing = SCHEME_NAMES.filter(
    (name) => !HAND_WRITTEN.has(name) && (entryOf(SCHEMES[name])?.examples.length ?? 0) === 0,
  );
  assert.deepEqual(missing, [], "schemes without a registered entry and its documented examples");
});

test("the registry's entries are found, each under its own name, each with an accepted example", () => {
  assert.ok(entries.length >= 29, `${entries.length} entries`);
  for (const { scheme, entry } of entries) {
    assert.equal(scheme.name, entry.name);
    assert.equal(scheme.provider.title, entry.title);
    assert.equal(scheme.provider.docs, entry.docs);
    assert.ok(entry.contentTypes.includes(entry.sample.contentType), entry.name);
    assert.ok(
      entry.examples.some((e) => e.expect.ok),
      `${entry.name} documents an example that verifies`,
    );
  }
});

for (const { entry } of entries) {
  describe(`provider ${entry.name} (${entry.engine})`, () => {
    for (const example of entry.examples) {
      test(`${example.label}: ${example.expect.ok ? "accepted" : example.expect.reason}`, () => {
        const r = run(entry.name, example);
        const expect = example.expect;
        if (!expect.ok) {
          assert.equal(reason(r), expect.reason);
          return;
        }
        assert.ok(r.ok, reason(r));
        assert.ok(r.value.signature.length > 0);
        if (expect.deliveryId !== undefined) assert.equal(r.value.deliveryId, expect.deliveryId);
        const body = Buffer.from(example.body);
        const facts = SCHEMES[entry.name].describe({
          headers: example.headers,
          body,
          json: parseJson(body),
          settings: {},
        });
        assert.equal(facts.type, expect.type);
        assert.equal(facts.deliveryId, expect.deliveryId);
        assert.equal(facts.idempotencyKey, expect.idempotencyKey);
        if (expect.subject !== undefined) assert.equal(facts.subject, expect.subject);
      });

      if (example.expect.ok && entry.bindsBody === false) {
        test(`${example.label}: a changed body still authenticates (nothing is signed), under another replay key`, () => {
          const body = Buffer.from(example.body);
          body[body.length >> 1] = body[body.length >> 1]! ^ 0x01;
          const original = run(entry.name, example);
          const changed = run(entry.name, example, body);
          assert.ok(original.ok && changed.ok, reason(changed));
          assert.notEqual(changed.value.signature, original.value.signature);
        });
      } else if (example.expect.ok) {
        test(`${example.label}: a one-byte change to the body is refused`, () => {
          const body = Buffer.from(example.body);
          body[body.length >> 1] = body[body.length >> 1]! ^ 0x01;
          assert.equal(reason(run(entry.name, example, body)), "bad_signature");
        });
      }

      if (example.expect.ok) {
        test(`${example.label}: another secret is refused`, () => {
          const r = run(entry.name, { ...example, secret: example.otherSecret ?? `${example.secret}x` });
          assert.equal(reason(r), "bad_signature");
        });
      }
    }
  });
}
