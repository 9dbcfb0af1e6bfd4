/**
 * HubSpot webhooks, signature v3, following "Validating requests"
 * (https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation).
 *
 *   X-HubSpot-Signature-v3:      base64(HMAC-SHA256(app client secret, "POST" + URI + raw body + timestamp))
 *   X-HubSpot-Request-Timestamp: unix milliseconds, refused outside ±tolerance (HubSpot says 5 minutes)
 *
 * HubSpot delivers webhooks with POST only, so the method is fixed. The URI is
 * the URL the ingester was called at (the source's ingest URL, which has no
 * characters HubSpot's documentation asks to decode); without it nothing can
 * be shown to match (bad_signature). v1 and v2 signatures, which sign no
 * timestamp, are not accepted. A request carries a batch of events; the
 * first one names the type, the subject and the time.
 */
import { randomUUID } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1772366399000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]';

export const hubspot = hmacScheme({
  name: "hubspot",
  engine: "hmac",
  title: "HubSpot",
  docs: "https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY },
  algorithm: "sha256",
  encoding: "base64",
  signature: { header: "x-hubspot-signature-v3", format: { kind: "whole" } },
  template: "POST{url}{body}{timestamp}",
  timestamp: { from: { header: "x-hubspot-request-timestamp" }, format: "unix-milliseconds" },
  facts: {
    type: { prefix: "com.hubspot", parts: [{ pointer: "/0/subscriptionType" }] },
    subject: { pointer: "/0/objectId" },
    time: { from: { pointer: "/0/occurredAt" }, format: "unix-milliseconds" },
  },
  // The app's client secret (Auth tab of the app's settings), a UUID.
  secret: { origin: "provider", generate: () => randomUUID() },
  examples: [
    {
      label: "the documented v1 example's client secret and body, signed as v3 from the documented algorithm",
      secret: "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
      headers: {
        "content-type": "application/json",
        "x-hubspot-signature-v3": "eht4ryA5bgKACfc6Js0DP3/g68OmF4m0gGzd1DPBw5s=",
        "x-hubspot-request-timestamp": "1772366399500",
      },
      body: BODY,
      url: "https://hooks.example.com/e/src_hubspot01",
      now: "2026-03-01T12:00:00Z",
      expect: { ok: true, type: "com.hubspot.contact.creation", subject: "123" },
    },
  ],
});
