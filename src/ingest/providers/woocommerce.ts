/**
 * WooCommerce, following "Webhooks: delivery and headers"
 * (https://woocommerce.com/document/webhooks/) and the REST API's webhook
 * reference (https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks).
 *
 *   X-WC-Webhook-Signature:   base64(HMAC-SHA256(secret, raw body))
 *   X-WC-Webhook-Topic:       e.g. order.created (not signed)
 *   X-WC-Webhook-Delivery-ID: the delivery id (not signed)
 *   X-WC-Webhook-Source:      the store's URL (not signed)
 *
 * No timestamp is signed: replay is caught by the ingester's dedupe on the
 * delivery id and the canonical signature. WooCommerce's creation ping
 * (`webhook_id=…`, form-encoded) is not signed as an event and is refused;
 * WooCommerce saves the webhook anyway.
 */
import { randomBytes } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"id":727,"parent_id":0,"status":"processing","currency":"USD","date_created":"2026-03-01T11:59:58","total":"29.35","customer_id":0,"billing":{"first_name":"John","last_name":"Doe"},"line_items":[{"id":315,"name":"Woo Single #1","product_id":93,"quantity":2}]}';

export const woocommerce = hmacScheme({
  name: "woocommerce",
  engine: "hmac",
  title: "WooCommerce",
  docs: "https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks",
  contentTypes: ["application/json"],
  sample: {
    contentType: "application/json",
    body: BODY,
    headers: { "x-wc-webhook-topic": "order.created", "x-wc-webhook-source": "https://shop.example.com/" },
  },
  algorithm: "sha256",
  encoding: "base64",
  signature: { header: "x-wc-webhook-signature", format: { kind: "whole" } },
  template: "{body}",
  facts: {
    type: { prefix: "com.woocommerce", parts: [{ header: "x-wc-webhook-topic" }] },
    subject: { header: "x-wc-webhook-source" },
    deliveryId: { header: "x-wc-webhook-delivery-id" },
  },
  // Typed into the webhook's "Secret" field (WooCommerce → Settings → Advanced → Webhooks).
  secret: { origin: "zenmesh", generate: () => randomBytes(32).toString("hex") },
  examples: [
    {
      label: "computed from the documented algorithm (HMAC-SHA256 of the raw body, base64)",
      secret: "woocommerce-webhook-secret",
      headers: {
        "content-type": "application/json",
        "x-wc-webhook-signature": "gN5Be/TbsFDFFAXmWjstoAIhjbsUlE/6srMZzdUBO60=",
        "x-wc-webhook-topic": "order.created",
        "x-wc-webhook-delivery-id": "4f2c6e1bb9d80b3a",
        "x-wc-webhook-source": "https://shop.example.com/",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.woocommerce.order.created",
        deliveryId: "4f2c6e1bb9d80b3a",
        subject: "https://shop.example.com/",
      },
    },
  ],
});
