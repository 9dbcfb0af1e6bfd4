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
import { urlParamsScheme } from "./engine-twilio.ts";

export const twilio = urlParamsScheme({
  name: "twilio",
  title: "Twilio",
  docs: "https://www.twilio.com/docs/usage/webhooks/webhooks-security",
  sample: {
    contentType: "application/x-www-form-urlencoded",
    body: "AccountSid=AC00000000000000000000000000000000&ApiVersion=2010-04-01&Body=Hello&From=%2B15005550006&MessageSid=SM00000000000000000000000000000000&NumMedia=0&NumSegments=1&SmsStatus=received&To=%2B15005550010",
  },
  signatureHeader: "x-twilio-signature",
  bodyHashParam: "bodySHA256",
  portVariants: true,
  typePrefix: "com.twilio",
  typeByField: [
    ["MessageSid", "message"],
    ["CallSid", "call"],
  ],
  subjectField: "AccountSid",
  deliveryId: { header: "i-twilio-idempotency-token" },
  idempotencyKey: { header: "i-twilio-idempotency-token" },
});
