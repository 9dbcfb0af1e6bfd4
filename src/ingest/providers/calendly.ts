/**
 * Calendly, following "Webhook signatures"
 * (https://developer.calendly.com/api-docs/4c305798a61d3-webhook-signatures).
 *
 *   Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(signing key, `${t}.${raw body}`)>
 *
 * The same construction as Stripe's (the tests use Stripe's library as an
 * oracle for it). Calendly sends no delivery or event id; a replay inside the
 * window is caught on the signature, one outside it is stale.
 */
import { randomBytes } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"created_at":"2026-03-01T11:59:59.000000Z","created_by":"https://api.calendly.com/users/AAAAAAAAAAAAAAAA","event":"invitee.created","payload":{"uri":"https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/AAAAAAAAAAAAAAAA","email":"test@example.com","name":"John Doe","status":"active"}}';

export const calendly = hmacScheme({
  name: "calendly",
  engine: "hmac",
  title: "Calendly",
  docs: "https://developer.calendly.com/api-docs/4c305798a61d3-webhook-signatures",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY },
  algorithm: "sha256",
  encoding: "hex",
  signature: {
    header: "calendly-webhook-signature",
    format: { kind: "fields", separator: ",", timestampKey: "t", macKey: "v1" },
  },
  template: "{timestamp}.{body}",
  timestamp: { from: { field: true }, format: "unix-seconds" },
  facts: {
    type: { prefix: "com.calendly", parts: [{ pointer: "/event" }] },
    subject: { pointer: "/payload/uri" },
    time: { from: { pointer: "/created_at" }, format: "iso8601" },
  },
  // Passed as `signing_key` when the webhook subscription is created through Calendly's API.
  secret: { origin: "zenmesh", generate: () => randomBytes(32).toString("base64url") },
  examples: [
    {
      label:
        "computed from the documented algorithm; Stripe's library, same construction, agrees (providers/vectors.test.ts)",
      secret: "calendly-signing-key-2026",
      headers: {
        "content-type": "application/json",
        "calendly-webhook-signature":
          "t=1772366399,v1=c7e95369bd2b5aa41f0dc1c26bd3f56997547f45df301f1885a714e6d6564fed",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.calendly.invitee.created",
        subject: "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/AAAAAAAAAAAAAAAA",
      },
    },
  ],
});
