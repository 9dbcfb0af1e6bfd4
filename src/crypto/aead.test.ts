import assert from "node:assert/strict";
import { test } from "node:test";
import { vectors } from "../../test/support/vectors.ts";
import { isZenError } from "../core/index.ts";
import { aesGcmEncryptWithNonce, aesGcmOpen, aesGcmSeal, randomBytes } from "./index.ts";

const hex = (s: string) => Buffer.from(s, "hex");
const cryptoFailed = (e: unknown) => isZenError(e) && e.code === "CRYPTO_FAILED";

test("AES-256-GCM matches the zero key, zero nonce known answers", () => {
  const v = vectors.aes_256_gcm_zero_key_zero_nonce;
  assert.ok(v.cases.length > 0);
  for (const c of v.cases as { plaintext_hex: string; ciphertext_hex: string; tag_hex: string }[]) {
    const out = aesGcmEncryptWithNonce(
      hex(v.key_hex),
      hex(v.nonce_hex),
      hex(c.plaintext_hex),
      Buffer.alloc(0),
    );
    assert.equal(out.ciphertext.toString("hex"), c.ciphertext_hex);
    assert.equal(out.tag.toString("hex"), c.tag_hex);
    const sealed = Buffer.concat([hex(v.nonce_hex), out.ciphertext, out.tag]);
    assert.equal(aesGcmOpen(hex(v.key_hex), sealed, Buffer.alloc(0)).toString("hex"), c.plaintext_hex);
  }
});

test("a sealed message opens with the same key and AAD", () => {
  const key = randomBytes(32);
  const aad = Buffer.from("context");
  for (const plaintext of [Buffer.alloc(0), Buffer.from("hello"), randomBytes(4096)]) {
    const sealed = aesGcmSeal(key, plaintext, aad);
    assert.equal(sealed.length, 12 + plaintext.length + 16);
    assert.deepEqual(aesGcmOpen(key, sealed, aad), plaintext);
  }
});

test("a flipped bit in the nonce, ciphertext or tag fails to open", () => {
  const key = randomBytes(32);
  const aad = Buffer.from("context");
  const sealed = aesGcmSeal(key, Buffer.from("attack at dawn"), aad);
  for (const index of [0, 11, 12, 12 + 13, sealed.length - 16, sealed.length - 1]) {
    const tampered = Buffer.from(sealed);
    tampered[index] = (tampered[index] ?? 0) ^ 0x01;
    assert.throws(() => aesGcmOpen(key, tampered, aad), cryptoFailed, `byte ${index}`);
  }
});

test("a different AAD, another key or a truncated message fails to open", () => {
  const key = randomBytes(32);
  const sealed = aesGcmSeal(key, Buffer.from("secret"), Buffer.from("row-1"));
  assert.throws(() => aesGcmOpen(key, sealed, Buffer.from("row-2")), cryptoFailed);
  assert.throws(() => aesGcmOpen(randomBytes(32), sealed, Buffer.from("row-1")), cryptoFailed);
  assert.throws(
    () => aesGcmOpen(key, sealed.subarray(0, sealed.length - 1), Buffer.from("row-1")),
    cryptoFailed,
  );
  assert.throws(() => aesGcmOpen(key, Buffer.alloc(27), Buffer.alloc(0)), cryptoFailed);
  assert.throws(() => aesGcmOpen(key.subarray(0, 16), sealed, Buffer.from("row-1")), cryptoFailed);
});

test("the error on a failed open does not carry the plaintext, key or cause", () => {
  const key = randomBytes(32);
  const sealed = aesGcmSeal(key, Buffer.from("top-secret-value"), Buffer.alloc(0));
  try {
    aesGcmOpen(key, sealed, Buffer.from("x"));
    assert.fail("opened");
  } catch (e) {
    assert.ok(isZenError(e));
    assert.equal(e.cause, undefined);
    assert.doesNotMatch(e.message, /top-secret|[0-9a-f]{32}/);
  }
});

test("every seal draws a fresh nonce", () => {
  const key = randomBytes(32);
  const nonces = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    nonces.add(aesGcmSeal(key, Buffer.from("same"), Buffer.alloc(0)).subarray(0, 12).toString("hex"));
  }
  assert.equal(nonces.size, 1000);
});

test("sealing refuses a key that is not 32 bytes", () => {
  assert.throws(() => aesGcmSeal(randomBytes(16), Buffer.from("x"), Buffer.alloc(0)), cryptoFailed);
  assert.throws(
    () => aesGcmEncryptWithNonce(randomBytes(32), randomBytes(16), Buffer.from("x"), Buffer.alloc(0)),
    cryptoFailed,
  );
});
