/**
 * The tenant fence's proof. Row Level Security compares rows against
 * `zm_fence_tenant()` / `zm_fence_user()` (migration 0007), which accept the
 * settings `app.tenant_id` / `app.user_id` only in the form
 * `<id>.<key version>.<hex HMAC-SHA256(key, "<purpose>:<id>")>`. The keys live
 * in `zm_fence_keys`, which only the schema owner can read, so SQL run as the
 * runtime role can set the setting but cannot make a value the policies take:
 * a forged, truncated or foreign-version context fences to no one.
 *
 * One key per master key version, derived with HKDF (info
 * `zenmesh/tenant-fence/v1`); the driver signs with the active version, and
 * `migrate` stores the key of every version in the ring.
 */
import { ZenError } from "../core/index.ts";
import { hkdfSha256, hmacSha256 } from "../crypto/index.ts";

export const FENCE_KEY_INFO = "zenmesh/tenant-fence/v1";
const KEY_LENGTH = 32;
// SHA-256's block: HMAC pads the key to it, then XORs it with 0x36 (inner) and 0x5c (outer).
const BLOCK = 64;

export type FencePurpose = "tenant" | "user";

/** What the owner stores per version: the HMAC key already XORed into its inner and outer pads. */
export interface FenceKeyRow {
  version: number;
  ipad: Buffer;
  opad: Buffer;
}

export interface TenantFence {
  /** The version the context is signed with. */
  readonly active: number;
  /** The setting's value for `id`; an empty id stays empty (no context). */
  context(purpose: FencePurpose, id: string): string;
  /** Every version's pads, for the owner to store. */
  rows(): FenceKeyRow[];
}

/** The shape of a master key ring (structural, so the database does not depend on ZenLock). */
export interface FenceKeySource {
  active: number;
  keys: ReadonlyMap<number, Uint8Array>;
}

function pads(key: Buffer): { ipad: Buffer; opad: Buffer } {
  const ipad = Buffer.alloc(BLOCK, 0x36);
  const opad = Buffer.alloc(BLOCK, 0x5c);
  for (let i = 0; i < key.length; i++) {
    ipad[i] = (ipad[i] ?? 0) ^ (key[i] ?? 0);
    opad[i] = (opad[i] ?? 0) ^ (key[i] ?? 0);
  }
  return { ipad, opad };
}

export function tenantFence(ring: FenceKeySource): TenantFence {
  const keys = new Map<number, Buffer>();
  for (const [version, master] of ring.keys) {
    keys.set(version, hkdfSha256(master, new Uint8Array(0), FENCE_KEY_INFO, KEY_LENGTH));
  }
  const activeKey = keys.get(ring.active);
  if (activeKey === undefined) {
    throw new ZenError("CONFIG_INVALID", { message: "the active master key version has no key" });
  }
  const active = ring.active;
  return {
    active,
    context(purpose, id) {
      if (id.length === 0) return "";
      return `${id}.${active}.${hmacSha256(activeKey, `${purpose}:${id}`).toString("hex")}`;
    },
    rows() {
      return [...keys].sort((a, b) => a[0] - b[0]).map(([version, key]) => ({ version, ...pads(key) }));
    },
  };
}
