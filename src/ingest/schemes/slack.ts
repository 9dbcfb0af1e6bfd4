/**
 * Slack, following "Verifying requests from Slack"
 * (https://api.slack.com/authentication/verifying-requests-from-slack).
 *
 *   X-Slack-Request-Timestamp: <unix seconds>
 *   X-Slack-Signature:         v0=<hex HMAC-SHA256(signing secret, `v0:${timestamp}:${raw body}`)>
 *
 * Guards against forgery, tampering with body or timestamp (constant-time,
 * every secret tried) and replay outside ±tolerance (older: stale, newer:
 * future). Inside the window the ingester dedupes on the Events API event_id
 * and the signature.
 *
 * Event type: Events API callbacks use the inner `event.type`
 * (com.slack.app_mention), other JSON bodies their `type`
 * (com.slack.url_verification); form-encoded interactivity payloads their
 * payload's `type` (com.slack.block_actions); slash commands com.slack.command.
 *
 * Handshake: Slack will not save an Events API request URL until it answers
 * the signed `url_verification` request with its `challenge`
 * (https://api.slack.com/events/url_verification). The signature is verified
 * first, exactly as for an event; the challenge is answered as
 * `{"challenge": …}` and never stored.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { hmacSha256 } from "../../crypto/index.ts";
import type { EventFacts, VerifyInput, VerifyResult } from "../types.ts";
import {
  assertTolerance,
  checkWindow,
  decodeHex,
  fail,
  idText,
  isRecord,
  jsonObject,
  MAX_PLAIN_HEADER,
  matchAny,
  parseUnixSeconds,
  pass,
  pick,
  plainText,
  readHeader,
  typePart,
  unixTime,
} from "./common.ts";
import { challengeText, jsonAnswer } from "./handshake.ts";
import type { DescribeInput, HandshakeInput, HandshakeResult, SignatureScheme, SignInput } from "./scheme.ts";

const SIGNATURE = "x-slack-signature";
const TIMESTAMP = "x-slack-request-timestamp";
const FORMAT = /^v0=([0-9a-fA-F]{64})$/;

function signedContent(timestamp: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`v0:${timestamp}:`, "utf8"), body]);
}

function verify(input: VerifyInput): VerifyResult {
  assertTolerance(input.toleranceSeconds);
  if (input.secrets.length === 0) return fail("no_secret");
  const header = readHeader(input.headers, SIGNATURE);
  if (header.kind === "absent") return fail("missing_signature");
  const ts = readHeader(input.headers, TIMESTAMP, MAX_PLAIN_HEADER);
  if (ts.kind === "absent") return fail("missing_timestamp");
  const m = header.kind === "value" ? FORMAT.exec(header.value) : null;
  const mac = m === null ? undefined : decodeHex(m[1]!, 32);
  if (mac === undefined || ts.kind !== "value") return fail("malformed_signature");
  const timestamp = parseUnixSeconds(ts.value);
  if (timestamp === undefined) return fail("malformed_signature");
  const content = signedContent(ts.value, input.body);
  const expected = input.secrets.map((secret) => hmacSha256(secret, content));
  if (matchAny(expected, [mac]) < 0) return fail("bad_signature");
  const window = checkWindow(timestamp, input.now, input.toleranceSeconds);
  if (window !== undefined) return fail(window);
  const value: { signature: string; timestamp: Date; deliveryId?: string; deliveryIdSigned?: true } = {
    signature: `v0=${mac.toString("hex")}`,
    timestamp: new Date(timestamp * 1000),
  };
  // The event id is read from the signed body.
  const deliveryId = idText(pick(jsonObject(input.body), "event_id"));
  if (deliveryId !== undefined) {
    value.deliveryId = deliveryId;
    value.deliveryIdSigned = true;
  }
  return pass(value);
}

function handshake(input: HandshakeInput): HandshakeResult {
  if (input.method !== "POST") return undefined;
  const json = jsonObject(input.body);
  if (pick(json, "type") !== "url_verification") return undefined;
  const r = verify(input);
  if (!r.ok) return { refused: r.reason };
  // Slack's challenges are short random letters and digits; anything else is not reflected.
  const challenge = challengeText(pick(json, "challenge"), { max: 256 });
  if (challenge === undefined) return { refused: "malformed_challenge" };
  return { answer: jsonAnswer({ challenge }) };
}

function formBody(body: Buffer): URLSearchParams | undefined {
  try {
    return new URLSearchParams(body.toString("utf8"));
  } catch {
    return undefined;
  }
}

function describe(input: DescribeInput): EventFacts {
  const form = isRecord(input.json) ? undefined : formBody(input.body);
  const payload = form?.get("payload") ?? null;
  let json: unknown = input.json;
  if (form !== undefined) json = payload === null ? undefined : jsonObject(Buffer.from(payload, "utf8"));
  const command = json === undefined && form?.has("command") === true;
  const type = command
    ? "command"
    : (typePart(pick(json, "event", "type")) ?? typePart(pick(json, "type")) ?? "event");
  const facts: EventFacts = { type: `com.slack.${type}` };
  const team =
    plainText(pick(json, "team_id")) ??
    plainText(pick(json, "team", "id")) ??
    plainText(form?.get("team_id") ?? undefined);
  if (team !== undefined) facts.subject = team;
  const deliveryId = idText(pick(json, "event_id"));
  // Slack retries (X-Slack-Retry-Num) resend the same event_id with a fresh timestamp and signature.
  if (deliveryId !== undefined) {
    facts.deliveryId = deliveryId;
    facts.idempotencyKey = deliveryId;
  }
  const time = unixTime(pick(json, "event_time"));
  if (time !== undefined) facts.time = time;
  return facts;
}

function sign(input: SignInput): Record<string, string> {
  const timestamp = String(Math.floor(input.now.getTime() / 1000));
  const mac = hmacSha256(input.secret, signedContent(timestamp, input.body));
  return { [SIGNATURE]: `v0=${mac.toString("hex")}`, [TIMESTAMP]: timestamp };
}

export const slack: SignatureScheme = {
  name: "slack",
  provider: {
    title: "Slack",
    docs: "https://api.slack.com/authentication/verifying-requests-from-slack",
    sample: {
      contentType: "application/json",
      body: '{"token":"unused","team_id":"T0001","api_app_id":"A0001","event":{"type":"app_mention","user":"U0001","text":"<@U0002> hello","ts":"1700000000.000100","channel":"C0001"},"type":"event_callback","event_id":"Ev0001TEST","event_time":1700000000}',
    },
  },
  settings: z.strictObject({}).prefault({}),
  // The Events API posts JSON; slash commands and interactivity post forms (signed the same way).
  contentTypes: ["application/json", "application/x-www-form-urlencoded"],
  handshake,
  verify,
  describe,
  sign,
  generateSecret: () => randomBytes(16).toString("hex"),
};
