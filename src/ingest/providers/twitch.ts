/**
 * Twitch EventSub over webhooks, following "Handling webhook events"
 * (https://dev.twitch.tv/docs/eventsub/handling-webhook-events/).
 *
 *   Twitch-Eventsub-Message-Id:        a per-message id, the same when Twitch resends it
 *   Twitch-Eventsub-Message-Timestamp: RFC 3339 with up to nine fraction digits
 *   Twitch-Eventsub-Message-Signature: sha256=<hex HMAC-SHA256(secret, id + timestamp + raw body)>
 *   Twitch-Eventsub-Message-Type:      notification | webhook_callback_verification | revocation
 *
 * Guards against forgery and tampering with body, id or timestamp
 * (constant-time, every secret tried) and replay outside ±tolerance (Twitch
 * asks for at most 10 minutes). The message id is signed: it is the
 * idempotency key, so a resent message is the first event.
 *
 * Handshake: `webhook_callback_verification`, signed like any message, is
 * answered 200 with the raw `challenge` as text/plain (Twitch's requirement)
 * once its signature verifies, and never stored.
 *
 * Event type: notifications com.twitch.<subscription.type>
 * (com.twitch.channel.follow), revocations com.twitch.revocation (they are
 * stored: a subscription Twitch ended is worth knowing); subject the
 * subscription's type for revocations, the broadcaster for notifications.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { hmacSha256 } from "../../crypto/index.ts";
import {
  assertTolerance,
  checkWindow,
  decodeHex,
  fail,
  idText,
  isoTime,
  jsonObject,
  MAX_PLAIN_HEADER,
  matchAny,
  pass,
  pick,
  plainHeader,
  plainText,
  readHeader,
  typePart,
} from "../schemes/common.ts";
import { challengeText, plainTextAnswer } from "../schemes/handshake.ts";
import type {
  DescribeInput,
  HandshakeInput,
  HandshakeResult,
  SignatureScheme,
  SignInput,
} from "../schemes/scheme.ts";
import type { EventFacts, VerifyInput, VerifyResult } from "../types.ts";

const ID = "twitch-eventsub-message-id";
const TIMESTAMP = "twitch-eventsub-message-timestamp";
const SIGNATURE = "twitch-eventsub-message-signature";
const TYPE = "twitch-eventsub-message-type";
const FORMAT = /^sha256=([0-9a-fA-F]{64})$/;
// RFC 3339 in UTC as Twitch sends it: `2023-11-14T22:13:20.123456789Z`.
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

const signedContent = (id: string, timestamp: string, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from(id + timestamp, "utf8"), body]);

/** Whole seconds of an RFC 3339 UTC timestamp (fraction dropped), or undefined. */
function seconds(text: string): number | undefined {
  if (!RFC3339_UTC.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}

function verify(input: VerifyInput): VerifyResult {
  assertTolerance(input.toleranceSeconds);
  if (input.secrets.length === 0) return fail("no_secret");
  const header = readHeader(input.headers, SIGNATURE);
  if (header.kind === "absent") return fail("missing_signature");
  const ts = readHeader(input.headers, TIMESTAMP, MAX_PLAIN_HEADER);
  if (ts.kind === "absent") return fail("missing_timestamp");
  const id = readHeader(input.headers, ID, MAX_PLAIN_HEADER);
  const m = header.kind === "value" ? FORMAT.exec(header.value) : null;
  const mac = m === null ? undefined : decodeHex(m[1]!, 32);
  if (mac === undefined || ts.kind !== "value") return fail("malformed_signature");
  // The id is signed: without one (or with one that is not plain text) nothing can be checked.
  const messageId = id.kind === "value" ? idText(id.value) : undefined;
  if (messageId === undefined) return fail("malformed_signature");
  const timestamp = seconds(ts.value);
  if (timestamp === undefined) return fail("malformed_signature");
  const content = signedContent(messageId, ts.value, input.body);
  if (
    matchAny(
      input.secrets.map((s) => hmacSha256(s, content)),
      [mac],
    ) < 0
  )
    return fail("bad_signature");
  const window = checkWindow(timestamp, input.now, input.toleranceSeconds);
  if (window !== undefined) return fail(window);
  return pass({
    signature: `sha256=${mac.toString("hex")}`,
    timestamp: new Date(timestamp * 1000),
    deliveryId: messageId,
    deliveryIdSigned: true,
  });
}

function handshake(input: HandshakeInput): HandshakeResult {
  if (input.method !== "POST" || plainHeader(input.headers, TYPE) !== "webhook_callback_verification") {
    return undefined;
  }
  const r = verify(input);
  if (!r.ok) return { refused: r.reason };
  const challenge = challengeText(pick(jsonObject(input.body), "challenge"), { max: 256 });
  if (challenge === undefined) return { refused: "malformed_challenge" };
  return { answer: plainTextAnswer(challenge) };
}

function describe(input: DescribeInput): EventFacts {
  const kind = plainHeader(input.headers, TYPE);
  const subscription = typePart(pick(input.json, "subscription", "type"));
  let facts: EventFacts;
  if (kind === "revocation") {
    facts = { type: "com.twitch.revocation" };
    if (subscription !== undefined) facts.subject = subscription;
  } else {
    facts = { type: subscription === undefined ? "com.twitch.notification" : `com.twitch.${subscription}` };
    const broadcaster = plainText(pick(input.json, "event", "broadcaster_user_id"));
    if (broadcaster !== undefined) facts.subject = broadcaster;
  }
  const id = plainHeader(input.headers, ID);
  if (id !== undefined) {
    facts.deliveryId = id;
    // Twitch resends a message it got no 2xx for under the same id.
    facts.idempotencyKey = id;
  }
  const time = isoTime(readTimestamp(input));
  if (time !== undefined) facts.time = time;
  return facts;
}

function readTimestamp(input: DescribeInput): string | undefined {
  const ts = plainHeader(input.headers, TIMESTAMP);
  return ts !== undefined && RFC3339_UTC.test(ts) ? ts : undefined;
}

function sign(input: SignInput): Record<string, string> {
  const id = input.id ?? randomBytes(16).toString("hex");
  const timestamp = input.now.toISOString();
  const mac = hmacSha256(input.secret, signedContent(id, timestamp, input.body));
  return {
    [ID]: id,
    [TIMESTAMP]: timestamp,
    [SIGNATURE]: `sha256=${mac.toString("hex")}`,
    [TYPE]: "notification",
  };
}

export const twitch: SignatureScheme = {
  name: "twitch",
  provider: {
    title: "Twitch EventSub",
    docs: "https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message",
    sample: {
      contentType: "application/json",
      body: '{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"enabled","type":"channel.follow","version":"2","cost":0,"condition":{"broadcaster_user_id":"1337","moderator_user_id":"1337"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"},"event":{"user_id":"1234","user_login":"cool_user","user_name":"Cool_User","broadcaster_user_id":"1337","broadcaster_user_login":"cooler_user","broadcaster_user_name":"Cooler_User","followed_at":"2020-07-15T18:16:11.17106713Z"}}',
      headers: {
        "twitch-eventsub-subscription-type": "channel.follow",
        "twitch-eventsub-subscription-version": "2",
      },
    },
  },
  settings: z.strictObject({}).prefault({}),
  handshake,
  verify,
  describe,
  sign,
  // Twitch takes the secret the subscriber chooses: 10..100 ASCII characters.
  generateSecret: () => randomBytes(32).toString("hex"),
};
