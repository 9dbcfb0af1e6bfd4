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
import { randomBytes } from "node:crypto";
import { basicAuthScheme } from "./engine-basic-auth.ts";

const SAMPLE =
  '{"RecordType":"Delivery","ServerID":23,"MessageStream":"outbound","MessageID":"00000000-0000-0000-0000-000000000000","Recipient":"john@example.com","Tag":"welcome-email","DeliveredAt":"2019-11-05T16:33:54.9070259Z","Details":"Test delivery webhook details","Metadata":{"a_key":"a_value"}}';

export const postmark = basicAuthScheme({
  name: "postmark",
  engine: "basic-auth",
  bindsBody: false,
  title: "Postmark",
  docs: "https://postmarkapp.com/developer/webhooks/webhooks-overview",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: SAMPLE },
  user: "postmark",
  facts: {
    type: { prefix: "com.postmark", parts: [{ pointer: "/RecordType" }] },
    subject: { pointer: "/MessageID" },
  },
  // `user:password` with 32 random bytes as the password, made by zenmesh to paste into Postmark's webhook settings.
  secret: { origin: "zenmesh", generate: () => `postmark:${randomBytes(32).toString("base64url")}` },
  examples: [
    {
      label:
        "RFC 7617 §2's example credentials (Aladdin, open sesame) on Postmark's documented Delivery webhook",
      secret: "Aladdin:open sesame",
      headers: { "content-type": "application/json", authorization: "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==" },
      body: SAMPLE,
      now: "2026-03-01T12:00:00Z",
      expect: { ok: true, type: "com.postmark.Delivery", subject: "00000000-0000-0000-0000-000000000000" },
    },
    {
      label: "RFC 7617's example header with the user name's case changed: user names are compared exactly",
      secret: "aladdin:open sesame",
      headers: { "content-type": "application/json", authorization: "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==" },
      body: SAMPLE,
      now: "2026-03-01T12:00:00Z",
      expect: { ok: false, reason: "bad_signature" },
    },
  ],
});
