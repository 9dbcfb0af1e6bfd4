/**
 * Meta (Facebook, Instagram, WhatsApp Business) Webhooks, following "Getting
 * started" (https://developers.facebook.com/docs/graph-api/webhooks/getting-started).
 *
 *   X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>
 *
 * Guards against forgery and body tampering (constant-time, every secret
 * tried). Meta signs no timestamp and sends no delivery id, so a captured
 * notification verifies forever: the ingester remembers its signature for
 * the whole dedupe window and answers it with the first event's id.
 *
 * Handshake: when a subscription is saved, Meta sends
 * `GET ?hub.mode=subscribe&hub.challenge=<digits>&hub.verify_token=<token>`.
 * It carries no signature: what proves it is the verify token, a string the
 * app's owner types into Meta's dashboard and into this source's
 * `verify_token` setting. Only a matching token (compared in constant time)
 * is answered, with the challenge as text/plain; anything else is 401.
 * The token is a setting, not the source's secret (it travels in a URL, so it
 * is no match for the app secret): it decides only who may confirm the
 * subscription, never whether an event is accepted.
 *
 * Event type: com.meta.<object>.<field of the first change>
 * (com.meta.whatsapp_business_account.messages); subject the first entry's id.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { hmacSha256 } from "../../crypto/index.ts";
import { decodeHex, fail, matchAny, pass, pick, plainText, readHeader, typePart } from "../schemes/common.ts";
import { challengeText, matchesAnyToken, plainTextAnswer } from "../schemes/handshake.ts";
import type {
  DescribeInput,
  HandshakeInput,
  HandshakeResult,
  SignatureScheme,
  SignInput,
} from "../schemes/scheme.ts";
import type { EventFacts, VerifyInput, VerifyResult } from "../types.ts";

const SIGNATURE = "x-hub-signature-256";
const FORMAT = /^sha256=([0-9a-fA-F]{64})$/;

export const metaSettings = z.strictObject({
  /** The Verify Token typed into Meta's dashboard beside the callback URL. */
  verify_token: z
    .string()
    .min(16, "must be at least 16 characters")
    .max(256)
    .regex(/^[\x21-\x7e]+$/, "must be visible ASCII without spaces"),
});

function verify(input: VerifyInput): VerifyResult {
  if (input.secrets.length === 0) return fail("no_secret");
  const header = readHeader(input.headers, SIGNATURE);
  if (header.kind === "absent") return fail("missing_signature");
  const m = header.kind === "value" ? FORMAT.exec(header.value) : null;
  const mac = m === null ? undefined : decodeHex(m[1]!, 32);
  if (mac === undefined) return fail("malformed_signature");
  const expected = input.secrets.map((secret) => hmacSha256(secret, input.body));
  if (matchAny(expected, [mac]) < 0) return fail("bad_signature");
  return pass({ signature: `sha256=${mac.toString("hex")}` });
}

function handshake(input: HandshakeInput): HandshakeResult {
  if (input.method !== "GET" || input.query.get("hub.mode") !== "subscribe") return undefined;
  // Settings that never passed the schema are a broken invariant, not a request's fault.
  const { verify_token: expected } = metaSettings.parse(input.settings);
  const given = input.query.getAll("hub.verify_token");
  if (given.length !== 1 || !matchesAnyToken(given[0]!, [expected])) return { refused: "wrong_verify_token" };
  const challenges = input.query.getAll("hub.challenge");
  // Meta's challenges are integers; nothing else is reflected.
  const challenge = challenges.length === 1 ? challengeText(challenges[0], { max: 64 }) : undefined;
  if (challenge === undefined || !/^[0-9]+$/.test(challenge)) return { refused: "malformed_challenge" };
  return { answer: plainTextAnswer(challenge) };
}

function describe(input: DescribeInput): EventFacts {
  const object = typePart(pick(input.json, "object"));
  const entry = pick(input.json, "entry");
  const first = Array.isArray(entry) ? (entry[0] as unknown) : undefined;
  const changes = pick(first, "changes");
  const field = typePart(pick(Array.isArray(changes) ? (changes[0] as unknown) : undefined, "field"));
  let type = "com.meta.event";
  if (object !== undefined) type = field === undefined ? `com.meta.${object}` : `com.meta.${object}.${field}`;
  const facts: EventFacts = { type };
  const subject = plainText(pick(first, "id"));
  if (subject !== undefined) facts.subject = subject;
  return facts;
}

function sign(input: SignInput): Record<string, string> {
  return { [SIGNATURE]: `sha256=${hmacSha256(input.secret, input.body).toString("hex")}` };
}

export const meta: SignatureScheme = {
  name: "meta",
  provider: {
    title: "Meta (Facebook, Instagram, WhatsApp)",
    docs: "https://developers.facebook.com/docs/graph-api/webhooks/getting-started",
    sample: {
      contentType: "application/json",
      body: '{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}',
    },
  },
  settings: metaSettings,
  handshake,
  verify,
  describe,
  sign,
  // Meta generates the app secret (App settings > Basic); this one is only for tests and test sends.
  generateSecret: () => randomBytes(16).toString("hex"),
};
