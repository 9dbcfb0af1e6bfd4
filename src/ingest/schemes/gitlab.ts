/**
 * GitLab, following "Webhooks" (https://docs.gitlab.com/user/project/integrations/webhooks/),
 * in two modes chosen by the secret and the request:
 *
 * - Signing token (`whsec_…`, newer GitLab): Standard Webhooks signing
 *   (webhook-id / webhook-timestamp / webhook-signature), verified by
 *   standard-webhooks.ts. Binds body, id and timestamp.
 * - Secret token (any other secret): `X-Gitlab-Token` carries the token
 *   itself, compared in constant time with every token secret. It binds
 *   nothing: whoever saw one request can send any body until the token is
 *   rotated. Prefer signing tokens.
 *
 * A request with webhook-signature is verified only by the signing path when
 * the source holds a signing token, so a request stripped of its signature
 * cannot fall back to the weaker token. Signing tokens are never accepted as
 * plain tokens, nor plain tokens as signing keys.
 *
 * The token is never returned. The delivery id is the signed webhook-id when
 * GitLab signs, else X-Gitlab-Event-UUID. The replay key for a token delivery is
 * hex(HMAC-SHA256(token, body)): the token's hash alone would be the same for
 * every delivery and make each one after the first look like a replay.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { z } from "zod";
import { hmacSha256, timingSafeEqualString } from "../../crypto/index.ts";
import type { EventFacts, VerifyInput, VerifyResult } from "../types.ts";
import { fail, pass, pick, plainHeader, plainText, readHeader, textHeader, typePart } from "./common.ts";
import type { DescribeInput, SignatureScheme, SignInput } from "./scheme.ts";
import {
  signStandardWebhooks,
  verifyStandardWebhooks,
  WEBHOOK_ID,
  WEBHOOK_SIGNATURE,
} from "./standard-webhooks.ts";

const TOKEN = "x-gitlab-token";
const EVENT = "x-gitlab-event";
const EVENT_UUID = "x-gitlab-event-uuid";
const SIGNING_PREFIX = "whsec_";
const MAX_TOKEN = 1024;

const isSigningToken = (secret: string) => secret.startsWith(SIGNING_PREFIX);

/** The signed webhook-id when GitLab signs, else the (unsigned) event UUID. */
function deliveryIdOf(input: { headers: VerifyInput["headers"] }): string | undefined {
  return plainHeader(input.headers, WEBHOOK_ID) ?? plainHeader(input.headers, EVENT_UUID);
}

function verifyToken(input: VerifyInput, tokens: readonly string[]): VerifyResult {
  const header = readHeader(input.headers, TOKEN, MAX_TOKEN);
  if (header.kind !== "value") return fail("malformed_signature");
  let matched: string | undefined;
  for (const token of tokens) {
    const equal = timingSafeEqualString(header.value, token);
    if (equal && matched === undefined) matched = token;
  }
  if (matched === undefined) return fail("bad_signature");
  const value: { signature: string; deliveryId?: string } = {
    signature: hmacSha256(matched, input.body).toString("hex"),
  };
  const deliveryId = deliveryIdOf(input);
  if (deliveryId !== undefined) value.deliveryId = deliveryId;
  return pass(value);
}

function verify(input: VerifyInput): VerifyResult {
  if (input.secrets.length === 0) return fail("no_secret");
  const signing = input.secrets.filter(isSigningToken);
  const tokens = input.secrets.filter((s) => !isSigningToken(s));
  const signed = readHeader(input.headers, WEBHOOK_SIGNATURE).kind !== "absent";
  const token = readHeader(input.headers, TOKEN, MAX_TOKEN).kind !== "absent";
  if (signed && signing.length > 0) {
    return verifyStandardWebhooks({ ...input, secrets: signing });
  }
  if (token && tokens.length > 0) return verifyToken(input, tokens);
  // Something was sent, but nothing this source holds can check it.
  if (signed || token) return fail("bad_signature");
  return fail("missing_signature");
}

function describe(input: DescribeInput): EventFacts {
  const event = typePart(textHeader(input.headers, EVENT)?.toLowerCase().replaceAll(" ", "_"));
  const facts: EventFacts = { type: event === undefined ? "com.gitlab.event" : `com.gitlab.${event}` };
  const subject = plainText(pick(input.json, "project", "path_with_namespace"));
  if (subject !== undefined) facts.subject = subject;
  const deliveryId = deliveryIdOf(input);
  if (deliveryId !== undefined) facts.deliveryId = deliveryId;
  return facts;
}

function sign(input: SignInput): Record<string, string> {
  const id = input.id ?? randomUUID();
  if (isSigningToken(input.secret)) {
    return { ...signStandardWebhooks({ ...input, id }), [EVENT_UUID]: id, "idempotency-key": id };
  }
  return { [TOKEN]: input.secret, [EVENT_UUID]: id };
}

export const gitlab: SignatureScheme = {
  name: "gitlab",
  provider: {
    title: "GitLab",
    docs: "https://docs.gitlab.com/user/project/integrations/webhooks/",
    sample: {
      contentType: "application/json",
      body: '{"object_kind":"push","event_name":"push","before":"95790bf891e76fee5e1747ab589903a6a1f80f22","after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","ref":"refs/heads/main","user_username":"jsmith","project_id":15,"project":{"id":15,"path_with_namespace":"mike/diaspora"},"total_commits_count":0}',
      headers: { "x-gitlab-event": "Push Hook" },
    },
  },
  settings: z.strictObject({}).prefault({}),
  verify,
  describe,
  sign,
  /** A secret token; GitLab generates signing tokens itself. */
  generateSecret: () => randomBytes(32).toString("base64url"),
};
