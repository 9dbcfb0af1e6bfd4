/**
 * Webflow, following "Verifying requests"
 * (https://developers.webflow.com/docs/verifying-webhook-signatures).
 *
 *   x-webflow-signature: hex(HMAC-SHA256(client secret, timestamp + ":" + body))
 *   x-webflow-timestamp: unix milliseconds, refused outside ±tolerance (Webflow says 5 minutes)
 *
 * Only webhooks created through an OAuth application (or the API with a
 * webhook secret) are signed; a webhook made in the site dashboard sends no
 * signature and is refused. Webflow's documentation signs
 * `JSON.stringify(body)`, which for the body it sends is the body as
 * received: the raw bytes are what is signed here.
 */
import { randomBytes } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"triggerType":"form_submission","payload":{"name":"Contact Us","siteId":"62749158efef318abc8d5a0f","data":{"name":"Some One","email":"some@one.com"},"submittedAt":"2026-03-01T11:59:58.183Z","id":"6321ca84df3949bfc6752327","formId":"6321ca84df3949bfc6752326"}}';

export const webflow = hmacScheme({
  name: "webflow",
  engine: "hmac",
  title: "Webflow",
  docs: "https://developers.webflow.com/docs/verifying-webhook-signatures",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY },
  algorithm: "sha256",
  encoding: "hex",
  signature: { header: "x-webflow-signature", format: { kind: "whole" } },
  template: "{timestamp}:{body}",
  timestamp: { from: { header: "x-webflow-timestamp" }, format: "unix-milliseconds" },
  facts: {
    type: { prefix: "com.webflow", parts: [{ pointer: "/triggerType" }] },
    subject: { pointer: "/payload/siteId" },
    time: { from: { pointer: "/payload/submittedAt" }, format: "iso8601" },
  },
  // The OAuth application's client secret (or the secret returned when the webhook is created through the API).
  secret: { origin: "provider", generate: () => randomBytes(32).toString("hex") },
  examples: [
    {
      label: "computed from the documented algorithm (hex HMAC-SHA256 of timestamp, ':' and the body)",
      secret: "webflow-client-secret-0123456789",
      headers: {
        "content-type": "application/json",
        "x-webflow-signature": "f1042e1c552986d66756d49eab223f8b9ec63c5c2da75f3deb813c487f066023",
        "x-webflow-timestamp": "1772366399000",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: { ok: true, type: "com.webflow.form_submission", subject: "62749158efef318abc8d5a0f" },
    },
  ],
});
