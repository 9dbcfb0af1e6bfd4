/**
 * zenmesh-native senders: customers signing their own requests to a source.
 * This scheme is zenmesh's own; this header is its specification.
 *
 *   X-Zen-Signature: t=<unix seconds>,n=<nonce>,v1=<base64url MAC>[,v1=<base64url MAC>…]
 *   X-Zen-Event-Type: the event's type, used as the CloudEvents type as is (optional)
 *
 *   nonce:  22–64 base64url characters (at least 128 random bits), fresh per request
 *   MAC:    HMAC-SHA256(key = the source secret as UTF-8,
 *                       "zenmesh-v1." + t + "." + n + "." + hex(SHA-256(raw body)))
 *           32 bytes, unpadded base64url (43 characters)
 *   secret: "zmsec_" + base64url(32 random bytes)
 *
 * Several v1 entries may be sent while the sender rolls its secret; any one
 * may match. Other `v<n>` entries are skipped, for future versions; any other
 * key, a repeated t or n, or a malformed value refuses the header.
 *
 * Guards against forgery, tampering with body, timestamp or nonce (every
 * candidate compared in constant time with every secret), replay outside
 * ±tolerance (stale / future) and, inside it, replay by the ingester's dedupe
 * on the nonce, which is the delivery id. The "zenmesh-v1." label keeps a MAC
 * made for another HMAC scheme under the same secret from verifying here.
 * Method and path are not signed (the scheme interface does not see them):
 * a source has one URL, so they add nothing an attacker could change.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { hmacSha256, sha256 } from "../../crypto/index.ts";
import type { EventFacts, VerifyInput, VerifyResult } from "../types.ts";
import {
  assertTolerance,
  checkWindow,
  decodeBase64Url,
  fail,
  MAX_CANDIDATES,
  matchAny,
  parseKeyValueList,
  parseUnixSeconds,
  pass,
  plainHeader,
  readHeader,
  typePart,
} from "./common.ts";
import type { DescribeInput, RequestHeaders, SignatureScheme, SignInput } from "./scheme.ts";

export const ZEN_SIGNATURE = "x-zen-signature";
export const ZEN_EVENT_TYPE = "x-zen-event-type";
const NONCE = /^[A-Za-z0-9_-]{22,64}$/;
const OTHER_VERSION = /^v[0-9]{1,3}$/;

type Parsed =
  | { kind: "ok"; t: string; timestamp: number; nonce: string; v1: Buffer[] }
  | { kind: "missing_timestamp" };

function parseHeader(header: string): Parsed | undefined {
  const items = parseKeyValueList(header, MAX_CANDIDATES * 2);
  if (items === undefined) return undefined;
  let t: string | undefined;
  let nonce: string | undefined;
  const v1: Buffer[] = [];
  for (const [key, value] of items) {
    if (key === "t") {
      if (t !== undefined) return undefined;
      t = value;
    } else if (key === "n") {
      if (nonce !== undefined || !NONCE.test(value)) return undefined;
      nonce = value;
    } else if (key === "v1") {
      const mac = decodeBase64Url(value, 32);
      if (mac === undefined) return undefined;
      v1.push(mac);
    } else if (!OTHER_VERSION.test(key)) {
      return undefined;
    }
  }
  if (nonce === undefined || v1.length === 0 || v1.length > MAX_CANDIDATES) return undefined;
  if (t === undefined) return { kind: "missing_timestamp" };
  const timestamp = parseUnixSeconds(t);
  return timestamp === undefined ? undefined : { kind: "ok", t, timestamp, nonce, v1 };
}

function signedContent(t: string, nonce: string, body: Buffer): string {
  return `zenmesh-v1.${t}.${nonce}.${sha256(body).toString("hex")}`;
}

function verify(input: VerifyInput): VerifyResult {
  assertTolerance(input.toleranceSeconds);
  if (input.secrets.length === 0) return fail("no_secret");
  const header = readHeader(input.headers, ZEN_SIGNATURE);
  if (header.kind === "absent") return fail("missing_signature");
  const parsed = header.kind === "value" ? parseHeader(header.value) : undefined;
  if (parsed === undefined) return fail("malformed_signature");
  if (parsed.kind === "missing_timestamp") return fail("missing_timestamp");
  const content = signedContent(parsed.t, parsed.nonce, input.body);
  const expected = input.secrets.map((secret) => hmacSha256(secret, content));
  const matched = matchAny(expected, parsed.v1);
  if (matched < 0) return fail("bad_signature");
  const window = checkWindow(parsed.timestamp, input.now, input.toleranceSeconds);
  if (window !== undefined) return fail(window);
  return pass({
    deliveryId: parsed.nonce,
    deliveryIdSigned: true,
    signature: parsed.v1[matched]!.toString("base64url"),
    timestamp: new Date(parsed.timestamp * 1000),
  });
}

function parsedOf(headers: RequestHeaders): Parsed | undefined {
  const header = readHeader(headers, ZEN_SIGNATURE);
  return header.kind === "value" ? parseHeader(header.value) : undefined;
}

function describe(input: DescribeInput): EventFacts {
  const type = typePart(plainHeader(input.headers, ZEN_EVENT_TYPE));
  const facts: EventFacts = { type: type ?? "com.zenmesh.event" };
  const parsed = parsedOf(input.headers);
  if (parsed?.kind === "ok") {
    facts.deliveryId = parsed.nonce;
    facts.time = new Date(parsed.timestamp * 1000);
  }
  return facts;
}

function sign(input: SignInput): Record<string, string> {
  const t = String(Math.floor(input.now.getTime() / 1000));
  const nonce = input.id ?? randomBytes(16).toString("base64url");
  if (!NONCE.test(nonce)) throw new Error("zenmesh: a nonce is 22–64 base64url characters");
  const mac = hmacSha256(input.secret, signedContent(t, nonce, input.body));
  return { [ZEN_SIGNATURE]: `t=${t},n=${nonce},v1=${mac.toString("base64url")}` };
}

export const zenmesh: SignatureScheme = {
  name: "zenmesh",
  provider: {
    title: "zenmesh",
    docs: "docs/providers/zenmesh.md",
    sample: {
      contentType: "application/json",
      body: '{"event":"test","data":{"message":"a test webhook from zenmesh"}}',
      headers: { "x-zen-event-type": "com.example.test" },
    },
  },
  settings: z.strictObject({}).prefault({}),
  verify,
  describe,
  sign,
  generateSecret: () => `zmsec_${randomBytes(32).toString("base64url")}`,
};
