/** Which field names hold secrets or payloads and must never reach a log line. */

export const CENSOR = "[redacted]";

/** Keys always censored, compared lower-cased with `-` and `_` removed. */
export const SENSITIVE_KEYS = [
  "password",
  "secret",
  "token",
  "apiKey",
  "api_key",
  "authorization",
  "cookie",
  "set-cookie",
  "masterKey",
  "key",
  "raw",
  "rawKey",
  "payload",
  "body",
  "signature",
  "x-zen-signature",
  "privateKey",
] as const;

/** Compound names ending in these are censored too: `dbPassword`, `accessToken`, `webhookSecret`. */
const SENSITIVE_SUFFIXES = [
  "password",
  "passphrase",
  "secret",
  "token",
  "apikey",
  "privatekey",
  "masterkey",
  "signature",
  "cookie",
  "authorization",
  "credentials",
];

function normalize(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, "");
}

const exact = new Set(SENSITIVE_KEYS.map(normalize));

function matches(k: string): boolean {
  return exact.has(k) || SENSITIVE_SUFFIXES.some((s) => k.endsWith(s));
}

/** Case-, separator- and plural-insensitive: `Set-Cookie`, `api_keys`, `dbPassword`. */
export function isSensitiveKey(key: string): boolean {
  const k = normalize(key);
  return matches(k) || (k.endsWith("s") && matches(k.slice(0, -1)));
}
