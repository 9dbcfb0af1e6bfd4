/**
 * Lemon Squeezy, following "Signing requests"
 * (https://docs.lemonsqueezy.com/help/webhooks/signing-requests).
 *
 *   X-Signature:  hex(HMAC-SHA256(signing secret, raw body))
 *   X-Event-Name: e.g. order_created (not signed; the same name is in the signed body's meta.event_name)
 *
 * No timestamp and no delivery id are sent: a replay is caught only by the
 * ingester's dedupe on the signature (canonical lower-case hex). The type is
 * read from the signed `meta.event_name`, not the unsigned header.
 */
import { randomBytes } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"meta":{"event_name":"order_created","custom_data":{"customer_id":25}},"data":{"type":"orders","id":"1","attributes":{"store_id":1,"identifier":"104e18a2-d755-4d4b-80c4-a6c1dcbe1c10","status":"paid","total":999}}}';

export const lemonSqueezy = hmacScheme({
  name: "lemon-squeezy",
  engine: "hmac",
  title: "Lemon Squeezy",
  docs: "https://docs.lemonsqueezy.com/help/webhooks/signing-requests",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY, headers: { "x-event-name": "order_created" } },
  algorithm: "sha256",
  encoding: "hex",
  signature: { header: "x-signature", format: { kind: "whole" } },
  template: "{body}",
  facts: {
    type: { prefix: "com.lemonsqueezy", parts: [{ pointer: "/meta/event_name" }] },
    subject: { pointer: "/data/id" },
  },
  // Lemon Squeezy takes a signing secret of 6 to 40 characters typed into the webhook form.
  secret: { origin: "zenmesh", generate: () => randomBytes(20).toString("hex") },
  examples: [
    {
      label: "computed from the documented algorithm (HMAC-SHA256 of the raw body, hex)",
      secret: "lsq_test_signing_secret",
      headers: {
        "content-type": "application/json",
        "x-event-name": "order_created",
        "x-signature": "fdbdcf12ff4108a299c1dd97227dcbb03e71c884dc1d13dc65dcafd722e8f85a",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: { ok: true, type: "com.lemonsqueezy.order_created", subject: "1" },
    },
  ],
});
