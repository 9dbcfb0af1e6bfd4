/**
 * Linear, following "Webhooks: securing webhooks"
 * (https://linear.app/developers/webhooks#securing-webhooks).
 *
 *   Linear-Signature: hex(HMAC-SHA256(signing secret, raw body))
 *   Linear-Delivery:  a UUID per delivery (not signed)
 *   Linear-Event:     the entity type, e.g. Issue (not signed)
 *   body.webhookTimestamp: unix milliseconds, inside the signed body
 *
 * Linear asks receivers to refuse a `webhookTimestamp` more than a minute
 * away; zenmesh refuses one outside the source's tolerance (set it to 60 to
 * follow Linear exactly), and refuses a body without one. The type is the
 * signed `type` and `action` (`com.linear.Issue.create`).
 */
import { randomBase62 } from "../../core/index.ts";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"action":"create","type":"Issue","data":{"id":"2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9","title":"Webhook test","identifier":"ENG-42"},"url":"https://linear.app/issue/ENG-42","createdAt":"2026-03-01T11:59:59.000Z","organizationId":"a1b2c3d4-0000-4000-8000-000000000001","webhookTimestamp":1772366399000,"webhookId":"000042e3-d123-4980-b49f-8e140eef9329"}';

export const linear = hmacScheme({
  name: "linear",
  engine: "hmac",
  title: "Linear",
  docs: "https://linear.app/developers/webhooks#securing-webhooks",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY, headers: { "linear-event": "Issue" } },
  algorithm: "sha256",
  encoding: "hex",
  signature: { header: "linear-signature", format: { kind: "whole" } },
  template: "{body}",
  timestamp: { from: { pointer: "/webhookTimestamp" }, format: "unix-milliseconds" },
  facts: {
    type: { prefix: "com.linear", parts: [{ pointer: "/type" }, { pointer: "/action" }] },
    subject: { pointer: "/data/id" },
    deliveryId: { header: "linear-delivery" },
    time: { from: { pointer: "/createdAt" }, format: "iso8601" },
  },
  // Linear shows the signing secret (lin_wh_…) on the webhook's page.
  secret: { origin: "provider", generate: () => `lin_wh_${randomBase62(40)}` },
  examples: [
    {
      label: "computed from the documented algorithm (HMAC-SHA256 of the raw body, hex)",
      secret: "lin_wh_0aV3rLbqg3YbXk3s0Jm5QhE2n7WcT1uPz9dRf4Gy",
      headers: {
        "content-type": "application/json",
        "linear-signature": "0f4f12742830689eeb60edb59ea7c0871bf32df0235bcf8bdbe006df0df39429",
        "linear-delivery": "234d1a4e-b617-4388-90fe-adc3633d6b72",
        "linear-event": "Issue",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.linear.Issue.create",
        deliveryId: "234d1a4e-b617-4388-90fe-adc3633d6b72",
        subject: "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9",
      },
    },
    {
      label: "the same delivery verified ten minutes later: webhookTimestamp is outside the window",
      secret: "lin_wh_0aV3rLbqg3YbXk3s0Jm5QhE2n7WcT1uPz9dRf4Gy",
      headers: {
        "content-type": "application/json",
        "linear-signature": "0f4f12742830689eeb60edb59ea7c0871bf32df0235bcf8bdbe006df0df39429",
      },
      body: BODY,
      now: "2026-03-01T12:10:00Z",
      expect: { ok: false, reason: "stale" },
    },
  ],
});
