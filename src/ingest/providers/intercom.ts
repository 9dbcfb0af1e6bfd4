/**
 * Intercom, following "Webhook models: signed notifications"
 * (https://developers.intercom.com/docs/references/webhooks/webhook-models).
 *
 *   X-Hub-Signature: sha1=<hex HMAC-SHA1(app client secret, raw body)>
 *
 * SHA-1 is what Intercom signs with; as an HMAC it still resists forgery
 * (HMAC does not rely on collision resistance). The notification id
 * (`notif_…`) in the signed body stays the same on Intercom's retries while
 * `delivery_attempts` grows, so the body differs between attempts: the id is
 * the idempotency key, never the delivery id (a delivery id reused with
 * another body is refused as tampering). No timestamp is signed.
 */
import { randomUUID } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"type":"notification_event","app_id":"abc123de","data":{"type":"notification_event_data","item":{"type":"conversation","id":"147"}},"id":"notif_ccd8a4d2-3c5e-4bd7-8f3a-1c4b7e9e2a10","topic":"conversation.user.created","delivery_status":"pending","delivery_attempts":1,"created_at":1772366395,"first_sent_at":1772366396}';

export const intercom = hmacScheme({
  name: "intercom",
  engine: "hmac",
  title: "Intercom",
  docs: "https://developers.intercom.com/docs/references/webhooks/webhook-models",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY },
  algorithm: "sha1",
  encoding: "hex",
  signature: { header: "x-hub-signature", format: { kind: "whole", prefix: "sha1=" } },
  template: "{body}",
  facts: {
    type: { prefix: "com.intercom", parts: [{ pointer: "/topic" }] },
    subject: { pointer: "/data/item/id" },
    idempotencyKey: { pointer: "/id" },
    time: { from: { pointer: "/created_at" }, format: "unix-seconds" },
  },
  // The app's client secret, from the Developer Hub's Basic information page.
  secret: { origin: "provider", generate: () => randomUUID() },
  examples: [
    {
      label: "computed from the documented algorithm (sha1= and the hex HMAC-SHA1 of the raw body)",
      secret: "7c1e2a9b-4d3f-4e5a-9b6c-0d1e2f3a4b5c",
      headers: {
        "content-type": "application/json",
        "x-hub-signature": "sha1=faa2f91784361e9d71a00f21a4b852e15639321a",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.intercom.conversation.user.created",
        idempotencyKey: "notif_ccd8a4d2-3c5e-4bd7-8f3a-1c4b7e9e2a10",
        subject: "147",
      },
    },
  ],
});
