/**
 * Bitbucket Cloud, following "Manage webhooks: secure webhooks"
 * (https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/#Secure-webhooks).
 *
 *   X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>
 *   X-Event-Key:     e.g. repo:push → type org.bitbucket.repo.push (not signed)
 *   X-Request-UUID:  the delivery id (not signed)
 *
 * The same construction as GitHub's (the tests use GitHub's library as an
 * oracle for it). No timestamp is signed: replay is caught by the ingester's
 * dedupe on the request UUID and the canonical signature.
 */
import { randomBytes } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"push":{"changes":[{"new":{"type":"branch","name":"main","target":{"hash":"709d658dc5b6d6afcd46049c2f332ee3f515a67d"}}}]},"repository":{"type":"repository","full_name":"team/repo","uuid":"{5f1b2c3d-0000-4000-8000-0000000000aa}"},"actor":{"type":"user","display_name":"Jane"}}';

export const bitbucket = hmacScheme({
  name: "bitbucket",
  engine: "hmac",
  title: "Bitbucket Cloud",
  docs: "https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/#Secure-webhooks",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY, headers: { "x-event-key": "repo:push" } },
  algorithm: "sha256",
  encoding: "hex",
  signature: { header: "x-hub-signature", format: { kind: "whole", prefix: "sha256=" } },
  template: "{body}",
  facts: {
    type: { prefix: "org.bitbucket", parts: [{ header: "x-event-key" }] },
    subject: { pointer: "/repository/full_name" },
    deliveryId: { header: "x-request-uuid" },
  },
  // Typed into the webhook's "Secret" field (Bitbucket can also generate one; paste it back then).
  secret: { origin: "zenmesh", generate: () => randomBytes(32).toString("hex") },
  examples: [
    {
      label: "computed from the documented algorithm (sha256= and the hex HMAC-SHA256 of the raw body)",
      secret: "bitbucket-webhook-secret",
      headers: {
        "content-type": "application/json",
        "x-hub-signature": "sha256=39affa665bca86a6d3875c0b7831422118b16f36c4c1ae47c9a0a34573dfe5ba",
        "x-event-key": "repo:push",
        "x-request-uuid": "afdd3f43-5b4c-4a6f-8b8a-2d3e4f5a6b7c",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "org.bitbucket.repo.push",
        deliveryId: "afdd3f43-5b4c-4a6f-8b8a-2d3e4f5a6b7c",
        subject: "team/repo",
      },
    },
  ],
});
