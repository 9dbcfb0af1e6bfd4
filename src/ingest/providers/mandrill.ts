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

const FORM = "application/x-www-form-urlencoded";
const URL_ = "https://example.com/webhooks/mandrill?source=zen";

export const mandrill = urlParamsScheme({
  name: "mandrill",
  engine: "url-params",
  title: "Mailchimp Transactional (Mandrill)",
  docs: "https://mailchimp.com/developer/transactional/guides/track-respond-activity-webhooks/#authenticating-webhook-requests",
  sample: {
    contentType: "application/x-www-form-urlencoded",
    body: `mandrill_events=${encodeURIComponent('[{"event":"send","_id":"exampleaaaaaaaaaaaaaaaaaaaaaaaaa","msg":{"ts":1365109999,"subject":"This an example webhook message","email":"example.webhook@mandrillapp.com","state":"sent"},"ts":1700000000}]')}`,
  },
  contentTypes: [FORM],
  signatureHeader: "x-mandrill-signature",
  portVariants: false,
  facts: { type: { prefix: "com.mandrill", parts: [{ constant: "events" }] } },
  // Mandrill shows each webhook's key (22 characters of base64url-like text) once it is added.
  secret: { origin: "provider", generate: () => randomBytes(16).toString("base64url") },
  handshake: { field: "mandrill_events", value: "[]", key: "test-webhook" },
  // Mailchimp publishes the algorithm, no signed example and no library that verifies;
  // these signatures were computed apart from zenmesh, with
  // `printf '%s%s%s' "$URL" mandrill_events "$EVENTS" | openssl dgst -sha1 -hmac "$KEY" -binary | base64`.
  examples: [
    {
      label: "a send event, computed from the documented algorithm with openssl",
      secret: "Ka8sLkDZfmbIRdBQUuT0uQ",
      headers: { "content-type": FORM, "x-mandrill-signature": "d32j3VkmvT6pHfxFvZghpjNbfcQ=" },
      body: "mandrill_events=%5B%7B%22event%22%3A%22send%22%2C%22_id%22%3A%22exampleaaaaaaaaaaaaaaaaaaaaaaaaa%22%2C%22msg%22%3A%7B%22ts%22%3A1365109999%2C%22subject%22%3A%22This+an+example+webhook+message%22%2C%22email%22%3A%22example.webhook%40mandrillapp.com%22%2C%22state%22%3A%22sent%22%7D%2C%22ts%22%3A1700000000%7D%5D",
      url: URL_,
      now: "2026-03-01T12:00:00Z",
      expect: { ok: true, type: "com.mandrill.events" },
    },
    {
      label:
        "the documented URL check (mandrill_events=[] signed with the generic key test-webhook), computed with openssl",
      secret: "test-webhook",
      headers: { "content-type": FORM, "x-mandrill-signature": "kuTOY9ujiH4Um0sSDppslQCwRcM=" },
      body: "mandrill_events=%5B%5D",
      url: URL_,
      now: "2026-03-01T12:00:00Z",
      expect: { ok: true, type: "com.mandrill.events" },
    },
    {
      label: "the send event at the URL with the default port added: Mandrill signs the URL as entered",
      secret: "Ka8sLkDZfmbIRdBQUuT0uQ",
      headers: { "content-type": FORM, "x-mandrill-signature": "d32j3VkmvT6pHfxFvZghpjNbfcQ=" },
      body: "mandrill_events=%5B%7B%22event%22%3A%22send%22%2C%22_id%22%3A%22exampleaaaaaaaaaaaaaaaaaaaaaaaaa%22%2C%22msg%22%3A%7B%22ts%22%3A1365109999%2C%22subject%22%3A%22This+an+example+webhook+message%22%2C%22email%22%3A%22example.webhook%40mandrillapp.com%22%2C%22state%22%3A%22sent%22%7D%2C%22ts%22%3A1700000000%7D%5D",
      url: "https://example.com:443/webhooks/mandrill?source=zen",
      now: "2026-03-01T12:00:00Z",
      expect: { ok: false, reason: "bad_signature" },
    },
  ],
});
