/**
 * API key format: `zm_<env>_<lookup:16><secret:32>`, both base62 from the CSPRNG
 * (~95 + ~190 bits). The lookup routes a presented key to its tenant; only a
 * salted SHA-256 of the whole key is stored, so a database leak yields no
 * usable key. The raw key exists once, in the create response.
 */
import { randomBytes } from "node:crypto";
import { randomBase62 } from "../../core/index.ts";
import { sha256, timingSafeEqualBytes } from "../../crypto/index.ts";

export const LOOKUP_LENGTH = 16;
export const SECRET_LENGTH = 32;
const PATTERN = /^zm_(live|test)_([0-9A-Za-z]{16})([0-9A-Za-z]{32})$/;

export interface ParsedKey {
  environment: "live" | "test";
  lookup: string;
  raw: string;
}

export function generateApiKey(environment: "live" | "test"): ParsedKey {
  const lookup = randomBase62(LOOKUP_LENGTH);
  const raw = `zm_${environment}_${lookup}${randomBase62(SECRET_LENGTH)}`;
  return { environment, lookup, raw };
}

export function parseApiKey(raw: string): ParsedKey | undefined {
  const m = PATTERN.exec(raw);
  if (!m) return undefined;
  return { environment: m[1] as "live" | "test", lookup: m[2]!, raw };
}

/** What a listing may show: enough to recognise a key, never enough to use it. */
export function maskedPrefix(key: ParsedKey): string {
  return `zm_${key.environment}_${key.lookup.slice(0, 6)}`;
}

export function hashApiKey(raw: string, salt: Uint8Array): Buffer {
  return sha256(Buffer.concat([salt, Buffer.from(raw, "utf8")]));
}

export function newSalt(): Buffer {
  return randomBytes(16);
}

export function apiKeyMatches(raw: string, salt: Uint8Array, stored: Uint8Array): boolean {
  return timingSafeEqualBytes(hashApiKey(raw, salt), stored);
}
