/**
 * The HTTP Basic authentication engine (RFC 7617), for providers that sign
 * nothing and authenticate with credentials set in their webhook settings
 * (Postmark). The secret is `user:password` (both must match) or a bare
 * password (any user name).
 *
 * It authenticates the sender and nothing else: whoever saw one request can
 * send any body with the same header until the password is rotated, so it
 * binds neither body nor time, and sources of such providers take no
 * CloudEvents mode. The credentials are compared in constant time with every
 * live secret (via keyed digests, so length shows nothing either). The replay
 * key is hex(HMAC-SHA256(secret, body)), as for GitLab's token: the
 * credentials alone would be the same for every delivery.
 */
import { z } from "zod";
import { hasInvisibleOrControl } from "../../core/validation.ts";
import { hmacSha256, timingSafeEqualString } from "../../crypto/index.ts";
import { decodeBase64, fail, pass, readHeader } from "../schemes/common.ts";
import type { SignatureScheme } from "../schemes/scheme.ts";
import type { VerifyInput, VerifyResult } from "../types.ts";
import { describeFacts, type ProviderEntryBase, parseJson, registerEntry, withDeliveryId } from "./entry.ts";

const AUTHORIZATION = "authorization";
const BASIC = /^Basic ([A-Za-z0-9+/]+={0,2})$/i;

export interface BasicAuthEntry extends ProviderEntryBase {
  readonly engine: "basic-auth";
  /** Nothing is signed: a changed body passes with the same credentials. */
  readonly bindsBody: false;
  /** The user name `sign` sends with a bare-password secret. */
  readonly user: string;
}

/** `user:password` of a Basic Authorization header, or undefined when it is not one. */
export function basicCredentials(header: string): { user: string; password: string } | undefined {
  const m = BASIC.exec(header);
  const raw = m === null ? undefined : decodeBase64(m[1]!);
  if (raw === undefined) return undefined;
  const text = raw.toString("utf8");
  const colon = text.indexOf(":");
  // A user name cannot hold a colon (RFC 7617 §2); control characters and bytes that are not UTF-8 are never credentials.
  if (colon < 0 || hasInvisibleOrControl(text) || Buffer.from(text, "utf8").compare(raw) !== 0) {
    return undefined;
  }
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

function matches(secret: string, given: { user: string; password: string }): boolean {
  const colon = secret.indexOf(":");
  if (colon < 0) return timingSafeEqualString(given.password, secret);
  const user = timingSafeEqualString(given.user, secret.slice(0, colon));
  const password = timingSafeEqualString(given.password, secret.slice(colon + 1));
  return user && password;
}

export function basicAuthScheme(entry: BasicAuthEntry): SignatureScheme {
  const verify = (input: VerifyInput): VerifyResult => {
    if (input.secrets.length === 0) return fail("no_secret");
    const header = readHeader(input.headers, AUTHORIZATION);
    if (header.kind === "absent") return fail("missing_signature");
    const given = header.kind === "value" ? basicCredentials(header.value) : undefined;
    if (given === undefined) return fail("malformed_signature");
    let matched: string | undefined;
    for (const secret of input.secrets) {
      const ok = matches(secret, given);
      if (ok && matched === undefined) matched = secret;
    }
    if (matched === undefined) return fail("bad_signature");
    const value = { signature: hmacSha256(matched, input.body).toString("hex") };
    // Credentials cover no body: an id read from it is reported, never as signed.
    return pass(withDeliveryId(entry.facts, value, input, { bodySigned: false }));
  };

  const scheme: SignatureScheme = {
    name: entry.name,
    provider: { title: entry.title, docs: entry.docs, sample: entry.sample },
    settings: z.strictObject({}).prefault({}),
    verify,
    describe: (input) => describeFacts(entry.facts, input.headers, input.json ?? parseJson(input.body)),
    sign(input) {
      const credentials = input.secret.includes(":") ? input.secret : `${entry.user}:${input.secret}`;
      return { [AUTHORIZATION]: `Basic ${Buffer.from(credentials, "utf8").toString("base64")}` };
    },
    generateSecret: entry.secret.generate,
  };
  return registerEntry(scheme, entry);
}
