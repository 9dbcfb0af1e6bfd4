/**
 * The per-transaction security context. The role switch and the tenant/user
 * settings are transaction-local (`set_config(..., true)`), so a pooled
 * connection never carries them into the next transaction.
 */
import type { DbContext, Tx } from "./types.ts";

export const RUNTIME_ROLE = "zenmesh_app";

const SET_CONTEXT =
  "select set_config('role', $1, true), set_config('app.tenant_id', $2, true), set_config('app.user_id', $3, true)";

export async function applyContext(tx: Tx, ctx: DbContext): Promise<void> {
  await tx.query(SET_CONTEXT, [RUNTIME_ROLE, ctx.tenantId ?? "", ctx.userId ?? ""]);
}
