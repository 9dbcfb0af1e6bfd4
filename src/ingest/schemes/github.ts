/**
 * GitHub, following "Validating webhook deliveries"
 * (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries).
 *
 *   X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret as UTF-8, raw body)>
 *   X-GitHub-Delivery:   a GUID per delivery (not signed)
 *   X-GitHub-Event:      the event name (not signed)
 *
 * Guards against forgery and body tampering (constant-time, every secret
 * tried). GitHub signs no timestamp, so a captured delivery verifies forever:
 * replay is caught only by the ingester's dedupe on the delivery id and on the
 * signature, which is returned in canonical lower-case hex. The legacy
 * SHA-1 `X-Hub-Signature` is not accepted.
 *
 * Content type: GitHub's webhook form defaults to
 * `application/x-www-form-urlencoded`, the JSON event in a `payload` field
 * (https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers).
 * The signature covers the raw form body, as GitHub sends it; once it
 * verifies, the `payload` field is what is stored, as application/json. A form
 * with anything but one `payload` holding one JSON document is refused.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { z } from "zod";
import { hmacSha256 } from "../../crypto/index.ts";
import type { EventFacts, VerifyInput, VerifyResult } from "../types.ts";
import {
  decodeHex,
  fail,
  matchAny,
  pass,
  pick,
  plainHeader,
  plainText,
  readHeader,
  typePart,
} from "./common.ts";
import type { DecodedBody, DescribeInput, SignatureScheme, SignInput } from "./scheme.ts";

const SIGNATURE = "x-hub-signature-256";
const DELIVERY = "x-github-delivery";
const EVENT = "x-github-event";
const FORMAT = /^sha256=([0-9a-fA-F]{64})$/;

function verify(input: VerifyInput): VerifyResult {
  if (input.secrets.length === 0) return fail("no_secret");
  const header = readHeader(input.headers, SIGNATURE);
  if (header.kind === "absent") return fail("missing_signature");
  const m = header.kind === "value" ? FORMAT.exec(header.value) : null;
  const mac = m === null ? undefined : decodeHex(m[1]!, 32);
  if (mac === undefined) return fail("malformed_signature");
  const expected = input.secrets.map((secret) => hmacSha256(secret, input.body));
  if (matchAny(expected, [mac]) < 0) return fail("bad_signature");
  const value: { signature: string; deliveryId?: string } = { signature: `sha256=${mac.toString("hex")}` };
  const deliveryId = plainHeader(input.headers, DELIVERY);
  if (deliveryId !== undefined) value.deliveryId = deliveryId;
  return pass(value);
}

function describe(input: DescribeInput): EventFacts {
  const event = typePart(plainHeader(input.headers, EVENT));
  const action = typePart(pick(input.json, "action"));
  let type = "com.github.event";
  if (event !== undefined)
    type = action === undefined ? `com.github.${event}` : `com.github.${event}.${action}`;
  const facts: EventFacts = { type };
  const subject =
    plainText(pick(input.json, "repository", "full_name")) ??
    plainText(pick(input.json, "organization", "login"));
  if (subject !== undefined) facts.subject = subject;
  const deliveryId = plainHeader(input.headers, DELIVERY);
  // GitHub's Redeliver sends the same X-GitHub-Delivery: it names the event as well as the attempt.
  if (deliveryId !== undefined) {
    facts.deliveryId = deliveryId;
    facts.idempotencyKey = deliveryId;
  }
  return facts;
}

const FORM = "application/x-www-form-urlencoded";

function decodeBody(contentType: string, body: Buffer): DecodedBody | undefined {
  if (contentType !== FORM) return undefined;
  const text = body.toString("utf8");
  // Strict UTF-8: a form that does not decode is not GitHub's.
  if (!Buffer.from(text, "utf8").equals(body)) return { ok: false, reason: "form_not_utf8" };
  const form = new URLSearchParams(text);
  const names = [...form.keys()];
  if (names.length !== 1 || names[0] !== "payload") return { ok: false, reason: "form_without_payload" };
  const payload = form.get("payload")!;
  try {
    JSON.parse(payload);
  } catch {
    return { ok: false, reason: "payload_not_json" };
  }
  return { ok: true, body: Buffer.from(payload, "utf8"), contentType: "application/json" };
}

function sign(input: SignInput): Record<string, string> {
  return {
    [SIGNATURE]: `sha256=${hmacSha256(input.secret, input.body).toString("hex")}`,
    [DELIVERY]: input.id ?? randomUUID(),
  };
}

export const github: SignatureScheme = {
  name: "github",
  provider: {
    title: "GitHub",
    docs: "https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries",
    sample: {
      contentType: "application/json",
      body: '{"zen":"Design for failure.","hook_id":109948940,"hook":{"type":"Repository","id":109948940,"active":true,"events":["push"]},"repository":{"id":1296269,"full_name":"octocat/Hello-World"},"sender":{"login":"octocat","id":1}}',
      headers: { "x-github-event": "ping", "x-github-hook-id": "109948940" },
    },
  },
  settings: z.strictObject({}).prefault({}),
  contentTypes: ["application/json", FORM],
  decodeBody,
  verify,
  describe,
  sign,
  generateSecret: () => randomBytes(32).toString("hex"),
};
