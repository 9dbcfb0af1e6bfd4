/**
 * SendGrid Event Webhook, following "Getting Started with the Event Webhook
 * Security Features"
 * (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features):
 *
 *   X-Twilio-Email-Event-Webhook-Signature: base64(DER(ECDSA-P256-SHA256(key, timestamp + body)))
 *   X-Twilio-Email-Event-Webhook-Timestamp: <unix seconds>
 *
 * The source's secret is the "Verification Key" SendGrid shows once Signed
 * Event Webhook Requests is enabled (base64 DER public key). The body is a
 * JSON array of events (one POST carries a batch), so the event type is the
 * batch's, `com.sendgrid.events`; each event's own `event` and `sg_event_id`
 * stay in the stored body.
 */
import { ecdsaScheme } from "./engine-ecdsa.ts";
import { PROVIDER_PUBLIC_KEY } from "./entry.ts";

export const sendgrid = ecdsaScheme({
  name: "sendgrid",
  engine: "ecdsa-p256",
  title: "SendGrid (Twilio SendGrid Event Webhook)",
  docs: "https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features",
  sample: {
    contentType: "application/json",
    body: '[{"email":"example@test.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"delivered","category":"cat facts","sg_event_id":"sg_event_id","sg_message_id":"sg_message_id","response":"250 OK"}]',
  },
  contentTypes: ["application/json"],
  signatureHeader: "x-twilio-email-event-webhook-signature",
  timestampHeader: "x-twilio-email-event-webhook-timestamp",
  facts: { type: { prefix: "com.sendgrid", parts: [{ constant: "events" }] } },
  secret: PROVIDER_PUBLIC_KEY,
  examples: [
    {
      label:
        "the signed delivery SendGrid's own library (@sendgrid/eventwebhook) verifies in its test suite; its trailing CRLF is signed",
      secret:
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==",
      // Any other P-256 public key.
      otherSecret:
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/sWmQwCSUiS6Z1q0bE5g/AfWVSVEZBCY1VSV4MWFgwzHNzZh0ZyNSzwLvrtUMTPaXgNQwckw4lBZFyZY10/t0A==",
      headers: {
        "content-type": "application/json",
        "x-twilio-email-event-webhook-signature":
          "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=",
        "x-twilio-email-event-webhook-timestamp": "1600112502",
      },
      body: '[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n',
      now: "2020-09-14T19:41:42Z",
      expect: { ok: true, type: "com.sendgrid.events" },
    },
  ],
});
