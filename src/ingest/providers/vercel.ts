/**
 * Vercel, following "Webhooks: securing webhooks"
 * (https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks).
 *
 *   x-vercel-signature: hex(HMAC-SHA1(webhook secret, raw body))
 *
 * The event id in the signed body is the delivery id and the idempotency key.
 * No timestamp is signed (`createdAt`, milliseconds, is only the event's
 * time). SHA-1 is what Vercel signs with; as an HMAC it still resists forgery.
 */
import { randomBase62 } from "../../core/index.ts";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"id":"evt_8jb2XyL5jP7Xx4mZ3QwR1tYu","type":"deployment.created","createdAt":1772366399000,"region":"iad1","payload":{"deployment":{"id":"dpl_2euZBFqxYdDMDG1jTrHFnNZ2eUVa","url":"my-app-abc123.vercel.app","name":"my-app"},"project":{"id":"prj_12HKQaOmR5t5Uy6vdcQsNIiZgHGB"},"team":{"id":"team_1a2b3c4d5e6f7g8h9i0j1k2l"}}}';

export const vercel = hmacScheme({
  name: "vercel",
  engine: "hmac",
  title: "Vercel",
  docs: "https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY },
  algorithm: "sha1",
  encoding: "hex",
  signature: { header: "x-vercel-signature", format: { kind: "whole" } },
  template: "{body}",
  facts: {
    type: { prefix: "com.vercel", parts: [{ pointer: "/type" }] },
    subject: { pointer: "/payload/deployment/id" },
    deliveryId: { pointer: "/id" },
    idempotencyKey: { pointer: "/id" },
    time: { from: { pointer: "/createdAt" }, format: "unix-milliseconds" },
  },
  // Vercel shows the webhook's secret once, when the webhook is created.
  secret: { origin: "provider", generate: () => randomBase62(24) },
  examples: [
    {
      label: "computed from the documented algorithm (HMAC-SHA1 of the raw body, hex)",
      secret: "Wb7Kq2LmN9pR4sT6vX8yZ1aC",
      headers: {
        "content-type": "application/json",
        "x-vercel-signature": "671c6f059d1b05f9fba1bf7cd89510a1a1183bc5",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.vercel.deployment.created",
        deliveryId: "evt_8jb2XyL5jP7Xx4mZ3QwR1tYu",
        idempotencyKey: "evt_8jb2XyL5jP7Xx4mZ3QwR1tYu",
        subject: "dpl_2euZBFqxYdDMDG1jTrHFnNZ2eUVa",
      },
    },
  ],
});
