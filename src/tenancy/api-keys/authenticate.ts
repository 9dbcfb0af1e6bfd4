/**
 * Authenticates a presented API key. Expected failures are values, each
 * audited: unknown keys in the system chain (only a masked prefix is
 * recorded), known keys with a wrong secret, revoked or expired in the owning
 * tenant's chain. Success is audited as a use and stamps last_used_at.
 */
import { appendAudit, SYSTEM_CHAIN } from "../../audit/index.ts";
import type { Result } from "../../core/index.ts";
import type { TenancyDeps } from "../deps.ts";
import { isProjectPermission, type ProjectPermission } from "../permissions.ts";
import { apiKeyMatches, maskedPrefix, parseApiKey } from "./format.ts";

export interface ApiKeyPrincipal {
  kind: "api_key";
  keyId: string;
  tenantId: string;
  projectId: string;
  permissions: ReadonlySet<ProjectPermission>;
}

export type ApiKeyFailure =
  | "malformed"
  | "wrong_environment"
  | "unknown"
  | "mismatch"
  | "revoked"
  | "expired";

interface Meta {
  correlationId: string;
  ip?: string | undefined;
}

// last_used_at is a hint, not a ledger: stamp it at most once a minute per key.
const LAST_USED_GRANULARITY_MS = 60_000;

export async function authenticateApiKey(
  deps: TenancyDeps,
  raw: string,
  meta: Meta,
): Promise<Result<ApiKeyPrincipal, ApiKeyFailure>> {
  const parsed = parseApiKey(raw);
  const failSystem = async (reason: ApiKeyFailure, prefix: string | null) => {
    await deps.db.withTenant(SYSTEM_CHAIN, (tx) =>
      appendAudit(tx, {
        tenantId: null,
        actor: { type: "anonymous" },
        action: "auth.api_key",
        outcome: "failure",
        correlationId: meta.correlationId,
        details: { reason, prefix },
        ...(meta.ip ? { ip: meta.ip } : {}),
      }),
    );
    return { ok: false as const, reason };
  };
  if (!parsed) return failSystem("malformed", null);
  if (parsed.environment !== deps.apiKeyEnvironment)
    return failSystem("wrong_environment", maskedPrefix(parsed));

  const route = await deps.db.withGlobal(async (tx) => {
    const r = await tx.query<{ tenant_id: string; key_id: string }>(
      "select tenant_id, key_id from api_key_lookup where lookup = $1",
      [parsed.lookup],
    );
    return r.rows[0];
  });
  if (!route) return failSystem("unknown", maskedPrefix(parsed));

  const now = deps.clock.now();
  return deps.db.withTenant(route.tenant_id, async (tx) => {
    const r = await tx.query<{
      project_id: string;
      salt: Uint8Array;
      key_hash: Uint8Array;
      permissions: string[];
      expires_at: Date | null;
      revoked_at: Date | null;
      last_used_at: Date | null;
    }>(
      `select project_id, salt, key_hash, permissions, expires_at, revoked_at, last_used_at
       from api_keys where tenant_id = $1 and id = $2`,
      [route.tenant_id, route.key_id],
    );
    const row = r.rows[0];
    let reason: ApiKeyFailure | undefined;
    if (!row || !apiKeyMatches(raw, row.salt, row.key_hash)) reason = "mismatch";
    else if (row.revoked_at !== null) reason = "revoked";
    else if (row.expires_at !== null && new Date(row.expires_at).getTime() <= now.getTime())
      reason = "expired";

    await appendAudit(tx, {
      tenantId: route.tenant_id,
      actor: reason
        ? { type: "anonymous" }
        : { type: "api_key", id: route.key_id, projectId: row!.project_id },
      action: reason ? "auth.api_key" : "api_key.use",
      outcome: reason ? "failure" : "success",
      target: { type: "api_key", id: route.key_id },
      ...(row ? { projectId: row.project_id } : {}),
      correlationId: meta.correlationId,
      ...(reason ? { details: { reason } } : {}),
      ...(meta.ip ? { ip: meta.ip } : {}),
    });
    if (reason || !row) return { ok: false as const, reason: reason ?? "mismatch" };

    const last = row.last_used_at ? new Date(row.last_used_at).getTime() : 0;
    if (now.getTime() - last >= LAST_USED_GRANULARITY_MS) {
      await tx.query("update api_keys set last_used_at = $3 where tenant_id = $1 and id = $2", [
        route.tenant_id,
        route.key_id,
        now,
      ]);
    }
    return {
      ok: true as const,
      value: {
        kind: "api_key" as const,
        keyId: route.key_id,
        tenantId: route.tenant_id,
        projectId: row.project_id,
        permissions: new Set(row.permissions.filter(isProjectPermission)),
      },
    };
  });
}
