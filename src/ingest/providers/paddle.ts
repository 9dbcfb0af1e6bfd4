/**
 * Paddle Billing, following "Verify webhook signatures"
 * (https://developer.paddle.com/webhooks/signature-verification).
 *
 *   Paddle-Signature: ts=<unix seconds>;h1=<hex HMAC-SHA256(secret key, `${ts}:${raw body}`)>[;h1=…]
 *
 * Paddle sends several h1 while a secret key is rotated; each is tried. The
 * notification id (`ntf_…`, read from the signed body) is the delivery id; the
 * event id (`evt_…`) is the same when Paddle retries or an operator replays
 * the notification, so it is the idempotency key. Paddle's own SDK allows 5 s
 * of clock difference; zenmesh applies the source's tolerance instead, since
 * Paddle retries with a fresh `ts` anyway.
 */
import { randomBytes } from "node:crypto";
import { randomBase62 } from "../../core/index.ts";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"event_id":"evt_01hv8x2z4k5m6n7p8q9r0s1t2u","event_type":"transaction.completed","occurred_at":"2026-03-01T11:59:58.000000Z","notification_id":"ntf_01hv8x2z4wv3b1c2d3e4f5g6h7","data":{"id":"txn_01hv8wptq8987qeep44cyrewp9","status":"completed","currency_code":"USD"}}';

export const paddle = hmacScheme({
  name: "paddle",
  engine: "hmac",
  title: "Paddle Billing",
  docs: "https://developer.paddle.com/webhooks/signature-verification",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY },
  algorithm: "sha256",
  encoding: "hex",
  signature: {
    header: "paddle-signature",
    format: { kind: "fields", separator: ";", timestampKey: "ts", macKey: "h1" },
  },
  template: "{timestamp}:{body}",
  timestamp: { from: { field: true }, format: "unix-seconds" },
  facts: {
    type: { prefix: "com.paddle", parts: [{ pointer: "/event_type" }] },
    subject: { pointer: "/data/id" },
    deliveryId: { pointer: "/notification_id" },
    idempotencyKey: { pointer: "/event_id" },
    time: { from: { pointer: "/occurred_at" }, format: "iso8601" },
  },
  // Paddle shows the endpoint's secret key (pdl_ntfset_…) when the notification destination is created.
  secret: {
    origin: "provider",
    generate: () => `pdl_ntfset_01${randomBytes(12).toString("hex")}_${randomBase62(32)}`,
  },
  examples: [
    {
      label:
        "computed from the documented algorithm (ts + ':' + body); Paddle's SDK agrees (providers/vectors.test.ts)",
      secret: "pdl_ntfset_01gkpjp8bkm3tm53kdgkx6sms7_6h3qd3uFSi9YCD3OLYAShQI90XTI5vEI",
      headers: {
        "content-type": "application/json",
        "paddle-signature":
          "ts=1772366398;h1=6797e4ffc5cbb51dc7a84e0d613b48c01ad7307858410cb0c784f8e2c184770c",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.paddle.transaction.completed",
        deliveryId: "ntf_01hv8x2z4wv3b1c2d3e4f5g6h7",
        idempotencyKey: "evt_01hv8x2z4k5m6n7p8q9r0s1t2u",
        subject: "txn_01hv8wptq8987qeep44cyrewp9",
      },
    },
  ],
});
