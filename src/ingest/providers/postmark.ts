/**
 * Postmark, following "Webhooks overview" (https://postmarkapp.com/developer/webhooks/webhooks-overview,
 * "Protecting your webhook"): Postmark signs nothing; the webhook's settings
 * take HTTP Basic auth credentials (or `https://user:password@host/…` in the
 * URL), sent as `Authorization: Basic …` on every request. The secret is
 * `user:password`, compared in constant time; it authenticates Postmark but
 * binds neither the body nor the time (see engine-basic-auth.ts).
 *
 * Event type: the body's `RecordType` (`com.postmark.Delivery`,
 * `com.postmark.Bounce`, …); subject the message's `MessageID`.
 */
import { basicAuthScheme } from "./engine-basic-auth.ts";

export const postmark = basicAuthScheme({
  name: "postmark",
  title: "Postmark",
  docs: "https://postmarkapp.com/developer/webhooks/webhooks-overview",
  sample: {
    contentType: "application/json",
    body: '{"RecordType":"Delivery","ServerID":23,"MessageStream":"outbound","MessageID":"00000000-0000-0000-0000-000000000000","Recipient":"john@example.com","Tag":"welcome-email","DeliveredAt":"2019-11-05T16:33:54.9070259Z","Details":"Test delivery webhook details","Metadata":{"a_key":"a_value"}}',
  },
  user: "postmark",
  typePrefix: "com.postmark",
  eventType: { pointer: "/RecordType" },
  subject: { pointer: "/MessageID" },
});
