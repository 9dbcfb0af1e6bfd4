/**
 * Microsoft Graph change notifications, following "Receive change
 * notifications through webhooks"
 * (https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks).
 *
 * Graph signs nothing. The subscription's `clientState` (at most 128
 * characters, chosen by whoever creates the subscription) is copied into
 * every item of the notification body:
 *
 *   {"value": [{"subscriptionId", "clientState", "changeType", "resource", "tenantId", …}, …]}
 *
 * The source's secret is that clientState. Every item of `value` must carry
 * one of the source's live secrets (compared in constant time, every secret
 * tried for every item); one item without it, or with another, refuses the
 * whole request, so a forged item cannot ride in a genuine batch. Like Basic
 * auth, this authenticates the sender and binds nothing else: whoever saw one
 * notification can send any body with the same clientState, and no time is
 * signed. Lifecycle notifications (`lifecycleEvent`) carry clientState too
 * and are checked alike. Rich notifications' `validationTokens` (JWTs) are
 * not checked: the clientState is what the source holds. The replay key is
 * hex(HMAC-SHA256(secret, body)): the clientState alone is the same for
 * every delivery.
 *
 * Handshake: when a subscription is created or renewed, Graph POSTs to the
 * URL with `?validationToken=<opaque token>` and an empty body, and expects
 * 200, `text/plain`, the decoded token as the body within 10 seconds. The
 * check carries no secret, so answering it proves only that the source
 * exists and answers; nothing about who asked. The token is reflected, so it
 * is capped (1024 characters), held to letters, digits, spaces and token
 * punctuation (Graph's read "Validation: Testing client application
 * reachability for subscription Request-Id: …"), answered `nosniff`, and
 * never stored.
 *
 * Event type: com.microsoft.graph.<changeType of the first item>
 * (com.microsoft.graph.created), or com.microsoft.graph.lifecycle.<event>;
 * subject the first item's resource (its subscription id for a lifecycle
 * notification). Graph sends no delivery id: a retry is the first event by
 * its fingerprint.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { hmacSha256, timingSafeEqualString } from "../../crypto/index.ts";
import { fail, isRecord, jsonObject, pass, pick, plainText, typePart } from "../schemes/common.ts";
import { MAX_CHALLENGE, plainTextAnswer } from "../schemes/handshake.ts";
import type {
  DescribeInput,
  HandshakeInput,
  HandshakeResult,
  SignatureScheme,
  SignInput,
} from "../schemes/scheme.ts";
import type { EventFacts, VerifyInput, VerifyResult } from "../types.ts";

/** Graph refuses a subscription whose clientState is longer. */
export const MAX_CLIENT_STATE = 128;
/** More items than Graph batches into one POST: a larger `value` is not Graph's. */
const MAX_ITEMS = 1000;
const TOKEN = /^[A-Za-z0-9 ._~+/=:-]+$/;

/** The items of a notification body, or undefined when it is not `{"value": [object, …]}`. */
function itemsOf(body: Buffer): Record<string, unknown>[] | undefined {
  const value = pick(jsonObject(body), "value");
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_ITEMS) return undefined;
  return value.every(isRecord) ? (value as Record<string, unknown>[]) : undefined;
}

/** The index of the live secret equal to `given`: every secret compared, the timing shows none of them. */
function matching(given: string, secrets: readonly string[]): number {
  let index = -1;
  for (const [i, s] of secrets.entries()) {
    const equal = timingSafeEqualString(s, given);
    if (equal && index < 0) index = i;
  }
  return index;
}

function verify(input: VerifyInput): VerifyResult {
  if (input.secrets.length === 0) return fail("no_secret");
  const items = itemsOf(input.body);
  if (items === undefined) return fail("malformed_signature");
  const states = items.map((item) => pick(item, "clientState"));
  if (states.some((s) => s === undefined || s === null || s === "")) return fail("missing_signature");
  if (states.some((s) => typeof s !== "string" || s.length > MAX_CLIENT_STATE)) {
    return fail("malformed_signature");
  }
  // Every item is compared, even after a mismatch: how far a batch got must not show in the timing.
  const matched = (states as string[]).map((s) => matching(s, input.secrets));
  if (matched.some((i) => i < 0)) return fail("bad_signature");
  return pass({ signature: hmacSha256(input.secrets[matched[0]!]!, input.body).toString("hex") });
}

/** The validation token as it may be reflected, or undefined. */
function validationText(value: string | undefined): string | undefined {
  if (value === undefined || value.length === 0 || value.length > MAX_CHALLENGE) return undefined;
  return TOKEN.test(value) ? value : undefined;
}

function handshake(input: HandshakeInput): HandshakeResult {
  if (input.method !== "POST" || !input.query.has("validationToken")) return undefined;
  const tokens = input.query.getAll("validationToken");
  // Graph's check has exactly one token and no body; a notification never carries the parameter.
  const token = tokens.length === 1 && input.body.length === 0 ? validationText(tokens[0]) : undefined;
  if (token === undefined) return { refused: "malformed_challenge" };
  return { answer: plainTextAnswer(token) };
}

function describe(input: DescribeInput): EventFacts {
  const value = pick(input.json, "value");
  const first: unknown = Array.isArray(value) ? value[0] : undefined;
  const lifecycle = typePart(pick(first, "lifecycleEvent"));
  const change = typePart(pick(first, "changeType"));
  let type = "com.microsoft.graph.notification";
  if (lifecycle !== undefined) type = `com.microsoft.graph.lifecycle.${lifecycle}`;
  else if (change !== undefined) type = `com.microsoft.graph.${change}`;
  const facts: EventFacts = { type };
  const subject = plainText(pick(first, "resource")) ?? plainText(pick(first, "subscriptionId"));
  if (subject !== undefined) facts.subject = subject;
  return facts;
}

/** The body Graph would send: every item's clientState set to the secret. */
function signBody(input: SignInput): Buffer {
  const json = jsonObject(input.body);
  const value = pick(json, "value");
  if (json === undefined || !Array.isArray(value) || !value.every(isRecord)) {
    throw new Error("not a Microsoft Graph notification body");
  }
  const items = value.map((item) => ({ ...item, clientState: input.secret }));
  return Buffer.from(JSON.stringify({ ...json, value: items }), "utf8");
}

const SAMPLE = JSON.stringify({
  value: [
    {
      id: "lsgTZMr9KwAAA",
      subscriptionId: "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
      subscriptionExpirationDateTime: "2026-03-03T11:00:00.0000000Z",
      clientState: "secretClientValue",
      changeType: "created",
      resource: "users/1a2b3c4d-0000-4000-8000-000000000001/messages/AAMkAGUAAAwTW09AAA=",
      tenantId: "84bd8158-6d4d-4958-8b9f-9d6445542f95",
      resourceData: {
        "@odata.type": "#Microsoft.Graph.Message",
        "@odata.id": "Users/1a2b3c4d-0000-4000-8000-000000000001/Messages/AAMkAGUAAAwTW09AAA=",
        "@odata.etag": 'W/"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf"',
        id: "AAMkAGUAAAwTW09AAA=",
      },
    },
  ],
});

export const microsoftGraph: SignatureScheme = {
  name: "microsoft-graph",
  provider: {
    title: "Microsoft Graph",
    docs: "https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks",
    sample: { contentType: "application/json", body: SAMPLE },
  },
  settings: z.strictObject({}).prefault({}),
  handshake,
  verify,
  describe,
  signBody,
  // The proof is in the body: there is no header to send.
  sign: () => ({}),
  // The customer chooses clientState when creating the subscription; this one fits Graph's 128 characters.
  generateSecret: () => randomBytes(32).toString("base64url"),
};
