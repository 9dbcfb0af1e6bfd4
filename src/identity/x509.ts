/**
 * The one place @peculiar/x509 is initialised: its ASN.1 schema needs
 * reflect-metadata loaded first, and it must use node's WebCrypto.
 */
import "reflect-metadata";
import type { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(globalThis.crypto);

export { x509 };
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

export const EC_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
export const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" } as const;

/** OIDs of the extensions the SVID rules look at (RFC 5280 section 4.2.1). */
export const OID = {
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  subjectKeyId: "2.5.29.14",
  authorityKeyId: "2.5.29.35",
} as const;

export function generateP256(): Promise<CryptoKeyPair> {
  return globalThis.crypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
}

export function toPem(label: string, der: ArrayBuffer | Uint8Array): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** PEM with a final newline, so certificates concatenate into a valid chain. */
export function certPem(cert: x509.X509Certificate): string {
  return toPem("CERTIFICATE", new Uint8Array(cert.rawData));
}

export async function exportPkcs8(key: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await globalThis.crypto.subtle.exportKey("pkcs8", key));
}

export function importPkcs8(der: Uint8Array): Promise<CryptoKey> {
  return globalThis.crypto.subtle.importKey("pkcs8", der, EC_P256, true, ["sign"]);
}

/** Splits a PEM bundle into its CERTIFICATE blocks, each as DER. */
export function pemCertificates(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const re = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;
  for (const m of pem.matchAll(re)) {
    out.push(new Uint8Array(Buffer.from((m[1] ?? "").replace(/\s+/g, ""), "base64")));
  }
  return out;
}
