/**
 * Which schemes sign the delivery id they report: only a signed id may tell
 * two events with the same body apart in the duplicate fingerprint, since an
 * unsigned one can be changed by anyone resending a captured request.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { SchemeName } from "../types.ts";
import { SCHEMES, type SchemeSettings } from "./index.ts";
import { NOW } from "./schemes.test-support.ts";
import { generateStandardWebhooksSecret } from "./standard-webhooks.ts";

const BODY = Buffer.from('{"id":"evt_1","event_id":"Ev1","type":"thing.happened"}');

function verified(name: SchemeName, settings: SchemeSettings = {}, secret = SCHEMES[name].generateSecret()) {
  const headers = SCHEMES[name].sign({ secret, body: BODY, now: NOW, settings });
  const r = SCHEMES[name].verify({
    headers,
    body: BODY,
    secrets: [secret],
    settings,
    now: NOW,
    toleranceSeconds: 300,
  });
  assert.ok(r.ok, `${name}: ${r.ok ? "" : r.reason}`);
  return r.value;
}

test("schemes that sign the delivery id (a signed header or the signed body) say so", () => {
  for (const name of ["standard-webhooks", "zenmesh", "stripe", "slack"] as const) {
    const v = verified(name);
    assert.ok(v.deliveryId !== undefined, name);
    assert.equal(v.deliveryIdSigned, true, name);
  }
  const signing = verified("gitlab", {}, generateStandardWebhooksSecret());
  assert.equal(signing.deliveryIdSigned, true, "gitlab with a signing token");
  const template = { header: "x-signature", idHeader: "x-id", template: "{id}.{body}" };
  assert.equal(verified("generic-hmac", template).deliveryIdSigned, true, "generic-hmac signing {id}");
});

test("schemes whose delivery id travels beside the signature do not", () => {
  for (const [name, settings] of [
    ["github", {}],
    ["shopify", {}],
    ["gitlab", {}],
    ["generic-hmac", { header: "x-signature", idHeader: "x-id" }],
  ] as const) {
    const v = verified(name, settings);
    assert.equal(v.deliveryIdSigned, undefined, name);
  }
});
