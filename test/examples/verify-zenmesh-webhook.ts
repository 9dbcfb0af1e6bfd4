import { Webhook } from "standardwebhooks";

/**
 * Verifies one delivery from zenmesh. `secret` is the destination's signing
 * secret (`whsec_…`, shown once when the destination is created or its secret
 * rotated); `rawBody` is the request body exactly as received (verify before
 * parsing: re-serialised JSON no longer matches); `headers` are the request's
 * headers, lower-case names. Throws unless `webhook-signature` is valid for
 * `webhook-id`, `webhook-timestamp` and the body, and the timestamp is within
 * five minutes; returns the CloudEvent. `webhook-id` is the event id, the same
 * on every retry and replay: keep the ids you processed to skip duplicates.
 */
export function verifyZenmeshWebhook(
  secret: string,
  rawBody: string,
  headers: Record<string, string>,
): { id: string; type: string; data?: unknown } {
  const wh = new Webhook(secret);
  return wh.verify(rawBody, headers) as { id: string; type: string; data?: unknown };
}
