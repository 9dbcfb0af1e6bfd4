/**
 * AES-256-GCM (NIST SP 800-38D) with 96-bit random nonces and 128-bit tags.
 * Guards confidentiality and integrity of sealed data and binds it to its
 * context through the additional authenticated data. Random nonces keep the
 * collision bound of SP 800-38D section 8.3 as long as one key seals fewer
 * than 2^32 messages, which the per-tenant keys and rotation keep far away.
 *
 * Every failure on open is one generic error: no oracle on why it failed.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { ZenError } from "../core/index.ts";

export const AES_KEY_LENGTH = 32;
export const GCM_NONCE_LENGTH = 12;
export const GCM_TAG_LENGTH = 16;

function checkKey(key: Uint8Array): void {
  if (key.byteLength !== AES_KEY_LENGTH) {
    throw new ZenError("CRYPTO_FAILED", { message: "AES-256-GCM needs a 32-byte key." });
  }
}

/** Deterministic for a given nonce: for known-answer tests and callers that manage nonces themselves. */
export function aesGcmEncryptWithNonce(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): { ciphertext: Buffer; tag: Buffer } {
  checkKey(key);
  if (nonce.byteLength !== GCM_NONCE_LENGTH) {
    throw new ZenError("CRYPTO_FAILED", { message: "AES-256-GCM needs a 12-byte nonce." });
  }
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: GCM_TAG_LENGTH });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { ciphertext, tag: cipher.getAuthTag() };
}

/** Returns nonce(12) || ciphertext || tag(16) under a fresh random nonce. */
export function aesGcmSeal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const nonce = randomBytes(GCM_NONCE_LENGTH);
  const { ciphertext, tag } = aesGcmEncryptWithNonce(key, nonce, plaintext, aad);
  return Buffer.concat([nonce, ciphertext, tag]);
}

/** Opens what aesGcmSeal produced; throws CRYPTO_FAILED on any failure. */
export function aesGcmOpen(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer {
  if (key.byteLength !== AES_KEY_LENGTH || sealed.byteLength < GCM_NONCE_LENGTH + GCM_TAG_LENGTH) {
    throw new ZenError("CRYPTO_FAILED");
  }
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const nonce = bytes.subarray(0, GCM_NONCE_LENGTH);
  const ciphertext = bytes.subarray(GCM_NONCE_LENGTH, bytes.length - GCM_TAG_LENGTH);
  const tag = bytes.subarray(bytes.length - GCM_TAG_LENGTH);
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: GCM_TAG_LENGTH });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    // The cause says only "unable to authenticate"; dropping it keeps one shape for every failure.
    throw new ZenError("CRYPTO_FAILED");
  }
}
