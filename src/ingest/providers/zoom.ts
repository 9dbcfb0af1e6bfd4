/**
 * Zoom, following "Using webhooks: verify webhook events" and "validate your
 * webhook endpoint" (https://developers.zoom.us/docs/api/webhooks/).
 *
 *   x-zm-request-timestamp: <unix seconds>
 *   x-zm-signature:         v0=<hex HMAC-SHA256(secret token, `v0:${timestamp}:${raw body}`)>
 *
 * Guards against forgery, tampering with body or timestamp (constant-time,
 * every secret tried) and replay outside ±tolerance. Zoom sends no event id:
 * a retry of the same body is the first event by its fingerprint.
 *
 * Handshake: `endpoint.url_validation` (sent when the URL is saved and again
 * every 72 hours) is signed like any event; once its signature verifies, it
 * is answered `{"plainToken", "encryptedToken": hex HMAC-SHA256(secret token,
 * plainToken)}` with the secret that verified it, and never stored. Zoom
 * waits three seconds for the answer: it is computed in place, without the
 * backend.
 *
 * Event type: com.zoom.<event> (com.zoom.meeting.started); subject the
 * payload's account id; time the body's event_ts (milliseconds).
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { hmacSha256 } from "../../crypto/index.ts";
import {
  assertTolerance,
  checkWindow,
  decodeHex,
  fail,
  jsonObject,
  MAX_PLAIN_HEADER,
  matchAny,
  parseUnixSeconds,
  pass,
  pick,
  plainText,
  readHeader,
  typePart,
} from "../schemes/common.ts";
import { challengeText, jsonAnswer } from "../schemes/handshake.ts";
import type {
  DescribeInput,
  HandshakeInput,
  HandshakeResult,
  SignatureScheme,
  SignInput,
} from "../schemes/scheme.ts";
import type { EventFacts, VerifyInput, VerifyResult } from "../types.ts";

const SIGNATURE = "x-zm-signature";
const TIMESTAMP = "x-zm-request-timestamp";
const FORMAT = /^v0=([0-9a-fA-F]{64})$/;
const VALIDATION = "endpoint.url_validation";

const signedContent = (timestamp: string, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from(`v0:${timestamp}:`, "utf8"), body]);

/** The index of the secret that verified, as the handshake answers with that one. */
function check(
  input: VerifyInput,
): { ok: true; secret: number; result: VerifyResult } | { ok: false; result: VerifyResult } {
  assertTolerance(input.toleranceSeconds);
  const no = (r: VerifyResult) => ({ ok: false as const, result: r });
  if (input.secrets.length === 0) return no(fail("no_secret"));
  const header = readHeader(input.headers, SIGNATURE);
  if (header.kind === "absent") return no(fail("missing_signature"));
  const ts = readHeader(input.headers, TIMESTAMP, MAX_PLAIN_HEADER);
  if (ts.kind === "absent") return no(fail("missing_timestamp"));
  const m = header.kind === "value" ? FORMAT.exec(header.value) : null;
  const mac = m === null ? undefined : decodeHex(m[1]!, 32);
  if (mac === undefined || ts.kind !== "value") return no(fail("malformed_signature"));
  const timestamp = parseUnixSeconds(ts.value);
  if (timestamp === undefined) return no(fail("malformed_signature"));
  const content = signedContent(ts.value, input.body);
  // One secret per comparison, all of them compared: the index is needed, the timing must not show it.
  let secret = -1;
  for (const [i, s] of input.secrets.entries()) {
    if (matchAny([hmacSha256(s, content)], [mac]) === 0 && secret < 0) secret = i;
  }
  if (secret < 0) return no(fail("bad_signature"));
  const window = checkWindow(timestamp, input.now, input.toleranceSeconds);
  if (window !== undefined) return no(fail(window));
  return {
    ok: true,
    secret,
    result: pass({ signature: `v0=${mac.toString("hex")}`, timestamp: new Date(timestamp * 1000) }),
  };
}

function verify(input: VerifyInput): VerifyResult {
  return check(input).result;
}

function handshake(input: HandshakeInput): HandshakeResult {
  if (input.method !== "POST") return undefined;
  const json = jsonObject(input.body);
  if (pick(json, "event") !== VALIDATION) return undefined;
  const r = check(input);
  if (!r.ok) return { refused: r.result.ok ? "bad_signature" : r.result.reason };
  // Zoom's plain tokens are short base64url strings.
  const plainToken = challengeText(pick(json, "payload", "plainToken"), { max: 256 });
  if (plainToken === undefined) return { refused: "malformed_challenge" };
  const encryptedToken = hmacSha256(input.secrets[r.secret]!, plainToken).toString("hex");
  return { answer: jsonAnswer({ plainToken, encryptedToken }) };
}

function describe(input: DescribeInput): EventFacts {
  const event = typePart(pick(input.json, "event"));
  const facts: EventFacts = { type: event === undefined ? "com.zoom.event" : `com.zoom.${event}` };
  const subject = plainText(pick(input.json, "payload", "account_id"));
  if (subject !== undefined) facts.subject = subject;
  const ms = pick(input.json, "event_ts");
  if (typeof ms === "number" && Number.isSafeInteger(ms) && ms >= 0) {
    const time = new Date(ms);
    if (!Number.isNaN(time.getTime())) facts.time = time;
  }
  return facts;
}

function sign(input: SignInput): Record<string, string> {
  const timestamp = String(Math.floor(input.now.getTime() / 1000));
  const mac = hmacSha256(input.secret, signedContent(timestamp, input.body));
  return { [SIGNATURE]: `v0=${mac.toString("hex")}`, [TIMESTAMP]: timestamp };
}

export const zoom: SignatureScheme = {
  name: "zoom",
  provider: {
    title: "Zoom",
    docs: "https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events",
    sample: {
      contentType: "application/json",
      body: '{"event":"meeting.started","event_ts":1700000000000,"payload":{"account_id":"AAAAAAAAAAAAAAAAAAAAAA","object":{"id":"1234567890","uuid":"4444AAAiAAAAAiAiAiiAii==","host_id":"x1yCzABCDEfg23HiJKl4mN","topic":"My Meeting","type":2,"start_time":"2023-11-14T22:13:20Z","timezone":"UTC","duration":60}}}',
    },
  },
  settings: z.strictObject({}).prefault({}),
  handshake,
  verify,
  describe,
  sign,
  // Zoom generates the secret token in its app settings; this one is only for tests and test sends.
  generateSecret: () => randomBytes(16).toString("base64url"),
};
