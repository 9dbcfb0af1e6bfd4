/**
 * Gitea (and Forgejo, which sends the same headers), following "Webhooks"
 * (https://docs.gitea.com/usage/webhooks).
 *
 *   X-Gitea-Signature: hex(HMAC-SHA256(secret, raw body)) (Forgejo also: X-Forgejo-Signature)
 *   X-Gitea-Event:     e.g. push (not signed)
 *   X-Gitea-Delivery:  a UUID per delivery (not signed)
 *
 * The `X-Gitea-*` names are read first, then Forgejo's. No timestamp is
 * signed: replay is caught by the ingester's dedupe on the delivery id and
 * the canonical signature.
 */
import { randomBytes } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"ref":"refs/heads/main","before":"28e1879d029cb852e4844d9c718537df08844e03","after":"bffeb74224043ba2feb48d137756c8a9331c449a","repository":{"id":140,"name":"webhooks","full_name":"gitea/webhooks"},"pusher":{"login":"gitea"}}';

export const gitea = hmacScheme({
  name: "gitea",
  engine: "hmac",
  title: "Gitea",
  docs: "https://docs.gitea.com/usage/webhooks",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY, headers: { "x-gitea-event": "push" } },
  algorithm: "sha256",
  encoding: "hex",
  signature: { header: ["x-gitea-signature", "x-forgejo-signature"], format: { kind: "whole" } },
  template: "{body}",
  facts: {
    type: { prefix: "io.gitea", parts: [{ header: ["x-gitea-event", "x-forgejo-event"] }] },
    subject: { pointer: "/repository/full_name" },
    deliveryId: { header: ["x-gitea-delivery", "x-forgejo-delivery"] },
  },
  // Typed into the webhook's "Secret" field (repository → Settings → Webhooks → Add webhook → Gitea).
  secret: { origin: "zenmesh", generate: () => randomBytes(32).toString("hex") },
  examples: [
    {
      label: "computed from the documented algorithm (hex HMAC-SHA256 of the raw body)",
      secret: "gitea-webhook-secret",
      headers: {
        "content-type": "application/json",
        "x-gitea-signature": "794fd6c582cc6d358b70f808129f097b5dd338091206b98f656b2d065f1c44b0",
        "x-gitea-event": "push",
        "x-gitea-delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "io.gitea.push",
        deliveryId: "f6266f16-1bf3-46a5-9ea4-602e06ead473",
        subject: "gitea/webhooks",
      },
    },
    {
      label: "the same delivery from Forgejo, under its own header names",
      secret: "gitea-webhook-secret",
      headers: {
        "content-type": "application/json",
        "x-forgejo-signature": "794fd6c582cc6d358b70f808129f097b5dd338091206b98f656b2d065f1c44b0",
        "x-forgejo-event": "push",
        "x-forgejo-delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: { ok: true, type: "io.gitea.push", deliveryId: "f6266f16-1bf3-46a5-9ea4-602e06ead473" },
    },
  ],
});
