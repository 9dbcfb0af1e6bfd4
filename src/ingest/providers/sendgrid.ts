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

export const sendgrid = ecdsaScheme({
  name: "sendgrid",
  title: "SendGrid (Twilio SendGrid Event Webhook)",
  docs: "https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features",
  sample: {
    contentType: "application/json",
    body: '[{"email":"example@test.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","event":"delivered","category":"cat facts","sg_event_id":"sg_event_id","sg_message_id":"sg_message_id","response":"250 OK"}]',
  },
  signatureHeader: "x-twilio-email-event-webhook-signature",
  timestampHeader: "x-twilio-email-event-webhook-timestamp",
  typePrefix: "com.sendgrid",
  eventType: { constant: "events" },
});
