/**
 * A workload's side of CSR-based issuance (join and renewal in production):
 * a fresh P-256 key that never leaves the process, and a PKCS#10 request
 * signed with it (RFC 2986). The CA takes only the public key from it and
 * sets the SPIFFE ID itself.
 */
import type { Result } from "../core/index.ts";
import type { Svid } from "./types.ts";
import { type SvidFailure, validateSvidLeaf } from "./validate.ts";
import { ECDSA_SHA256, exportPkcs8, generateP256, pemCertificates, toPem, x509 } from "./x509.ts";

export interface KeyAndCsr {
  keyPem: string;
  csrPem: string;
}

export async function createKeyAndCsr(): Promise<KeyAndCsr> {
  const keys = await generateP256();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: "CN=zenmesh-workload",
    keys,
    signingAlgorithm: ECDSA_SHA256,
  });
  return { keyPem: toPem("PRIVATE KEY", await exportPkcs8(keys.privateKey)), csrPem: csr.toString("pem") };
}

/** notBefore/notAfter of the first certificate in a PEM chain. */
export function chainValidity(certChainPem: string): { notBefore: Date; notAfter: Date } {
  const leaf = new x509.X509Certificate(certChainPem);
  return { notBefore: leaf.notBefore, notAfter: leaf.notAfter };
}

/** An Svid from PEM material, once its leaf (the chain's first certificate) passes the SVID rules. */
export function svidFromPem(
  pem: { certChainPem: string; keyPem: string; bundlePem: string },
  trustDomain: string,
  now: Date,
): Result<Svid, SvidFailure> {
  const v = validateSvidLeaf(pemCertificates(pem.certChainPem)[0] ?? "", { trustDomain, now });
  if (!v.ok) return v;
  return { ok: true, value: { spiffeId: v.value.spiffeId, ...pem, ...chainValidity(pem.certChainPem) } };
}
