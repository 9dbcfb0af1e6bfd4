/**
 * Typeform, following "Secure your webhooks"
 * (https://www.typeform.com/developers/webhooks/secure-your-webhooks/).
 *
 *   Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, raw body)>
 *
 * The event id in the signed body is the same on Typeform's retries, so it is
 * the delivery id and the idempotency key. No timestamp is signed. The MAC
 * must be canonical padded base64.
 */
import { randomBytes } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"event_id":"01HQ7Z8X9Y0A1B2C3D4E5F6G7H","event_type":"form_response","form_response":{"form_id":"lT4Z3j","token":"a3a12ec67a1365927098a606107fac15","submitted_at":"2026-03-01T11:59:58Z","definition":{"id":"lT4Z3j","title":"Webhooks example"},"answers":[{"type":"text","text":"It is great","field":{"id":"DlXFaesGBpoF","type":"long_text"}}]}}';

export const typeform = hmacScheme({
  name: "typeform",
  engine: "hmac",
  title: "Typeform",
  docs: "https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY },
  algorithm: "sha256",
  encoding: "base64",
  signature: { header: "typeform-signature", format: { kind: "whole", prefix: "sha256=" } },
  template: "{body}",
  facts: {
    type: { prefix: "com.typeform", parts: [{ pointer: "/event_type" }] },
    subject: { pointer: "/form_response/form_id" },
    deliveryId: { pointer: "/event_id" },
    idempotencyKey: { pointer: "/event_id" },
    time: { from: { pointer: "/form_response/submitted_at" }, format: "iso8601" },
  },
  // Typed into the webhook's "Secret" field (Connect → Webhooks → Edit), or sent as `secret` via the API.
  secret: { origin: "zenmesh", generate: () => randomBytes(32).toString("hex") },
  examples: [
    {
      label: "computed from the documented algorithm (sha256= and the base64 HMAC-SHA256 of the raw body)",
      secret: "typeform-webhook-secret",
      headers: {
        "content-type": "application/json",
        "typeform-signature": "sha256=6JUGOp8BN8HQpUYPU4ospMWXcPd0c0Muf1YvgXr/ccc=",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.typeform.form_response",
        deliveryId: "01HQ7Z8X9Y0A1B2C3D4E5F6G7H",
        idempotencyKey: "01HQ7Z8X9Y0A1B2C3D4E5F6G7H",
        subject: "lT4Z3j",
      },
    },
  ],
});
