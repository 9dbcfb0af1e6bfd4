/**
 * Resend, following "Verify Webhooks Requests"
 * (https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests):
 * Resend delivers through Svix, so requests are signed as Standard Webhooks
 * under `svix-*` header names with the webhook's `whsec_` Signing Secret.
 * Event type: the body's `type` (`com.resend.email.sent`); `svix-id` is the
 * delivery id and the idempotency key; subject the email's id.
 */
import { SVIX_SECRET, svixExamples, svixScheme } from "./engine-svix.ts";

export const resend = svixScheme({
  name: "resend",
  engine: "svix",
  title: "Resend",
  docs: "https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests",
  sample: {
    contentType: "application/json",
    body: '{"type":"email.sent","created_at":"2024-02-22T23:41:12.126Z","data":{"created_at":"2024-02-22T23:41:11.894719+00:00","email_id":"56761188-7520-42d8-8898-ff6fc54ce618","from":"Acme <onboarding@resend.dev>","to":["delivered@resend.dev"],"subject":"Sending this example"}}',
  },
  contentTypes: ["application/json"],
  facts: {
    type: { prefix: "com.resend", parts: [{ pointer: "/type" }] },
    deliveryId: { header: "svix-id" },
    idempotencyKey: { header: "svix-id" },
    subject: { pointer: "/data/email_id" },
  },
  secret: SVIX_SECRET,
  examples: svixExamples("com.resend"),
});
