/**
 * CA private keys at rest: AES-256-GCM under the active master key (KEK),
 * formatted `zl:v<kekVersion>:<base64(nonce || ciphertext || tag)>`. The AAD
 * binds the key to "zenmesh/ca/v1|<trustDomain>|<role>|<serial>", so a sealed
 * key moved to another CA, role or certificate does not open. Every failure
 * to open is CRYPTO_FAILED with no detail; key material never reaches an error.
 */
import { ZenError } from "../core/index.ts";
import { aesGcmOpen, aesGcmSeal } from "../crypto/index.ts";
import type { MasterKeyRing } from "../zenlock/index.ts";
import type { CryptoKey } from "./x509.ts";
import { importPkcs8 } from "./x509.ts";

const SEALED = /^zl:v([1-9][0-9]{0,6}):([A-Za-z0-9+/]+={0,2})$/;

function aad(trustDomain: string, role: string, serial: string): Buffer {
  return Buffer.from(`zenmesh/ca/v1|${trustDomain}|${role}|${serial}`, "utf8");
}

export function sealCaKey(
  ring: MasterKeyRing,
  trustDomain: string,
  role: "root" | "intermediate",
  serial: string,
  pkcs8: Uint8Array,
): string {
  const kek = ring.keys.get(ring.active);
  if (kek === undefined)
    throw new ZenError("KEY_UNAVAILABLE", { message: "the active master key is missing" });
  try {
    return `zl:v${ring.active}:${aesGcmSeal(kek, pkcs8, aad(trustDomain, role, serial)).toString("base64")}`;
  } finally {
    pkcs8.fill(0);
  }
}

export async function openCaKey(
  ring: MasterKeyRing,
  sealed: string,
  trustDomain: string,
  role: "root" | "intermediate",
  serial: string,
): Promise<CryptoKey> {
  const m = SEALED.exec(sealed);
  if (!m) throw new ZenError("CRYPTO_FAILED");
  const kek = ring.keys.get(Number(m[1]));
  if (kek === undefined) {
    throw new ZenError("KEY_UNAVAILABLE", {
      message: `the CA key is sealed with master key v${m[1]}, which is not loaded`,
    });
  }
  const pkcs8 = aesGcmOpen(kek, Buffer.from(m[2] ?? "", "base64"), aad(trustDomain, role, serial));
  try {
    return await importPkcs8(pkcs8);
  } catch {
    throw new ZenError("CRYPTO_FAILED");
  } finally {
    pkcs8.fill(0);
  }
}
