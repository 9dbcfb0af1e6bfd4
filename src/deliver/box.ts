/**
 * Sealed boxes for destination secrets: the backend seals with the egress
 * role's PUBLIC key and can never open what it sealed; only egress, holding
 * the private key, can. A database dump or a compromised backend yields no
 * destination secret.
 *
 * RFC 9180 (HPKE), base mode, single shot, with the suite
 * DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM (ids 0x0020, 0x0001, 0x0002):
 * a fresh ephemeral key per seal; the KEM binds both the ephemeral and the
 * recipient public key into the shared secret (section 4.1, kem_context); the
 * HPKE info names this format, the AEAD's associated data is the caller's
 * context (e.g. the destination id), so a box moved to another record does not open.
 *
 *   zb1:<key id>:<base64url enc, 32 bytes>:<base64url ciphertext || tag>
 *
 * The key id (first 8 bytes of SHA-256 of the recipient public key, hex) says
 * which egress key a box was sealed for, so a rotation can tell the two apart.
 * Every failure to open is CRYPTO_FAILED; messages never carry key material.
 */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { isZenError, ZenError } from "../core/index.ts";
import {
  aesGcmEncryptWithNonce,
  aesGcmOpen,
  hkdfSha256,
  hkdfSha256Extract,
  hmacSha256,
  sha256,
} from "../crypto/index.ts";

export interface BoxKeyPair {
  /** Raw X25519 public key, 32 bytes. */
  publicKey: Buffer;
  /** Raw X25519 private key, 32 bytes. */
  privateKey: Buffer;
  /** First 8 bytes of SHA-256(publicKey), hex. */
  keyId: string;
}

const KEY_BYTES = 32;
const TAG_BYTES = 16;
const VERSION = "zb1";
// RFC 9180 section 7: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
const KEM_ID = 0x0020;
const KDF_ID = 0x0001;
const AEAD_ID = 0x0002;
const NK = 32;
const NN = 12;
const MODE_BASE = 0x00;
const INFO = Buffer.from("zenmesh sealed box v1", "utf8");
const DERIVE_SALT = Buffer.from("zenmesh box key v1", "utf8");
// RFC 8410 section 7: a PKCS#8 OneAsymmetricKey for X25519 is this prefix and the raw 32-byte key,
// the one import node:crypto offers from a private key alone.
const PKCS8_X25519_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

const i2osp2 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const KEM_SUITE = Buffer.concat([Buffer.from("KEM"), i2osp2(KEM_ID)]);
const HPKE_SUITE = Buffer.concat([Buffer.from("HPKE"), i2osp2(KEM_ID), i2osp2(KDF_ID), i2osp2(AEAD_ID)]);
const HPKE_V1 = Buffer.from("HPKE-v1");
const EMPTY = Buffer.alloc(0);

const cryptoFailed = (message?: string) =>
  new ZenError("CRYPTO_FAILED", message === undefined ? {} : { message });

// ---- RFC 9180 section 4: labeled HKDF ----

/** RFC 5869 section 2.3, HKDF-Expand over HMAC-SHA256. */
function hkdfExpand(prk: Buffer, info: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  let t: Buffer = EMPTY;
  for (let i = 1; blocks.length * 32 < length; i++) {
    t = hmacSha256(prk, Buffer.concat([t, info, Buffer.from([i])]));
    blocks.push(t);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

function labeledExtract(suite: Buffer, salt: Buffer, label: string, ikm: Buffer): Buffer {
  return hkdfSha256Extract(Buffer.concat([HPKE_V1, suite, Buffer.from(label), ikm]), salt);
}

function labeledExpand(suite: Buffer, prk: Buffer, label: string, info: Buffer, length: number): Buffer {
  return hkdfExpand(prk, Buffer.concat([i2osp2(length), HPKE_V1, suite, Buffer.from(label), info]), length);
}

// ---- X25519 over node:crypto ----

function privateKeyObject(raw: Buffer): KeyObject {
  if (raw.byteLength !== KEY_BYTES) throw cryptoFailed("An X25519 private key is 32 bytes.");
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: "der", type: "pkcs8" });
}

function publicKeyObject(raw: Buffer): KeyObject {
  if (raw.byteLength !== KEY_BYTES) throw cryptoFailed("An X25519 public key is 32 bytes.");
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: raw.toString("base64url") }, format: "jwk" });
}

function rawPublicKey(key: KeyObject): Buffer {
  const x = createPublicKey(key).export({ format: "jwk" }).x;
  if (typeof x !== "string") throw cryptoFailed();
  return Buffer.from(x, "base64url");
}

// Egress opens boxes with one long-lived pair: its key object is built once, not per delivery.
// The raw key is compared on every use, so a pair whose bytes change is never opened with a stale key.
const recipientKeys = new WeakMap<BoxKeyPair, { raw: Buffer; key: KeyObject }>();

function recipientKey(pair: BoxKeyPair): KeyObject {
  const hit = recipientKeys.get(pair);
  if (hit?.raw.equals(pair.privateKey)) return hit.key;
  let key: KeyObject;
  try {
    key = privateKeyObject(pair.privateKey);
  } catch (err) {
    if (isZenError(err)) throw err;
    throw cryptoFailed();
  }
  recipientKeys.set(pair, { raw: Buffer.from(pair.privateKey), key });
  return key;
}

/** RFC 9180 section 7.1.4: an all-zero result (a low-order point) must abort (node:crypto refuses it as well). */
function x25519(privateKey: Buffer | KeyObject, publicRaw: Buffer): Buffer {
  let dh: Buffer;
  try {
    const key = Buffer.isBuffer(privateKey) ? privateKeyObject(privateKey) : privateKey;
    dh = diffieHellman({ privateKey: key, publicKey: publicKeyObject(publicRaw) });
  } catch {
    throw cryptoFailed();
  }
  if (dh.every((b) => b === 0)) throw cryptoFailed();
  return dh;
}

// ---- RFC 9180 sections 4.1 and 5.1 ----

/** DHKEM ExtractAndExpand: the shared secret bound to kem_context = enc || pkRm. */
function kemSharedSecret(dh: Buffer, enc: Buffer, pkR: Buffer): Buffer {
  const eaePrk = labeledExtract(KEM_SUITE, EMPTY, "eae_prk", dh);
  return labeledExpand(KEM_SUITE, eaePrk, "shared_secret", Buffer.concat([enc, pkR]), 32);
}

/** KeyScheduleS/R in base mode (no PSK): the AEAD key and base nonce. */
function keySchedule(sharedSecret: Buffer, info: Buffer): { key: Buffer; baseNonce: Buffer } {
  const pskIdHash = labeledExtract(HPKE_SUITE, EMPTY, "psk_id_hash", EMPTY);
  const infoHash = labeledExtract(HPKE_SUITE, EMPTY, "info_hash", info);
  const context = Buffer.concat([Buffer.from([MODE_BASE]), pskIdHash, infoHash]);
  const secret = labeledExtract(HPKE_SUITE, sharedSecret, "secret", EMPTY);
  return {
    key: labeledExpand(HPKE_SUITE, secret, "key", context, NK),
    baseNonce: labeledExpand(HPKE_SUITE, secret, "base_nonce", context, NN),
  };
}

// ---- keys ----

export function boxKeyId(publicKey: Buffer): string {
  if (publicKey.byteLength !== KEY_BYTES) throw cryptoFailed("An X25519 public key is 32 bytes.");
  return sha256(publicKey).subarray(0, 8).toString("hex");
}

export function boxKeyPairFromPrivate(raw32: Buffer): BoxKeyPair {
  const privateKey = Buffer.from(raw32);
  const publicKey = rawPublicKey(privateKeyObject(privateKey));
  return { publicKey, privateKey, keyId: boxKeyId(publicKey) };
}

export function generateBoxKeyPair(): BoxKeyPair {
  const { privateKey } = generateKeyPairSync("x25519");
  const d = privateKey.export({ format: "jwk" }).d;
  if (typeof d !== "string") throw cryptoFailed();
  return boxKeyPairFromPrivate(Buffer.from(d, "base64url"));
}

/**
 * The same pair for the same seed and info, every time: an egress can hold one
 * seed and derive its box key rather than store a second secret. Distinct
 * `info` strings give independent pairs.
 */
export function deriveBoxKeyPair(seed: Buffer, info: string): BoxKeyPair {
  if (seed.byteLength < 32) throw cryptoFailed("A box key seed is at least 32 bytes.");
  if (info.length === 0) throw cryptoFailed("A box key derivation needs a non-empty info string.");
  return boxKeyPairFromPrivate(hkdfSha256(seed, DERIVE_SALT, info, KEY_BYTES));
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Canonical unpadded base64url, or undefined. */
function fromBase64Url(text: string): Buffer | undefined {
  if (!BASE64URL.test(text)) return undefined;
  const out = Buffer.from(text, "base64url");
  return out.toString("base64url") === text ? out : undefined;
}

export function encodeBoxPublicKey(buf: Buffer): string {
  if (buf.byteLength !== KEY_BYTES) throw cryptoFailed("An X25519 public key is 32 bytes.");
  return buf.toString("base64url");
}

export function decodeBoxPublicKey(text: string): Buffer {
  const key = fromBase64Url(text.trim());
  if (key === undefined || key.byteLength !== KEY_BYTES) {
    throw cryptoFailed("A box public key is 32 bytes of unpadded base64url.");
  }
  return key;
}

// ---- seal and open ----

/** Seals `plaintext` (strings as UTF-8) so that only the holder of the matching private key opens it. */
export function sealBox(recipientPublicKey: Buffer, aad: string, plaintext: Buffer | string): string {
  const keyId = boxKeyId(recipientPublicKey);
  const ephemeral = generateBoxKeyPair();
  const enc = ephemeral.publicKey;
  const dh = x25519(ephemeral.privateKey, recipientPublicKey);
  const { key, baseNonce } = keySchedule(kemSharedSecret(dh, enc, recipientPublicKey), INFO);
  const pt = typeof plaintext === "string" ? Buffer.from(plaintext, "utf8") : plaintext;
  // Single shot: one message per context, so sequence number 0 and the nonce is base_nonce itself.
  const { ciphertext, tag } = aesGcmEncryptWithNonce(key, baseNonce, pt, Buffer.from(aad, "utf8"));
  return [
    VERSION,
    keyId,
    enc.toString("base64url"),
    Buffer.concat([ciphertext, tag]).toString("base64url"),
  ].join(":");
}

const KEY_ID = /^[0-9a-f]{16}$/;

/** Opens a box sealed for `pair`; throws CRYPTO_FAILED when it is malformed, for another key, or does not authenticate. */
export function openBox(pair: BoxKeyPair, aad: string, sealed: string): Buffer {
  const parts = typeof sealed === "string" ? sealed.split(":") : [];
  const [version, keyId, encText, ctText] = parts;
  if (parts.length !== 4 || version !== VERSION || keyId === undefined || !KEY_ID.test(keyId)) {
    throw cryptoFailed("The sealed box is malformed.");
  }
  if (keyId !== pair.keyId) {
    throw cryptoFailed(
      `The box was sealed for another egress key (key id ${keyId}); this egress holds key id ${pair.keyId}.`,
    );
  }
  const enc = fromBase64Url(encText!);
  const sealedBytes = fromBase64Url(ctText!);
  if (
    enc === undefined ||
    enc.byteLength !== KEY_BYTES ||
    sealedBytes === undefined ||
    sealedBytes.byteLength < TAG_BYTES
  ) {
    throw cryptoFailed("The sealed box is malformed.");
  }
  const dh = x25519(recipientKey(pair), enc);
  const { key, baseNonce } = keySchedule(kemSharedSecret(dh, enc, pair.publicKey), INFO);
  return aesGcmOpen(key, Buffer.concat([baseNonce, sealedBytes]), Buffer.from(aad, "utf8"));
}
