/**
 * Mux, following "Verify webhook signatures"
 * (https://www.mux.com/docs/core/verify-webhook-signatures).
 *
 *   Mux-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(signing secret, t + "." + body)>
 *
 * Stripe's construction (the tests use Stripe's library as an oracle for
 * it), refused outside ±tolerance. The body lists earlier delivery
 * `attempts`, so it differs between attempts: the event id in it is the
 * idempotency key, and no delivery id is taken (one reused with another body
 * is refused as tampering).
 */
import { randomBase62 } from "../../core/index.ts";
import { hmacScheme } from "./engine-hmac.ts";

const BODY =
  '{"type":"video.asset.ready","id":"3a56ac3d-33da-4366-855b-f592d898409d","created_at":"2026-03-01T11:59:58.000000Z","object":{"type":"asset","id":"0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002"},"environment":{"name":"Production","id":"j0863n"},"attempts":[],"data":{"id":"0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002","status":"ready","duration":23.8}}';

export const mux = hmacScheme({
  name: "mux",
  engine: "hmac",
  title: "Mux",
  docs: "https://www.mux.com/docs/core/verify-webhook-signatures",
  contentTypes: ["application/json"],
  sample: { contentType: "application/json", body: BODY },
  algorithm: "sha256",
  encoding: "hex",
  signature: {
    header: "mux-signature",
    format: { kind: "fields", separator: ",", timestampKey: "t", macKey: "v1" },
  },
  template: "{timestamp}.{body}",
  timestamp: { from: { field: true }, format: "unix-seconds" },
  facts: {
    type: { prefix: "com.mux", parts: [{ pointer: "/type" }] },
    subject: { pointer: "/object/id" },
    idempotencyKey: { pointer: "/id" },
    time: { from: { pointer: "/created_at" }, format: "iso8601" },
  },
  // Settings → Webhooks → the webhook → "Show Signing Secret": Mux makes it.
  secret: { origin: "provider", generate: () => randomBase62(32) },
  examples: [
    {
      label:
        "computed from the documented algorithm; Stripe's library, same construction, agrees (providers/vectors.test.ts)",
      secret: "mux-signing-secret-0123456789abcdef",
      headers: {
        "content-type": "application/json",
        "mux-signature": "t=1772366399,v1=83355a25a85f56509ced465c632b4eb2f5097203b3086e67f8aa2ca95f93befc",
      },
      body: BODY,
      now: "2026-03-01T12:00:00Z",
      expect: {
        ok: true,
        type: "com.mux.video.asset.ready",
        idempotencyKey: "3a56ac3d-33da-4366-855b-f592d898409d",
        subject: "0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002",
      },
    },
  ],
});
