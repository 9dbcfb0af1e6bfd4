/**
 * Jira Cloud (Atlassian), following "Webhooks: secure admin webhooks"
 * (https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks).
 *
 *   X-Hub-Signature:                sha256=<hex HMAC-SHA256(secret, raw body)>
 *   X-Atlassian-Webhook-Identifier: the same on every retry of one webhook (not signed)
 *
 * Atlassian writes the header as `method=signature`; it signs with SHA-256
 * only, so that is the one method accepted. The identifier is the delivery id
 * and the idempotency key. No timestamp is signed (`timestamp`, milliseconds,
 * is only the event's time).
 */
import { randomBytes } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"timestamp":1772366399000,"webhookEvent":"jira:issue_created","issue_event_type_name":"issue_created","user":{"accountId":"5b10a2844c20165700ede21g","displayName":"Jane"},"issue":{"id":"99291","key":"JRA-20002","fields":{"summary":"I feel the need for speed"}}}';

export const jira = hmacScheme({
  name: "jira",
  engine: "hmac",
  title: "Jira Cloud",
  docs: "https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY },
  algorithm: "sha256",
  encoding: "hex",
  signature: { header: "x-hub-signature", format: { kind: "whole", prefix: "sha256=" } },
  template: "{body}",
  facts: {
    type: { prefix: "com.atlassian", parts: [{ pointer: "/webhookEvent" }] },
    subject: { pointer: "/issue/key" },
    deliveryId: { header: "x-atlassian-webhook-identifier" },
    idempotencyKey: { header: "x-atlassian-webhook-identifier" },
    time: { from: { pointer: "/timestamp" }, format: "unix-milliseconds" },
  },
  // Typed into the webhook's "Secret" field (Jira settings → System → WebHooks).
  secret: { origin: "zenmesh", generate: () => randomBytes(32).toString("hex") },
  examples: [
    {
      label: "computed from the documented algorithm (sha256= and the hex HMAC-SHA256 of the raw body)",
      secret: "jira-webhook-secret",
      headers: {
        "content-type": "application/json",
        "x-hub-signature": "sha256=cb2f6bcfa9d82e8e030682dd0470c6f61316755cb752dadb405a911e6296e609",
        "x-atlassian-webhook-identifier": "1151356",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.atlassian.jira.issue_created",
        deliveryId: "1151356",
        idempotencyKey: "1151356",
        subject: "JRA-20002",
      },
    },
  ],
});
