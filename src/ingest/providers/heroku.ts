/**
 * Heroku app webhooks, following "App Webhooks: securing webhook requests"
 * (https://devcenter.heroku.com/articles/app-webhooks#securing-webhook-requests).
 *
 *   Heroku-Webhook-Hmac-SHA256: base64(HMAC-SHA256(secret, raw body))
 *   Heroku-Webhook-Id:          the delivery's id (not signed)
 *
 * Each attempt of a delivery carries its own `webhook_metadata.attempt.id` in
 * the body, so the body differs between attempts while the delivery id stays:
 * the event id in the signed body is the idempotency key, and the delivery id
 * is not taken (one reused with another body is refused as tampering). No
 * timestamp is signed.
 */
import { randomBytes } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"id":"9e6ad5bb-3e6e-4d0a-a5f6-1c3c8e7d2b10","action":"update","actor":{"email":"someone@example.org","id":"8a9a5b22-0000-4000-8000-0000000000aa"},"created_at":"2026-03-01T11:59:58Z","data":{"id":"23fd5e0b-0000-4000-8000-0000000000bb","app":{"id":"7bd2b3e7-0000-4000-8000-0000000000cc","name":"example-app"},"status":"succeeded","version":42},"resource":"release","version":"application/vnd.heroku+json; version=3","webhook_metadata":{"attempt":{"id":"c5b5f9c4-0000-4000-8000-0000000000dd"},"delivery":{"id":"fb1c2b3e-0000-4000-8000-0000000000ee"},"event":{"id":"9e6ad5bb-3e6e-4d0a-a5f6-1c3c8e7d2b10","include":"api:release"},"webhook":{"id":"4d1b3a0f-0000-4000-8000-0000000000ff"}}}';

export const heroku = hmacScheme({
  name: "heroku",
  engine: "hmac",
  title: "Heroku",
  docs: "https://devcenter.heroku.com/articles/app-webhooks#securing-webhook-requests",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY },
  algorithm: "sha256",
  encoding: "base64",
  signature: { header: "heroku-webhook-hmac-sha256", format: { kind: "whole" } },
  template: "{body}",
  facts: {
    type: { prefix: "com.heroku", parts: [{ pointer: "/resource" }, { pointer: "/action" }] },
    subject: { pointer: "/data/app/name" },
    idempotencyKey: { pointer: "/id" },
    time: { from: { pointer: "/created_at" }, format: "iso8601" },
  },
  // Passed as `--secret` to `heroku webhooks:add` (Heroku generates one and shows it once when omitted).
  secret: { origin: "zenmesh", generate: () => randomBytes(32).toString("hex") },
  examples: [
    {
      label: "computed from the documented algorithm (HMAC-SHA256 of the raw body, base64)",
      secret: "heroku-webhook-secret",
      headers: {
        "content-type": "application/json",
        "heroku-webhook-hmac-sha256": "hiqLeBfOMoJ/2lSm6gjqGF/PG+OUxGWXzMIv78d4Drc=",
        "heroku-webhook-id": "fb1c2b3e-0000-4000-8000-0000000000ee",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.heroku.release.update",
        idempotencyKey: "9e6ad5bb-3e6e-4d0a-a5f6-1c3c8e7d2b10",
        subject: "example-app",
      },
    },
  ],
});
