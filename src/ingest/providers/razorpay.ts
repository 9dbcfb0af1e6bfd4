/**
 * Razorpay, following "Validate and test webhooks"
 * (https://razorpay.com/docs/webhooks/validate-test/).
 *
 *   X-Razorpay-Signature: hex(HMAC-SHA256(webhook secret, raw body))
 *   x-razorpay-event-id:  the event's id, the same on every retry (not signed)
 *
 * No timestamp is signed; replay inside the dedupe window is caught on the
 * event id and the signature. The event id header is unsigned, so it is a
 * replay key and an idempotency key, never part of what proves the sender.
 */
import { randomBytes } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"entity":"event","account_id":"acc_BFQ7uQEaa7j2z7","event":"payment.captured","contains":["payment"],"payload":{"payment":{"entity":{"id":"pay_DESlfW9H8K9uqM","entity":"payment","amount":100,"currency":"INR","status":"captured"}}},"created_at":1772366390}';

export const razorpay = hmacScheme({
  name: "razorpay",
  engine: "hmac",
  title: "Razorpay",
  docs: "https://razorpay.com/docs/webhooks/validate-test/",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY },
  algorithm: "sha256",
  encoding: "hex",
  signature: { header: "x-razorpay-signature", format: { kind: "whole" } },
  template: "{body}",
  facts: {
    type: { prefix: "com.razorpay", parts: [{ pointer: "/event" }] },
    subject: { pointer: "/payload/payment/entity/id" },
    deliveryId: { header: "x-razorpay-event-id" },
    idempotencyKey: { header: "x-razorpay-event-id" },
    time: { from: { pointer: "/created_at" }, format: "unix-seconds" },
  },
  // The secret is typed into Razorpay's webhook form; zenmesh generates one to paste there.
  secret: { origin: "zenmesh", generate: () => randomBytes(24).toString("base64url") },
  examples: [
    {
      label:
        "computed from the documented algorithm; razorpay's validateWebhookSignature agrees (providers/vectors.test.ts)",
      secret: "rzp_webhook_secret_2026",
      headers: {
        "content-type": "application/json",
        "x-razorpay-signature": "2c4a261d7880215c1eb01a9ae033c89e861a4a3dd46ec4c1279439e0ba43a800",
        "x-razorpay-event-id": "JAvR1vbdbVdx6z",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.razorpay.payment.captured",
        deliveryId: "JAvR1vbdbVdx6z",
        idempotencyKey: "JAvR1vbdbVdx6z",
        subject: "pay_DESlfW9H8K9uqM",
      },
    },
  ],
});
