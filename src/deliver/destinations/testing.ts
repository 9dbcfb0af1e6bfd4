/**
 * Test helpers: a client certificate with its key, as a customer brings them
 * for mTLS, a fresh signing secret, and the signing boxes of a dispatch
 * opened as egress opens them.
 */
import { randomBytes } from "node:crypto";
import { certPem, ECDSA_SHA256, exportPkcs8, generateP256, toPem, x509 } from "../../identity/x509.ts";
import { type BoxKeyPair, openBox } from "../box.ts";
import { secretSeal } from "./credentials.ts";

export async function testClientCertificate(
  notAfter = new Date(Date.now() + 86_400_000),
): Promise<{ cert_pem: string; key_pem: string }> {
  const keys = await generateP256();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16).toString("hex"),
    name: "CN=zenmesh test client",
    notBefore: new Date(notAfter.getTime() - 86_400_000 * 2),
    notAfter,
    keys,
    signingAlgorithm: ECDSA_SHA256,
  });
  return { cert_pem: certPem(cert), key_pem: toPem("PRIVATE KEY", await exportPkcs8(keys.privateKey)) };
}

export const testSigningSecret = () => `whsec_${randomBytes(32).toString("base64")}`;

/** Each `v<version>:<box>` of a dispatch, opened with the version its AAD names. */
export function openSigningBoxes(
  pair: BoxKeyPair,
  destinationId: string,
  boxes: readonly string[],
): { version: number; secret: string }[] {
  return boxes.map((b) => {
    const version = Number(/^v([1-9][0-9]*):/.exec(b)?.[1]);
    const box = b.slice(b.indexOf(":") + 1);
    return { version, secret: openBox(pair, secretSeal(destinationId, version).inner, box).toString("utf8") };
  });
}
