/**
 * Stripe, following "Check the webhook signatures"
 * (https://docs.stripe.com/webhooks#verify-manually).
 *
 *   Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=<hex>]
 *   v1:               hex(HMAC-SHA256(key = the whole `whsec_…` secret as UTF-8, `${t}.${raw body}`))
 *
 * Guards against forgery, tampering with body or timestamp (every v1 compared
 * in constant time with every secret; Stripe sends several v1 while it rolls
 * a secret) and replay outside ±tolerance (older: stale, newer: future).
 * Inside the window the ingester dedupes on the event id (`evt_…`) and the
 * matched v1. v0 and unknown schemes are ignored, as Stripe asks.
 */
import { z } from "zod";
import { randomBase62 } from "../../core/index.ts";
import { hmacSha256 } from "../../crypto/index.ts";
import type { EventFacts, VerifyInput, VerifyResult } from "../types.ts";
import {
  assertTolerance,
  checkWindow,
  decodeHex,
  fail,
  idText,
  jsonObject,
  MAX_CANDIDATES,
  matchAny,
  parseKeyValueList,
  parseUnixSeconds,
  pass,
  pick,
  plainText,
  readHeader,
  typePart,
  unixTime,
} from "./common.ts";
import type { DescribeInput, SignatureScheme, SignInput } from "./scheme.ts";

const SIGNATURE = "stripe-signature";

type Parsed =
  | { kind: "ok"; t: string; timestamp: number; v1: Buffer[] }
  | { kind: "missing_timestamp" }
  | undefined;

function parseHeader(header: string): Parsed {
  const items = parseKeyValueList(header, MAX_CANDIDATES * 2);
  if (items === undefined) return undefined;
  let t: string | undefined;
  const v1: Buffer[] = [];
  for (const [key, value] of items) {
    if (key === "t") {
      if (t !== undefined) return undefined;
      t = value;
    } else if (key === "v1") {
      const mac = decodeHex(value, 32);
      if (mac === undefined) return undefined;
      v1.push(mac);
    }
  }
  if (v1.length > MAX_CANDIDATES || (t === undefined && v1.length === 0)) return undefined;
  if (t === undefined) return { kind: "missing_timestamp" };
  const timestamp = parseUnixSeconds(t);
  return timestamp === undefined ? undefined : { kind: "ok", t, timestamp, v1 };
}

function signedContent(t: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${t}.`, "utf8"), body]);
}

function verify(input: VerifyInput): VerifyResult {
  assertTolerance(input.toleranceSeconds);
  if (input.secrets.length === 0) return fail("no_secret");
  const header = readHeader(input.headers, SIGNATURE);
  if (header.kind === "absent") return fail("missing_signature");
  const parsed = header.kind === "value" ? parseHeader(header.value) : undefined;
  if (parsed === undefined) return fail("malformed_signature");
  if (parsed.kind === "missing_timestamp") return fail("missing_timestamp");
  const content = signedContent(parsed.t, input.body);
  const expected = input.secrets.map((secret) => hmacSha256(secret, content));
  const matched = matchAny(expected, parsed.v1);
  if (matched < 0) return fail("bad_signature");
  const window = checkWindow(parsed.timestamp, input.now, input.toleranceSeconds);
  if (window !== undefined) return fail(window);
  const value: { signature: string; timestamp: Date; deliveryId?: string; deliveryIdSigned?: true } = {
    signature: parsed.v1[matched]!.toString("hex"),
    timestamp: new Date(parsed.timestamp * 1000),
  };
  // The event id is read from the signed body.
  const deliveryId = idText(pick(jsonObject(input.body), "id"));
  if (deliveryId !== undefined) {
    value.deliveryId = deliveryId;
    value.deliveryIdSigned = true;
  }
  return pass(value);
}

function describe(input: DescribeInput): EventFacts {
  const type = typePart(pick(input.json, "type"));
  const facts: EventFacts = { type: type === undefined ? "com.stripe.event" : `com.stripe.${type}` };
  const subject = plainText(pick(input.json, "data", "object", "id"));
  if (subject !== undefined) facts.subject = subject;
  const deliveryId = idText(pick(input.json, "id"));
  // A Stripe retry resends the same event (same `id`) with a fresh `t=` and signature.
  if (deliveryId !== undefined) {
    facts.deliveryId = deliveryId;
    facts.idempotencyKey = deliveryId;
  }
  const time = unixTime(pick(input.json, "created"));
  if (time !== undefined) facts.time = time;
  return facts;
}

function sign(input: SignInput): Record<string, string> {
  const t = String(Math.floor(input.now.getTime() / 1000));
  const v1 = hmacSha256(input.secret, signedContent(t, input.body)).toString("hex");
  return { [SIGNATURE]: `t=${t},v1=${v1}` };
}

export const stripe: SignatureScheme = {
  name: "stripe",
  provider: {
    title: "Stripe",
    docs: "https://docs.stripe.com/webhooks#verify-manually",
    sample: {
      contentType: "application/json",
      body: '{"id":"evt_test_webhook","object":"event","api_version":"2024-06-20","created":1700000000,"type":"payment_intent.succeeded","livemode":false,"data":{"object":{"id":"pi_test","object":"payment_intent","amount":2000,"currency":"usd","status":"succeeded"}}}',
    },
  },
  settings: z.strictObject({}).prefault({}),
  verify,
  describe,
  sign,
  generateSecret: () => `whsec_${randomBase62(32)}`,
};
