/**
 * Coinbase Commerce, following "Webhooks security"
 * (https://docs.cdp.coinbase.com/commerce/api-arcitecture/webhooks-security).
 *
 *   X-CC-Webhook-Signature: hex(HMAC-SHA256(shared secret, raw body))
 *
 * The body is a delivery (`id`, `attempt_number`) wrapping the event
 * (`event.id`, `event.type` such as `charge:confirmed`). `attempt_number`
 * grows on each retry, so the body differs between attempts: the event id is
 * the idempotency key, and no delivery id is taken (one reused with another
 * body is refused as tampering). No timestamp is signed.
 */
import { randomUUID } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"id":1,"scheduled_for":"2026-03-01T11:59:58Z","attempt_number":1,"event":{"id":"24934862-d980-46cb-9402-43c81b0cdba6","resource":"event","type":"charge:confirmed","api_version":"2018-03-22","created_at":"2026-03-01T11:59:57Z","data":{"code":"66BEOV2A","name":"The Sovereign Individual","pricing_type":"fixed_price"}}}';

export const coinbaseCommerce = hmacScheme({
  name: "coinbase-commerce",
  engine: "hmac",
  title: "Coinbase Commerce",
  docs: "https://docs.cdp.coinbase.com/commerce/api-arcitecture/webhooks-security",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY },
  algorithm: "sha256",
  encoding: "hex",
  signature: { header: "x-cc-webhook-signature", format: { kind: "whole" } },
  template: "{body}",
  facts: {
    type: { prefix: "com.coinbase.commerce", parts: [{ pointer: "/event/type" }] },
    subject: { pointer: "/event/data/code" },
    idempotencyKey: { pointer: "/event/id" },
    time: { from: { pointer: "/event/created_at" }, format: "iso8601" },
  },
  // Settings → Notifications → "Show shared secret": Coinbase makes it.
  secret: { origin: "provider", generate: () => randomUUID() },
  examples: [
    {
      label: "computed from the documented algorithm (HMAC-SHA256 of the raw body, hex)",
      secret: "3d9b8f4e-1c2a-4b5d-9e6f-7a8b9c0d1e2f",
      headers: {
        "content-type": "application/json",
        "x-cc-webhook-signature": "c039a546333c04a97f89cec0da663cb617ab2b6937db9e60be72d4a20a2d8fdf",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.coinbase.commerce.charge.confirmed",
        idempotencyKey: "24934862-d980-46cb-9402-43c81b0cdba6",
        subject: "66BEOV2A",
      },
    },
  ],
});
