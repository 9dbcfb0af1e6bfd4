import assert from "node:assert/strict";
import { test } from "node:test";
import { isZenError } from "../core/index.ts";
import { hashPassword, passwordNeedsRehash, verifyPassword } from "./index.ts";

test("a hashed password verifies and a wrong one does not", async () => {
  const encoded = await hashPassword("correct horse battery staple");
  assert.match(encoded, /^scrypt\$15\$8\$1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.equal(await verifyPassword("correct horse battery staple", encoded), true);
  assert.equal(await verifyPassword("correct horse battery stapl", encoded), false);
  assert.equal(await verifyPassword("", encoded), false);
  assert.equal(passwordNeedsRehash(encoded), false);
});

test("two hashes of one password differ by their salt", async () => {
  const [a, b] = await Promise.all([hashPassword("pw"), hashPassword("pw")]);
  assert.notEqual(a, b);
});

test("a password typed in another Unicode normalization form still verifies", async () => {
  const encoded = await hashPassword("caf\u00e9");
  assert.equal(await verifyPassword("cafe\u0301", encoded), true);
});

test("an empty or oversized password is refused when hashing", async () => {
  for (const pw of ["", "x".repeat(1025)]) {
    await assert.rejects(hashPassword(pw), (e) => isZenError(e) && e.code === "VALIDATION_FAILED");
  }
});

test("malformed or out-of-bounds encodings verify as false without throwing", async () => {
  const good = await hashPassword("pw");
  const [, , , , salt, hash] = good.split("$");
  const cases = [
    "",
    "scrypt",
    good.replace("scrypt$", "bcrypt$"),
    `${good}$extra`,
    `scrypt$15$8$1$${salt}`,
    `scrypt$15$8$1$${salt}$${hash}=`,
    `scrypt$15$8$1$${salt}$${hash?.slice(1)}`,
    `scrypt$15$8$1$${salt}$${hash?.replace(/./, "*")}`,
    `scrypt$015$8$1$${salt}$${hash}`,
    `scrypt$15$8$0$${salt}$${hash}`,
    `scrypt$10$8$1$${salt}$${hash}`,
    // A stored N of 2^30 or p of 1000 would take gigabytes or minutes per attempt.
    `scrypt$30$8$1$${salt}$${hash}`,
    `scrypt$15$8$999$${salt}$${hash}`,
    `scrypt$15$1024$1$${salt}$${hash}`,
    `scrypt$15$8$1$${"A".repeat(300)}$${hash}`,
  ];
  for (const encoded of cases) {
    assert.equal(await verifyPassword("pw", encoded), false, encoded);
    assert.equal(passwordNeedsRehash(encoded), true, encoded);
  }
});

test("a hash stored with other valid parameters verifies and asks for a rehash", async () => {
  const { scrypt } = await import("node:crypto");
  const salt = Buffer.alloc(16, 7);
  const hash = await new Promise<Buffer>((resolve, reject) =>
    scrypt("pw", salt, 32, { N: 2 ** 14, r: 8, p: 1 }, (e, k) => (e ? reject(e) : resolve(k))),
  );
  const b64 = (b: Buffer) => b.toString("base64").replace(/=+$/, "");
  const encoded = `scrypt$14$8$1$${b64(salt)}$${b64(hash)}`;
  assert.equal(await verifyPassword("pw", encoded), true);
  assert.equal(passwordNeedsRehash(encoded), true);
});
