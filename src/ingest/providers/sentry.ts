/**
 * Sentry integration platform, following "Webhooks: verifying the signature"
 * (https://docs.sentry.io/integrations/integration-platform/webhooks/#sentry-hook-signature).
 *
 *   Sentry-Hook-Signature: hex(HMAC-SHA256(integration client secret, raw body))
 *   Sentry-Hook-Resource:  e.g. issue (not signed)
 *   Sentry-Hook-Timestamp: unix seconds (NOT signed, so never used as a replay guard)
 *   Request-ID:            the delivery id (not signed)
 *
 * The type joins the resource header and the signed `action`
 * (`io.sentry.issue.created`). No signed timestamp: replay is caught by the
 * ingester's dedupe on the request id and the signature.
 */
import { randomBytes } from "node:crypto";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"action":"created","installation":{"uuid":"a8e5d37a-696c-4c54-adb5-b3f28d64c7de"},"data":{"issue":{"id":"1170820242","shortId":"FRONTEND-K","title":"Error: Something went wrong","status":"unresolved"}},"actor":{"type":"application","id":"sentry","name":"Sentry"}}';

export const sentry = hmacScheme({
  name: "sentry",
  engine: "hmac",
  title: "Sentry",
  docs: "https://docs.sentry.io/integrations/integration-platform/webhooks/#sentry-hook-signature",
  contentTypes: ["application/json"],
  sample: {
    contentType: "application/json",
    body: BODY,
    headers: { "sentry-hook-resource": "issue" },
  },
  algorithm: "sha256",
  encoding: "hex",
  signature: { header: "sentry-hook-signature", format: { kind: "whole" } },
  template: "{body}",
  facts: {
    type: { prefix: "io.sentry", parts: [{ header: "sentry-hook-resource" }, { pointer: "/action" }] },
    subject: { pointer: "/data/issue/id" },
    deliveryId: { header: "request-id" },
    time: { from: { header: "sentry-hook-timestamp" }, format: "unix-seconds" },
  },
  // The internal or public integration's client secret, shown on its settings page.
  secret: { origin: "provider", generate: () => randomBytes(32).toString("hex") },
  examples: [
    {
      label: "computed from the documented algorithm (HMAC-SHA256 of the raw body, hex)",
      secret: "5f2c4a8e9b1d3f6a7c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b9d1f3a",
      headers: {
        "content-type": "application/json",
        "sentry-hook-signature": "8b8c5f0701f0a247acdb53dfcfea91a6f9c716d8a49743beacf58ffac29fa757",
        "sentry-hook-resource": "issue",
        "sentry-hook-timestamp": "1772366399",
        "request-id": "f7a1c2e4-8b3d-4e5f-9a6b-7c8d9e0f1a2b",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "io.sentry.issue.created",
        deliveryId: "f7a1c2e4-8b3d-4e5f-9a6b-7c8d9e0f1a2b",
        subject: "1170820242",
      },
    },
  ],
});
