export { randomBytes } from "node:crypto";
export {
  AES_KEY_LENGTH,
  aesGcmEncryptWithNonce,
  aesGcmOpen,
  aesGcmSeal,
  GCM_NONCE_LENGTH,
  GCM_TAG_LENGTH,
} from "./aead.ts";
export { timingSafeEqualBytes, timingSafeEqualString } from "./compare.ts";
export { hkdfSha256, hkdfSha256Extract, hmacSha256, hmacSha512, sha256 } from "./hash.ts";
export { hashPassword, MAX_PASSWORD_BYTES, passwordNeedsRehash, verifyPassword } from "./password.ts";
