/**
 * Answering a provider's endpoint check (Slack url_verification, Meta
 * hub.challenge, Zoom endpoint.url_validation, Twitch
 * webhook_callback_verification). The challenge is the provider's text
 * reflected back to whoever asked, so it is guarded as any reflected input: a
 * length cap, a narrow alphabet (the characters of base64, base64url and
 * URL-safe tokens), and answers marked `nosniff` so no browser reads one as
 * HTML or script. Tokens are compared in constant time.
 */
import { timingSafeEqualString } from "../../crypto/index.ts";
import type { HandshakeAnswer } from "./scheme.ts";

/** Longest challenge reflected; the providers' own are a few dozen characters. */
export const MAX_CHALLENGE = 1024;
/** Largest body looked at as a possible handshake: the providers' checks are a few hundred bytes. */
export const MAX_HANDSHAKE_BODY = 16 * 1024;

// Letters, digits and the punctuation of base64, base64url and URL-safe tokens: what the providers'
// challenges are made of, and nothing markup or a header could be built from.
const TOKEN = /^[A-Za-z0-9._~+/=:-]+$/;

/** The challenge as it may be reflected (token characters, at most `max`), or undefined. */
export function challengeText(value: unknown, opts: { max?: number } = {}): string | undefined {
  if (typeof value !== "string" || value.length === 0 || value.length > (opts.max ?? MAX_CHALLENGE)) {
    return undefined;
  }
  return TOKEN.test(value) ? value : undefined;
}

/** 200 with the challenge as the whole body, as text the browser may not sniff into anything else. */
export function plainTextAnswer(text: string): HandshakeAnswer {
  return {
    status: 200,
    headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" },
    body: text,
  };
}

/** 200 with a JSON document. */
export function jsonAnswer(value: Record<string, string>): HandshakeAnswer {
  return {
    status: 200,
    headers: { "content-type": "application/json", "x-content-type-options": "nosniff" },
    body: JSON.stringify(value),
  };
}

/** Whether `given` equals one of `expected`: every one compared, neither content nor length shown in timing. */
export function matchesAnyToken(given: string, expected: readonly string[]): boolean {
  let hit = false;
  for (const e of expected) {
    const equal = timingSafeEqualString(e, given);
    hit = hit || equal;
  }
  return hit;
}
