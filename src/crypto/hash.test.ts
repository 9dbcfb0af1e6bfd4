import assert from "node:assert/strict";
import { test } from "node:test";
import { vectors } from "../../test/support/vectors.ts";
import { isZenError } from "../core/index.ts";
import { hkdfSha256, hkdfSha256Extract, hmacSha256, hmacSha512, sha256 } from "./index.ts";

const hex = (s: string) => Buffer.from(s, "hex");

test("HKDF-SHA256 matches RFC 5869 test case 1 (PRK and OKM)", () => {
  const v = vectors.hkdf_sha256_rfc5869_case1;
  const prk = hkdfSha256Extract(hex(v.ikm_hex), hex(v.salt_hex));
  assert.equal(prk.toString("hex"), v.prk_hex);
  const okm = hkdfSha256(hex(v.ikm_hex), hex(v.salt_hex), hex(v.info_hex), v.length);
  assert.equal(okm.toString("hex"), v.okm_hex);
});

test("HKDF refuses an output length outside 1..8160 bytes", () => {
  for (const length of [0, -1, 1.5, 255 * 32 + 1]) {
    assert.throws(
      () => hkdfSha256(Buffer.alloc(32), Buffer.alloc(0), "x", length),
      (e) => isZenError(e) && e.code === "CRYPTO_FAILED",
    );
  }
});

test("HMAC-SHA256 matches RFC 4231 test case 1", () => {
  const v = vectors.hmac_sha256_rfc4231_case1;
  assert.equal(hmacSha256(hex(v.key_hex), v.data).toString("hex"), v.mac_hex);
});

test("HMAC-SHA512 matches RFC 4231 test case 1", () => {
  // The RFC 4231 case 1 input is shared with the SHA-256 vector; the SHA-512 MAC is from the RFC.
  const v = vectors.hmac_sha256_rfc4231_case1;
  assert.equal(
    hmacSha512(hex(v.key_hex), v.data).toString("hex"),
    "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde" +
      "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
  );
});

test("SHA-256 of a string hashes its UTF-8 bytes", () => {
  assert.equal(
    sha256("abc").toString("hex"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.deepEqual(sha256("é"), sha256(Buffer.from("é", "utf8")));
});
