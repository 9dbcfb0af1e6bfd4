/**
 * Comparisons of secrets (MACs, tokens, hashes) that do not leak through
 * timing where the inputs first differ.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Constant time in the content. Unequal lengths return false after the same
 * amount of comparing work, so only the length (which a caller can usually
 * see anyway) is observable.
 */
export function timingSafeEqualBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

// A per-process key makes the digests unpredictable, so an attacker cannot
// steer which digest bytes differ.
const COMPARE_KEY = randomBytes(32);

/**
 * Compares HMACs of both strings under a random key: fixed-length inputs to
 * timingSafeEqual, so neither the content nor the length of `b` shows in timing.
 */
export function timingSafeEqualString(a: string, b: string): boolean {
  const da = createHmac("sha256", COMPARE_KEY).update(a, "utf8").digest();
  const db = createHmac("sha256", COMPARE_KEY).update(b, "utf8").digest();
  return timingSafeEqual(da, db);
}
