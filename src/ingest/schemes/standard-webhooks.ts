/**
 * Standard Webhooks, following the specification at
 * https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
 * ("Verifying webhook authenticity").
 *
 *   webhook-id:        msg_…                      (the delivery id, signed)
 *   webhook-timestamp: <unix seconds>             (signed, checked against ±tolerance)
 *   webhook-signature: v1,<base64> [v1,<base64> …] (space-separated; other versions skipped)
 *   MAC:               HMAC-SHA256(base64decode(secret without "whsec_"), `${id}.${timestamp}.${body}`)
 *
 * Guards against forgery and tampering with body, id or timestamp (every
 * candidate compared in constant time with every secret) and against replay
 * outside the window; inside it, the ingester dedupes on webhook-id. The body
 * is signed as the raw bytes received.
 *
 * Event type: the body's JSON `type` prefixed with `com.standardwebhooks.`
 * (e.g. `invoice.paid` → `com.standardwebhooks.invoice.paid`), always, so the
 * namespace is predictable; without one, `com.standardwebhooks.event`.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { randomBase62 } from "../../core/index.ts";
import { hmacSha256 } from "../../crypto/index.ts";
import type { EventFacts, VerifyInput, VerifyResult } from "../types.ts";
import {
  assertTolerance,
  checkWindow,
  decodeBase64,
  fail,
  isoTime,
  MAX_CANDIDATES,
  MAX_PLAIN_HEADER,
  matchAny,
  parseUnixSeconds,
  pass,
  pick,
  plainHeader,
  readHeader,
  typePart,
} from "./common.ts";
import type { DescribeInput, SignatureScheme, SignInput } from "./scheme.ts";

export const WEBHOOK_ID = "webhook-id";
export const WEBHOOK_TIMESTAMP = "webhook-timestamp";
export const WEBHOOK_SIGNATURE = "webhook-signature";
const SECRET_PREFIX = "whsec_";
const MAC_BYTES = 32;
const ID = /^[\x21-\x7e]+$/;
const ENTRY = /^([a-z0-9]{1,16}),(\S+)$/;

/** The HMAC key of a secret, or undefined when it is not (whsec_-prefixed) base64. */
export function standardWebhooksKey(secret: string): Buffer | undefined {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const key = decodeBase64(encoded);
  return key !== undefined && key.byteLength > 0 ? key : undefined;
}

function signedContent(id: string, timestamp: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${id}.${timestamp}.`, "utf8"), body]);
}

/** The v1 entries of a webhook-signature header; undefined when malformed. */
function parseSignatures(header: string): { text: string; mac: Buffer }[] | undefined {
  const entries = header.split(" ").filter((e) => e.length > 0);
  if (entries.length === 0 || entries.length > MAX_CANDIDATES * 2) return undefined;
  const out: { text: string; mac: Buffer }[] = [];
  for (const entry of entries) {
    const m = ENTRY.exec(entry);
    if (m === null) return undefined;
    if (m[1] !== "v1") continue;
    const mac = decodeBase64(m[2]!, MAC_BYTES);
    if (mac === undefined) return undefined;
    out.push({ text: entry, mac });
  }
  return out.length > MAX_CANDIDATES ? undefined : out;
}

export function verifyStandardWebhooks(input: VerifyInput): VerifyResult {
  assertTolerance(input.toleranceSeconds);
  if (input.secrets.length === 0) return fail("no_secret");
  const sig = readHeader(input.headers, WEBHOOK_SIGNATURE);
  if (sig.kind === "absent") return fail("missing_signature");
  if (sig.kind === "oversized") return fail("malformed_signature");
  const ts = readHeader(input.headers, WEBHOOK_TIMESTAMP, MAX_PLAIN_HEADER);
  if (ts.kind === "absent") return fail("missing_timestamp");
  const id = readHeader(input.headers, WEBHOOK_ID, MAX_PLAIN_HEADER);
  if (ts.kind === "oversized" || id.kind !== "value" || !ID.test(id.value))
    return fail("malformed_signature");
  const timestamp = parseUnixSeconds(ts.value);
  if (timestamp === undefined) return fail("malformed_signature");
  const candidates = parseSignatures(sig.value);
  if (candidates === undefined) return fail("malformed_signature");

  const keys = input.secrets.map(standardWebhooksKey).filter((k) => k !== undefined);
  if (keys.length === 0) return fail("no_secret");
  const content = signedContent(id.value, ts.value, input.body);
  const expected = keys.map((key) => hmacSha256(key, content));
  const matched = matchAny(
    expected,
    candidates.map((c) => c.mac),
  );
  if (matched < 0) return fail("bad_signature");
  const window = checkWindow(timestamp, input.now, input.toleranceSeconds);
  if (window !== undefined) return fail(window);
  return pass({
    deliveryId: id.value,
    deliveryIdSigned: true,
    signature: candidates[matched]!.text,
    timestamp: new Date(timestamp * 1000),
  });
}

export function signStandardWebhooks(input: SignInput): Record<string, string> {
  const key = standardWebhooksKey(input.secret);
  if (key === undefined) throw new Error("standard-webhooks: the secret is not whsec_-prefixed base64");
  const id = input.id ?? `msg_${randomBase62(27)}`;
  const timestamp = String(Math.floor(input.now.getTime() / 1000));
  const mac = hmacSha256(key, signedContent(id, timestamp, input.body));
  return {
    [WEBHOOK_ID]: id,
    [WEBHOOK_TIMESTAMP]: timestamp,
    [WEBHOOK_SIGNATURE]: `v1,${mac.toString("base64")}`,
  };
}

/** 32 random bytes, the length GitLab requires for its signing tokens. */
export function generateStandardWebhooksSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString("base64")}`;
}

export const standardWebhooks: SignatureScheme = {
  name: "standard-webhooks",
  provider: {
    title: "Standard Webhooks",
    docs: "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md",
    sample: {
      contentType: "application/json",
      body: '{"type":"invoice.paid","timestamp":"2024-01-01T00:00:00Z","data":{"id":"inv_test","amount":1000}}',
    },
  },
  settings: z.strictObject({}).prefault({}),
  verify: verifyStandardWebhooks,
  describe(input: DescribeInput): EventFacts {
    const type = typePart(pick(input.json, "type"));
    const facts: EventFacts = {
      type: type === undefined ? "com.standardwebhooks.event" : `com.standardwebhooks.${type}`,
    };
    const deliveryId = plainHeader(input.headers, WEBHOOK_ID);
    // The spec keeps webhook-id across retries of one message: it is the idempotency key.
    if (deliveryId !== undefined) {
      facts.deliveryId = deliveryId;
      facts.idempotencyKey = deliveryId;
    }
    const time = isoTime(pick(input.json, "timestamp"));
    if (time !== undefined) facts.time = time;
    return facts;
  },
  sign: signStandardWebhooks,
  generateSecret: generateStandardWebhooksSecret,
};
