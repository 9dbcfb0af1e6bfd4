/**
 * The per-transaction security context. The role switch and the tenant/user
 * settings are transaction-local (`set_config(..., true)`), so a pooled
 * connection never carries them into the next transaction. The settings carry
 * the fence's MAC (see fence.ts): the policies accept no other value.
 */
import { ZenError } from "../core/index.ts";
import type { TenantFence } from "./fence.ts";
import type { DbContext, Tx } from "./types.ts";

export const RUNTIME_ROLE = "zenmesh_app";

const SET_CONTEXT =
  "select set_config('role', $1, true), set_config('app.tenant_id', $2, true), set_config('app.user_id', $3, true)";

// The tenant each driver transaction was fenced to, as the driver set it: only applyContext writes
// here, and nothing in zenmesh runs set_config on app.tenant_id itself, so the record equals the
// tenant the setting proves.
const fencedTo = new WeakMap<Tx, string>();

export async function applyContext(tx: Tx, ctx: DbContext, fence: TenantFence): Promise<void> {
  const tenantId = ctx.tenantId ?? "";
  await tx.query(SET_CONTEXT, [
    RUNTIME_ROLE,
    fence.context("tenant", tenantId),
    fence.context("user", ctx.userId ?? ""),
  ]);
  fencedTo.set(tx, tenantId);
}

/**
 * Proves a transaction is fenced to `tenantId`. Code that caches per-tenant
 * material (keys) or appends to a tenant's chain calls this first, so a
 * caller's wrong-tenant bug cannot slip past Row Level Security via a cache.
 */
export async function assertFencedTo(tx: Tx, tenantId: string, what: string): Promise<void> {
  // A transaction the driver fenced answers from the driver's record (no round trip on the hot path);
  // any other handle is asked which tenant its setting proves.
  const recorded = fencedTo.get(tx);
  const actual =
    recorded ?? (await tx.query<{ t: string | null }>("select zm_fence_tenant() as t")).rows[0]?.t;
  if (actual !== tenantId) {
    throw new ZenError("INTERNAL", { message: `${what} outside its tenant's transaction` });
  }
}
