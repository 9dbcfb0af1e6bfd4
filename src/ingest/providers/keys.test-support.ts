/**
 * Key pairs for the public-key providers' tests: a source holds the public
 * key (its "secret"), the test signs as the provider would with the private
 * half, found here by the public key.
 */
import { generateKeyPairSync } from "node:crypto";

const privateOf = new Map<string, string>();

/** A fresh Ed25519 public key as Discord shows it (hex); its private key is kept for `signingKeyOf`. */
export function ed25519Secret(): string {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const x = publicKey.export({ format: "jwk" }).x;
  if (x === undefined) throw new Error("an Ed25519 public key has x");
  const hex = Buffer.from(x, "base64url").toString("hex");
  privateOf.set(hex, privateKey.export({ format: "pem", type: "pkcs8" }).toString());
  return hex;
}

/** A fresh P-256 public key as SendGrid shows it (base64 DER SPKI); its private key is kept. */
export function p256Secret(): string {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const spki = publicKey.export({ format: "der", type: "spki" }).toString("base64");
  privateOf.set(spki, privateKey.export({ format: "pem", type: "pkcs8" }).toString());
  return spki;
}

/** The private key (PKCS#8 PEM) of a public key made here. */
export function signingKeyOf(publicKey: string): string {
  const key = privateOf.get(publicKey);
  if (key === undefined)
    throw new Error("no private key for this public key: make it with ed25519Secret or p256Secret");
  return key;
}
