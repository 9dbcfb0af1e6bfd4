/**
 * Shopify, following "Verify webhooks"
 * (https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook).
 *
 *   X-Shopify-Hmac-Sha256 (or shopify-hmac-sha256): base64(HMAC-SHA256(app client secret as UTF-8, raw body))
 *   X-Shopify-Webhook-Id:  the delivery id (not signed)
 *   X-Shopify-Topic:       e.g. orders/create → type com.shopify.orders.create (not signed)
 *
 * Shopify sends each header under both names (the `X-` form and the newer
 * one); the first present is read. Guards against forgery and body
 * tampering (constant-time, every secret tried). No timestamp is signed:
 * replay is caught by the ingester's dedupe on the webhook id and the
 * signature, which must be canonical padded base64 so it cannot be re-encoded
 * into a second accepted form.
 */
import { randomBytes } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"id":820982911946154500,"email":"jon@example.com","total_price":"10.00","currency":"USD","financial_status":"paid"}';

export const shopify = hmacScheme({
  name: "shopify",
  engine: "hmac",
  title: "Shopify",
  docs: "https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook",
  contentTypes: ["application/json"],
  sample: {
    contentType: "application/json",
    body: BODY,
    headers: { "x-shopify-topic": "orders/create", "x-shopify-shop-domain": "example.myshopify.com" },
  },
  algorithm: "sha256",
  encoding: "base64",
  signature: { header: ["x-shopify-hmac-sha256", "shopify-hmac-sha256"], format: { kind: "whole" } },
  template: "{body}",
  facts: {
    type: { prefix: "com.shopify", parts: [{ header: ["x-shopify-topic", "shopify-topic"] }] },
    subject: { header: ["x-shopify-shop-domain", "shopify-shop-domain"] },
    deliveryId: { header: ["x-shopify-webhook-id", "shopify-webhook-id"] },
    time: { from: { header: ["x-shopify-triggered-at", "shopify-triggered-at"] }, format: "iso8601" },
  },
  // The app's client secret (Partner Dashboard or the Dev Dashboard → the app → Settings).
  secret: { origin: "provider", generate: () => `shpss_${randomBytes(16).toString("hex")}` },
  examples: [
    {
      label:
        "computed from the documented algorithm (base64 HMAC-SHA256 of the raw body under the client secret)",
      secret: "shpss_0123456789abcdef0123456789abcdef",
      headers: {
        "content-type": "application/json",
        "x-shopify-hmac-sha256": "z3OqxvAPNvumPbrCmWDALMlYBFhLu+2DqtV3EYt1jhs=",
        "x-shopify-topic": "orders/create",
        "x-shopify-shop-domain": "example.myshopify.com",
        "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.shopify.orders.create",
        deliveryId: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        subject: "example.myshopify.com",
      },
    },
    {
      label: "the same request under Shopify's newer header names",
      secret: "shpss_0123456789abcdef0123456789abcdef",
      headers: {
        "content-type": "application/json",
        "shopify-hmac-sha256": "z3OqxvAPNvumPbrCmWDALMlYBFhLu+2DqtV3EYt1jhs=",
        "shopify-topic": "orders/create",
        "shopify-shop-domain": "example.myshopify.com",
        "shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.shopify.orders.create",
        deliveryId: "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        subject: "example.myshopify.com",
      },
    },
  ],
});
