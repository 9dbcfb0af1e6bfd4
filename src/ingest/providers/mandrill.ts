/**
 * Mailchimp Transactional (Mandrill), following "Authenticating webhook
 * requests" (https://mailchimp.com/developer/transactional/guides/track-respond-activity-webhooks/#authenticating-webhook-requests):
 *
 *   X-Mandrill-Signature: base64(HMAC-SHA1(webhook key, url + sorted POST params as key + value))
 *
 * The URL is the webhook's exactly as entered in Mandrill (no port forms are
 * tried: Mandrill signs that string). The body is a form with one field,
 * `mandrill_events`, a JSON array of events: stored as one event typed
 * `com.mandrill.events`. When a webhook is added, Mandrill checks the URL
 * with a HEAD, then a POST of `mandrill_events=[]` signed with the generic
 * key `test-webhook`; that POST is answered 200 by the handshake and never
 * stored.
 */
import { randomBytes } from "node:crypto";
import { urlParamsScheme } from "./engine-twilio.ts";

export const mandrill = urlParamsScheme({
  name: "mandrill",
  title: "Mailchimp Transactional (Mandrill)",
  docs: "https://mailchimp.com/developer/transactional/guides/track-respond-activity-webhooks/#authenticating-webhook-requests",
  sample: {
    contentType: "application/x-www-form-urlencoded",
    body: `mandrill_events=${encodeURIComponent('[{"event":"send","_id":"exampleaaaaaaaaaaaaaaaaaaaaaaaaa","msg":{"ts":1365109999,"subject":"This an example webhook message","email":"example.webhook@mandrillapp.com","state":"sent"},"ts":1700000000}]')}`,
  },
  signatureHeader: "x-mandrill-signature",
  portVariants: false,
  typePrefix: "com.mandrill",
  eventType: { constant: "events" },
  /** Mandrill's keys are 22 characters of base64url-like text. */
  generateSecret: () => randomBytes(16).toString("base64url"),
  handshake: { field: "mandrill_events", value: "[]", key: "test-webhook" },
});
