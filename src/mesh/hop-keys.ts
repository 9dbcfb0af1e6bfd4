/**
 * Hop keys for signed internal hops (ARCHITECTURE.md section 5), derived with
 * HKDF-SHA256 (RFC 5869) so no hop key is ever stored or distributed on its own:
 *
 *   master hop key = HKDF(ikm = active ZenLock master key, salt = "", info = "zenmesh/hop-master/v1")
 *   hop key        = HKDF(ikm = master hop key, salt = UTF-8 tenant, info = "zenmesh/hop/v1/" + cluster id)
 *
 * Rotating the ZenLock master key (promoting a new active version) rotates
 * every hop key with it: signer and verifier must therefore promote together,
 * or the verifier keeps the previous version's keys under their own key ids
 * for the overlap.
 */
import { ZenError } from "../core/index.ts";
import { hkdfSha256 } from "../crypto/index.ts";
import type { MasterKeyRing } from "../zenlock/index.ts";

export const HOP_KEY_LENGTH = 32;
/** The tenant under which zenmesh's own roles derive their hop keys. */
export const SYSTEM_HOP_TENANT = "_system";

const MIN_IKM_LENGTH = 16;
const LABEL = /^[A-Za-z0-9._:/-]{1,128}$/;

export function deriveMasterHopKey(ring: MasterKeyRing): Buffer {
  const active = ring.keys.get(ring.active);
  if (active === undefined || active.byteLength < MIN_IKM_LENGTH) {
    throw new ZenError("KEY_UNAVAILABLE", { message: "The active master key is not available." });
  }
  return hkdfSha256(active, new Uint8Array(0), "zenmesh/hop-master/v1", HOP_KEY_LENGTH);
}

export function deriveHopKey(masterHopKey: Uint8Array, tenant: string, clusterId: string): Buffer {
  if (masterHopKey.byteLength < MIN_IKM_LENGTH) {
    throw new ZenError("KEY_UNAVAILABLE", { message: "The master hop key is too short." });
  }
  if (!LABEL.test(tenant) || !LABEL.test(clusterId)) {
    throw new ZenError("INTERNAL", { message: "Hop keys need a well-formed tenant and cluster id." });
  }
  return hkdfSha256(masterHopKey, Buffer.from(tenant, "utf8"), `zenmesh/hop/v1/${clusterId}`, HOP_KEY_LENGTH);
}

/** The key id of one of zenmesh's own roles: `_system/<role>`. */
export function systemHopKeyId(role: string): string {
  return `${SYSTEM_HOP_TENANT}/${role}`;
}
