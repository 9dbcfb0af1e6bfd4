import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { SCHEMES } from "./index.ts";
import { check, reason } from "./schemes.test-support.ts";

const SECRET = "shpss_0123456789abcdef0123456789abcdef";
const BODY = Buffer.from('{"id":820982911946154508,"email":"jon@example.com"}');
/** Shopify's documented computation: base64 HMAC-SHA256 of the raw body under the client secret. */
const HMAC = createHmac("sha256", SECRET).update(BODY).digest("base64");

test("accepts X-Shopify-Hmac-Sha256 and the newer shopify-hmac-sha256, with the webhook id as delivery id", () => {
  for (const name of ["x-shopify-hmac-sha256", "shopify-hmac-sha256"]) {
    const r = check("shopify", {
      headers: { [name]: HMAC, "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043" },
      secrets: [SECRET],
      body: BODY,
    });
    assert.ok(r.ok, reason(r));
    assert.equal(r.value.signature, HMAC);
    assert.equal(r.value.deliveryId, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
  }
});

test("refuses a non-canonical or unpadded base64 signature, so a replay cannot re-encode it", () => {
  const mac = Buffer.from(HMAC, "base64");
  assert.equal(mac.length, 32);
  // The last symbol before '=' carries two unused bits; flipping them decodes to the same bytes.
  const last = HMAC.at(-2)!;
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const twin = `${HMAC.slice(0, -2)}${alphabet[alphabet.indexOf(last) ^ 1]}=`;
  assert.deepEqual(Buffer.from(twin, "base64"), mac);
  for (const header of [twin, HMAC.slice(0, -1), Buffer.from(mac).toString("base64url")]) {
    const r = check("shopify", {
      headers: { "x-shopify-hmac-sha256": header },
      secrets: [SECRET],
      body: BODY,
    });
    assert.equal(reason(r), "malformed_signature", header);
  }
});

test("describe: topic with / as ., the shop domain as subject, triggered-at as time", () => {
  const facts = SCHEMES.shopify.describe({
    headers: {
      "x-shopify-topic": "orders/create",
      "x-shopify-shop-domain": "example.myshopify.com",
      "x-shopify-webhook-id": "w-1",
      "x-shopify-triggered-at": "2023-03-29T18:00:27.877041743Z",
    },
    body: BODY,
    json: JSON.parse(BODY.toString()),
  });
  assert.deepEqual(facts, {
    type: "com.shopify.orders.create",
    subject: "example.myshopify.com",
    deliveryId: "w-1",
    time: new Date("2023-03-29T18:00:27.877Z"),
  });
});
