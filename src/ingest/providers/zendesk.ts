/**
 * Zendesk webhooks, following "Verifying webhook authenticity"
 * (https://developer.zendesk.com/documentation/webhooks/verifying/).
 *
 *   X-Zendesk-Webhook-Signature:           base64(HMAC-SHA256(signing secret, timestamp + body))
 *   X-Zendesk-Webhook-Signature-Timestamp: ISO 8601, e.g. 2021-07-25T10:00:00Z (signed as sent)
 *
 * Zendesk's documentation gives the formula as TIMESTAMP + BODY, while the
 * worked example on its event-connectors page only verifies as BODY +
 * TIMESTAMP; the formula, which is also what integrations receiving real
 * Zendesk traffic compute, is the one followed here, and only that order is
 * accepted. The timestamp is refused outside ±tolerance. Event-subscription
 * payloads carry an event `id` (the idempotency key) and a `type` such as
 * `zen:event-type:ticket.created`; trigger webhooks carry whatever body the
 * trigger defines and are typed `com.zendesk.event`.
 */
import { randomBytes } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"account_id":12514403,"detail":{"id":"35436","subject":"Help, my printer is on fire!","status":"NEW"},"event":{},"id":"cbe4028c-7239-495d-b020-f22348516046","subject":"zen:ticket:35436","time":"2026-03-01T11:59:58.000000000Z","type":"zen:event-type:ticket.created","zendesk_event_version":"2022-11-06"}';

export const zendesk = hmacScheme({
  name: "zendesk",
  engine: "hmac",
  title: "Zendesk",
  docs: "https://developer.zendesk.com/documentation/webhooks/verifying/",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY },
  algorithm: "sha256",
  encoding: "base64",
  signature: { header: "x-zendesk-webhook-signature", format: { kind: "whole" } },
  template: "{timestamp}{body}",
  timestamp: { from: { header: "x-zendesk-webhook-signature-timestamp" }, format: "iso8601" },
  facts: {
    type: { prefix: "com.zendesk", parts: [{ pointer: "/type" }] },
    subject: { pointer: "/subject" },
    deliveryId: { header: "x-zendesk-webhook-invocation-id" },
    idempotencyKey: { pointer: "/id" },
    time: { from: { pointer: "/time" }, format: "iso8601" },
  },
  // Admin Center → Apps and integrations → Webhooks → the webhook → "Reveal secret".
  secret: { origin: "provider", generate: () => randomBytes(32).toString("base64url") },
  examples: [
    {
      label:
        "the documented example's secret, body and timestamp, signed by the documented formula base64(HMACSHA256(TIMESTAMP + BODY))",
      secret: "HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA=",
      headers: {
        "content-type": "application/json",
        "x-zendesk-webhook-signature": "Rry/4TtIdFyawtXXp8QdI6tlAUUQ/5kL1OTp5qo/ZIk=",
        "x-zendesk-webhook-signature-timestamp": "2021-07-25T10:00:00Z",
      },
      body: '{"say": "hello"}',
      now: "2021-07-25T10:00:30Z",
      expect: { ok: true, type: "com.zendesk.event" },
    },
    {
      label: "the sample event, signed by the documented formula",
      secret: "HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA=",
      headers: {
        "content-type": "application/json",
        "x-zendesk-webhook-signature": "95F5/FNzo29PQedSdOuLON5Dnc0GdZV0E5caCE07Lc0=",
        "x-zendesk-webhook-signature-timestamp": "2026-03-01T11:59:59Z",
        "x-zendesk-webhook-invocation-id": "8350205582",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.zendesk.zen.event-type.ticket.created",
        deliveryId: "8350205582",
        idempotencyKey: "cbe4028c-7239-495d-b020-f22348516046",
        subject: "zen:ticket:35436",
      },
    },
  ],
});
