/**
 * Test-only: builds arbitrary (including deliberately malformed) leaf
 * certificates under a throwaway CA, to drive the SVID rules from outside.
 */
import { randomBytes } from "node:crypto";
import type { CryptoKeyPair } from "./x509.ts";
import { ECDSA_SHA256, generateP256, x509 } from "./x509.ts";

export interface TestIssuer {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

export async function testIssuer(trustDomain: string): Promise<TestIssuer> {
  const keys = await generateP256();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16).toString("hex"),
    name: "CN=test issuer",
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://${trustDomain}` }]),
    ],
  });
  return { cert, keys };
}

export interface LeafSpec {
  uris?: string[];
  dns?: string[];
  /** undefined: no basic constraints extension. */
  ca?: boolean;
  /** undefined: no key usage extension. */
  usages?: number;
  notBefore?: Date;
  notAfter?: Date;
}

/** DER of a leaf with exactly the given properties, signed by `issuer`. */
export async function testLeaf(issuer: TestIssuer, spec: LeafSpec): Promise<Uint8Array> {
  const keys = await generateP256();
  const extensions: x509.Extension[] = [];
  if (spec.ca !== undefined) extensions.push(new x509.BasicConstraintsExtension(spec.ca, undefined, true));
  if (spec.usages !== undefined) extensions.push(new x509.KeyUsagesExtension(spec.usages, true));
  const names = [
    ...(spec.uris ?? []).map((value) => ({ type: "url" as const, value })),
    ...(spec.dns ?? []).map((value) => ({ type: "dns" as const, value })),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomBytes(16).toString("hex"),
    subject: "CN=test leaf",
    issuer: issuer.cert.subjectName,
    notBefore: spec.notBefore ?? new Date(Date.now() - 60_000),
    notAfter: spec.notAfter ?? new Date(Date.now() + 3600_000),
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions,
  });
  return new Uint8Array(cert.rawData);
}
