/**
 * Clerk, following "Sync Clerk data to your app with webhooks"
 * (https://clerk.com/docs/webhooks/sync-data): Clerk delivers through Svix,
 * so requests are signed as Standard Webhooks under `svix-*` header names
 * with the endpoint's `whsec_` Signing Secret. Event type: the body's `type`
 * (`com.clerk.user.created`); `svix-id` is the delivery id and the
 * idempotency key (Svix keeps it across retries, re-signing each attempt).
 */
import { SVIX_SECRET, svixExamples, svixScheme } from "./engine-svix.ts";

export const clerk = svixScheme({
  name: "clerk",
  engine: "svix",
  title: "Clerk",
  docs: "https://clerk.com/docs/webhooks/sync-data",
  sample: {
    contentType: "application/json",
    body: '{"data":{"id":"user_29w83sxmDNGwOuEthce5gg56FcC","object":"user","first_name":"Example","last_name":"Example","email_addresses":[{"email_address":"example@example.org","id":"idn_29w83yL7CwVlJXylYLxcslromF1","object":"email_address"}],"created_at":1654012591514},"event_attributes":{"http_request":{"client_ip":"0.0.0.0","user_agent":"Mozilla/5.0"}},"object":"event","timestamp":1654012591835,"type":"user.created"}',
  },
  contentTypes: ["application/json"],
  facts: {
    type: { prefix: "com.clerk", parts: [{ pointer: "/type" }] },
    deliveryId: { header: "svix-id" },
    idempotencyKey: { header: "svix-id" },
    subject: { pointer: "/data/id" },
  },
  secret: SVIX_SECRET,
  examples: svixExamples("com.clerk"),
});
