/**
 * Standard Webhooks signing for outbound deliveries, following the specification at
 * https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
 * ("Signature scheme"):
 *
 *   webhook-id:        the message id — zenmesh sends the event id, stable across retries and replays, so receivers can dedupe
 *   webhook-timestamp: unix seconds of this attempt
 *   webhook-signature: v1,<base64> [v1,<base64> …]  one entry per secret, newest first
 *   MAC:               HMAC-SHA256(base64decode(secret without "whsec_"), `${id}.${timestamp}.${body}`)
 *
 * Guards receivers against forgery and tampering with body, id or timestamp, and
 * lets them reject replays outside their tolerance. During a secret rotation every
 * live secret signs, so a receiver holding either the old or the new one verifies.
 * The body is signed as the exact bytes sent.
 */
import { randomBytes } from "node:crypto";
import { hmacSha256 } from "../crypto/index.ts";

export const SIGNING_SECRET_PREFIX = "whsec_";
/** Signing key sizes accepted, in bytes; the specification recommends 24 to 64. */
export const MIN_SIGNING_KEY_BYTES = 24;
export const MAX_SIGNING_KEY_BYTES = 64;
/** Entries one header carries at most; verifiers (ours included) refuse longer lists. */
export const MAX_SIGNING_SECRETS = 8;

export interface SignWebhookInput {
  id: string;
  /** Unix seconds. */
  timestamp: number;
  body: Buffer;
  /** Newest first; the header lists entries in this order. */
  secrets: readonly string[];
}

export interface WebhookHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

// The id travels in a header and in the signed content: visible ASCII only.
const ID = /^[\x21-\x7e]{1,256}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The HMAC key of a well-formed secret, or undefined. Only canonical padded base64 is accepted. */
function signingKey(secret: string): Buffer | undefined {
  if (!secret.startsWith(SIGNING_SECRET_PREFIX)) return undefined;
  const encoded = secret.slice(SIGNING_SECRET_PREFIX.length);
  if (encoded.length % 4 !== 0 || !BASE64.test(encoded)) return undefined;
  const key = Buffer.from(encoded, "base64");
  if (key.toString("base64") !== encoded) return undefined;
  if (key.byteLength < MIN_SIGNING_KEY_BYTES || key.byteLength > MAX_SIGNING_KEY_BYTES) return undefined;
  return key;
}

/** A fresh secret: `whsec_` and the base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return `${SIGNING_SECRET_PREFIX}${randomBytes(32).toString("base64")}`;
}

/** Whether `s` is `whsec_` followed by canonical base64 of 24 to 64 bytes. */
export function isSigningSecret(s: string): boolean {
  return signingKey(s) !== undefined;
}

/**
 * The webhook-signature value. Throws on a malformed id, timestamp or secret:
 * those come from our own stored state, so a bad one is a bug, not an outcome.
 */
export function signWebhook(input: SignWebhookInput): string {
  if (!ID.test(input.id)) throw new Error("signWebhook: the id must be 1 to 256 visible ASCII characters");
  if (!Number.isSafeInteger(input.timestamp) || input.timestamp < 0) {
    throw new Error("signWebhook: the timestamp must be non-negative integer unix seconds");
  }
  if (input.secrets.length === 0 || input.secrets.length > MAX_SIGNING_SECRETS) {
    throw new Error(`signWebhook: between 1 and ${MAX_SIGNING_SECRETS} secrets are needed`);
  }
  const keys = input.secrets.map((secret, i) => {
    const key = signingKey(secret);
    // The index, never the secret, so the message is safe to log.
    if (key === undefined) throw new Error(`signWebhook: secrets[${i}] is not a whsec_ signing secret`);
    return key;
  });
  const content = Buffer.concat([Buffer.from(`${input.id}.${input.timestamp}.`, "utf8"), input.body]);
  return keys.map((key) => `v1,${hmacSha256(key, content).toString("base64")}`).join(" ");
}

/** The three Standard Webhooks headers for one attempt. */
export function webhookHeaders(input: SignWebhookInput): WebhookHeaders {
  return {
    "webhook-id": input.id,
    "webhook-timestamp": String(input.timestamp),
    "webhook-signature": signWebhook(input),
  };
}
