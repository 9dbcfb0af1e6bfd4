/**
 * Square, following "Validate that the notification is from Square"
 * (https://developer.squareup.com/docs/webhooks/step3validate).
 *
 *   x-square-hmacsha256-signature: base64(HMAC-SHA256(signature key, notification URL + raw body))
 *
 * The notification URL is the one saved in the Square subscription, which is
 * the source's ingest URL: the ingester passes the URL it was called at, and
 * without it nothing can be shown to match (refused as bad_signature). The
 * older SHA-1 `x-square-signature` is not accepted. `event_id` in the signed
 * body is the same on Square's retries: the delivery id and the idempotency
 * key. No timestamp is signed.
 */
import { randomBytes } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"merchant_id":"6SSW7HV8K2ST5","type":"payment.updated","event_id":"13b867cf-db3d-4b1c-90b6-2f32a9d78124","created_at":"2026-03-01T11:59:58.812Z","data":{"type":"payment","id":"KkAkhdMsgzn59SM8A89WgKwekxLZY","object":{"payment":{"id":"KkAkhdMsgzn59SM8A89WgKwekxLZY","status":"COMPLETED"}}}}';

export const square = hmacScheme({
  name: "square",
  engine: "hmac",
  title: "Square",
  docs: "https://developer.squareup.com/docs/webhooks/step3validate",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY },
  algorithm: "sha256",
  encoding: "base64",
  signature: { header: "x-square-hmacsha256-signature", format: { kind: "whole" } },
  template: "{url}{body}",
  facts: {
    type: { prefix: "com.squareup", parts: [{ pointer: "/type" }] },
    subject: { pointer: "/data/id" },
    deliveryId: { pointer: "/event_id" },
    idempotencyKey: { pointer: "/event_id" },
    time: { from: { pointer: "/created_at" }, format: "iso8601" },
  },
  // The subscription's signature key, shown in the Developer Console once the subscription is saved.
  secret: { origin: "provider", generate: () => randomBytes(16).toString("base64url") },
  examples: [
    {
      label:
        "computed from the documented algorithm (base64 HMAC-SHA256 of the notification URL then the raw body)",
      secret: "asdf1234asdf1234asdf12",
      headers: {
        "content-type": "application/json",
        "x-square-hmacsha256-signature": "FuGDD/hKl5A3iZLHkCm3k42qaqcFQWwCpxWWJwA/9eY=",
      },
      body: BODY,
      url: "https://hooks.example.com/e/src_square01",
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.squareup.payment.updated",
        deliveryId: "13b867cf-db3d-4b1c-90b6-2f32a9d78124",
        idempotencyKey: "13b867cf-db3d-4b1c-90b6-2f32a9d78124",
        subject: "KkAkhdMsgzn59SM8A89WgKwekxLZY",
      },
    },
    {
      label: "the same request, verified as if called at another URL: the URL is signed",
      secret: "asdf1234asdf1234asdf12",
      headers: {
        "content-type": "application/json",
        "x-square-hmacsha256-signature": "FuGDD/hKl5A3iZLHkCm3k42qaqcFQWwCpxWWJwA/9eY=",
      },
      body: BODY,
      url: "https://hooks.example.com/e/src_square02",
      now: "2026-03-01T12:00:00Z",
      expect: { ok: false, reason: "bad_signature" },
    },
  ],
});
