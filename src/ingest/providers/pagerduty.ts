/**
 * PagerDuty webhooks v3, following "Verifying signatures"
 * (https://developer.pagerduty.com/docs/28e906a0bf9a4-verifying-signatures).
 *
 *   X-PagerDuty-Signature: v1=<hex HMAC-SHA256(secret, body)>[,v1=<hex>…]
 *
 * PagerDuty sends one `v1` per active secret while a subscription's secret
 * is rotated; each is tried against every secret. No timestamp is signed:
 * replay is caught by the ingester's dedupe on the event id (in the signed
 * body, also the idempotency key) and on the signature.
 */
import { randomBase62 } from "../../core/index.ts";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"event":{"id":"01DEN2HPXJDKJLEYQRJMZK2YDV","event_type":"incident.triggered","resource_type":"incident","occurred_at":"2026-03-01T11:59:58.169Z","agent":null,"client":null,"data":{"id":"Q1ZNXMWW8KPAUB","type":"incident","html_url":"https://acme.pagerduty.com/incidents/Q1ZNXMWW8KPAUB","title":"Server is on fire","status":"triggered"}}}';

export const pagerduty = hmacScheme({
  name: "pagerduty",
  engine: "hmac",
  title: "PagerDuty",
  docs: "https://developer.pagerduty.com/docs/28e906a0bf9a4-verifying-signatures",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY },
  algorithm: "sha256",
  encoding: "hex",
  signature: { header: "x-pagerduty-signature", format: { kind: "fields", separator: ",", macKey: "v1" } },
  template: "{body}",
  facts: {
    type: { prefix: "com.pagerduty", parts: [{ pointer: "/event/event_type" }] },
    subject: { pointer: "/event/data/id" },
    deliveryId: { pointer: "/event/id" },
    idempotencyKey: { pointer: "/event/id" },
    time: { from: { pointer: "/event/occurred_at" }, format: "iso8601" },
  },
  // PagerDuty shows the subscription's secret once, when the webhook subscription is created.
  secret: { origin: "provider", generate: () => randomBase62(64) },
  examples: [
    {
      label: "computed from the documented algorithm (v1= and the hex HMAC-SHA256 of the raw body)",
      secret: "pagerduty-webhook-secret-0123456789",
      headers: {
        "content-type": "application/json",
        "x-pagerduty-signature": "v1=41a0e076f4646afdbb4f87eecd6b1ab6ed11196ec5b3ff9dbce1d88dc70cc78e",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.pagerduty.incident.triggered",
        deliveryId: "01DEN2HPXJDKJLEYQRJMZK2YDV",
        idempotencyKey: "01DEN2HPXJDKJLEYQRJMZK2YDV",
        subject: "Q1ZNXMWW8KPAUB",
      },
    },
    {
      label: "during a secret rotation: a signature under another secret first, then this one",
      secret: "pagerduty-webhook-secret-0123456789",
      headers: {
        "content-type": "application/json",
        "x-pagerduty-signature": `v1=${"0".repeat(64)},v1=41a0e076f4646afdbb4f87eecd6b1ab6ed11196ec5b3ff9dbce1d88dc70cc78e`,
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.pagerduty.incident.triggered",
        deliveryId: "01DEN2HPXJDKJLEYQRJMZK2YDV",
        idempotencyKey: "01DEN2HPXJDKJLEYQRJMZK2YDV",
      },
    },
  ],
});
