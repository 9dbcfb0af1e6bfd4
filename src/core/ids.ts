/**
 * Public identifiers: a type prefix and 128+ bits from the CSPRNG, never
 * derived from content (ARCHITECTURE.md section 6). Encoded in base62 so they
 * are URL- and copy-safe.
 */
import { randomBytes } from "node:crypto";

export const ID_PREFIXES = {
  tenant: "tnt",
  project: "prj",
  user: "usr",
  apiKey: "key",
  session: "ses",
  source: "src",
  destination: "dst",
  subscription: "sub",
  event: "evt",
  delivery: "dlv",
  replayJob: "rpl",
  audit: "aud",
  correlation: "corr",
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** Base62 of `bytes` random bytes, by rejection sampling so every symbol is uniform. */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    const buf = randomBytes(length * 2);
    for (const b of buf) {
      // 248 = 62 * 4: values at or above it would bias the first symbols.
      if (b < 248) out += ALPHABET[b % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** 22 base62 symbols carry 130.9 bits. */
export const ID_RANDOM_LENGTH = 22;

export function newId(kind: IdKind): string {
  return `${ID_PREFIXES[kind]}_${randomBase62(ID_RANDOM_LENGTH)}`;
}

const ID_PATTERN = /^[a-z]{3,4}_[0-9A-Za-z]{22}$/;

export function isId(kind: IdKind, value: unknown): value is string {
  return typeof value === "string" && ID_PATTERN.test(value) && value.startsWith(`${ID_PREFIXES[kind]}_`);
}
