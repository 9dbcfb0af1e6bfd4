/**
 * Twilio, following "Webhooks security"
 * (https://www.twilio.com/docs/usage/webhooks/webhooks-security):
 *
 *   X-Twilio-Signature: base64(HMAC-SHA1(auth token, url + sorted POST params))
 *
 * Form-encoded requests (SMS, voice status callbacks) sign the URL and the
 * sorted parameters; JSON requests carry `bodySHA256` in the URL's query and
 * sign the URL alone. The secret is the account's Auth Token. The source's
 * Twilio webhook URL must be its `ingest_url` exactly (scheme, host, path;
 * any query is signed too). Event type: `com.twilio.message` or
 * `com.twilio.call` by the SID the request carries; subject the AccountSid;
 * Twilio's `I-Twilio-Idempotency-Token` is the delivery id and the
 * idempotency key (the same across Twilio's retries of one request).
 */
import { randomBytes } from "node:crypto";
import { urlParamsScheme } from "./engine-twilio.ts";

const FORM = "application/x-www-form-urlencoded";

export const twilio = urlParamsScheme({
  name: "twilio",
  engine: "url-params",
  title: "Twilio",
  docs: "https://www.twilio.com/docs/usage/webhooks/webhooks-security",
  sample: {
    contentType: "application/x-www-form-urlencoded",
    body: "AccountSid=AC00000000000000000000000000000000&ApiVersion=2010-04-01&Body=Hello&From=%2B15005550006&MessageSid=SM00000000000000000000000000000000&NumMedia=0&NumSegments=1&SmsStatus=received&To=%2B15005550010",
  },
  contentTypes: [FORM, "application/json"],
  signatureHeader: "x-twilio-signature",
  bodyHashParam: "bodySHA256",
  portVariants: true,
  facts: {
    type: { prefix: "com.twilio", parts: [] },
    deliveryId: { header: "i-twilio-idempotency-token" },
    idempotencyKey: { header: "i-twilio-idempotency-token" },
  },
  form: {
    typeByField: [
      ["MessageSid", "message"],
      ["CallSid", "call"],
    ],
    subjectField: "AccountSid",
  },
  // The account's Auth Token (32 hex characters), shown in Twilio's console.
  secret: { origin: "provider", generate: () => randomBytes(16).toString("hex") },
  examples: [
    {
      label: "the example in Twilio's \"Webhooks security\" (auth token 12345, a voice call's parameters)",
      secret: "12345",
      headers: { "content-type": FORM, "x-twilio-signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" },
      body: "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212",
      url: "https://mycompany.com/myapp.php?foo=1&bar=2",
      now: "2026-03-01T12:00:00Z",
      expect: { ok: true, type: "com.twilio.call" },
    },
    {
      label: "the same example at a URL that lost its query: the URL is signed",
      secret: "12345",
      headers: { "content-type": FORM, "x-twilio-signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" },
      body: "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212",
      url: "https://mycompany.com/myapp.php",
      now: "2026-03-01T12:00:00Z",
      expect: { ok: false, reason: "bad_signature" },
    },
  ],
});
