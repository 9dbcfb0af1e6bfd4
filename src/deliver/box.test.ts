import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { isZenError } from "../core/index.ts";
import {
  type BoxKeyPair,
  boxKeyId,
  boxKeyPairFromPrivate,
  decodeBoxPublicKey,
  deriveBoxKeyPair,
  encodeBoxPublicKey,
  generateBoxKeyPair,
  openBox,
  sealBox,
} from "./box.ts";

const AAD = "dst_01HZX:signing-secret";
const FORMAT = /^zb1:[0-9a-f]{16}:[A-Za-z0-9_-]{43}:[A-Za-z0-9_-]+$/;

function cryptoFailed(match?: RegExp) {
  return (err: unknown) =>
    isZenError(err) && err.code === "CRYPTO_FAILED" && (match === undefined || match.test(err.message));
}

/** Every encoding of the private key a careless message could leak. */
function leaks(message: string, pair: BoxKeyPair): boolean {
  const k = pair.privateKey;
  return [k.toString("hex"), k.toString("base64"), k.toString("base64url")].some((s) => message.includes(s));
}

const swapPart = (sealed: string, index: number, value: string) => {
  const parts = sealed.split(":");
  parts[index] = value;
  return parts.join(":");
};

test("a sealed box opens with the recipient's key pair, for strings and bytes alike", () => {
  const pair = generateBoxKeyPair();
  assert.equal(openBox(pair, AAD, sealBox(pair.publicKey, AAD, "whsec_abc")).toString("utf8"), "whsec_abc");
  const bytes = Buffer.from([0, 1, 2, 255, 254]);
  assert.deepEqual(openBox(pair, AAD, sealBox(pair.publicKey, AAD, bytes)), bytes);
  assert.deepEqual(openBox(pair, AAD, sealBox(pair.publicKey, AAD, "")), Buffer.alloc(0));
  assert.equal(openBox(pair, "", sealBox(pair.publicKey, "", "ü€😀")).toString("utf8"), "ü€😀");
});

test("any plaintext and context round-trip", () => {
  const pair = generateBoxKeyPair();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), fc.string({ maxLength: 64 }), (pt, aad) => {
      const sealed = sealBox(pair.publicKey, aad, Buffer.from(pt));
      assert.match(sealed, FORMAT);
      assert.deepEqual(openBox(pair, aad, sealed), Buffer.from(pt));
    }),
    { numRuns: 100 },
  );
});

test("the text form is zb1, the recipient's key id, the ephemeral key and ciphertext with its tag", () => {
  const pair = generateBoxKeyPair();
  const sealed = sealBox(pair.publicKey, AAD, "12345");
  assert.match(sealed, FORMAT);
  const [version, keyId, enc, ct] = sealed.split(":") as [string, string, string, string];
  assert.equal(version, "zb1");
  assert.equal(keyId, pair.keyId);
  assert.equal(Buffer.from(enc, "base64url").byteLength, 32);
  assert.equal(Buffer.from(ct, "base64url").byteLength, 5 + 16);
});

test("every seal uses a fresh ephemeral key", () => {
  const pair = generateBoxKeyPair();
  const a = sealBox(pair.publicKey, AAD, "same");
  const b = sealBox(pair.publicKey, AAD, "same");
  assert.notEqual(a, b);
  assert.notEqual(a.split(":")[2], b.split(":")[2]);
  assert.notEqual(a.split(":")[3], b.split(":")[3]);
});

test("the associated data binds a box to its context", () => {
  const pair = generateBoxKeyPair();
  const sealed = sealBox(pair.publicKey, AAD, "secret");
  for (const other of ["", "dst_01HZY:signing-secret", `${AAD} `, AAD.toUpperCase()]) {
    assert.throws(() => openBox(pair, other, sealed), cryptoFailed(), other);
  }
});

test("a box sealed for another egress key says so, without key material", () => {
  const mine = generateBoxKeyPair();
  const theirs = generateBoxKeyPair();
  const sealed = sealBox(theirs.publicKey, AAD, "secret");
  assert.throws(
    () => openBox(mine, AAD, sealed),
    (err: unknown) =>
      cryptoFailed(/sealed for another egress key/)(err) &&
      (err as Error).message.includes(theirs.keyId) &&
      !leaks((err as Error).message, mine) &&
      !leaks((err as Error).message, theirs),
  );
});

test("relabelling a box with the recipient's key id does not make it open", () => {
  const mine = generateBoxKeyPair();
  const theirs = generateBoxKeyPair();
  const sealed = swapPart(sealBox(theirs.publicKey, AAD, "secret"), 1, mine.keyId);
  assert.throws(() => openBox(mine, AAD, sealed), cryptoFailed());
});

test("tampering with any part of a box is detected", () => {
  const pair = generateBoxKeyPair();
  const sealed = sealBox(pair.publicKey, AAD, "a destination secret");
  const [, , enc, ct] = sealed.split(":") as [string, string, string, string];
  const flip = (text: string, i: number) => {
    const b = Buffer.from(text, "base64url");
    b[i]! ^= 0x01;
    return b.toString("base64url");
  };
  assert.throws(() => openBox(pair, AAD, swapPart(sealed, 0, "zb2")), cryptoFailed(/malformed/));
  assert.throws(
    () => openBox(pair, AAD, swapPart(sealed, 1, "0".repeat(16))),
    cryptoFailed(/another egress key/),
  );
  for (let i = 0; i < 32; i++) {
    assert.throws(
      () => openBox(pair, AAD, swapPart(sealed, 2, flip(enc, i))),
      cryptoFailed(),
      `enc byte ${i}`,
    );
  }
  const ctBytes = Buffer.from(ct, "base64url").byteLength;
  for (let i = 0; i < ctBytes; i++) {
    assert.throws(() => openBox(pair, AAD, swapPart(sealed, 3, flip(ct, i))), cryptoFailed(), `ct byte ${i}`);
  }
  const ctRaw = Buffer.from(ct, "base64url");
  const shorter = ctRaw.subarray(0, ctRaw.length - 1).toString("base64url");
  const longer = Buffer.concat([ctRaw, Buffer.from([0])]).toString("base64url");
  for (const c of [shorter, longer])
    assert.throws(() => openBox(pair, AAD, swapPart(sealed, 3, c)), cryptoFailed());
  assert.deepEqual(openBox(pair, AAD, sealed).toString(), "a destination secret");
});

test("malformed boxes throw CRYPTO_FAILED", () => {
  const pair = generateBoxKeyPair();
  const sealed = sealBox(pair.publicKey, AAD, "x");
  const [, keyId, enc, ct] = sealed.split(":") as [string, string, string, string];
  const malformed = [
    "",
    "zb1",
    `zb1:${keyId}:${enc}`,
    `${sealed}:extra`,
    `ZB1:${keyId}:${enc}:${ct}`,
    `zb1:${keyId.toUpperCase()}:${enc}:${ct}`,
    `zb1:${keyId.slice(1)}:${enc}:${ct}`,
    `zb1:${keyId}::${ct}`,
    `zb1:${keyId}:${enc}:`,
    `zb1:${keyId}:${enc}=:${ct}`,
    `zb1:${keyId}:${Buffer.from(enc, "base64url").toString("base64")}:${ct}`,
    `zb1:${keyId}:${enc.slice(0, -1)}:${ct}`,
    `zb1:${keyId}:${Buffer.alloc(31).toString("base64url")}:${ct}`,
    `zb1:${keyId}:${enc}:${Buffer.alloc(15).toString("base64url")}`,
    `zb1:${keyId}:${enc}:${ct} `,
    // The all-zero (low-order) point, and a non-canonical u-coordinate.
    `zb1:${keyId}:${Buffer.alloc(32).toString("base64url")}:${ct}`,
    `zb1:${keyId}:${Buffer.alloc(32, 0xff).toString("base64url")}:${ct}`,
  ];
  for (const m of malformed) assert.throws(() => openBox(pair, AAD, m), cryptoFailed(), JSON.stringify(m));
});

test("sealing to a malformed or low-order public key throws CRYPTO_FAILED", () => {
  for (const key of [Buffer.alloc(31), Buffer.alloc(33), Buffer.alloc(32)]) {
    assert.throws(() => sealBox(key, AAD, "x"), cryptoFailed());
  }
});

test("derivation is deterministic per seed and info, and independent across them", () => {
  const seed = Buffer.alloc(32, 7);
  const a = deriveBoxKeyPair(seed, "egress box key");
  assert.deepEqual(deriveBoxKeyPair(Buffer.from(seed), "egress box key"), a);
  assert.notDeepEqual(deriveBoxKeyPair(seed, "egress box key 2").publicKey, a.publicKey);
  assert.notDeepEqual(deriveBoxKeyPair(Buffer.alloc(32, 8), "egress box key").publicKey, a.publicKey);
  assert.notDeepEqual(deriveBoxKeyPair(Buffer.alloc(64, 7), "egress box key").publicKey, a.publicKey);
  assert.equal(openBox(a, AAD, sealBox(a.publicKey, AAD, "derived")).toString(), "derived");
  assert.throws(() => deriveBoxKeyPair(Buffer.alloc(31), "egress box key"), cryptoFailed());
  assert.throws(() => deriveBoxKeyPair(seed, ""), cryptoFailed());
});

test("a key pair is recovered from its private key alone", () => {
  const pair = generateBoxKeyPair();
  assert.equal(pair.publicKey.byteLength, 32);
  assert.equal(pair.privateKey.byteLength, 32);
  assert.deepEqual(boxKeyPairFromPrivate(pair.privateKey), pair);
  const copy = Buffer.from(pair.privateKey);
  const recovered = boxKeyPairFromPrivate(copy);
  copy.fill(0);
  assert.deepEqual(recovered.privateKey, pair.privateKey);
  for (const raw of [Buffer.alloc(0), Buffer.alloc(31), Buffer.alloc(33)]) {
    assert.throws(() => boxKeyPairFromPrivate(raw), cryptoFailed());
  }
});

test("the key id is the first 8 bytes of SHA-256 of the public key, in hex", () => {
  const pair = generateBoxKeyPair();
  const expected = createHash("sha256").update(pair.publicKey).digest().subarray(0, 8).toString("hex");
  assert.equal(pair.keyId, expected);
  assert.equal(boxKeyId(pair.publicKey), expected);
  assert.throws(() => boxKeyId(Buffer.alloc(16)), cryptoFailed());
});

test("a public key travels as unpadded base64url of exactly 32 bytes", () => {
  const pair = generateBoxKeyPair();
  const text = encodeBoxPublicKey(pair.publicKey);
  assert.match(text, /^[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(decodeBoxPublicKey(text), pair.publicKey);
  assert.deepEqual(decodeBoxPublicKey(` ${text}\n`), pair.publicKey);
  const key = Buffer.alloc(32, 0xfb);
  for (const bad of [
    "",
    Buffer.alloc(31).toString("base64url"),
    Buffer.alloc(33).toString("base64url"),
    `${text}=`,
    key.toString("base64"),
    `${text.slice(0, -1)}!`,
    // The last character's unused bits set: decodes to the same 32 bytes, but is not the canonical text.
    `${Buffer.alloc(32).toString("base64url").slice(0, -1)}B`,
  ]) {
    assert.throws(() => decodeBoxPublicKey(bad), cryptoFailed(), JSON.stringify(bad));
  }
  assert.throws(() => encodeBoxPublicKey(Buffer.alloc(31)), cryptoFailed());
});
