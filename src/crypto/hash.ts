/**
 * Digests, MACs and key derivation over node:crypto. Strings are UTF-8.
 * HMAC follows RFC 2104 / RFC 4231, HKDF follows RFC 5869.
 */
import { createHash, createHmac, hkdfSync } from "node:crypto";
import { ZenError } from "../core/index.ts";

export function sha256(data: string | Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}

export function hmacSha256(key: string | Uint8Array, data: string | Uint8Array): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

export function hmacSha512(key: string | Uint8Array, data: string | Uint8Array): Buffer {
  return createHmac("sha512", key).update(data).digest();
}

/** RFC 5869 section 2.2: PRK = HMAC-Hash(salt, IKM). Exposed for derivations that reuse one PRK. */
export function hkdfSha256Extract(ikm: Uint8Array, salt: Uint8Array): Buffer {
  return hmacSha256(salt, ikm);
}

// RFC 5869 section 2.3: L <= 255 * HashLen.
const HKDF_SHA256_MAX = 255 * 32;

/** RFC 5869 extract-then-expand. */
export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array | string,
  length: number,
): Buffer {
  if (!Number.isInteger(length) || length < 1 || length > HKDF_SHA256_MAX) {
    throw new ZenError("CRYPTO_FAILED", { message: "HKDF output length is out of range." });
  }
  return Buffer.from(hkdfSync("sha256", ikm, salt, info, length));
}
