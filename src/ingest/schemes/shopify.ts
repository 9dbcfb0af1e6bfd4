/**
 * Shopify, following "Verify webhooks"
 * (https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook).
 *
 *   X-Shopify-Hmac-Sha256 (or shopify-hmac-sha256): base64(HMAC-SHA256(app client secret as UTF-8, raw body))
 *   X-Shopify-Webhook-Id:  the delivery id (not signed)
 *   X-Shopify-Topic:       e.g. orders/create → type com.shopify.orders.create (not signed)
 *
 * Guards against forgery and body tampering (constant-time, every secret
 * tried). No timestamp is signed: replay is caught by the ingester's dedupe on
 * the webhook id and the signature, which must be canonical padded base64 so
 * it cannot be re-encoded into a second accepted form.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { z } from "zod";
import { hmacSha256 } from "../../crypto/index.ts";
import type { EventFacts, VerifyInput, VerifyResult } from "../types.ts";
import {
  decodeBase64,
  fail,
  isoTime,
  matchAny,
  pass,
  plainHeader,
  plainText,
  readHeader,
  typePart,
} from "./common.ts";
import type { DescribeInput, RequestHeaders, SignatureScheme, SignInput } from "./scheme.ts";

const SIGNATURE = ["x-shopify-hmac-sha256", "shopify-hmac-sha256"] as const;
const WEBHOOK_ID = ["x-shopify-webhook-id", "shopify-webhook-id"] as const;
const TOPIC = ["x-shopify-topic", "shopify-topic"] as const;
const SHOP = ["x-shopify-shop-domain", "shopify-shop-domain"] as const;
const TRIGGERED_AT = ["x-shopify-triggered-at", "shopify-triggered-at"] as const;

function first(headers: RequestHeaders, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = plainHeader(headers, name);
    if (value !== undefined) return value;
  }
  return undefined;
}

function verify(input: VerifyInput): VerifyResult {
  if (input.secrets.length === 0) return fail("no_secret");
  let header = readHeader(input.headers, SIGNATURE[0]);
  if (header.kind === "absent") header = readHeader(input.headers, SIGNATURE[1]);
  if (header.kind === "absent") return fail("missing_signature");
  const mac = header.kind === "value" ? decodeBase64(header.value, 32) : undefined;
  if (mac === undefined) return fail("malformed_signature");
  const expected = input.secrets.map((secret) => hmacSha256(secret, input.body));
  if (matchAny(expected, [mac]) < 0) return fail("bad_signature");
  const value: { signature: string; deliveryId?: string } = { signature: mac.toString("base64") };
  const deliveryId = first(input.headers, WEBHOOK_ID);
  if (deliveryId !== undefined) value.deliveryId = deliveryId;
  return pass(value);
}

function describe(input: DescribeInput): EventFacts {
  const topic = typePart(first(input.headers, TOPIC)?.replaceAll("/", "."));
  const facts: EventFacts = { type: topic === undefined ? "com.shopify.event" : `com.shopify.${topic}` };
  const shop = plainText(first(input.headers, SHOP));
  if (shop !== undefined) facts.subject = shop;
  const deliveryId = first(input.headers, WEBHOOK_ID);
  if (deliveryId !== undefined) facts.deliveryId = deliveryId;
  const time = isoTime(first(input.headers, TRIGGERED_AT));
  if (time !== undefined) facts.time = time;
  return facts;
}

function sign(input: SignInput): Record<string, string> {
  return {
    [SIGNATURE[0]]: hmacSha256(input.secret, input.body).toString("base64"),
    [WEBHOOK_ID[0]]: input.id ?? randomUUID(),
  };
}

export const shopify: SignatureScheme = {
  name: "shopify",
  provider: {
    title: "Shopify",
    docs: "https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook",
    sample: {
      contentType: "application/json",
      body: '{"id":820982911946154500,"email":"jon@example.com","total_price":"10.00","currency":"USD","financial_status":"paid"}',
      headers: { "x-shopify-topic": "orders/create", "x-shopify-shop-domain": "example.myshopify.com" },
    },
  },
  settings: z.strictObject({}).prefault({}),
  verify,
  describe,
  sign,
  generateSecret: () => `shpss_${randomBytes(16).toString("hex")}`,
};
